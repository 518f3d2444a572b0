/*
 * The orphan object sweep. The due entries are handled in batches of one
 * tenant, each batch in one transaction of that tenant. An entry is
 * deleted only when no messages or mail_queue row names its key, and the
 * objects of the deleted entries are deleted before that transaction
 * commits. A crash in between leaves entries whose objects are missing,
 * and the next sweep removes them.
 */
#include "mail_sweep.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expresso/log.h"
#include "mail_commit_group.h"

enum {
	ACQUIRE_TIMEOUT_MS = 5000,
	/* Entries handled per sweep; the rest wait for the next run. */
	MAX_ENTRIES_PER_RUN = 10000,
	/* Entries of one tenant looked at in one transaction. */
	MAX_ENTRIES_PER_TRANSACTION = 500,
	NUMBER_TEXT = 32,
};

struct ex_mail_sweeper {
	ex_mail_service *service;
	uint64_t interval_ms;
	uint64_t grace_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
};

/* Reads the results of one pipelined statement. Returns FAILED, or -1 when this statement failed. */
static int read_pipelined(PGconn *connection, ex_db_error *error, int failed)
{
	PGresult *result;
	while ((result = PQgetResult(connection)) != NULL) {
		ExecStatusType status = PQresultStatus(result);
		if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && !failed) {
			ex_db_error_from_result(connection, result, error);
			failed = -1;
		}
		PQclear(result);
	}
	return failed;
}

/*
 * Sends BEGIN, the tenant binding, one INSERT per key and COMMIT in one
 * round trip (libpq pipeline mode, PostgreSQL 14 or later), where one
 * statement at a time would cost a round trip each. The transaction is
 * the same: it commits only when every statement succeeded.
 */
static int insert_keys_pipelined(PGconn *connection, const char *tenant_id, const char *const *keys, size_t count,
				 ex_db_error *error)
{
	if (PQenterPipelineMode(connection) != 1) {
		ex_db_error_from_result(connection, NULL, error);
		return -1;
	}
	const char *tenant_params[] = { tenant_id };
	int sent = PQsendQueryParams(connection, "BEGIN ISOLATION LEVEL READ COMMITTED", 0, NULL, NULL, NULL, NULL, 0) &&
		   PQsendQueryParams(connection, "SELECT set_config('app.tenant_id', $1, true)", 1, NULL, tenant_params,
				     NULL, NULL, 0);
	for (size_t i = 0; i < count && sent; i++) {
		const char *params[] = { tenant_id, keys[i] };
		sent = PQsendQueryParams(connection,
					 "INSERT INTO mail_object_garbage (tenant_id, storage_key) VALUES ($1, $2) "
					 "ON CONFLICT DO NOTHING",
					 2, NULL, params, NULL, NULL, 0);
	}
	sent = sent && PQsendQueryParams(connection, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) &&
	       PQpipelineSync(connection);
	if (!sent) {
		ex_db_error_from_result(connection, NULL, error);
		/* Syncs and drains what was queued, so the connection leaves pipeline mode before it goes back to the pool. */
		ex_mail_pipeline_abandon(connection, count + 3);
		return -1;
	}

	int failed = 0;
	for (size_t i = 0; i < count + 3; i++)
		failed = read_pipelined(connection, error, failed);
	/* The sync result ends the pipeline. Results before it that the loop above did not expect are dropped. */
	bool synced = false;
	for (size_t i = 0; i < count + 8 && !synced && PQstatus(connection) == CONNECTION_OK; i++) {
		PGresult *result = PQgetResult(connection);
		if (result == NULL)
			continue;
		synced = PQresultStatus(result) == PGRES_PIPELINE_SYNC;
		if (!synced && !failed) {
			ex_db_error_from_result(connection, result, error);
			failed = -1;
		}
		PQclear(result);
	}
	if (PQexitPipelineMode(connection) != 1 && !failed) {
		ex_db_error_from_result(connection, NULL, error);
		failed = -1;
	}
	return failed;
}

int ex_mail_sweep_record_keys(ex_mail_service *service, const char *tenant_id, const char *const *keys, size_t count)
{
	ex_db_error error = { 0 };
	PGconn *connection = ex_db_acquire(service->database, ACQUIRE_TIMEOUT_MS, &error);
	int status = connection != NULL ? insert_keys_pipelined(connection, tenant_id, keys, count, &error) : -1;
	/* After a failure the connection may be inside the aborted transaction: release rolls it back. */
	ex_db_release(service->database, connection);
	if (status != 0) {
		ex_log(EX_LOG_ERROR, "garbage_record_failed", "{s:s, s:s}", "tenant", tenant_id, "error", error.message);
		return -1;
	}
	return 0;
}

int ex_mail_sweep_forget_key(PGconn *connection, const char *tenant_id, const char *key, ex_db_error *error)
{
	const char *params[] = { tenant_id, key };
	PGresult *result = ex_db_exec(connection,
				      "DELETE FROM mail_object_garbage WHERE tenant_id = $1 AND storage_key = $2", 2,
				      params, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

void ex_mail_sweep_test_delay(uint64_t milliseconds)
{
	struct timespec delay = { .tv_sec = (time_t)(milliseconds / 1000),
				  .tv_nsec = (long)(milliseconds % 1000) * 1000000L };
	while (nanosleep(&delay, &delay) != 0)
		;
}

/*
 * Appends KEY, quoted, to the PostgreSQL text[] literal of USED bytes in
 * BUFFER, which starts with '{'. Returns 0, or -1 when BUFFER is full.
 */
static int append_array_element(char *buffer, size_t size, size_t *used, const char *key)
{
	size_t at = *used;
	if (at > 1)
		buffer[at++] = ',';
	buffer[at++] = '"';
	for (const char *c = key; *c != '\0'; c++) {
		if (at + 3 >= size)
			return -1;
		if (*c == '"' || *c == '\\')
			buffer[at++] = '\\';
		buffer[at++] = *c;
	}
	buffer[at++] = '"';
	*used = at;
	return 0;
}

typedef struct {
	ex_mail_service *service;
	const char *tenant_id;
	const char *keys;  /* text[] literal of the entries to look at */
	const char *grace;
	int deleted;       /* objects deleted */
} sweep_batch;

/*
 * Deletes, in one statement, the entries of the batch that are due and
 * that no row names, and then their objects, before the transaction
 * commits. A crash in between leaves entries whose objects are gone,
 * which the next sweep deletes.
 */
static int sweep_keys(PGconn *connection, void *context, ex_db_error *error)
{
	sweep_batch *batch = context;
	const char *params[] = { batch->tenant_id, batch->keys, batch->grace };
	batch->deleted = 0;
	PGresult *result = ex_db_exec(
		connection,
		"DELETE FROM mail_object_garbage AS g WHERE g.tenant_id = $1 AND g.storage_key = ANY ($2::text[]) "
		"AND g.queued_at <= now() - $3::interval "
		"AND NOT EXISTS (SELECT 1 FROM messages AS m WHERE m.tenant_id = $1 AND m.storage_key = g.storage_key) "
		"AND NOT EXISTS (SELECT 1 FROM mail_queue AS q WHERE q.tenant_id = $1 AND q.storage_key = g.storage_key) "
		"RETURNING g.storage_key",
		3, params, error);
	if (result == NULL)
		return -1;

	int failed = 0;
	for (int i = 0; i < PQntuples(result) && failed == 0; i++) {
		const char *key = PQgetvalue(result, i, 0);
		char err[EX_STORAGE_ERROR_MAX] = "";
		ex_storage_status status = ex_storage_delete(batch->service->storage, batch->tenant_id, key, err,
							     sizeof(err));
		if (status != EX_STORAGE_OK && status != EX_STORAGE_NOT_FOUND) {
			snprintf(error->message, sizeof(error->message), "deleting object %.120s failed: %.100s", key, err);
			failed = -1;
		} else if (status == EX_STORAGE_OK) {
			ex_log(EX_LOG_INFO, "sweep_object_deleted", "{s:s, s:s}", "tenant", batch->tenant_id, "key", key);
			batch->deleted++;
		}
	}
	PQclear(result);
	return failed;
}

/* Sweeps the due entries of rows FIRST to END-1 of DUE, which all belong to one tenant, in one transaction. */
static int sweep_tenant_rows(ex_mail_service *service, const PGresult *due, int first, int end, const char *grace)
{
	const char *tenant_id = PQgetvalue(due, first, 0);
	size_t size = 3;
	for (int i = first; i < end; i++)
		size += 2 * (size_t)PQgetlength(due, i, 1) + 4;
	char *keys = malloc(size);
	if (keys == NULL) {
		ex_log(EX_LOG_ERROR, "sweep_failed", "{s:s}", "error", "out of memory for a batch of keys");
		return 0;
	}
	size_t used = 1;
	keys[0] = '{';
	for (int i = first; i < end; i++)
		(void)append_array_element(keys, size - 1, &used, PQgetvalue(due, i, 1));
	keys[used++] = '}';
	keys[used] = '\0';

	sweep_batch batch = { .service = service, .tenant_id = tenant_id, .keys = keys, .grace = grace };
	ex_db_error error = { 0 };
	int deleted = 0;
	if (ex_db_tenant_transaction(service->database, tenant_id, EX_DB_READ_COMMITTED, sweep_keys, &batch, &error) != 0)
		ex_log(EX_LOG_WARN, "sweep_batch_failed", "{s:s, s:i, s:s}", "tenant", tenant_id, "entries", end - first,
		       "error", error.message);
	else
		deleted = batch.deleted;
	free(keys);
	return deleted;
}

int ex_mail_sweep_run(ex_mail_service *service, uint64_t grace_ms)
{
	ex_db_error error = { 0 };
	char grace[NUMBER_TEXT];
	char limit[NUMBER_TEXT];
	snprintf(grace, sizeof(grace), "%llu milliseconds", (unsigned long long)grace_ms);
	snprintf(limit, sizeof(limit), "%d", MAX_ENTRIES_PER_RUN);

	PGconn *connection = ex_db_acquire(service->database, ACQUIRE_TIMEOUT_MS, &error);
	if (connection == NULL) {
		ex_log(EX_LOG_ERROR, "sweep_failed", "{s:s}", "error", error.message);
		return -1;
	}
	const char *params[] = { grace, limit };
	/* Sorted by tenant, so each tenant's entries go in batches of one transaction. */
	PGresult *due = ex_db_exec(connection,
				   "SELECT tenant_id, storage_key FROM ex_mail_object_garbage_due($1::interval, $2::integer) "
				   "ORDER BY tenant_id",
				   2, params, &error);
	ex_db_release(service->database, connection);
	if (due == NULL) {
		ex_log(EX_LOG_ERROR, "sweep_failed", "{s:s}", "error", error.message);
		return -1;
	}

	int deleted = 0;
	int rows = PQntuples(due);
	for (int first = 0; first < rows;) {
		int end = first + 1;
		while (end < rows && end - first < MAX_ENTRIES_PER_TRANSACTION &&
		       strcmp(PQgetvalue(due, end, 0), PQgetvalue(due, first, 0)) == 0)
			end++;
		deleted += sweep_tenant_rows(service, due, first, end, grace);
		first = end;
	}
	PQclear(due);
	if (rows > 0)
		ex_log(EX_LOG_INFO, "sweep_done", "{s:i, s:i}", "entries", rows, "objects_deleted", deleted);
	return deleted;
}

static void *sweep_main(void *argument)
{
	struct ex_mail_sweeper *sweeper = argument;
	pthread_mutex_lock(&sweeper->lock);
	while (!sweeper->stopping) {
		struct timespec deadline;
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += (time_t)(sweeper->interval_ms / 1000);
		deadline.tv_nsec += (long)(sweeper->interval_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&sweeper->wake, &sweeper->lock, &deadline);
		if (sweeper->stopping)
			break;
		pthread_mutex_unlock(&sweeper->lock);
		ex_mail_sweep_run(sweeper->service, sweeper->grace_ms);
		pthread_mutex_lock(&sweeper->lock);
	}
	pthread_mutex_unlock(&sweeper->lock);
	return NULL;
}

int ex_mail_sweep_start(ex_mail_service *service, const ex_config *config)
{
	service->test_commit_delay_ms = ex_config_duration_ms(config, "mail_test_commit_delay");
	if (service->test_commit_delay_ms > 0)
		ex_log(EX_LOG_WARN, "test_commit_delay_on", "{s:I}", "milliseconds", (json_int_t)service->test_commit_delay_ms);
	uint64_t interval = ex_config_duration_ms(config, "mail_sweep_interval");
	if (interval == 0)
		return 0;
	struct ex_mail_sweeper *sweeper = calloc(1, sizeof(*sweeper));
	if (sweeper == NULL)
		return -1;
	sweeper->service = service;
	sweeper->interval_ms = interval;
	sweeper->grace_ms = ex_config_duration_ms(config, "mail_sweep_grace");
	pthread_mutex_init(&sweeper->lock, NULL);
	pthread_cond_init(&sweeper->wake, NULL);
	if (pthread_create(&sweeper->thread, NULL, sweep_main, sweeper) != 0) {
		pthread_cond_destroy(&sweeper->wake);
		pthread_mutex_destroy(&sweeper->lock);
		free(sweeper);
		return -1;
	}
	service->sweeper = sweeper;
	return 0;
}

void ex_mail_sweep_stop(ex_mail_service *service)
{
	struct ex_mail_sweeper *sweeper = service->sweeper;
	if (sweeper == NULL)
		return;
	pthread_mutex_lock(&sweeper->lock);
	sweeper->stopping = true;
	pthread_cond_broadcast(&sweeper->wake);
	pthread_mutex_unlock(&sweeper->lock);
	pthread_join(sweeper->thread, NULL);
	pthread_cond_destroy(&sweeper->wake);
	pthread_mutex_destroy(&sweeper->lock);
	free(sweeper);
	service->sweeper = NULL;
}
