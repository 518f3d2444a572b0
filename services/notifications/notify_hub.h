/*
 * The SSE connections of this replica: admission against the limits,
 * delivery of live events to the connections of one user, heartbeats, and
 * closing every stream when the HTTP server starts to drain.
 *
 * Lock order: the hub's lock, then a client's lock.
 */
#ifndef EX_NOTIFY_HUB_H
#define EX_NOTIFY_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "expresso/metrics.h"
#include "notify_client.h"
#include "relay_message.h"

struct MHD_Connection;

typedef struct {
	size_t max_streams;   /* open streams on this replica */
	size_t max_per_user;  /* open streams of one user on this replica */
	size_t send_buffer;   /* bytes queued for one connection before it is dropped */
	uint64_t heartbeat_ms;
} ex_notify_limits;

typedef enum {
	EX_NOTIFY_OPEN_OK,
	EX_NOTIFY_OPEN_USER_LIMIT,
	EX_NOTIFY_OPEN_SERVER_LIMIT,
	EX_NOTIFY_OPEN_STOPPING,
	EX_NOTIFY_OPEN_NO_MEMORY,
} ex_notify_open_status;

typedef struct {
	char tenant[EX_NOTIFY_MAX_TOKEN + 1];
	char user[EX_NOTIFY_MAX_TOKEN + 1];
} ex_notify_user_ref;

ex_notify_hub *ex_notify_hub_new(const ex_notify_limits *limits, ex_metrics *metrics);

/* Starts the heartbeat thread. Returns 0 or -1. */
int ex_notify_hub_start(ex_notify_hub *hub, char *err, size_t errlen);

/* Stops the heartbeat thread and frees the hub; every stream must have ended. */
void ex_notify_hub_free(ex_notify_hub *hub);

/*
 * Registers a stream for TENANT/USER in replay mode (see
 * ex_notify_client_finish_replay). At CLOSE_AT (seconds since the epoch,
 * 0 for never) the stream receives a reauthenticate event and ends.
 */
ex_notify_open_status ex_notify_hub_open(ex_notify_hub *hub, struct MHD_Connection *connection, const char *tenant,
					 const char *user, int64_t close_at, ex_notify_client **out);

/* Removes CLIENT from the hub; the caller then frees it. */
void ex_notify_hub_unlink(ex_notify_hub *hub, ex_notify_client *client);

/* Writes the event of RELAY to every stream of TENANT/USER on this replica. */
void ex_notify_hub_deliver(ex_notify_hub *hub, const char *tenant, const char *user, const ex_notify_relay *relay);

/* Returns a new array of the distinct users with an open stream (count in *count), or NULL. */
ex_notify_user_ref *ex_notify_hub_users(ex_notify_hub *hub, size_t *count);

/* Ends every stream (shutdown). New streams are refused from now on. */
void ex_notify_hub_close_all(ex_notify_hub *hub);

size_t ex_notify_hub_count(ex_notify_hub *hub);

#endif
