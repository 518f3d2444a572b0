/*
 * Event bus on NATS JetStream: the EXPRESSO stream with subjects
 * expresso.<tenant>.<domain>.<event>, a publish helper that creates the
 * stream when it is missing and sets Nats-Msg-Id for deduplication, and a
 * durable pull consumer with explicit acknowledgements.
 *
 * The connection reconnects by itself: nats.c retries forever with a 2 s
 * wait and jitter. Publishing only queues the event: a thread of the bus
 * sends the queue in order and retries while NATS is unreachable, so the
 * work that publishes (an SMTP delivery, a DAV PUT) does not wait for NATS.
 * The queue is bounded, and it lives in memory: the events still queued
 * when the daemon stops or crashes are lost.
 */
#ifndef EXPRESSO_BUS_H
#define EXPRESSO_BUS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ex_bus ex_bus;
typedef struct ex_bus_consumer ex_bus_consumer;

#define EX_BUS_STREAM "EXPRESSO"
#define EX_BUS_SUBJECTS "expresso.>"

enum {
	EX_BUS_MAX_SUBJECT = 256,
	EX_BUS_MAX_EVENT_BYTES = 64 * 1024,
	EX_BUS_MAX_EVENT_ID = 63,                     /* bytes of an event's "id" */
	EX_BUS_QUEUE_MAX_EVENTS = 10000,              /* events waiting to be sent */
	EX_BUS_QUEUE_MAX_BYTES = 16 * 1024 * 1024,    /* their bytes */
	EX_BUS_DRAIN_MS = 2000,                       /* time ex_bus_free gives the queue to empty */
};

ex_bus *ex_bus_connect(const char *url, const char *client_name, char *err, size_t errlen);

/*
 * Gives the queued events up to EX_BUS_DRAIN_MS to reach the stream, logs
 * how many were dropped when that was not enough, then closes the bus.
 */
void ex_bus_free(ex_bus *bus);

/* Creates the EXPRESSO stream if it does not exist; 0 on success. */
int ex_bus_ensure_stream(ex_bus *bus, char *err, size_t errlen);

/* Returns 0 when the connection is up and JetStream replies. */
int ex_bus_ping(ex_bus *bus, char *err, size_t errlen);

/*
 * Builds the subject expresso.<tenant>.<domain>.<event>. Each part must be
 * a non-empty token of [A-Za-z0-9_-] (a tenant UUID qualifies). Returns -1
 * if a part is invalid or the subject does not fit.
 */
int ex_bus_subject(char *out, size_t size, const char *tenant_id, const char *domain, const char *event);

/*
 * Queues EVENT (a JSON object; this call adds "id", "tenant", "type" and
 * "time" unless present) for expresso.<tenant>.<domain>.<event>. The bus's
 * thread sends it after the events queued before it, waits for the
 * stream's acknowledgement, and sends it again after a failure until the
 * stream has it. The event id becomes Nats-Msg-Id, so an event sent twice
 * is stored once. Returns 0 once queued, or -1 when the event is invalid
 * or too large, or the queue is full (EX_BUS_QUEUE_MAX_EVENTS events or
 * EX_BUS_QUEUE_MAX_BYTES bytes waiting).
 */
int ex_bus_publish(ex_bus *bus, const char *tenant_id, const char *domain, const char *event_name,
		   json_t *event, char *err, size_t errlen);

/* Returns the number of events queued and not yet acknowledged by the stream. */
size_t ex_bus_queued_events(ex_bus *bus);

/* What a consumer handler decides for one message. */
typedef enum {
	EX_BUS_ACK,  /* processed: never deliver again */
	EX_BUS_NAK,  /* failed for now: deliver again later */
	EX_BUS_TERM, /* poison message: never deliver again, logged */
} ex_bus_verdict;

typedef ex_bus_verdict (*ex_bus_handler)(const char *subject, const char *data, size_t length, void *context);

/*
 * Creates (or binds to) the durable pull consumer DURABLE on the EXPRESSO
 * stream with explicit acks, filtered by FILTER_SUBJECT (NULL for all).
 */
ex_bus_consumer *ex_bus_consumer_new(ex_bus *bus, const char *durable, const char *filter_subject,
				     char *err, size_t errlen);

/*
 * Fetches up to BATCH messages, waiting up to timeout_ms, and passes each
 * to HANDLER, acknowledging as it decides. Returns the number handled, 0
 * on timeout, -1 on error.
 */
int ex_bus_consumer_fetch(ex_bus_consumer *consumer, int batch, int64_t timeout_ms,
			  ex_bus_handler handler, void *context, char *err, size_t errlen);

/* Releases the subscription; the durable consumer stays on the server. */
void ex_bus_consumer_free(ex_bus_consumer *consumer);

#endif
