/*
 * Comparison of the migration files with the schema_migrations table: which
 * migrations are applied, pending, edited after being applied (modified),
 * recorded without a file (missing), or pending but named before the last
 * applied one (out of order). Pure logic; the database and directory are
 * read elsewhere.
 */
#ifndef EXPRESSO_MIGRATE_PLAN_H
#define EXPRESSO_MIGRATE_PLAN_H

#include "migrate_files.h"

#include <stddef.h>

enum {
	/* Room for applied_at as ISO 8601 UTC text. */
	EX_MIGRATE_TIME_TEXT_MAX = 64,
};

/* One row of schema_migrations. */
typedef struct {
	char name[EX_MIGRATE_NAME_MAX + 1];
	char checksum[EX_MIGRATE_CHECKSUM_HEX_LEN + 1];
	char applied_at[EX_MIGRATE_TIME_TEXT_MAX];
} ex_applied_migration;

typedef struct {
	ex_applied_migration *items;
	size_t count;
} ex_applied_list;

typedef enum {
	EX_MIGRATION_APPLIED,
	EX_MIGRATION_PENDING,
	EX_MIGRATION_MODIFIED,
	EX_MIGRATION_MISSING,
	EX_MIGRATION_OUT_OF_ORDER,
} ex_migration_state;

typedef struct {
	ex_migration_state state;
	const char *name;
	/* NULL when the migration has no file (missing). */
	const ex_migration_file *file;
	/* NULL when the migration is not applied (pending, out of order). */
	const ex_applied_migration *applied;
} ex_plan_entry;

/* Entries in name order; pointers refer into the inputs of the build. */
typedef struct {
	ex_plan_entry *entries;
	size_t count;
	size_t applied;
	size_t pending;
	size_t modified;
	size_t missing;
	size_t out_of_order;
	/* The applied migration with the greatest name, or NULL. */
	const ex_applied_migration *last_applied;
} ex_migrate_plan;

/*
 * Builds the plan from files (sorted by name) and applied (any order; it is
 * sorted in place). Returns 0, or -1 when out of memory.
 */
int ex_migrate_plan_build(const ex_migration_list *files, ex_applied_list *applied, ex_migrate_plan *plan);

/* Returns 1 when apply must not run: a migration is modified, missing or out of order. */
int ex_migrate_plan_blocked(const ex_migrate_plan *plan);

/* Returns the state's name as printed by status: "applied", "pending", ... */
const char *ex_migration_state_name(ex_migration_state state);

void ex_migrate_plan_free(ex_migrate_plan *plan);

#endif
