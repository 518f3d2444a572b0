/*
 * Connection pool: a fixed array of slots guarded by a mutex and a
 * condition variable. A slot's connection is opened on first use and
 * reset when libpq reports it broken.
 */
#include "expresso/db.h"

#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "expresso/log.h"

typedef struct {
	PGconn *connection;
	int in_use;
	unsigned prepared_generation; /* hook generation whose statements the connection has; 0: none */
} pool_slot;

struct ex_db_pool {
	char *conninfo;
	unsigned size;
	pool_slot *slots;
	pthread_mutex_t mutex;
	pthread_cond_t released;
	ex_db_prepare_hook prepare;
	void *prepare_context;
	unsigned prepare_generation; /* counts ex_db_pool_set_prepare_hook calls, from 1 */
};

static void set_error(ex_db_error *error, const char *sqlstate, const char *message)
{
	if (error == NULL)
		return;
	snprintf(error->sqlstate, sizeof(error->sqlstate), "%s", sqlstate ? sqlstate : "");
	snprintf(error->message, sizeof(error->message), "%s", message ? message : "unknown error");
	/* libpq messages end with a newline; logs and JSON read better without it */
	size_t length = strlen(error->message);
	while (length > 0 && error->message[length - 1] == '\n')
		error->message[--length] = '\0';
}

ex_db_pool *ex_db_pool_new(const char *conninfo, unsigned size)
{
	ex_db_pool *pool = calloc(1, sizeof(*pool));
	if (pool == NULL)
		return NULL;
	pool->size = size ? size : EX_DB_DEFAULT_POOL_SIZE;
	pool->conninfo = strdup(conninfo);
	pool->slots = calloc(pool->size, sizeof(pool_slot));
	if (pool->conninfo == NULL || pool->slots == NULL) {
		free(pool->conninfo);
		free(pool->slots);
		free(pool);
		return NULL;
	}
	pthread_mutex_init(&pool->mutex, NULL);
	pthread_cond_init(&pool->released, NULL);
	return pool;
}

void ex_db_pool_free(ex_db_pool *pool)
{
	if (pool == NULL)
		return;
	for (unsigned i = 0; i < pool->size; i++) {
		if (pool->slots[i].connection != NULL)
			PQfinish(pool->slots[i].connection);
	}
	pthread_cond_destroy(&pool->released);
	pthread_mutex_destroy(&pool->mutex);
	free(pool->slots);
	free(pool->conninfo);
	free(pool);
}

void ex_db_pool_set_prepare_hook(ex_db_pool *pool, ex_db_prepare_hook hook, void *context)
{
	pthread_mutex_lock(&pool->mutex);
	pool->prepare = hook;
	pool->prepare_context = context;
	pool->prepare_generation++;
	pthread_mutex_unlock(&pool->mutex);
}

/* Opens or repairs the connection of SLOT; called without the pool lock. */
static int connect_slot(ex_db_pool *pool, pool_slot *slot, ex_db_error *error)
{
	if (slot->connection != NULL && PQstatus(slot->connection) == CONNECTION_OK)
		return 0;

	if (slot->connection != NULL) {
		PQreset(slot->connection);
		slot->prepared_generation = 0; /* a new server session has no prepared statements */
		if (PQstatus(slot->connection) == CONNECTION_OK) {
			ex_log(EX_LOG_INFO, "database_reconnected", NULL);
			return 0;
		}
		PQfinish(slot->connection);
	}
	slot->connection = PQconnectdb(pool->conninfo);
	slot->prepared_generation = 0;
	if (PQstatus(slot->connection) == CONNECTION_OK)
		return 0;

	set_error(error, "08006", PQerrorMessage(slot->connection));
	ex_log(EX_LOG_WARN, "database_connect_failed", "{s:s}", "error", error ? error->message : "");
	PQfinish(slot->connection);
	slot->connection = NULL;
	return -1;
}

static void deadline_after(struct timespec *deadline, unsigned timeout_ms)
{
	clock_gettime(CLOCK_REALTIME, deadline);
	deadline->tv_sec += timeout_ms / 1000;
	deadline->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline->tv_nsec >= 1000000000L) {
		deadline->tv_sec++;
		deadline->tv_nsec -= 1000000000L;
	}
}

/* Marks and returns a free slot, preferring one that is already connected; NULL if none. */
static pool_slot *take_free_slot(ex_db_pool *pool)
{
	pool_slot *unconnected = NULL;

	for (unsigned i = 0; i < pool->size; i++) {
		pool_slot *slot = &pool->slots[i];
		if (slot->in_use)
			continue;
		if (slot->connection != NULL) {
			slot->in_use = 1;
			return slot;
		}
		if (unconnected == NULL)
			unconnected = slot;
	}
	if (unconnected != NULL)
		unconnected->in_use = 1;
	return unconnected;
}

/*
 * Runs the prepare hook on SLOT's connection unless it ran there for the
 * current hook already. A failure closes the connection, so the next
 * acquire of the slot opens a new one. Called without the pool lock.
 */
static int prepare_slot(ex_db_pool *pool, pool_slot *slot, ex_db_error *error)
{
	pthread_mutex_lock(&pool->mutex);
	ex_db_prepare_hook hook = pool->prepare;
	void *context = pool->prepare_context;
	unsigned generation = pool->prepare_generation;
	pthread_mutex_unlock(&pool->mutex);
	if (hook == NULL || slot->prepared_generation == generation)
		return 0;

	ex_db_error local = { 0 };
	if (error == NULL)
		error = &local;
	if (hook(slot->connection, context, error) != 0) {
		ex_log(EX_LOG_ERROR, "database_prepare_failed", "{s:s}", "error", error->message);
		PQfinish(slot->connection);
		slot->connection = NULL;
		slot->prepared_generation = 0;
		return -1;
	}
	slot->prepared_generation = generation;
	return 0;
}

PGconn *ex_db_acquire(ex_db_pool *pool, unsigned timeout_ms, ex_db_error *error)
{
	struct timespec deadline;
	pool_slot *slot;

	deadline_after(&deadline, timeout_ms);
	pthread_mutex_lock(&pool->mutex);
	while ((slot = take_free_slot(pool)) == NULL) {
		if (pthread_cond_timedwait(&pool->released, &pool->mutex, &deadline) == ETIMEDOUT) {
			pthread_mutex_unlock(&pool->mutex);
			set_error(error, "", "timed out waiting for a free database connection");
			return NULL;
		}
	}
	pthread_mutex_unlock(&pool->mutex);

	if (connect_slot(pool, slot, error) != 0 || prepare_slot(pool, slot, error) != 0) {
		pthread_mutex_lock(&pool->mutex);
		slot->in_use = 0;
		pthread_cond_signal(&pool->released);
		pthread_mutex_unlock(&pool->mutex);
		return NULL;
	}
	return slot->connection;
}

void ex_db_release(ex_db_pool *pool, PGconn *connection)
{
	if (connection == NULL)
		return;

	/* A connection left inside a transaction would leak its tenant binding. */
	if (PQtransactionStatus(connection) != PQTRANS_IDLE) {
		PGresult *result = PQexec(connection, "ROLLBACK");
		PQclear(result);
	}

	pthread_mutex_lock(&pool->mutex);
	for (unsigned i = 0; i < pool->size; i++) {
		if (pool->slots[i].connection == connection) {
			pool->slots[i].in_use = 0;
			break;
		}
	}
	pthread_cond_signal(&pool->released);
	pthread_mutex_unlock(&pool->mutex);
}

PGresult *ex_db_exec(PGconn *connection, const char *sql, int param_count,
		     const char *const *params, ex_db_error *error)
{
	PGresult *result = PQexecParams(connection, sql, param_count, NULL, params, NULL, NULL, 0);
	ExecStatusType status = PQresultStatus(result);
	if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
		return result;

	ex_db_error_from_result(connection, result, error);
	PQclear(result);
	return NULL;
}

void ex_db_error_from_result(PGconn *connection, const PGresult *result, ex_db_error *error)
{
	const char *sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
	const char *message = result ? PQresultErrorMessage(result) : NULL;
	if (message == NULL || message[0] == '\0')
		message = PQerrorMessage(connection);
	set_error(error, sqlstate, message);
}

int ex_db_ping(ex_db_pool *pool, ex_db_error *error)
{
	PGconn *connection = ex_db_acquire(pool, 2000, error);
	if (connection == NULL)
		return -1;
	PGresult *result = ex_db_exec(connection, "SELECT 1", 0, NULL, error);
	ex_db_release(pool, connection);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

int ex_db_error_is_retryable(const ex_db_error *error)
{
	return strcmp(error->sqlstate, "40001") == 0 || strcmp(error->sqlstate, "40P01") == 0;
}

static int run_simple(PGconn *connection, const char *sql, ex_db_error *error)
{
	PGresult *result = ex_db_exec(connection, sql, 0, NULL, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

static const char *begin_statement(ex_db_isolation isolation)
{
	switch (isolation) {
	case EX_DB_REPEATABLE_READ: return "BEGIN ISOLATION LEVEL REPEATABLE READ";
	case EX_DB_SERIALIZABLE: return "BEGIN ISOLATION LEVEL SERIALIZABLE";
	case EX_DB_READ_COMMITTED: break;
	}
	return "BEGIN ISOLATION LEVEL READ COMMITTED";
}

static const char bind_tenant_sql[] = "SELECT set_config('app.tenant_id', $1, true)";

/* One attempt: returns 0 on commit, -1 on failure (the transaction is rolled back). */
static int attempt_transaction(PGconn *connection, const char *tenant_id, ex_db_isolation isolation,
			       ex_db_work work, void *context, ex_db_error *error)
{
	if (run_simple(connection, begin_statement(isolation), error) != 0)
		return -1;

	const char *params[] = { tenant_id };
	PGresult *bound = ex_db_exec(connection, bind_tenant_sql, 1, params, error);
	if (bound == NULL)
		goto rollback;
	PQclear(bound);

	if (work(connection, context, error) != 0)
		goto rollback;
	if (run_simple(connection, "COMMIT", error) != 0)
		goto rollback;
	return 0;

rollback:
	if (PQtransactionStatus(connection) != PQTRANS_IDLE) {
		PGresult *result = PQexec(connection, "ROLLBACK");
		PQclear(result);
	}
	return -1;
}

static void backoff_before_retry(int attempt)
{
	unsigned jitter = 0;
	if (getrandom(&jitter, sizeof(jitter), 0) != (ssize_t)sizeof(jitter))
		jitter = 0;
	long milliseconds = (10L << attempt) + (long)(jitter % 10);
	struct timespec pause = { milliseconds / 1000, (milliseconds % 1000) * 1000000L };
	nanosleep(&pause, NULL);
}

/* A unit of work that one attempt runs on CONNECTION: returns 0 on commit, -1 on failure. */
typedef int (*attempt_fn)(PGconn *connection, const char *tenant_id, void *context, ex_db_error *error);

/* Runs ATTEMPT on a pooled connection, again after a retryable failure, at most EX_DB_MAX_ATTEMPTS times. */
static int with_retries(ex_db_pool *pool, const char *tenant_id, attempt_fn attempt, void *context,
			ex_db_error *error)
{
	ex_db_error local;
	if (error == NULL)
		error = &local;
	memset(error, 0, sizeof(*error));

	if (tenant_id == NULL || tenant_id[0] == '\0') {
		set_error(error, "", "no tenant bound to this unit of work");
		return -1;
	}

	for (int attempt_number = 0; attempt_number < EX_DB_MAX_ATTEMPTS; attempt_number++) {
		PGconn *connection = ex_db_acquire(pool, EX_DB_DEFAULT_ACQUIRE_TIMEOUT_MS, error);
		if (connection == NULL)
			return -1;
		memset(error, 0, sizeof(*error));
		int outcome = attempt(connection, tenant_id, context, error);
		ex_db_release(pool, connection);
		if (outcome == 0)
			return 0;
		if (!ex_db_error_is_retryable(error))
			return -1;
		ex_log(EX_LOG_INFO, "database_transaction_retry", "{s:i, s:s}", "attempt", attempt_number + 1,
		       "sqlstate", error->sqlstate);
		backoff_before_retry(attempt_number);
	}
	return -1;
}

typedef struct {
	ex_db_isolation isolation;
	ex_db_work work;
	void *context;
} transaction_attempt;

static int attempt_work(PGconn *connection, const char *tenant_id, void *context, ex_db_error *error)
{
	const transaction_attempt *transaction = context;
	return attempt_transaction(connection, tenant_id, transaction->isolation, transaction->work,
				   transaction->context, error);
}

int ex_db_tenant_transaction(ex_db_pool *pool, const char *tenant_id, ex_db_isolation isolation,
			     ex_db_work work, void *context, ex_db_error *error)
{
	transaction_attempt transaction = { .isolation = isolation, .work = work, .context = context };
	return with_retries(pool, tenant_id, attempt_work, &transaction, error);
}

int ex_db_pipeline_read(PGconn *connection, PGresult **kept, ex_db_error *error)
{
	int outcome = 0;
	PGresult *result;
	while ((result = PQgetResult(connection)) != NULL) {
		ExecStatusType status = PQresultStatus(result);
		if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
			if (kept != NULL) {
				PQclear(*kept);
				*kept = result;
				continue;
			}
		} else {
			if (error->message[0] == '\0')
				ex_db_error_from_result(connection, result, error);
			outcome = -1;
		}
		PQclear(result);
	}
	return outcome;
}

/* Leaves pipeline mode after a failed send, reading the server's results up to the sync. */
static void abandon_pipeline(PGconn *connection)
{
	if (PQpipelineSync(connection) == 1) {
		/* Each statement ends with a NULL result, so 16 reads cover four statements and the sync. */
		for (int i = 0; i < 16 && PQstatus(connection) == CONNECTION_OK; i++) {
			PGresult *result = PQgetResult(connection);
			bool synced = result != NULL && PQresultStatus(result) == PGRES_PIPELINE_SYNC;
			PQclear(result);
			if (synced)
				break;
		}
	}
	PQexitPipelineMode(connection);
}

typedef struct {
	const char *sql;
	int param_count;
	const char *const *params;
	PGresult *result;
} statement_attempt;

static int attempt_statement(PGconn *connection, const char *tenant_id, void *context, ex_db_error *error)
{
	statement_attempt *statement = context;
	const char *bind_params[] = { tenant_id };

	PQclear(statement->result);
	statement->result = NULL;
	if (PQenterPipelineMode(connection) != 1) {
		ex_db_error_from_result(connection, NULL, error);
		return -1;
	}
	bool sent = PQsendQueryParams(connection, begin_statement(EX_DB_READ_COMMITTED), 0, NULL, NULL, NULL, NULL,
				      0) == 1 &&
		    PQsendQueryParams(connection, bind_tenant_sql, 1, NULL, bind_params, NULL, NULL, 0) == 1 &&
		    PQsendQueryParams(connection, statement->sql, statement->param_count, NULL, statement->params, NULL,
				      NULL, 0) == 1 &&
		    PQsendQueryParams(connection, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) == 1 &&
		    PQpipelineSync(connection) == 1;
	if (!sent) {
		ex_db_error_from_result(connection, NULL, error);
		abandon_pipeline(connection);
		return -1;
	}

	int failed = ex_db_pipeline_read(connection, NULL, error);
	failed |= ex_db_pipeline_read(connection, NULL, error);
	failed |= ex_db_pipeline_read(connection, &statement->result, error);
	failed |= ex_db_pipeline_read(connection, NULL, error);
	PGresult *sync = PQgetResult(connection);
	if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC || PQexitPipelineMode(connection) != 1) {
		if (error->message[0] == '\0')
			ex_db_error_from_result(connection, NULL, error);
		failed = -1;
	}
	PQclear(sync);
	if (failed != 0) {
		/* A failed statement leaves the transaction aborted; ex_db_release rolls it back. */
		PQclear(statement->result);
		statement->result = NULL;
		return -1;
	}
	return 0;
}

PGresult *ex_db_tenant_statement(ex_db_pool *pool, const char *tenant_id, const char *sql, int param_count,
				 const char *const *params, ex_db_error *error)
{
	statement_attempt statement = { .sql = sql, .param_count = param_count, .params = params };
	if (with_retries(pool, tenant_id, attempt_statement, &statement, error) != 0)
		return NULL;
	return statement.result;
}
