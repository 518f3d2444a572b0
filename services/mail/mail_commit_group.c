/*
 * Group commit of local deliveries. A session thread whose objects are
 * written (each file fsynced and renamed over its key) queues its request
 * and waits. One waiting thread at a time becomes the leader and takes
 * the requests queued so far (at most max_batch). It fsyncs their
 * objects' directories once per directory, writes every request's rows in
 * one transaction with a savepoint per request, commits, and wakes the
 * threads of that batch. Requests that arrive while a leader commits
 * queue for the next leader, so a batch grows with the load and a lone
 * delivery waits for no one.
 *
 * A request whose rows fail is rolled back to its savepoint and fails
 * alone. A failed directory fsync, BEGIN or COMMIT fails the whole batch,
 * and every session of it replies with a temporary failure.
 */
#include "mail_commit_group.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"
#include "mail_prepared.h"

enum { ACQUIRE_TIMEOUT_MS = 5000 };

struct ex_mail_commit_group {
	ex_db_pool *database;
	ex_storage *storage;
	size_t max_batch;
	pthread_mutex_t lock;
	pthread_cond_t finished; /* broadcast when a batch is done */
	ex_mail_commit_request *head;
	ex_mail_commit_request *tail;
	bool committing;         /* a leader is working on a batch */
	ex_counter *batches;     /* transactions of the group, committed or not */
	ex_counter *requests;    /* requests handed to those transactions */
	ex_counter *slow_batches; /* batches that took the savepoint path */
};

ex_mail_commit_group *ex_mail_commit_group_new(ex_db_pool *database, ex_storage *storage, size_t max_batch,
					       ex_metrics *metrics)
{
	ex_mail_commit_group *group = calloc(1, sizeof(*group));
	if (group == NULL)
		return NULL;
	if (metrics != NULL) {
		group->batches = ex_metrics_counter(metrics, "delivery_batches_total",
						    "Transactions of the delivery group commit, committed or not.");
		group->requests = ex_metrics_counter(metrics, "delivery_batch_requests_total",
						     "Requests handed to those transactions: each local delivery makes one for its rows, "
						     "and one before for its garbage records unless all its keys were reserved.");
		group->slow_batches = ex_metrics_counter(
			metrics, "delivery_batches_slow_total",
			"Batches written again with a savepoint per delivery after a statement failed or wrote nothing.");
	}
	group->database = database;
	group->storage = storage;
	group->max_batch = max_batch > 0 ? max_batch : 1;
	pthread_mutex_init(&group->lock, NULL);
	pthread_cond_init(&group->finished, NULL);
	return group;
}

void ex_mail_commit_group_free(ex_mail_commit_group *group)
{
	if (group == NULL)
		return;
	pthread_mutex_destroy(&group->lock);
	pthread_cond_destroy(&group->finished);
	free(group);
}

int ex_mail_commit_bind_tenant(PGconn *connection, const char *tenant_id, ex_db_error *error)
{
	const char *params[] = { tenant_id };
	PGresult *result = ex_db_exec(connection, "SELECT set_config('app.tenant_id', $1, true)", 1, params, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

int ex_mail_commit_send_bind_tenant(PGconn *connection, const char *tenant_id)
{
	const char *params[] = { tenant_id };
	return PQsendQueryPrepared(connection, EX_MAIL_STATEMENT_BIND_TENANT, 1, params, NULL, NULL, 0) == 1 ? 0 : -1;
}

/* Runs SQL, a constant of this file without parameters (it may hold several statements). */
static int run_statement(PGconn *connection, const char *sql, ex_db_error *error)
{
	PGresult *result = PQexec(connection, sql);
	ExecStatusType status = PQresultStatus(result);
	if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
		PQclear(result);
		return 0;
	}
	const char *sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
	snprintf(error->sqlstate, sizeof(error->sqlstate), "%s", sqlstate != NULL ? sqlstate : "");
	snprintf(error->message, sizeof(error->message), "%s", PQerrorMessage(connection));
	PQclear(result);
	return -1;
}

static void fail_batch(ex_mail_commit_request *batch, const ex_db_error *error)
{
	for (ex_mail_commit_request *request = batch; request != NULL; request = request->next) {
		if (request->status == 0 || request->error.message[0] == '\0')
			request->error = *error;
		request->status = -1;
	}
}

/* Fsyncs the directories of every object of the batch, once each. */
static int sync_objects(ex_mail_commit_group *group, ex_mail_commit_request *batch, ex_db_error *error)
{
	size_t count = 0;
	for (ex_mail_commit_request *request = batch; request != NULL; request = request->next)
		count += request->object_count;
	if (count == 0)
		return 0;

	ex_storage_object_name *objects = calloc(count, sizeof(*objects));
	if (objects == NULL) {
		snprintf(error->message, sizeof(error->message), "out of memory for %zu object names", count);
		return -1;
	}
	size_t used = 0;
	for (ex_mail_commit_request *request = batch; request != NULL; request = request->next) {
		if (request->object_count == 0)
			continue; /* its objects may be NULL, which memcpy must not get */
		memcpy(objects + used, request->objects, request->object_count * sizeof(*objects));
		used += request->object_count;
	}
	char err[EX_STORAGE_ERROR_MAX] = "";
	ex_storage_status status = ex_storage_sync_objects(group->storage, objects, count, err, sizeof(err));
	free(objects);
	if (status != EX_STORAGE_OK) {
		snprintf(error->message, sizeof(error->message), "%s", err);
		return -1;
	}
	return 0;
}

/*
 * Writes one request's rows in a savepoint, with no tenant bound when its
 * work starts. The savepoint stays open after a success, because the next
 * request's SAVEPOINT releases it in the same round trip. Retries a
 * serialization failure or deadlock from the savepoint. Returns -1 only
 * when the transaction itself is unusable.
 */
static int write_request(PGconn *connection, ex_mail_commit_request *request, bool first)
{
	const char *open_savepoint =
		first ? "SAVEPOINT delivery; SELECT set_config('app.tenant_id', '', true)"
		      : "RELEASE SAVEPOINT delivery; SAVEPOINT delivery; SELECT set_config('app.tenant_id', '', true)";
	for (int attempt = 0; attempt < EX_DB_MAX_ATTEMPTS; attempt++) {
		memset(&request->error, 0, sizeof(request->error));
		if (run_statement(connection, open_savepoint, &request->error) != 0)
			return -1;
		/* After a rollback to it, the savepoint still exists and is opened again in place. */
		open_savepoint = "RELEASE SAVEPOINT delivery; SAVEPOINT delivery; SELECT set_config('app.tenant_id', '', true)";

		int worked = request->work(connection, request->context, &request->error);
		if (worked == 0) {
			request->status = 0;
			return 0;
		}
		ex_db_error undo = { 0 };
		if (run_statement(connection, "ROLLBACK TO SAVEPOINT delivery", &undo) != 0) {
			request->error = undo;
			return -1;
		}
		request->status = -1;
		if (!ex_db_error_is_retryable(&request->error))
			return 0;
		ex_log(EX_LOG_INFO, "delivery_rows_retry", "{s:i, s:s}", "attempt", attempt + 1, "sqlstate",
		       request->error.sqlstate);
	}
	return 0;
}

/* Reads every result of one pipelined statement. Returns 0, or -1 when it failed or was skipped. */
static int read_statement(PGconn *connection)
{
	int outcome = 0;
	PGresult *result;
	while ((result = PQgetResult(connection)) != NULL) {
		ExecStatusType status = PQresultStatus(result);
		if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
			outcome = -1;
		PQclear(result);
	}
	return outcome;
}

void ex_mail_pipeline_abandon(PGconn *connection, size_t queued)
{
	if (PQpipelineSync(connection) == 1) {
		/* Each statement ends with a NULL result and the sync with its own result. A send_fast that
		 * failed may have queued statements it did not count, so the bound leaves room for them. */
		size_t results_max = 4 * (queued + 1) + 1024;
		for (size_t i = 0; i < results_max && PQstatus(connection) == CONNECTION_OK; i++) {
			PGresult *result = PQgetResult(connection);
			if (result == NULL)
				continue;
			bool synced = PQresultStatus(result) == PGRES_PIPELINE_SYNC;
			PQclear(result);
			if (synced)
				break;
		}
	}
	PQexitPipelineMode(connection);
}

/*
 * The fast path of a batch: BEGIN and every request's statements go in
 * one round trip (libpq pipeline mode, PostgreSQL 14 or later), without
 * savepoints, and COMMIT follows in a second. Returns 0 when the batch
 * committed, 1 when a request needs the slow path or a statement failed
 * (the transaction is then rolled back), -1 when the connection failed.
 */
static int commit_pipelined(PGconn *connection, ex_mail_commit_request *batch, ex_db_error *error)
{
	for (ex_mail_commit_request *request = batch; request != NULL; request = request->next)
		if (request->send_fast == NULL)
			return 1;
	if (PQenterPipelineMode(connection) != 1) {
		ex_db_error_from_result(connection, NULL, error);
		return -1;
	}

	size_t queued = 0;
	bool sent = PQsendQueryParams(connection, "BEGIN ISOLATION LEVEL READ COMMITTED", 0, NULL, NULL, NULL, NULL,
				      0) == 1;
	for (ex_mail_commit_request *request = batch; request != NULL && sent; request = request->next) {
		queued++;
		/* No request's statements run with the tenant of the one before. */
		sent = ex_mail_commit_send_bind_tenant(connection, "") == 0;
		int request_queued = sent ? request->send_fast(connection, request->context) : -1;
		sent = request_queued >= 0;
		queued += 1 + (request_queued > 0 ? (size_t)request_queued : 0);
	}
	if (!sent || PQpipelineSync(connection) != 1) {
		ex_db_error_from_result(connection, NULL, error);
		ex_mail_pipeline_abandon(connection, queued);
		return -1;
	}

	int outcome = read_statement(connection) == 0 ? 0 : 1;
	for (ex_mail_commit_request *request = batch; request != NULL; request = request->next) {
		int cleared = read_statement(connection);
		int written = request->read_fast(connection, request->context, &request->error);
		if ((cleared != 0 || written != 0) && outcome == 0)
			outcome = 1;
	}
	PGresult *sync = PQgetResult(connection);
	bool synced = PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
	PQclear(sync);
	if (!synced || PQexitPipelineMode(connection) != 1) {
		ex_db_error_from_result(connection, NULL, error);
		return -1;
	}

	if (outcome == 0)
		return run_statement(connection, "COMMIT", error) == 0 ? 0 : -1;
	if (run_statement(connection, "ROLLBACK", error) != 0)
		return -1;
	return 1;
}

/* The slow path of a batch: one savepoint per request, so a failing request fails alone. */
static int commit_with_savepoints(PGconn *connection, ex_mail_commit_request *batch, ex_db_error *error)
{
	int failed = run_statement(connection, "BEGIN ISOLATION LEVEL READ COMMITTED", error);
	for (ex_mail_commit_request *request = batch; request != NULL && failed == 0; request = request->next) {
		if (write_request(connection, request, request == batch) != 0) {
			*error = request->error;
			failed = -1;
		}
	}
	if (failed == 0)
		failed = run_statement(connection, "COMMIT", error);
	return failed;
}

/* Makes the batch durable: directory fsyncs, then one transaction of every request's rows. */
static void commit_batch(ex_mail_commit_group *group, ex_mail_commit_request *batch, size_t size)
{
	ex_db_error error = { 0 };
	for (ex_mail_commit_request *request = batch; request != NULL; request = request->next)
		request->status = -1;

	if (sync_objects(group, batch, &error) != 0) {
		ex_log(EX_LOG_ERROR, "delivery_sync_failed", "{s:I, s:s}", "batch", (json_int_t)size, "error",
		       error.message);
		fail_batch(batch, &error);
		return;
	}
	PGconn *connection = ex_db_acquire(group->database, ACQUIRE_TIMEOUT_MS, &error);
	if (connection == NULL) {
		ex_log(EX_LOG_ERROR, "delivery_commit_failed", "{s:I, s:s}", "batch", (json_int_t)size, "error",
		       error.message);
		fail_batch(batch, &error);
		return;
	}
	int failed = commit_pipelined(connection, batch, &error);
	if (failed == 0) {
		for (ex_mail_commit_request *request = batch; request != NULL; request = request->next) {
			request->status = 0;
			request->fast = true;
		}
	} else if (failed > 0) {
		if (group->slow_batches != NULL)
			ex_counter_add(group->slow_batches, 1);
		failed = commit_with_savepoints(connection, batch, &error);
	}
	if (group->batches != NULL) {
		ex_counter_add(group->batches, 1);
		ex_counter_add(group->requests, size);
	}
	if (failed != 0) {
		ex_log(EX_LOG_ERROR, "delivery_commit_failed", "{s:I, s:s}", "batch", (json_int_t)size, "error",
		       error.message);
		fail_batch(batch, &error);
	}
	/* After a failure the connection may be inside the aborted transaction: release rolls it back. */
	ex_db_release(group->database, connection);
}

/* Takes up to max_batch requests from the queue, in arrival order. Called with the lock held. */
static ex_mail_commit_request *take_batch(ex_mail_commit_group *group, size_t *size)
{
	ex_mail_commit_request *batch = group->head;
	ex_mail_commit_request *last = batch;
	*size = 1;
	while (*size < group->max_batch && last->next != NULL) {
		last = last->next;
		(*size)++;
	}
	group->head = last->next;
	if (group->head == NULL)
		group->tail = NULL;
	last->next = NULL;
	return batch;
}

int ex_mail_commit_group_run(ex_mail_commit_group *group, ex_mail_commit_request *request)
{
	request->status = -1;
	request->fast = false;
	request->done = false;
	request->next = NULL;
	memset(&request->error, 0, sizeof(request->error));

	pthread_mutex_lock(&group->lock);
	if (group->tail != NULL)
		group->tail->next = request;
	else
		group->head = request;
	group->tail = request;

	while (!request->done) {
		if (group->committing) {
			pthread_cond_wait(&group->finished, &group->lock);
			continue;
		}
		/* This thread leads the next batch, which may or may not contain its own request. */
		group->committing = true;
		size_t size = 0;
		ex_mail_commit_request *batch = take_batch(group, &size);
		pthread_mutex_unlock(&group->lock);

		commit_batch(group, batch, size);

		pthread_mutex_lock(&group->lock);
		for (ex_mail_commit_request *member = batch; member != NULL;) {
			ex_mail_commit_request *next = member->next;
			member->next = NULL;
			member->done = true;
			member = next;
		}
		group->committing = false;
		pthread_cond_broadcast(&group->finished);
	}
	pthread_mutex_unlock(&group->lock);
	return request->status;
}
