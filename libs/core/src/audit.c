/*
 * audit_log inserts. Detail JSON is checked for secret-looking keys with
 * the logger's rule, so an audit row never stores a token or password.
 */
#include "expresso/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"

static const char insert_audit_sql[] =
	"INSERT INTO audit_log (tenant_id, actor, action, resource, address, request_id, detail) "
	"VALUES ($1::uuid, $2, $3, $4, $5, $6, $7::jsonb)";

static int detail_has_secret(json_t *detail)
{
	const char *key;
	json_t *value;

	json_object_foreach(detail, key, value) {
		if (ex_log_key_is_secret(key))
			return 1;
		if (json_is_object(value) && detail_has_secret(value))
			return 1;
	}
	return 0;
}

int ex_audit_write(PGconn *connection, const ex_audit_entry *entry, ex_db_error *error)
{
	if (entry->tenant_id == NULL || entry->action == NULL) {
		snprintf(error->message, sizeof(error->message), "an audit entry needs a tenant and an action");
		error->sqlstate[0] = '\0';
		return -1;
	}
	if (entry->detail != NULL && detail_has_secret(entry->detail)) {
		snprintf(error->message, sizeof(error->message),
			 "audit detail for %s has a secret-looking key; audit rows never store secrets", entry->action);
		error->sqlstate[0] = '\0';
		return -1;
	}

	char *detail = entry->detail ? json_dumps(entry->detail, JSON_COMPACT) : NULL;
	const char *params[] = {
		entry->tenant_id, entry->actor, entry->action, entry->resource,
		entry->address, entry->request_id, detail,
	};
	PGresult *result = ex_db_exec(connection, insert_audit_sql, 7, params, error);
	free(detail);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

static int write_entry(PGconn *connection, void *context, ex_db_error *error)
{
	return ex_audit_write(connection, context, error);
}

int ex_audit_record(ex_db_pool *pool, const ex_audit_entry *entry, ex_db_error *error)
{
	int rc = ex_db_tenant_transaction(pool, entry->tenant_id, EX_DB_READ_COMMITTED, write_entry,
					  (void *)entry, error);
	if (rc != 0)
		ex_log(EX_LOG_ERROR, "audit_write_failed", "{s:s, s:s}", "action", entry->action,
		       "error", error->message);
	return rc;
}
