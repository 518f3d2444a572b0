/*
 * Registry of this replica's SSE connections. A linear list is enough for
 * the thousands of connections one replica holds: delivery scans it once
 * per event, under one lock, copying bytes only.
 */
#include "notify_hub.h"

#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "expresso/log.h"
#include "sse_frame.h"

enum {
	MAX_TICK_MS = 200,
};

struct ex_notify_hub {
	ex_notify_limits limits;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	ex_notify_client *head;
	size_t count;
	bool stopping;
	bool thread_started;
	bool thread_stop;
	pthread_t thread;
	struct MHD_Daemon *mhd; /* from the first connection, to notice the drain */
	ex_counter *delivered;
	ex_counter *dropped;
};

static double sample_streams(void *context)
{
	return (double)ex_notify_hub_count(context);
}

ex_notify_hub *ex_notify_hub_new(const ex_notify_limits *limits, ex_metrics *metrics)
{
	ex_notify_hub *hub = calloc(1, sizeof(*hub));
	if (hub == NULL)
		return NULL;
	hub->limits = *limits;
	pthread_mutex_init(&hub->lock, NULL);
	pthread_cond_init(&hub->wake, NULL);
	if (metrics != NULL) {
		hub->delivered = ex_metrics_counter(metrics, "notifications_delivered_total",
						    "Events written to SSE connections.");
		hub->dropped = ex_metrics_counter(metrics, "notifications_slow_clients_dropped_total",
						  "SSE connections dropped because their send buffer was full.");
		ex_metrics_gauge(metrics, "notifications_streams", "Open SSE connections.", sample_streams, hub);
	}
	return hub;
}

/* NOTE: counts this replica's streams only, so a user may hold max_per_user streams on each replica. */
static size_t streams_of(const ex_notify_hub *hub, const char *tenant, const char *user)
{
	size_t count = 0;
	for (const ex_notify_client *client = hub->head; client != NULL; client = client->next) {
		if (strcmp(client->user, user) == 0 && strcmp(client->tenant, tenant) == 0)
			count++;
	}
	return count;
}

ex_notify_open_status ex_notify_hub_open(ex_notify_hub *hub, struct MHD_Connection *connection, const char *tenant,
					 const char *user, int64_t close_at, ex_notify_client **out)
{
	ex_notify_client *client = calloc(1, sizeof(*client));
	if (client == NULL)
		return EX_NOTIFY_OPEN_NO_MEMORY;
	client->hub = hub;
	client->connection = connection;
	const union MHD_ConnectionInfo *socket_info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
	client->socket_fd = socket_info != NULL ? socket_info->connect_fd : -1;
	snprintf(client->tenant, sizeof(client->tenant), "%s", tenant);
	snprintf(client->user, sizeof(client->user), "%s", user);
	client->max_buffer = hub->limits.send_buffer;
	client->close_at = close_at;
	client->replaying = true;
	client->pending_tail = &client->pending;
	client->last_write_ms = ex_notify_monotonic_ms();
	pthread_mutex_init(&client->lock, NULL);

	ex_notify_open_status status = EX_NOTIFY_OPEN_OK;
	pthread_mutex_lock(&hub->lock);
	if (hub->stopping)
		status = EX_NOTIFY_OPEN_STOPPING;
	else if (hub->count >= hub->limits.max_streams)
		status = EX_NOTIFY_OPEN_SERVER_LIMIT;
	else if (streams_of(hub, tenant, user) >= hub->limits.max_per_user)
		status = EX_NOTIFY_OPEN_USER_LIMIT;
	if (status == EX_NOTIFY_OPEN_OK) {
		client->next = hub->head;
		if (hub->head != NULL)
			hub->head->prev = client;
		hub->head = client;
		hub->count++;
		if (hub->mhd == NULL) {
			const union MHD_ConnectionInfo *info =
				MHD_get_connection_info(connection, MHD_CONNECTION_INFO_DAEMON);
			hub->mhd = info != NULL ? info->daemon : NULL;
		}
	}
	pthread_mutex_unlock(&hub->lock);

	if (status != EX_NOTIFY_OPEN_OK) {
		ex_notify_client_free(client);
		return status;
	}
	*out = client;
	return status;
}

void ex_notify_hub_unlink(ex_notify_hub *hub, ex_notify_client *client)
{
	pthread_mutex_lock(&hub->lock);
	if (client->prev != NULL)
		client->prev->next = client->next;
	else
		hub->head = client->next;
	if (client->next != NULL)
		client->next->prev = client->prev;
	client->prev = client->next = NULL;
	hub->count--;
	pthread_mutex_unlock(&hub->lock);

	if (client->overflowed) {
		ex_counter_add(hub->dropped, 1);
		ex_log(EX_LOG_WARN, "stream_dropped_slow_client", "{s:s, s:s, s:i, s:I}", "tenant", client->tenant, "user",
		       client->user, "send_buffer", (int)hub->limits.send_buffer, "bytes_sent", (json_int_t)client->bytes_read);
	} else {
		ex_log(EX_LOG_INFO, "stream_closed", "{s:s, s:s, s:I}", "tenant", client->tenant, "user", client->user,
		       "bytes_sent", (json_int_t)client->bytes_read);
	}
}

void ex_notify_hub_deliver(ex_notify_hub *hub, const char *tenant, const char *user, const ex_notify_relay *relay)
{
	char data[EX_NOTIFY_MAX_DATA + 1];
	size_t length;

	memcpy(data, relay->data, relay->data_length);
	data[relay->data_length] = '\0';
	char *frame = ex_notify_sse_frame(relay->id_text, relay->event, data, &length);
	if (frame == NULL)
		return;

	pthread_mutex_lock(&hub->lock);
	for (ex_notify_client *client = hub->head; client != NULL; client = client->next) {
		if (strcmp(client->user, user) != 0 || strcmp(client->tenant, tenant) != 0)
			continue;
		if (ex_notify_client_write(client, frame, length, &relay->id, true) == 0)
			ex_counter_add(hub->delivered, 1);
	}
	pthread_mutex_unlock(&hub->lock);
	free(frame);
}

ex_notify_user_ref *ex_notify_hub_users(ex_notify_hub *hub, size_t *count)
{
	pthread_mutex_lock(&hub->lock);
	ex_notify_user_ref *users = calloc(hub->count + 1, sizeof(*users));
	size_t found = 0;
	for (ex_notify_client *client = hub->head; users != NULL && client != NULL; client = client->next) {
		bool seen = false;
		for (size_t i = 0; i < found && !seen; i++)
			seen = strcmp(users[i].user, client->user) == 0 && strcmp(users[i].tenant, client->tenant) == 0;
		if (seen)
			continue;
		memcpy(users[found].tenant, client->tenant, sizeof(users[found].tenant));
		memcpy(users[found].user, client->user, sizeof(users[found].user));
		found++;
	}
	pthread_mutex_unlock(&hub->lock);
	*count = found;
	return users;
}

void ex_notify_hub_close_all(ex_notify_hub *hub)
{
	pthread_mutex_lock(&hub->lock);
	hub->stopping = true;
	for (ex_notify_client *client = hub->head; client != NULL; client = client->next)
		ex_notify_client_close(client);
	pthread_mutex_unlock(&hub->lock);
}

size_t ex_notify_hub_count(ex_notify_hub *hub)
{
	pthread_mutex_lock(&hub->lock);
	size_t count = hub->count;
	pthread_mutex_unlock(&hub->lock);
	return count;
}

/*
 * Returns true once the HTTP server has closed its listening socket, which
 * libexpresso-core does when SIGTERM starts the drain. Suspended streams
 * would otherwise never finish, and libmicrohttpd must not be stopped
 * while connections are suspended.
 * It runs only while a stream is open, under the hub's lock: libmicrohttpd
 * cannot free its daemon before that stream is released, which needs the
 * lock.
 * NOTE: a drain hook in ex_daemon_spec would make this check unnecessary.
 */
static bool listener_closed(ex_notify_hub *hub)
{
	if (hub->mhd == NULL || hub->count == 0)
		return false;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(hub->mhd, MHD_DAEMON_INFO_LISTEN_FD);
	if (info == NULL)
		return true;
	int accepting = 0;
	socklen_t size = sizeof(accepting);
	if (getsockopt(info->listen_fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &size) != 0)
		return errno == EBADF || errno == ENOTSOCK;
	return accepting == 0;
}

/*
 * Sends the heartbeat comment to every stream idle for heartbeat_ms. Ends
 * the streams whose credentials expired, after a reauthenticate event, so
 * the client comes back with a fresh token or ticket.
 * Called with the hub's lock held.
 */
static void send_heartbeats(ex_notify_hub *hub, uint64_t now, int64_t wall_seconds)
{
	static const char expired[] = "event: reauthenticate\ndata: {\"reason\":\"credentials_expired\","
				      "\"message\":\"the token of this stream expired; reconnect with a fresh token or ticket\"}\n\n";
	size_t length = strlen(ex_notify_sse_heartbeat);

	for (ex_notify_client *client = hub->head; client != NULL; client = client->next) {
		pthread_mutex_lock(&client->lock);
		bool due = !client->replaying && now - client->last_write_ms >= hub->limits.heartbeat_ms;
		bool ended = client->close_at > 0 && wall_seconds >= client->close_at && !client->closing;
		pthread_mutex_unlock(&client->lock);
		if (ended) {
			ex_notify_client_write(client, expired, sizeof(expired) - 1, NULL, false);
			ex_notify_client_close(client);
			ex_log(EX_LOG_INFO, "stream_expired", "{s:s, s:s}", "tenant", client->tenant, "user", client->user);
		} else if (due) {
			ex_notify_client_write(client, ex_notify_sse_heartbeat, length, NULL, false);
		}
	}
}

static void *run_heartbeats(void *context)
{
	ex_notify_hub *hub = context;
	uint64_t tick = hub->limits.heartbeat_ms < MAX_TICK_MS ? hub->limits.heartbeat_ms : MAX_TICK_MS;

	pthread_mutex_lock(&hub->lock);
	while (!hub->thread_stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)(tick % 1000) * 1000000L;
		until.tv_sec += (time_t)(tick / 1000) + until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&hub->wake, &hub->lock, &until);
		if (hub->thread_stop)
			break;

		if (!hub->stopping && listener_closed(hub)) {
			hub->stopping = true;
			ex_log(EX_LOG_INFO, "streams_closing", "{s:i}", "streams", (int)hub->count);
			for (ex_notify_client *client = hub->head; client != NULL; client = client->next)
				ex_notify_client_close(client);
		}
		send_heartbeats(hub, ex_notify_monotonic_ms(), (int64_t)time(NULL));
	}
	pthread_mutex_unlock(&hub->lock);
	return NULL;
}

int ex_notify_hub_start(ex_notify_hub *hub, char *err, size_t errlen)
{
	if (hub->limits.heartbeat_ms == 0) {
		snprintf(err, errlen, "the heartbeat interval must be positive");
		return -1;
	}
	int status = pthread_create(&hub->thread, NULL, run_heartbeats, hub);
	if (status != 0) {
		snprintf(err, errlen, "cannot start the heartbeat thread: %s", strerror(status));
		return -1;
	}
	hub->thread_started = true;
	return 0;
}

void ex_notify_hub_free(ex_notify_hub *hub)
{
	if (hub == NULL)
		return;
	if (hub->thread_started) {
		pthread_mutex_lock(&hub->lock);
		hub->thread_stop = true;
		pthread_cond_signal(&hub->wake);
		pthread_mutex_unlock(&hub->lock);
		pthread_join(hub->thread, NULL);
	}
	pthread_cond_destroy(&hub->wake);
	pthread_mutex_destroy(&hub->lock);
	free(hub);
}
