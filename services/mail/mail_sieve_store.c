/* The sieve_scripts table: list, read, write, activate, rename and delete a user's scripts. */
#include "mail_sieve_store.h"

#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"

typedef struct {
	const ex_mail_sieve_owner *owner;
	const char *name;
	const char *new_name;
	const char *content;
	size_t length;
	bool activate;
	json_t *json;
	ex_mail_sieve_store_status status;
} store_call;

static const char columns[] =
	"name, active, octet_length(content), last_error, to_char(last_error_at AT TIME ZONE 'UTC', "
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

static json_t *script_json(PGresult *result, int row)
{
	return json_pack("{s:s, s:b, s:I, s:s?, s:s?, s:s}", "name", PQgetvalue(result, row, 0), "active",
			 strcmp(PQgetvalue(result, row, 1), "t") == 0, "size",
			 (json_int_t)strtoll(PQgetvalue(result, row, 2), NULL, 10), "last_error",
			 PQgetisnull(result, row, 3) ? NULL : PQgetvalue(result, row, 3), "last_error_at",
			 PQgetisnull(result, row, 4) ? NULL : PQgetvalue(result, row, 4), "updated_at",
			 PQgetvalue(result, row, 5));
}

static int list_work(PGconn *connection, void *context, ex_db_error *error)
{
	store_call *call = context;
	char sql[512];
	snprintf(sql, sizeof(sql), "SELECT %s FROM sieve_scripts WHERE user_id = $1 ORDER BY name", columns);
	const char *params[] = { call->owner->user_id };
	PGresult *result = ex_db_exec(connection, sql, 1, params, error);
	if (result == NULL)
		return -1;
	call->json = json_array();
	for (int row = 0; row < PQntuples(result); row++)
		json_array_append_new(call->json, script_json(result, row));
	PQclear(result);
	return 0;
}

static int get_work(PGconn *connection, void *context, ex_db_error *error)
{
	store_call *call = context;
	char sql[512];
	snprintf(sql, sizeof(sql), "SELECT %s, content FROM sieve_scripts WHERE user_id = $1 AND name = $2", columns);
	const char *params[] = { call->owner->user_id, call->name };
	PGresult *result = ex_db_exec(connection, sql, 2, params, error);
	if (result == NULL)
		return -1;
	if (PQntuples(result) == 1) {
		call->json = script_json(result, 0);
		json_object_set_new(call->json, "content", json_stringn(PQgetvalue(result, 0, 6),
									 (size_t)PQgetlength(result, 0, 6)));
	} else {
		call->status = EX_MAIL_SIEVE_STORE_NOT_FOUND;
	}
	PQclear(result);
	return 0;
}

static int run_simple(PGconn *connection, const char *sql, int count, const char *const *params, ex_db_error *error,
		      int *rows)
{
	PGresult *result = ex_db_exec(connection, sql, count, params, error);
	if (result == NULL)
		return -1;
	if (rows != NULL)
		*rows = (int)strtol(PQcmdTuples(result), NULL, 10);
	PQclear(result);
	return 0;
}

static int activate_work(PGconn *connection, void *context, ex_db_error *error)
{
	store_call *call = context;
	const char *user[] = { call->owner->user_id };
	if (call->name != NULL) {
		const char *params[] = { call->owner->user_id, call->name };
		int rows = 0;
		if (run_simple(connection, "SELECT 1 FROM sieve_scripts WHERE user_id = $1 AND name = $2 FOR UPDATE", 2,
			       params, error, &rows) != 0)
			return -1;
		if (rows == 0) {
			call->status = EX_MAIL_SIEVE_STORE_NOT_FOUND;
			return 0;
		}
	}
	/* Deactivate first: the unique index allows one active script per user at any moment. */
	if (run_simple(connection, "UPDATE sieve_scripts SET active = false WHERE user_id = $1 AND active", 1, user,
		       error, NULL) != 0)
		return -1;
	if (call->name == NULL)
		return 0;
	const char *params[] = { call->owner->user_id, call->name };
	return run_simple(connection, "UPDATE sieve_scripts SET active = true WHERE user_id = $1 AND name = $2", 2,
			  params, error, NULL);
}

static int put_work(PGconn *connection, void *context, ex_db_error *error)
{
	store_call *call = context;
	char *content = strndup(call->content, call->length);
	if (content == NULL) {
		snprintf(error->message, sizeof(error->message), "out of memory");
		return -1;
	}
	const char *params[] = { call->owner->tenant_id, call->owner->user_id, call->name, content };
	int rc = run_simple(connection,
			    "INSERT INTO sieve_scripts (tenant_id, user_id, name, content) VALUES ($1, $2, $3, $4) "
			    "ON CONFLICT (user_id, name) DO UPDATE SET content = EXCLUDED.content, last_error = NULL, "
			    "last_error_at = NULL, updated_at = now()",
			    4, params, error, NULL);
	free(content);
	if (rc != 0 || !call->activate)
		return rc;
	return activate_work(connection, call, error);
}

static int delete_work(PGconn *connection, void *context, ex_db_error *error)
{
	store_call *call = context;
	const char *params[] = { call->owner->user_id, call->name };
	PGresult *result = ex_db_exec(connection,
				      "SELECT active FROM sieve_scripts WHERE user_id = $1 AND name = $2 FOR UPDATE", 2,
				      params, error);
	if (result == NULL)
		return -1;
	if (PQntuples(result) == 0)
		call->status = EX_MAIL_SIEVE_STORE_NOT_FOUND;
	else if (strcmp(PQgetvalue(result, 0, 0), "t") == 0)
		call->status = EX_MAIL_SIEVE_STORE_ACTIVE;
	PQclear(result);
	if (call->status != EX_MAIL_SIEVE_STORE_OK)
		return 0;
	return run_simple(connection, "DELETE FROM sieve_scripts WHERE user_id = $1 AND name = $2", 2, params, error,
			  NULL);
}

static int rename_work(PGconn *connection, void *context, ex_db_error *error)
{
	store_call *call = context;
	const char *check[] = { call->owner->user_id, call->new_name };
	int rows = 0;
	if (run_simple(connection, "SELECT 1 FROM sieve_scripts WHERE user_id = $1 AND name = $2", 2, check, error,
		       &rows) != 0)
		return -1;
	if (rows > 0) {
		call->status = EX_MAIL_SIEVE_STORE_EXISTS;
		return 0;
	}
	const char *params[] = { call->owner->user_id, call->name, call->new_name };
	if (run_simple(connection, "UPDATE sieve_scripts SET name = $3, updated_at = now() WHERE user_id = $1 AND name = $2",
		       3, params, error, &rows) != 0)
		return -1;
	if (rows == 0)
		call->status = EX_MAIL_SIEVE_STORE_NOT_FOUND;
	return 0;
}

static ex_mail_sieve_store_status run(const ex_mail_sieve_owner *owner, ex_db_work work, store_call *call,
				      const char *operation)
{
	ex_db_error error = { 0 };
	call->owner = owner;
	if (ex_db_tenant_transaction(owner->service->database, owner->tenant_id, EX_DB_READ_COMMITTED, work, call,
				     &error) != 0) {
		ex_log(EX_LOG_ERROR, "sieve_store_failed", "{s:s, s:s, s:s, s:s}", "operation", operation, "user",
		       owner->user_id, "sqlstate", error.sqlstate, "error", error.message);
		json_decref(call->json);
		call->json = NULL;
		return EX_MAIL_SIEVE_STORE_FAILED;
	}
	return call->status;
}

ex_mail_sieve_store_status ex_mail_sieve_store_list(const ex_mail_sieve_owner *owner, json_t **list)
{
	store_call call = { 0 };
	ex_mail_sieve_store_status status = run(owner, list_work, &call, "list");
	*list = call.json;
	return status;
}

ex_mail_sieve_store_status ex_mail_sieve_store_get(const ex_mail_sieve_owner *owner, const char *name,
						   json_t **script)
{
	store_call call = { .name = name };
	ex_mail_sieve_store_status status = run(owner, get_work, &call, "get");
	*script = call.json;
	return status;
}

ex_mail_sieve_store_status ex_mail_sieve_store_put(const ex_mail_sieve_owner *owner, const char *name,
						   const char *content, size_t length, bool activate)
{
	store_call call = { .name = name, .content = content, .length = length, .activate = activate };
	return run(owner, put_work, &call, "put");
}

ex_mail_sieve_store_status ex_mail_sieve_store_activate(const ex_mail_sieve_owner *owner, const char *name)
{
	store_call call = { .name = name };
	return run(owner, activate_work, &call, "activate");
}

ex_mail_sieve_store_status ex_mail_sieve_store_delete(const ex_mail_sieve_owner *owner, const char *name)
{
	store_call call = { .name = name };
	return run(owner, delete_work, &call, "delete");
}

ex_mail_sieve_store_status ex_mail_sieve_store_rename(const ex_mail_sieve_owner *owner, const char *name,
						      const char *new_name)
{
	store_call call = { .name = name, .new_name = new_name };
	return run(owner, rename_work, &call, "rename");
}

bool ex_mail_sieve_name_valid(const char *name)
{
	size_t length = strlen(name);
	if (length == 0 || length > 255)
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return false;
	}
	/* The database stores text, so the name must be valid UTF-8. */
	json_t *probe = json_string(name);
	bool valid = probe != NULL;
	json_decref(probe);
	return valid;
}
