/*
 * Catalog query behind the tenant isolation check. It looks at every schema
 * except PostgreSQL's own, so a table created outside public is covered too.
 */
#include "migrate_rls_check.h"

#include "migrate_db.h"

#include <stdio.h>
#include <string.h>

/* One row per offending relation: its name and what it lacks. */
static const char check_sql[] =
	"SELECT c.oid::regclass::text,"
	"       CASE"
	"         WHEN c.relkind = 'm' THEN 'is a materialized view, which row-level security cannot protect'"
	"         WHEN c.relkind = 'v' THEN 'is a view without security_invoker = true'"
	"         WHEN NOT c.relrowsecurity THEN 'has row-level security disabled'"
	"         WHEN NOT c.relforcerowsecurity THEN 'has row-level security not forced'"
	"         ELSE 'has no policy'"
	"       END"
	"  FROM pg_class c"
	"  JOIN pg_namespace n ON n.oid = c.relnamespace"
	"  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped"
	" WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'"
	"   AND c.relkind IN ('r', 'p', 'v', 'm')"
	"   AND CASE c.relkind"
	"         WHEN 'm' THEN true"
	"         WHEN 'v' THEN NOT coalesce(c.reloptions @> ARRAY['security_invoker=true']"
	"                                 OR c.reloptions @> ARRAY['security_invoker=on'], false)"
	"         ELSE NOT (c.relrowsecurity AND c.relforcerowsecurity"
	"                   AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))"
	"       END"
	" ORDER BY 1";

int ex_migrate_rls_check_applies(const char *migration_name)
{
	return strcmp(migration_name, EX_MIGRATE_RLS_BOOTSTRAP) >= 0;
}

int ex_migrate_rls_check(PGconn *connection, char *error, size_t error_size)
{
	PGresult *result = ex_migrate_db_query(connection, check_sql, 0, NULL, error, error_size);
	if (result == NULL)
		return -1;

	int rows = PQntuples(result);
	if (rows == 0) {
		PQclear(result);
		return 0;
	}

	size_t used = (size_t)snprintf(error, error_size, "tenant isolation check failed:");
	for (int i = 0; i < rows && used < error_size; i++) {
		used += (size_t)snprintf(error + used, error_size - used, "%s %s %s", i ? ";" : "",
					 PQgetvalue(result, i, 0), PQgetvalue(result, i, 1));
	}
	if (used < error_size) {
		snprintf(error + used, error_size - used,
			 ". Every relation with a tenant_id column needs ENABLE and FORCE ROW LEVEL SECURITY "
			 "and a tenant_isolation policy (see docs/database.md)");
	}
	PQclear(result);
	return -1;
}
