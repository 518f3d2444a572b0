/*
 * The apply and status commands: compare the migration files with the
 * schema_migrations table, then apply what is pending or report it.
 */
#ifndef EXPRESSO_MIGRATE_APPLY_H
#define EXPRESSO_MIGRATE_APPLY_H

#include "migrate_options.h"

#include <stdio.h>

/*
 * Applies pending migrations in name order, each in its own transaction
 * with its schema_migrations row, under the advisory lock. Applies nothing
 * when an applied migration was edited or lost, or a pending one is named
 * before the last applied one. Returns an EX_MIGRATE_EXIT_* code.
 */
int ex_migrate_apply(const ex_migrate_options *options);

/*
 * Prints one line per migration with its state to out. Returns
 * EX_MIGRATE_EXIT_FAILURE when a migration is modified, missing or out of
 * order, so that apply would stop, else
 * EX_MIGRATE_EXIT_OK (pending migrations are not a failure).
 */
int ex_migrate_status(const ex_migrate_options *options, FILE *out);

#endif
