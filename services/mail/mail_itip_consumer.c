/*
 * The iMIP sender (mail_itip_consumer.h). Each calendar.itip event names
 * a tenant. The handler locks that tenant's waiting outbox rows
 * (FOR UPDATE SKIP LOCKED, so two daemons never send one row), submits
 * each through ex_mail_queue_submit and sets queued_at in the same
 * transaction. A row is submitted again only when that commit fails after
 * the submission was accepted.
 */
#include "mail_itip_consumer.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expresso/bus.h"
#include "expresso/log.h"
#include "mail_itip_message.h"
#include "mail_queue.h"

enum {
	FETCH_BATCH = 16,
	FETCH_TIMEOUT_MS = 1000,
	ROWS_PER_EVENT = 100, /* outbox rows sent per event; the rest wait for the next event of the tenant */
};

static struct {
	ex_mail_service *service;
	ex_bus_consumer *consumer;
	pthread_t thread;
	bool running;
	atomic_bool stopping;
} itip;

typedef struct {
	const char *tenant_id;
	bool retry; /* a submission failed for now: deliver the event again later */
} send_state;

/* Submits row ROW of ROWS (id, user_id, sender, recipient, method, summary, ical); returns 0 when it is done with, 1 to retry. */
static int submit_row(PGresult *rows, int row, const char *tenant_id)
{
	const char *id = PQgetvalue(rows, row, 0);
	const char *sender = PQgetvalue(rows, row, 2);
	const char *recipient = PQgetvalue(rows, row, 3);
	size_t length = 0;
	char *content = ex_mail_itip_build(itip.service->hostname, id, sender, recipient, PQgetvalue(rows, row, 4),
					   PQgetvalue(rows, row, 5), PQgetvalue(rows, row, 6), &length);
	if (content == NULL)
		return 1;

	const char *recipients[] = { recipient };
	const ex_mail_submission submission = {
		.tenant_id = tenant_id,
		.user_id = PQgetvalue(rows, row, 1),
		.reverse_path = sender,
		.recipients = recipients,
		.recipient_count = 1,
		.content = content,
		.length = length,
		.session_id = id,
	};
	char queue_id[64] = "";
	ex_mail_queue_status status = ex_mail_queue_submit(itip.service, &submission, queue_id, sizeof(queue_id), NULL);
	free(content);
	ex_log(status == EX_MAIL_QUEUE_ACCEPTED ? EX_LOG_INFO : EX_LOG_WARN, "itip_submitted",
	       "{s:s, s:s, s:s, s:s, s:i}", "outbox_id", id, "method", PQgetvalue(rows, row, 4), "recipient", recipient,
	       "queue_id", queue_id, "status", (int)status);
	/* A malformed or unknown recipient stays so; retrying would not help. */
	return status == EX_MAIL_QUEUE_ACCEPTED || status == EX_MAIL_QUEUE_INVALID_RECIPIENT ? 0 : 1;
}

static int send_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	send_state *state = opaque;
	char limit[16];

	state->retry = false;
	snprintf(limit, sizeof(limit), "%d", ROWS_PER_EVENT);
	const char *select_params[] = { limit };
	PGresult *rows = ex_db_exec(connection,
				    "SELECT id::text, user_id::text, sender, recipient, method, summary, ical "
				    "FROM calendar_itip_outbox WHERE queued_at IS NULL ORDER BY created_at "
				    "LIMIT $1::int FOR UPDATE SKIP LOCKED",
				    1, select_params, error);
	if (rows == NULL)
		return -1;
	int status = 0;
	for (int row = 0; row < PQntuples(rows) && status == 0; row++) {
		if (submit_row(rows, row, state->tenant_id) != 0) {
			state->retry = true;
			break;
		}
		const char *params[] = { PQgetvalue(rows, row, 0) };
		PGresult *marked = ex_db_exec(connection, "UPDATE calendar_itip_outbox SET queued_at = now() WHERE id = $1", 1,
					      params, error);
		status = marked != NULL ? 0 : -1;
		PQclear(marked);
	}
	PQclear(rows);
	return status;
}

static ex_bus_verdict handle_event(const char *subject, const char *data, size_t length, void *context)
{
	(void)context;
	json_error_t parse_error;
	json_t *event = json_loadb(data, length, 0, &parse_error);
	const char *tenant = event != NULL ? json_string_value(json_object_get(event, "tenant")) : NULL;
	if (tenant == NULL || strlen(tenant) != 36) {
		ex_log(EX_LOG_WARN, "itip_event_invalid", "{s:s}", "subject", subject);
		json_decref(event);
		return EX_BUS_TERM;
	}

	send_state state = { .tenant_id = tenant };
	ex_db_error error;
	memset(&error, 0, sizeof(error));
	int status = ex_db_tenant_transaction(itip.service->database, tenant, EX_DB_READ_COMMITTED, send_work, &state,
					      &error);
	if (status != 0)
		ex_log(EX_LOG_ERROR, "itip_send_failed", "{s:s, s:s, s:s}", "tenant", tenant, "sqlstate", error.sqlstate,
		       "error", error.message);
	json_decref(event);
	return status != 0 || state.retry ? EX_BUS_NAK : EX_BUS_ACK;
}

static void *consume(void *opaque)
{
	(void)opaque;
	char err[256];

	while (!atomic_load(&itip.stopping)) {
		if (ex_bus_consumer_fetch(itip.consumer, FETCH_BATCH, FETCH_TIMEOUT_MS, handle_event, NULL, err, sizeof(err)) < 0) {
			ex_log(EX_LOG_WARN, "itip_fetch_failed", "{s:s}", "error", err);
			struct timespec pause = { .tv_sec = 1 };
			nanosleep(&pause, NULL);
		}
	}
	return NULL;
}

int ex_mail_itip_consumer_start(ex_mail_service *service)
{
	char err[256];
	char filter[EX_BUS_MAX_SUBJECT];

	if (service->bus == NULL) {
		ex_log(EX_LOG_WARN, "itip_consumer_disabled", "{s:s}", "reason", "no bus: iMIP invitations are not sent");
		return 0;
	}
	snprintf(filter, sizeof(filter), "expresso.*.calendar.itip");
	itip.service = service;
	atomic_store(&itip.stopping, false);
	itip.consumer = ex_bus_consumer_new(service->bus, EX_MAIL_ITIP_DURABLE, filter, err, sizeof(err));
	if (itip.consumer == NULL) {
		ex_log(EX_LOG_ERROR, "itip_consumer_failed", "{s:s}", "error", err);
		return -1;
	}
	if (pthread_create(&itip.thread, NULL, consume, NULL) != 0) {
		ex_log(EX_LOG_ERROR, "itip_consumer_failed", "{s:s}", "error", "pthread_create failed");
		ex_bus_consumer_free(itip.consumer);
		itip.consumer = NULL;
		return -1;
	}
	itip.running = true;
	ex_log(EX_LOG_INFO, "itip_consumer_started", "{s:s, s:s}", "durable", EX_MAIL_ITIP_DURABLE, "subject", filter);
	return 0;
}

void ex_mail_itip_consumer_stop(void)
{
	if (!itip.running)
		return;
	atomic_store(&itip.stopping, true);
	pthread_join(itip.thread, NULL);
	ex_bus_consumer_free(itip.consumer);
	itip.consumer = NULL;
	itip.running = false;
	ex_log(EX_LOG_INFO, "itip_consumer_stopped", "{}");
}
