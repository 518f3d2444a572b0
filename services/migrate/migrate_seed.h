/*
 * The seed command: loads demo or bootstrap accounts into the database.
 */
#ifndef EXPRESSO_MIGRATE_SEED_H
#define EXPRESSO_MIGRATE_SEED_H

#include "migrate_options.h"

/*
 * Upserts tenants, domains, users, app passwords and default mailboxes from
 * the accounts file at accounts_path. Returns an EX_MIGRATE_EXIT_* code.
 */
int ex_migrate_seed(const ex_migrate_options *options, const char *accounts_path);

#endif
