/*
 * apply and status. apply holds the advisory lock from before it reads
 * schema_migrations until it has applied the last pending file, so two
 * runners started together apply each migration once: the second one waits,
 * then finds nothing pending.
 */
#include "migrate_apply.h"

#include "migrate_db.h"
#include "migrate_files.h"
#include "migrate_log.h"
#include "migrate_plan.h"
#include "migrate_rls_check.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ERROR_TEXT_MAX = 8192 };

static const char create_table_sql[] =
	"CREATE TABLE schema_migrations ("
	" name text PRIMARY KEY,"
	" checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),"
	" applied_at timestamptz NOT NULL DEFAULT now())";

static const char select_applied_sql[] =
	"SELECT name, checksum, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	"  FROM schema_migrations ORDER BY name";

static int table_exists(PGconn *connection, int *exists, char *error, size_t error_size)
{
	PGresult *result = ex_migrate_db_query(connection, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0,
					       NULL, error, error_size);
	if (result == NULL)
		return -1;
	*exists = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
	PQclear(result);
	return 0;
}

/* Reads schema_migrations into applied; a missing table reads as empty. */
static int load_applied(PGconn *connection, ex_applied_list *applied, char *error, size_t error_size)
{
	int exists = 0;

	applied->items = NULL;
	applied->count = 0;
	if (table_exists(connection, &exists, error, error_size) != 0)
		return -1;
	if (!exists)
		return 0;

	PGresult *result = ex_migrate_db_query(connection, select_applied_sql, 0, NULL, error, error_size);
	if (result == NULL)
		return -1;

	int rows = PQntuples(result);
	applied->items = calloc(rows > 0 ? (size_t)rows : 1, sizeof(applied->items[0]));
	if (applied->items == NULL) {
		snprintf(error, error_size, "out of memory reading schema_migrations");
		PQclear(result);
		return -1;
	}
	for (int i = 0; i < rows; i++) {
		ex_applied_migration *row = &applied->items[i];
		const char *name = PQgetvalue(result, i, 0);

		if (strlen(name) > EX_MIGRATE_NAME_MAX) {
			snprintf(error, error_size, "schema_migrations holds a name longer than %d bytes: %.60s...",
				 EX_MIGRATE_NAME_MAX, name);
			PQclear(result);
			return -1;
		}
		snprintf(row->name, sizeof(row->name), "%s", name);
		snprintf(row->checksum, sizeof(row->checksum), "%s", PQgetvalue(result, i, 1));
		snprintf(row->applied_at, sizeof(row->applied_at), "%s", PQgetvalue(result, i, 2));
		applied->count++;
	}
	PQclear(result);
	return 0;
}

/* Logs, once per offending migration, why apply applies nothing. */
static void report_blocked(const ex_migrate_plan *plan, const char *dir)
{
	char message[1024];

	for (size_t i = 0; i < plan->count; i++) {
		const ex_plan_entry *entry = &plan->entries[i];

		switch (entry->state) {
		case EX_MIGRATION_MODIFIED:
			snprintf(message, sizeof(message),
				 "migration %s was edited after it was applied: checksum recorded at apply time %s, "
				 "checksum of %s/%s now %s; restore the applied version and put the change in a "
				 "new migration",
				 entry->name, entry->applied->checksum, dir, entry->name, entry->file->checksum);
			ex_migrate_log(EX_MIGRATE_LOG_ERROR, "migration_modified", "{s:s, s:s, s:s, s:s}", "name",
				       entry->name, "applied_checksum", entry->applied->checksum, "file_checksum",
				       entry->file->checksum, "message", message);
			break;
		case EX_MIGRATION_MISSING:
			snprintf(message, sizeof(message),
				 "migration %s is recorded as applied on %s but %s/%s does not exist; restore the "
				 "file from version control",
				 entry->name, entry->applied->applied_at, dir, entry->name);
			ex_migrate_log(EX_MIGRATE_LOG_ERROR, "migration_missing", "{s:s, s:s, s:s}", "name",
				       entry->name, "applied_checksum", entry->applied->checksum, "message", message);
			break;
		case EX_MIGRATION_OUT_OF_ORDER:
			snprintf(message, sizeof(message),
				 "pending migration %s sorts before the applied migration %s; rename it with a "
				 "timestamp after that one so every database applies migrations in the same order",
				 entry->name, plan->last_applied->name);
			ex_migrate_log(EX_MIGRATE_LOG_ERROR, "migration_out_of_order", "{s:s, s:s, s:s}", "name",
				       entry->name, "last_applied", plan->last_applied->name, "message", message);
			break;
		case EX_MIGRATION_APPLIED:
		case EX_MIGRATION_PENDING:
			break;
		}
	}
	ex_migrate_log(EX_MIGRATE_LOG_ERROR, "apply_blocked", "{s:i, s:i, s:i, s:s}", "modified",
		       (int)plan->modified, "missing", (int)plan->missing, "out_of_order", (int)plan->out_of_order,
		       "message", "nothing was applied; fix the migrations named above and run apply again");
}

/* Logs a failed statement of a migration with the line it started on. */
static void report_failure(PGconn *connection, PGresult *result, const ex_migration_file *file)
{
	char description[ERROR_TEXT_MAX];
	ex_migrate_db_describe(result, connection, description, sizeof(description));

	const char *position = result ? PQresultErrorField(result, PG_DIAG_STATEMENT_POSITION) : NULL;
	const char *sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
	const char *context = result ? PQresultErrorField(result, PG_DIAG_CONTEXT) : NULL;
	long line = position ? ex_migrate_line_at(file->sql, file->sql_length, strtol(position, NULL, 10)) : 0;

	char message[ERROR_TEXT_MAX + 512];
	if (line > 0)
		snprintf(message, sizeof(message), "migration %s failed at line %ld and was rolled back: %s",
			 file->name, line, description);
	else
		snprintf(message, sizeof(message), "migration %s failed and was rolled back: %s", file->name,
			 description);

	ex_migrate_log(EX_MIGRATE_LOG_ERROR, "migration_failed", "{s:s, s:s*, s:o*, s:s*, s:s}", "name", file->name,
		       "sqlstate", sqlstate, "line", line > 0 ? json_integer(line) : NULL, "context", context,
		       "message", message);
}

static long elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - start->tv_sec) * 1000L + (now.tv_nsec - start->tv_nsec) / 1000000L;
}

/* Runs the statements of the file; returns 0, or -1 after logging why. */
static int run_file(PGconn *connection, const ex_migration_file *file)
{
	PGresult *result = PQexec(connection, file->sql);
	ExecStatusType status = PQresultStatus(result);

	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY) {
		report_failure(connection, result, file);
		PQclear(result);
		return -1;
	}
	PQclear(result);

	if (PQtransactionStatus(connection) != PQTRANS_INTRANS) {
		ex_migrate_log(EX_MIGRATE_LOG_ERROR, "migration_failed", "{s:s, s:s}", "name", file->name, "message",
			       "the migration ended the transaction itself (COMMIT or ROLLBACK in the file); "
			       "statements before that point may be committed without a schema_migrations row. "
			       "Remove transaction control from the file and check the schema by hand");
		return -1;
	}
	return 0;
}

/* Applies one migration and its schema_migrations row in one transaction. */
static int apply_one(PGconn *connection, const ex_migration_file *file)
{
	char error[ERROR_TEXT_MAX];
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (ex_migrate_db_exec(connection, "RESET ALL", error, sizeof(error)) != 0
	    || ex_migrate_db_exec(connection, "BEGIN", error, sizeof(error)) != 0) {
		ex_migrate_log(EX_MIGRATE_LOG_ERROR, "migration_failed", "{s:s, s:s}", "name", file->name, "message",
			       error);
		return -1;
	}

	if (run_file(connection, file) != 0) {
		ex_migrate_db_rollback(connection);
		return -1;
	}

	if (ex_migrate_rls_check_applies(file->name) && ex_migrate_rls_check(connection, error, sizeof(error)) != 0) {
		ex_migrate_db_rollback(connection);
		ex_migrate_log(EX_MIGRATE_LOG_ERROR, "migration_rejected", "{s:s, s:s}", "name", file->name, "message",
			       error);
		return -1;
	}

	const char *params[] = { file->name, file->checksum };
	PGresult *result = ex_migrate_db_query(connection,
					       "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", 2,
					       params, error, sizeof(error));
	if (result == NULL || ex_migrate_db_exec(connection, "COMMIT", error, sizeof(error)) != 0) {
		PQclear(result);
		ex_migrate_db_rollback(connection);
		ex_migrate_log(EX_MIGRATE_LOG_ERROR, "migration_failed", "{s:s, s:s}", "name", file->name, "message",
			       error);
		return -1;
	}
	PQclear(result);

	ex_migrate_log(EX_MIGRATE_LOG_INFO, "migration_applied", "{s:s, s:s, s:I}", "name", file->name, "checksum",
		       file->checksum, "duration_ms", (json_int_t)elapsed_ms(&start));
	return 0;
}

static int ensure_table(PGconn *connection, char *error, size_t error_size)
{
	int exists = 0;

	if (table_exists(connection, &exists, error, error_size) != 0)
		return -1;
	if (exists)
		return 0;
	if (ex_migrate_db_exec(connection, create_table_sql, error, error_size) != 0)
		return -1;
	ex_migrate_log(EX_MIGRATE_LOG_INFO, "schema_migrations_created", NULL);
	return 0;
}

/* Applies every pending entry of the plan; returns the number applied or -1. */
static long apply_pending(PGconn *connection, const ex_migrate_plan *plan)
{
	long count = 0;

	for (size_t i = 0; i < plan->count; i++) {
		if (plan->entries[i].state != EX_MIGRATION_PENDING)
			continue;
		if (apply_one(connection, plan->entries[i].file) != 0)
			return -1;
		count++;
	}
	return count;
}

/* The locked part of apply; returns an exit code. */
static int apply_locked(PGconn *connection, const ex_migrate_options *options, const ex_migration_list *files)
{
	char error[ERROR_TEXT_MAX];
	ex_applied_list applied = { 0 };
	ex_migrate_plan plan = { 0 };
	int status = EX_MIGRATE_EXIT_FAILURE;

	if (ensure_table(connection, error, sizeof(error)) != 0
	    || load_applied(connection, &applied, error, sizeof(error)) != 0) {
		ex_migrate_log(EX_MIGRATE_LOG_ERROR, "schema_migrations_unreadable", "{s:s}", "message", error);
		goto done;
	}
	if (ex_migrate_plan_build(files, &applied, &plan) != 0) {
		ex_migrate_log(EX_MIGRATE_LOG_ERROR, "apply_failed", "{s:s}", "message", "out of memory");
		goto done;
	}
	if (ex_migrate_plan_blocked(&plan)) {
		report_blocked(&plan, options->dir);
		goto done;
	}
	if (plan.pending == 0) {
		ex_migrate_log(EX_MIGRATE_LOG_INFO, "no_pending_migrations", "{s:I, s:s}", "applied",
			       (json_int_t)plan.applied, "message", "the database is up to date; nothing to apply");
		status = EX_MIGRATE_EXIT_OK;
		goto done;
	}

	ex_migrate_log(EX_MIGRATE_LOG_INFO, "apply_started", "{s:s, s:I, s:I}", "dir", options->dir, "applied",
		       (json_int_t)plan.applied, "pending", (json_int_t)plan.pending);
	long count = apply_pending(connection, &plan);
	if (count < 0)
		goto done;
	ex_migrate_log(EX_MIGRATE_LOG_INFO, "apply_finished", "{s:I, s:I}", "applied_now", (json_int_t)count,
		       "applied_total", (json_int_t)plan.applied + count);
	status = EX_MIGRATE_EXIT_OK;

done:
	ex_migrate_plan_free(&plan);
	free(applied.items);
	return status;
}

int ex_migrate_apply(const ex_migrate_options *options)
{
	char error[ERROR_TEXT_MAX];
	ex_migration_list files = { 0 };

	if (ex_migrate_list_load(options->dir, &files, error, sizeof(error)) != 0) {
		ex_migrate_log(EX_MIGRATE_LOG_ERROR, "migrations_unreadable", "{s:s}", "message", error);
		return EX_MIGRATE_EXIT_FAILURE;
	}

	PGconn *connection = ex_migrate_db_open(&options->db);
	if (connection == NULL) {
		ex_migrate_list_free(&files);
		return EX_MIGRATE_EXIT_FAILURE;
	}

	int status = EX_MIGRATE_EXIT_FAILURE;
	if (ex_migrate_db_lock(connection, options->db.lock_timeout_s, error, sizeof(error)) != 0) {
		ex_migrate_log(EX_MIGRATE_LOG_ERROR, "lock_failed", "{s:s}", "message", error);
	} else {
		status = apply_locked(connection, options, &files);
		ex_migrate_db_unlock(connection);
	}

	PQfinish(connection);
	ex_migrate_list_free(&files);
	return status;
}

static void print_entry(FILE *out, const ex_plan_entry *entry, const ex_migrate_plan *plan, const char *dir)
{
	const char *applied_at = entry->applied ? entry->applied->applied_at : "-";

	fprintf(out, "%-13s %-21s %s", ex_migration_state_name(entry->state), applied_at, entry->name);
	switch (entry->state) {
	case EX_MIGRATION_MODIFIED:
		fprintf(out, "  (applied checksum %s, file checksum %s)", entry->applied->checksum,
			entry->file->checksum);
		break;
	case EX_MIGRATION_MISSING:
		fprintf(out, "  (no file %s/%s)", dir, entry->name);
		break;
	case EX_MIGRATION_OUT_OF_ORDER:
		fprintf(out, "  (named before the applied %s)", plan->last_applied->name);
		break;
	case EX_MIGRATION_APPLIED:
	case EX_MIGRATION_PENDING:
		break;
	}
	fputc('\n', out);
}

int ex_migrate_status(const ex_migrate_options *options, FILE *out)
{
	char error[ERROR_TEXT_MAX];
	ex_migration_list files = { 0 };
	ex_applied_list applied = { 0 };
	ex_migrate_plan plan = { 0 };
	int status = EX_MIGRATE_EXIT_FAILURE;

	if (ex_migrate_list_load(options->dir, &files, error, sizeof(error)) != 0) {
		ex_migrate_log(EX_MIGRATE_LOG_ERROR, "migrations_unreadable", "{s:s}", "message", error);
		return EX_MIGRATE_EXIT_FAILURE;
	}
	PGconn *connection = ex_migrate_db_open(&options->db);
	if (connection == NULL) {
		ex_migrate_list_free(&files);
		return EX_MIGRATE_EXIT_FAILURE;
	}
	if (load_applied(connection, &applied, error, sizeof(error)) != 0) {
		ex_migrate_log(EX_MIGRATE_LOG_ERROR, "schema_migrations_unreadable", "{s:s}", "message", error);
		goto done;
	}
	if (ex_migrate_plan_build(&files, &applied, &plan) != 0) {
		ex_migrate_log(EX_MIGRATE_LOG_ERROR, "status_failed", "{s:s}", "message", "out of memory");
		goto done;
	}

	fprintf(out, "%-13s %-21s %s\n", "STATE", "APPLIED AT (UTC)", "NAME");
	for (size_t i = 0; i < plan.count; i++)
		print_entry(out, &plan.entries[i], &plan, options->dir);
	fprintf(out, "%zu applied, %zu pending, %zu modified, %zu missing, %zu out of order\n", plan.applied,
		plan.pending, plan.modified, plan.missing, plan.out_of_order);
	status = ex_migrate_plan_blocked(&plan) ? EX_MIGRATE_EXIT_FAILURE : EX_MIGRATE_EXIT_OK;

done:
	ex_migrate_plan_free(&plan);
	free(applied.items);
	PQfinish(connection);
	ex_migrate_list_free(&files);
	return status;
}
