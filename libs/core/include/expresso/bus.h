/*
 * Event bus on NATS JetStream: the EXPRESSO stream with subjects
 * expresso.<tenant>.<domain>.<event>, a publish helper that creates the
 * stream when it is missing and sets Nats-Msg-Id for deduplication, and a
 * durable pull consumer with explicit acknowledgements.
 *
 * The connection reconnects by itself: nats.c retries forever with a 2 s
 * wait and jitter. A publish during an outage fails, and the caller
 * decides whether to retry.
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
};

ex_bus *ex_bus_connect(const char *url, const char *client_name, char *err, size_t errlen);
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
 * Publishes EVENT (a JSON object; this call adds "id", "tenant", "type"
 * and "time" unless present) to expresso.<tenant>.<domain>.<event> and
 * waits for the stream's acknowledgement. The event id becomes
 * Nats-Msg-Id, so a retried publish is stored once. Returns 0 on success.
 */
int ex_bus_publish(ex_bus *bus, const char *tenant_id, const char *domain, const char *event_name,
		   json_t *event, char *err, size_t errlen);

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
