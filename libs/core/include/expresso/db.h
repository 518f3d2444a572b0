/*
 * PostgreSQL connection pool on libpq and tenant-bound transactions.
 *
 * Every unit of work a request does runs inside ex_db_tenant_transaction():
 * BEGIN, set_config('app.tenant_id', $1, true), the work, COMMIT, all on
 * one pooled connection. Any failure rolls back the whole unit. A unit of
 * one statement can use ex_db_tenant_statement(), which sends all four in
 * one round trip.
 * Serialization failures and deadlocks (SQLSTATE 40001, 40P01) are retried
 * with a short randomised backoff. SQL is only ever sent with bound
 * parameters (PQexecParams); there is no helper that formats SQL text.
 */
#ifndef EXPRESSO_DB_H
#define EXPRESSO_DB_H

#include <libpq-fe.h>
#include <stddef.h>

typedef struct ex_db_pool ex_db_pool;

typedef struct {
	char sqlstate[6];  /* empty when the failure was not a server error */
	char message[256];
} ex_db_error;

typedef enum {
	EX_DB_READ_COMMITTED = 0,
	EX_DB_REPEATABLE_READ,
	EX_DB_SERIALIZABLE,
} ex_db_isolation;

enum {
	EX_DB_DEFAULT_POOL_SIZE = 8,
	EX_DB_DEFAULT_ACQUIRE_TIMEOUT_MS = 5000,
	EX_DB_MAX_ATTEMPTS = 5, /* first try plus four retries */
};

/*
 * Creates a pool of up to SIZE connections to CONNINFO (a libpq URL or
 * key=value string). Connections are opened lazily, so a daemon starts
 * while PostgreSQL is down and /ready reports it.
 */
ex_db_pool *ex_db_pool_new(const char *conninfo, unsigned size);
void ex_db_pool_free(ex_db_pool *pool);

/* Borrows a healthy connection, waiting up to timeout_ms; NULL on failure. */
PGconn *ex_db_acquire(ex_db_pool *pool, unsigned timeout_ms, ex_db_error *error);
void ex_db_release(ex_db_pool *pool, PGconn *connection);

/*
 * Prepares a daemon's named statements (PQprepare) on one connection.
 * Returns 0, or -1 with ERROR filled in.
 */
typedef int (*ex_db_prepare_hook)(PGconn *connection, void *context, ex_db_error *error);

/*
 * Sets the hook that ex_db_acquire runs once on each connection of POOL
 * before lending it: on a connection opened or reset after this call, and
 * on one already open. A connection whose hook fails is closed and
 * ex_db_acquire returns NULL. HOOK NULL removes the hook.
 */
void ex_db_pool_set_prepare_hook(ex_db_pool *pool, ex_db_prepare_hook hook, void *context);

/* Runs SELECT 1 and returns 0 when it succeeds. */
int ex_db_ping(ex_db_pool *pool, ex_db_error *error);

/*
 * A unit of work: runs statements on CONNECTION and returns 0 to commit or
 * -1 to roll back (with ERROR filled in). The function may run more than
 * once when the transaction is retried, so it must not keep side effects
 * outside the database between attempts.
 */
typedef int (*ex_db_work)(PGconn *connection, void *context, ex_db_error *error);

/*
 * Runs WORK in one transaction bound to TENANT_ID (a UUID string, taken
 * from a validated token or a SECURITY DEFINER lookup, never from request
 * input). Returns 0 on commit, -1 on failure with ERROR filled in.
 */
int ex_db_tenant_transaction(ex_db_pool *pool, const char *tenant_id, ex_db_isolation isolation,
			     ex_db_work work, void *context, ex_db_error *error);

/*
 * Runs the one statement SQL in its own READ COMMITTED transaction bound
 * to TENANT_ID, in one round trip: BEGIN, the tenant binding, SQL and
 * COMMIT go out together in libpq pipeline mode. Retried like
 * ex_db_tenant_transaction. Returns the statement's result (the caller
 * clears it), or NULL with ERROR filled in.
 */
PGresult *ex_db_tenant_statement(ex_db_pool *pool, const char *tenant_id, const char *sql, int param_count,
				 const char *const *params, ex_db_error *error);

/*
 * Reads the results of one statement sent in pipeline mode, up to the
 * NULL that ends them. With KEPT, the last successful result is kept in
 * *KEPT (clearing the one it held); the others are cleared. Returns 0, or
 * -1 when the statement failed or was skipped after an earlier failure in
 * the pipeline. ERROR is filled in only while its message is empty, so a
 * caller that clears it first keeps the first failure of the pipeline.
 */
int ex_db_pipeline_read(PGconn *connection, PGresult **kept, ex_db_error *error);

/*
 * Executes SQL with bound text parameters. Returns the result when its
 * status is PGRES_COMMAND_OK or PGRES_TUPLES_OK, else NULL with ERROR
 * filled in. The caller clears the result.
 */
PGresult *ex_db_exec(PGconn *connection, const char *sql, int param_count,
		     const char *const *params, ex_db_error *error);

/*
 * Fills ERROR from a failed RESULT: its SQLSTATE and message, or the
 * message of CONNECTION when RESULT is NULL or carries none. For callers
 * that send statements themselves (pipelines, binary results).
 */
void ex_db_error_from_result(PGconn *connection, const PGresult *result, ex_db_error *error);

/* Returns 1 when SQLSTATE names a failure that a retry may cure. */
int ex_db_error_is_retryable(const ex_db_error *error);

#endif
