/*
 * The SEARCH index rows of delivered messages (mail_delivery_index.h).
 * The worker of a mail_index_queue reads the stored object, trace fields
 * included, so its row contains what the search would read from storage.
 * It then writes the rows with imap_search_index_write_object() in a
 * tenant transaction. A message expunged in the meantime, or an object
 * already deleted, is skipped and not counted as a failure.
 */
#include "mail_delivery_index.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"
#include "imap_search_index.h"
#include "mail_index_queue.h"
#include "smtp_trace.h"

/* SQLSTATE foreign_key_violation: the message was deleted while its row was inserted. */
#define FOREIGN_KEY_VIOLATION "23503"

struct ex_mail_delivery_index {
	ex_mail_index_queue *queue;
	ex_db_pool *database;
	ex_storage *storage;
	uint64_t max_text; /* EXPRESSO_IMAP_SEARCH_INDEX_MAX_TEXT */
	size_t max_object; /* largest object read back: the largest message plus its trace fields */
	ex_counter *skipped;
	ex_counter *written;
	ex_counter *failed;
	atomic_bool full; /* the last push found the queue full; logs only the first skip of a run */
};

typedef struct {
	const ex_mail_index_item *item;
	const imap_search_index_text *text;
	int rows;
} object_rows;

static int write_object_rows(PGconn *connection, void *context, ex_db_error *error)
{
	object_rows *work = context;
	/*
	 * The row can be rebuilt from the stored object, so its commit does
	 * not wait for the WAL flush, and delivery commits do not queue behind it.
	 */
	PGresult *result = ex_db_exec(connection, "SET LOCAL synchronous_commit = off", 0, NULL, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	work->rows = imap_search_index_write_object(connection, work->item->tenant_id, work->item->storage_key,
						    work->text, error);
	return work->rows < 0 ? -1 : 0;
}

static void write_item(const ex_mail_index_item *item, void *context)
{
	struct ex_mail_delivery_index *index = context;
	char err[EX_STORAGE_ERROR_MAX] = "";
	char *data = NULL;
	size_t length = 0;

	ex_storage_status status = ex_storage_read_all(index->storage, item->tenant_id, item->storage_key,
						       index->max_object, &data, &length, err, sizeof(err));
	if (status == EX_STORAGE_NOT_FOUND) {
		ex_log(EX_LOG_DEBUG, "delivery_index_object_gone", "{s:s, s:s}", "tenant", item->tenant_id, "key",
		       item->storage_key);
		return;
	}
	if (status != EX_STORAGE_OK) {
		ex_log(EX_LOG_WARN, "delivery_index_read_failed", "{s:s, s:s, s:s}", "tenant", item->tenant_id, "key",
		       item->storage_key, "error", err);
		ex_counter_add(index->failed, 1);
		free(data);
		return;
	}

	imap_search_index_text text;
	bool built = imap_search_index_text_build(data, length, index->max_text, &text);
	free(data);
	if (!built)
		return; /* GMime cannot parse it: every search reads the stored message */

	object_rows work = { .item = item, .text = &text };
	ex_db_error error = { 0 };
	int committed = ex_db_tenant_transaction(index->database, item->tenant_id, EX_DB_READ_COMMITTED,
						 write_object_rows, &work, &error);
	imap_search_index_text_clear(&text);
	if (committed == 0) {
		ex_counter_add(index->written, (uint64_t)work.rows);
	} else if (strcmp(error.sqlstate, FOREIGN_KEY_VIOLATION) == 0) {
		ex_log(EX_LOG_DEBUG, "delivery_index_message_gone", "{s:s, s:s}", "tenant", item->tenant_id, "key",
		       item->storage_key);
	} else {
		ex_log(EX_LOG_WARN, "delivery_index_write_failed", "{s:s, s:s, s:s}", "tenant", item->tenant_id, "key",
		       item->storage_key, "error", error.message);
		ex_counter_add(index->failed, 1);
	}
}

/* Reads the queue through the service, so a render after the stop reads 0, not freed memory. */
static double sample_queue_length(void *context)
{
	const ex_mail_service *service = context;
	struct ex_mail_delivery_index *index = service->delivery_index;
	return index == NULL ? 0 : (double)ex_mail_index_queue_length(index->queue);
}

int ex_mail_delivery_index_start(ex_mail_service *service, const ex_config *config)
{
	int64_t capacity = ex_config_int(config, "delivery_index_queue");
	if (capacity < 0 || capacity > EX_MAIL_INDEX_QUEUE_MAX_CAPACITY) {
		ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting", "EXPRESSO_DELIVERY_INDEX_QUEUE", "error",
		       "must be between 0 and 1000000");
		return -1;
	}
	uint64_t max_text = ex_config_size(config, "imap_search_index_max_text");
	service->delivery_index = NULL;
	if (capacity == 0 || max_text == 0) {
		ex_log(EX_LOG_INFO, "delivery_index_off", "{s:I, s:I}", "queue", (json_int_t)capacity, "max_text",
		       (json_int_t)max_text);
		return 0;
	}

	struct ex_mail_delivery_index *index = calloc(1, sizeof(*index));
	if (index == NULL)
		return -1;
	index->database = service->database;
	index->storage = service->storage;
	index->max_text = max_text;
	index->max_object = (size_t)ex_config_size(config, "smtp_max_message_size") + EX_SMTP_TRACE_MAX;
	index->skipped = ex_metrics_counter(service->metrics, "mail_delivery_index_skipped_total",
					    "Delivered messages left to the first SEARCH because the index queue was full.");
	index->written = ex_metrics_counter(service->metrics, "mail_delivery_index_rows_total",
					    "SEARCH index rows written in the background after delivery.");
	index->failed = ex_metrics_counter(service->metrics, "mail_delivery_index_failures_total",
					   "Delivered objects whose index rows could not be read or written (logged).");
	index->queue = ex_mail_index_queue_start((size_t)capacity, write_item, index);
	if (index->queue == NULL) {
		ex_log(EX_LOG_ERROR, "delivery_index_start_failed", "{s:I}", "queue", (json_int_t)capacity);
		free(index);
		return -1;
	}
	ex_metrics_gauge(service->metrics, "mail_delivery_index_queue_length",
			 "Delivered messages waiting for their SEARCH index rows.", sample_queue_length, service);
	service->delivery_index = index;
	ex_log(EX_LOG_INFO, "delivery_index_started", "{s:I, s:I}", "queue", (json_int_t)capacity, "max_text",
	       (json_int_t)max_text);
	return 0;
}

void ex_mail_delivery_index_push(ex_mail_service *service, const char *tenant_id, const char *storage_key)
{
	struct ex_mail_delivery_index *index = service->delivery_index;
	if (index == NULL)
		return;
	if (ex_mail_index_queue_push(index->queue, tenant_id, storage_key)) {
		atomic_store(&index->full, false);
		return;
	}
	ex_counter_add(index->skipped, 1);
	bool was_full = atomic_exchange(&index->full, true);
	ex_log(was_full ? EX_LOG_DEBUG : EX_LOG_INFO, "delivery_index_queue_full", "{s:s, s:s}", "tenant", tenant_id,
	       "key", storage_key);
}

void ex_mail_delivery_index_stop(ex_mail_service *service)
{
	struct ex_mail_delivery_index *index = service->delivery_index;
	if (index == NULL)
		return;
	service->delivery_index = NULL;
	size_t dropped = ex_mail_index_queue_stop(index->queue);
	ex_log(EX_LOG_INFO, "delivery_index_stopped", "{s:I}", "dropped", (json_int_t)dropped);
	/* NOTE: the queue and INDEX stay allocated until the process ends, because a JSON API send that the HTTP
	 * shutdown abandoned may still push to them. The stopped queue rejects that push. */
}
