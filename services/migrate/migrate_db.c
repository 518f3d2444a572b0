/*
 * libpq plumbing for expresso-migrate. Every statement goes through
 * ex_migrate_db_query() so that failures carry the server's SQLSTATE,
 * detail and hint to the person reading the log.
 */
#include "migrate_db.h"

#include "migrate_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Trims the trailing newline libpq puts on its messages. */
static void copy_trimmed(char *out, size_t out_size, const char *text)
{
	snprintf(out, out_size, "%s", text != NULL ? text : "");
	size_t length = strlen(out);
	while (length > 0 && (out[length - 1] == '\n' || out[length - 1] == ' '))
		out[--length] = '\0';
}

void ex_migrate_db_describe(const PGresult *result, PGconn *connection, char *out, size_t out_size)
{
	const char *message = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
	const char *detail = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_HINT) : NULL;

	if (message == NULL) {
		copy_trimmed(out, out_size, PQerrorMessage(connection));
		if (out[0] == '\0')
			snprintf(out, out_size, "the server returned no result (connection lost?)");
		return;
	}

	int used = snprintf(out, out_size, "%s (SQLSTATE %s)", message, sqlstate ? sqlstate : "unknown");
	if (detail != NULL && used >= 0 && (size_t)used < out_size)
		used += snprintf(out + used, out_size - (size_t)used, "; detail: %s", detail);
	if (hint != NULL && used >= 0 && (size_t)used < out_size)
		snprintf(out + used, out_size - (size_t)used, "; hint: %s", hint);
}

PGresult *ex_migrate_db_query(PGconn *connection, const char *sql, int count, const char *const *params,
			      char *error, size_t error_size)
{
	PGresult *result = PQexecParams(connection, sql, count, NULL, params, NULL, NULL, 0);
	ExecStatusType status = PQresultStatus(result);

	if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
		return result;
	ex_migrate_db_describe(result, connection, error, error_size);
	PQclear(result);
	return NULL;
}

int ex_migrate_db_exec(PGconn *connection, const char *sql, char *error, size_t error_size)
{
	PGresult *result = ex_migrate_db_query(connection, sql, 0, NULL, error, error_size);

	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

void ex_migrate_db_rollback(PGconn *connection)
{
	PQclear(PQexec(connection, "ROLLBACK"));
}

/* Logs NOTICE and WARNING messages from the server, e.g. RAISE NOTICE in a migration. */
static void log_notice(void *context, const PGresult *result)
{
	(void)context;
	const char *severity = PQresultErrorField(result, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *message = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
	int warning = severity != NULL && strcmp(severity, "WARNING") == 0;

	ex_migrate_log(warning ? EX_MIGRATE_LOG_WARN : EX_MIGRATE_LOG_INFO, "server_notice", "{s:s?, s:s?}",
		       "severity", severity, "message", message);
}

/* Rejects superuser and BYPASSRLS roles; see the header for why. */
static int check_role(PGconn *connection, char *error, size_t error_size)
{
	PGresult *result = ex_migrate_db_query(connection,
					       "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles "
					       "WHERE rolname = current_user",
					       0, NULL, error, error_size);
	if (result == NULL)
		return -1;
	if (PQntuples(result) != 1) {
		snprintf(error, error_size, "cannot read the attributes of the connected role");
		PQclear(result);
		return -1;
	}

	const char *role = PQgetvalue(result, 0, 0);
	int superuser = strcmp(PQgetvalue(result, 0, 1), "t") == 0;
	int bypass = strcmp(PQgetvalue(result, 0, 2), "t") == 0;
	if (superuser || bypass) {
		snprintf(error, error_size,
			 "connected as role %s, which is %s: tables it creates would not belong to the owner "
			 "role and it reads past row-level security; set EXPRESSO_DATABASE_OWNER_URL to the "
			 "owner role (expresso_owner)",
			 role, superuser ? "a superuser" : "allowed to bypass row-level security (BYPASSRLS)");
		PQclear(result);
		return -1;
	}
	PQclear(result);
	return 0;
}

PGconn *ex_migrate_db_open(const ex_migrate_db_settings *settings)
{
	char timeout[16];
	snprintf(timeout, sizeof(timeout), "%d", settings->connect_timeout_s);

	/* Entries before dbname are defaults that the URL may override. */
	const char *keywords[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *values[] = { timeout, "expresso-migrate", settings->url, NULL };

	PGconn *connection = PQconnectdbParams(keywords, values, 1);
	if (connection == NULL || PQstatus(connection) != CONNECTION_OK) {
		char reason[512];
		char message[640];
		copy_trimmed(reason, sizeof(reason),
			     connection ? PQerrorMessage(connection) : "out of memory creating the connection");
		snprintf(message, sizeof(message), "cannot connect to the database given by "
			 "EXPRESSO_DATABASE_OWNER_URL: %s", reason);
		ex_migrate_log(EX_MIGRATE_LOG_ERROR, "database_unavailable", "{s:s}", "message", message);
		PQfinish(connection);
		return NULL;
	}

	PQsetNoticeReceiver(connection, log_notice, NULL);
	char error[1024];
	if (check_role(connection, error, sizeof(error)) != 0) {
		ex_migrate_log(EX_MIGRATE_LOG_ERROR, "role_rejected", "{s:s}", "message", error);
		PQfinish(connection);
		return NULL;
	}
	return connection;
}

int ex_migrate_db_lock(PGconn *connection, int lock_timeout_s, char *error, size_t error_size)
{
	const char *key[] = { EX_MIGRATE_LOCK_KEY };

	PGresult *result = ex_migrate_db_query(connection, "SELECT pg_try_advisory_lock($1::bigint)", 1, key, error,
					       error_size);
	if (result == NULL)
		return -1;
	int locked = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
	PQclear(result);
	if (locked)
		return 0;

	ex_migrate_log(EX_MIGRATE_LOG_INFO, "lock_wait", "{s:s, s:i}", "message",
		       "another expresso-migrate holds the migration lock on this database; waiting",
		       "timeout_s", lock_timeout_s);

	char timeout[32];
	snprintf(timeout, sizeof(timeout), "%ds", lock_timeout_s);
	const char *setting[] = { timeout };
	result = ex_migrate_db_query(connection, "SELECT set_config('lock_timeout', $1, false)", 1, setting, error,
				     error_size);
	if (result == NULL)
		return -1;
	PQclear(result);

	result = PQexecParams(connection, "SELECT pg_advisory_lock($1::bigint)", 1, NULL, key, NULL, NULL, 0);
	if (PQresultStatus(result) != PGRES_TUPLES_OK) {
		const char *sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
		if (sqlstate != NULL && strcmp(sqlstate, "55P03") == 0) {
			snprintf(error, error_size,
				 "another expresso-migrate held the migration lock for more than %d s; wait for it "
				 "to finish or raise EXPRESSO_MIGRATE_LOCK_TIMEOUT",
				 lock_timeout_s);
		} else {
			ex_migrate_db_describe(result, connection, error, error_size);
		}
		PQclear(result);
		return -1;
	}
	PQclear(result);
	return ex_migrate_db_exec(connection, "RESET lock_timeout", error, error_size);
}

void ex_migrate_db_unlock(PGconn *connection)
{
	const char *key[] = { EX_MIGRATE_LOCK_KEY };

	PQclear(PQexecParams(connection, "SELECT pg_advisory_unlock($1::bigint)", 1, NULL, key, NULL, NULL, 0));
}
