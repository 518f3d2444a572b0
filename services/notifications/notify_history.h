/*
 * Resumption from the capped Redis stream of a user: what a stream that
 * sends Last-Event-ID missed, and the catch-up after the relay
 * reconnected to Redis.
 */
#ifndef EX_NOTIFY_HISTORY_H
#define EX_NOTIFY_HISTORY_H

#include <stddef.h>

#include "expresso/redis.h"
#include "notify_client.h"
#include "notify_hub.h"

typedef enum {
	EX_NOTIFY_HISTORY_REPLAYED,    /* every missed event was written */
	EX_NOTIFY_HISTORY_RESYNC,      /* the history no longer reaches back: a resync event was written */
	EX_NOTIFY_HISTORY_UNAVAILABLE, /* Redis failed; the relay's catch-up fills in once it is back */
} ex_notify_history_status;

/*
 * Writes the events after SINCE to CLIENT, or a resync event when events
 * after SINCE were trimmed or expired. Without SINCE, writes nothing and
 * starts the client after the newest stored event.
 */
ex_notify_history_status ex_notify_history_replay(ex_redis *redis, ex_notify_client *client,
						  const ex_notify_stream_id *since, size_t max_entries);

/* Delivers the stored events of TENANT/USER to that user's streams on HUB, each only once. Returns 0 or -1. */
int ex_notify_history_catch_up(ex_redis *redis, ex_notify_hub *hub, const char *tenant, const char *user,
			       size_t max_entries);

#endif
