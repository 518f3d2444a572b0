/*
 * Tenant isolation check, run inside each migration's transaction from the
 * RLS bootstrap migration on. Every table with a tenant_id column must have
 * row-level security enabled and forced and at least one policy. No view
 * with a tenant_id column may read with its owner's rights, and no
 * materialized view may have one. A migration that breaks this is rolled
 * back.
 */
#ifndef EXPRESSO_MIGRATE_RLS_CHECK_H
#define EXPRESSO_MIGRATE_RLS_CHECK_H

#include <libpq-fe.h>
#include <stddef.h>

/* The migration that introduces row-level security; the check starts with it. */
#define EX_MIGRATE_RLS_BOOTSTRAP "20260417143000_rls_bootstrap_and_mailbox_stats.sql"

/* Returns 1 when the migration of this name must pass the check. */
int ex_migrate_rls_check_applies(const char *migration_name);

/*
 * Runs the check in the current transaction. Returns 0 when every relation
 * passes; -1 with the offending relations and the fix in error otherwise,
 * or when the catalog query fails.
 */
int ex_migrate_rls_check(PGconn *connection, char *error, size_t error_size);

#endif
