/*
 * Migration files: name rules, loading a directory in apply order, SHA-256
 * checksums, and mapping a server error position back to a line.
 *
 * A migration file is named YYYYMMDDHHMMSS_description.sql, where the
 * timestamp is a valid UTC date and time and the description is lower-case
 * letters, digits and underscores. Files apply in byte order of their names,
 * which is timestamp order.
 */
#ifndef EXPRESSO_MIGRATE_FILES_H
#define EXPRESSO_MIGRATE_FILES_H

#include <stddef.h>

enum {
	/* Longest accepted file name, in bytes. */
	EX_MIGRATE_NAME_MAX = 255,
	/* Most migration files read from one directory. */
	EX_MIGRATE_FILES_MAX = 10000,
	/* Largest accepted migration file, in bytes (16 MiB). */
	EX_MIGRATE_FILE_BYTES_MAX = 16 * 1024 * 1024,
	/* Length of a SHA-256 digest in lower-case hex. */
	EX_MIGRATE_CHECKSUM_HEX_LEN = 64,
};

typedef struct {
	char name[EX_MIGRATE_NAME_MAX + 1];
	char checksum[EX_MIGRATE_CHECKSUM_HEX_LEN + 1];
	/* File contents, NUL-terminated; owned by the list. */
	char *sql;
	size_t sql_length;
} ex_migration_file;

typedef struct {
	ex_migration_file *items;
	size_t count;
} ex_migration_list;

/*
 * Checks a file name against the naming rule. Returns 1 when valid; else 0
 * with the broken rule written to reason.
 */
int ex_migrate_name_valid(const char *name, char *reason, size_t reason_size);

/* Writes the SHA-256 of data as 64 lower-case hex digits and a NUL. Returns 0, or -1 when OpenSSL fails. */
int ex_migrate_checksum_hex(const void *data, size_t length, char out[EX_MIGRATE_CHECKSUM_HEX_LEN + 1]);

/*
 * Reads every migration file of dir into list, sorted by name. Names that
 * start with '.' or do not end in ".sql" are skipped. A ".sql" file with an
 * invalid name, an unreadable or oversized file, or a file containing a NUL
 * byte is an error. Returns 0, or -1 with a message in error.
 */
int ex_migrate_list_load(const char *dir, ex_migration_list *list, char *error, size_t error_size);

/* Frees what ex_migrate_list_load() allocated; safe on a zeroed list. */
void ex_migrate_list_free(ex_migration_list *list);

/* Sorts list->items by name, the order in which migrations apply. */
void ex_migrate_list_sort(ex_migration_list *list);

/*
 * Returns the 1-based line of text that contains the 1-based character
 * position reported by the server, or 0 when the position is outside the
 * text. PG_DIAG_STATEMENT_POSITION counts UTF-8 characters, not bytes.
 */
long ex_migrate_line_at(const char *text, size_t length, long position);

#endif
