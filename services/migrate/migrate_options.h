/*
 * Settings shared by the commands of expresso-migrate, and its exit codes.
 */
#ifndef EXPRESSO_MIGRATE_OPTIONS_H
#define EXPRESSO_MIGRATE_OPTIONS_H

#include "migrate_db.h"

enum {
	EX_MIGRATE_EXIT_OK = 0,
	/* The command failed, or apply found a migration it must not pass over. */
	EX_MIGRATE_EXIT_FAILURE = 1,
	/* Invalid command line or settings. */
	EX_MIGRATE_EXIT_USAGE = 2,
};

typedef struct {
	ex_migrate_db_settings db;
	/* Directory holding the migration files. */
	const char *dir;
} ex_migrate_options;

#endif
