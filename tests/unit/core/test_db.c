/*
 * PostgreSQL pool and tenant transactions against the real server that
 * scripts/test.sh starts (EXPRESSO_DATABASE_URL, the application role,
 * with the migrations applied). Skipped when the variable is not set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "expresso/audit.h"
#include "expresso/db.h"
#include "expresso/log.h"

#define DEMO_TENANT "6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11"
#define ACME_TENANT "b8e4d2c1-5a3f-4e6b-8c9d-0f1e2a3b4c22"

static ex_db_pool *pool;

static int open_pool(void **state)
{
	(void)state;
	ex_log_init("test-db", EX_LOG_ERROR);
	const char *url = getenv("EXPRESSO_DATABASE_URL");
	if (url == NULL || url[0] == '\0')
		return 0;
	/* One connection, so that consecutive units of work share it. */
	pool = ex_db_pool_new(url, 1);
	return pool == NULL ? -1 : 0;
}

static int close_pool(void **state)
{
	(void)state;
	ex_db_pool_free(pool);
	return 0;
}

#define REQUIRE_DATABASE() \
	do { if (pool == NULL) { print_message("EXPRESSO_DATABASE_URL not set\n"); skip(); } } while (0)

typedef struct {
	char tenant[64];
	int attempts;
	int fail_first_with_serialization;
} probe;

static int read_bound_tenant(PGconn *connection, void *context, ex_db_error *error)
{
	probe *p = context;
	p->attempts++;
	if (p->fail_first_with_serialization && p->attempts == 1) {
		PGresult *failed = ex_db_exec(connection,
			"DO $$ BEGIN RAISE EXCEPTION 'simulated conflict' USING ERRCODE = '40001'; END $$",
			0, NULL, error);
		assert_null(failed);
		return -1;
	}
	PGresult *result = ex_db_exec(connection, "SELECT current_setting('app.tenant_id', true)", 0, NULL, error);
	if (result == NULL)
		return -1;
	snprintf(p->tenant, sizeof(p->tenant), "%s", PQgetvalue(result, 0, 0));
	PQclear(result);
	return 0;
}

static void tenant_is_bound_inside_transaction(void **state)
{
	probe p = { 0 };
	ex_db_error error;
	(void)state;
	REQUIRE_DATABASE();

	assert_int_equal(ex_db_tenant_transaction(pool, DEMO_TENANT, EX_DB_READ_COMMITTED, read_bound_tenant, &p, &error), 0);
	assert_string_equal(p.tenant, DEMO_TENANT);
}

static void tenant_binding_ends_with_transaction(void **state)
{
	ex_db_error error;
	probe p = { 0 };
	(void)state;
	REQUIRE_DATABASE();

	assert_int_equal(ex_db_tenant_transaction(pool, DEMO_TENANT, EX_DB_READ_COMMITTED, read_bound_tenant, &p, &error), 0);
	PGconn *connection = ex_db_acquire(pool, 1000, &error);
	assert_non_null(connection);
	PGresult *result = ex_db_exec(connection, "SELECT coalesce(current_setting('app.tenant_id', true), '')", 0, NULL, &error);
	assert_non_null(result);
	assert_string_equal(PQgetvalue(result, 0, 0), "");
	PQclear(result);
	ex_db_release(pool, connection);
}

static void serialization_failure_is_retried(void **state)
{
	probe p = { .fail_first_with_serialization = 1 };
	ex_db_error error;
	(void)state;
	REQUIRE_DATABASE();

	assert_int_equal(ex_db_tenant_transaction(pool, ACME_TENANT, EX_DB_SERIALIZABLE, read_bound_tenant, &p, &error), 0);
	assert_int_equal(p.attempts, 2);
	assert_string_equal(p.tenant, ACME_TENANT);
}

static int fail_with_syntax_error(PGconn *connection, void *context, ex_db_error *error)
{
	int *attempts = context;
	(*attempts)++;
	PGresult *result = ex_db_exec(connection, "SELEC 1", 0, NULL, error);
	assert_null(result);
	return -1;
}

static void other_errors_are_not_retried(void **state)
{
	int attempts = 0;
	ex_db_error error;
	(void)state;
	REQUIRE_DATABASE();

	assert_int_equal(ex_db_tenant_transaction(pool, DEMO_TENANT, EX_DB_READ_COMMITTED, fail_with_syntax_error, &attempts, &error), -1);
	assert_int_equal(attempts, 1);
	assert_string_equal(error.sqlstate, "42601");
}

static void missing_tenant_is_refused(void **state)
{
	int attempts = 0;
	ex_db_error error;
	(void)state;
	REQUIRE_DATABASE();

	assert_int_equal(ex_db_tenant_transaction(pool, "", EX_DB_READ_COMMITTED, fail_with_syntax_error, &attempts, &error), -1);
	assert_int_equal(attempts, 0);
}

typedef struct {
	const char *request_id;
	int rows;
} audit_probe;

static int count_audit_rows(PGconn *connection, void *context, ex_db_error *error)
{
	audit_probe *p = context;
	const char *params[] = { p->request_id };
	PGresult *result = ex_db_exec(connection, "SELECT count(*) FROM audit_log WHERE request_id = $1", 1, params, error);
	if (result == NULL)
		return -1;
	p->rows = (int)strtol(PQgetvalue(result, 0, 0), NULL, 10);
	PQclear(result);
	return 0;
}

static void audit_rows_are_tenant_scoped(void **state)
{
	ex_db_error error;
	char request_id[64];
	(void)state;
	REQUIRE_DATABASE();

	snprintf(request_id, sizeof(request_id), "test-audit-%ld-%ld", (long)getpid(), (long)time(NULL));
	json_t *detail = json_pack("{s:s}", "method", "PLAIN");
	ex_audit_entry entry = {
		.tenant_id = DEMO_TENANT, .actor = "alice@demo.expresso.test", .action = "auth.login_failed",
		.resource = "imap", .address = "127.0.0.1", .request_id = request_id, .detail = detail,
	};
	assert_int_equal(ex_audit_record(pool, &entry, &error), 0);
	json_decref(detail);

	audit_probe p = { .request_id = request_id };
	assert_int_equal(ex_db_tenant_transaction(pool, DEMO_TENANT, EX_DB_READ_COMMITTED, count_audit_rows, &p, &error), 0);
	assert_int_equal(p.rows, 1);
	assert_int_equal(ex_db_tenant_transaction(pool, ACME_TENANT, EX_DB_READ_COMMITTED, count_audit_rows, &p, &error), 0);
	assert_int_equal(p.rows, 0);
}

static void audit_detail_with_secret_is_refused(void **state)
{
	ex_db_error error;
	(void)state;
	REQUIRE_DATABASE();

	json_t *detail = json_pack("{s:s}", "password", "hunter2");
	ex_audit_entry entry = { .tenant_id = DEMO_TENANT, .action = "auth.login_failed", .detail = detail };
	assert_int_equal(ex_audit_record(pool, &entry, &error), -1);
	json_decref(detail);
}

static void statement_runs_bound_to_tenant(void **state)
{
	ex_db_error error;
	(void)state;
	REQUIRE_DATABASE();

	PGresult *result = ex_db_tenant_statement(pool, ACME_TENANT, "SELECT current_setting('app.tenant_id', true)", 0,
						  NULL, &error);
	assert_non_null(result);
	assert_string_equal(PQgetvalue(result, 0, 0), ACME_TENANT);
	PQclear(result);

	/* The binding ended with the statement's transaction, and the connection left pipeline mode. */
	PGconn *connection = ex_db_acquire(pool, 1000, &error);
	assert_non_null(connection);
	assert_int_equal(PQpipelineStatus(connection), PQ_PIPELINE_OFF);
	result = ex_db_exec(connection, "SELECT coalesce(current_setting('app.tenant_id', true), '')", 0, NULL, &error);
	assert_non_null(result);
	assert_string_equal(PQgetvalue(result, 0, 0), "");
	PQclear(result);
	ex_db_release(pool, connection);
}

static void statement_without_rows_returns_its_result(void **state)
{
	ex_db_error error;
	(void)state;
	REQUIRE_DATABASE();

	PGresult *result = ex_db_tenant_statement(pool, DEMO_TENANT, "DO $$ BEGIN PERFORM 1; END $$", 0, NULL, &error);
	assert_non_null(result);
	assert_int_equal(PQresultStatus(result), PGRES_COMMAND_OK);
	PQclear(result);
}

static void failed_statement_reports_and_rolls_back(void **state)
{
	ex_db_error error;
	const char *params[] = { "7" };
	(void)state;
	REQUIRE_DATABASE();

	assert_null(ex_db_tenant_statement(pool, DEMO_TENANT, "SELEC $1", 1, params, &error));
	assert_string_equal(error.sqlstate, "42601");
	assert_non_null(strstr(error.message, "SELEC"));
	assert_null(ex_db_tenant_statement(pool, DEMO_TENANT, "SELECT 1 / ($1::int - 7)", 1, params, &error));
	assert_string_equal(error.sqlstate, "22012");

	/* The pool's one connection is usable again, outside any transaction. */
	PGresult *result = ex_db_tenant_statement(pool, DEMO_TENANT, "SELECT $1::int + 1", 1, params, &error);
	assert_non_null(result);
	assert_string_equal(PQgetvalue(result, 0, 0), "8");
	PQclear(result);
	assert_null(ex_db_tenant_statement(pool, "", "SELECT 1", 0, NULL, &error));
}

static void statement_sees_only_its_tenant_rows(void **state)
{
	ex_db_error error;
	char request_id[64];
	(void)state;
	REQUIRE_DATABASE();

	snprintf(request_id, sizeof(request_id), "test-statement-%ld-%ld", (long)getpid(), (long)time(NULL));
	ex_audit_entry entry = { .tenant_id = ACME_TENANT, .action = "auth.login_failed", .request_id = request_id };
	assert_int_equal(ex_audit_record(pool, &entry, &error), 0);

	const char *params[] = { request_id };
	static const char count_sql[] = "SELECT count(*) FROM audit_log WHERE request_id = $1";
	PGresult *result = ex_db_tenant_statement(pool, ACME_TENANT, count_sql, 1, params, &error);
	assert_non_null(result);
	assert_string_equal(PQgetvalue(result, 0, 0), "1");
	PQclear(result);
	result = ex_db_tenant_statement(pool, DEMO_TENANT, count_sql, 1, params, &error);
	assert_non_null(result);
	assert_string_equal(PQgetvalue(result, 0, 0), "0");
	PQclear(result);
}

static void unreachable_database_fails_cleanly(void **state)
{
	ex_db_error error;
	(void)state;

	ex_db_pool *dead = ex_db_pool_new("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", 1);
	assert_int_equal(ex_db_ping(dead, &error), -1);
	assert_true(strlen(error.message) > 0);
	ex_db_pool_free(dead);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tenant_is_bound_inside_transaction),
		cmocka_unit_test(tenant_binding_ends_with_transaction),
		cmocka_unit_test(serialization_failure_is_retried),
		cmocka_unit_test(other_errors_are_not_retried),
		cmocka_unit_test(missing_tenant_is_refused),
		cmocka_unit_test(audit_rows_are_tenant_scoped),
		cmocka_unit_test(audit_detail_with_secret_is_refused),
		cmocka_unit_test(statement_runs_bound_to_tenant),
		cmocka_unit_test(statement_without_rows_returns_its_result),
		cmocka_unit_test(failed_statement_reports_and_rolls_back),
		cmocka_unit_test(statement_sees_only_its_tenant_rows),
		cmocka_unit_test(unreachable_database_fails_cleanly),
	};
	return cmocka_run_group_tests(tests, open_pool, close_pool);
}
