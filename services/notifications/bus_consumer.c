/*
 * The bus consumer thread: pulls events from the durable JetStream
 * consumer (shared by every replica, so each event is handled once), turns
 * each into notifications and stores them through the relay. An event is
 * acknowledged only after Redis stored it for every recipient. When Redis
 * fails, the event is NAKed and comes back (at-least-once), and the seen
 * markers drop the copies already stored.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "expresso/log.h"
#include "notify_service.h"
#include "relay_store.h"

enum {
	FETCH_BATCH = 64,
	FETCH_TIMEOUT_MS = 1000,
	RETRY_MIN_MS = 250,
	RETRY_MAX_MS = 4000,
	/* Consecutive fetch failures after which the consumer is bound again. */
	REBIND_AFTER_FAILURES = 10,
};

typedef struct {
	ex_notify_service *service;
	uint64_t redis_backoff_ms;
} consumer_state;

void ex_notify_pause(ex_notify_service *service, uint64_t ms)
{
	for (uint64_t waited = 0; waited < ms && !atomic_load(&service->stop); waited += 50) {
		struct timespec step = { 0, 50 * 1000 * 1000 };
		nanosleep(&step, NULL);
	}
}

static ex_bus_verdict store_event(consumer_state *state, const ex_notify_event *event)
{
	ex_notify_service *service = state->service;
	const ex_notify_store_options options = {
		.history_max = service->history_max,
		.history_ttl_ms = service->history_ttl_ms,
		.dedup_ttl_ms = service->dedup_ttl_ms,
	};
	char err[256];

	for (size_t i = 0; i < event->recipient_count; i++) {
		ex_notify_store_status status =
			ex_notify_relay_store(service->redis, &options, event, event->recipients[i], err, sizeof(err));
		if (status == EX_NOTIFY_STORE_FAILED) {
			ex_log(EX_LOG_WARN, "notification_store_failed", "{s:s, s:s, s:s, s:i}", "event_id",
			       event->event_id, "tenant", event->tenant, "error", err, "retry_ms",
			       (int)state->redis_backoff_ms);
			/* Wait before the NAK, or JetStream redelivers at once while Redis is still down. */
			ex_notify_pause(service, state->redis_backoff_ms);
			state->redis_backoff_ms = state->redis_backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
											  : state->redis_backoff_ms * 2;
			return EX_BUS_NAK;
		}
		if (status == EX_NOTIFY_STORED)
			ex_counter_add(service->notifications_stored, 1);
		else
			ex_log(EX_LOG_DEBUG, "notification_duplicate", "{s:s, s:s}", "event_id", event->event_id,
			       "user", event->recipients[i]);
	}
	state->redis_backoff_ms = RETRY_MIN_MS;
	return EX_BUS_ACK;
}

static ex_bus_verdict handle_event(const char *subject, const char *data, size_t length, void *context)
{
	consumer_state *state = context;
	ex_notify_event event;
	char err[256];

	if (ex_notify_event_parse(subject, data, length, &event, err, sizeof(err)) != 0) {
		ex_counter_add(state->service->events_rejected, 1);
		ex_log(EX_LOG_WARN, "event_rejected", "{s:s, s:s}", "subject", subject, "error", err);
		return EX_BUS_TERM;
	}
	ex_counter_add(state->service->events_consumed, 1);
	ex_bus_verdict verdict = store_event(state, &event);
	ex_notify_event_clear(&event);
	return verdict;
}

void *ex_notify_run_consumer(void *context)
{
	ex_notify_service *service = context;
	consumer_state state = { .service = service, .redis_backoff_ms = RETRY_MIN_MS };
	ex_bus_consumer *consumer = NULL;
	unsigned failures = 0;
	char err[512];

	while (!atomic_load(&service->stop)) {
		if (consumer == NULL) {
			consumer = ex_bus_consumer_new(service->bus, service->durable, NULL, err, sizeof(err));
			if (consumer == NULL) {
				if (failures++ == 0)
					ex_log(EX_LOG_ERROR, "consumer_bind_failed", "{s:s, s:s}", "durable",
					       service->durable, "error", err);
				ex_notify_pause(service, RETRY_MAX_MS);
				continue;
			}
			ex_log(EX_LOG_INFO, "consumer_bound", "{s:s}", "durable", service->durable);
			failures = 0;
		}

		int handled = ex_bus_consumer_fetch(consumer, FETCH_BATCH, FETCH_TIMEOUT_MS, handle_event, &state, err,
						    sizeof(err));
		if (handled >= 0) {
			if (failures > 0)
				ex_log(EX_LOG_INFO, "consumer_recovered", "{s:i}", "failed_fetches", (int)failures);
			failures = 0;
			continue;
		}
		if (failures++ == 0)
			ex_log(EX_LOG_WARN, "consumer_fetch_failed", "{s:s}", "error", err);
		if (failures % REBIND_AFTER_FAILURES == 0) {
			ex_bus_consumer_free(consumer);
			consumer = NULL;
		}
		ex_notify_pause(service, RETRY_MIN_MS * 2);
	}
	ex_bus_consumer_free(consumer);
	return NULL;
}
