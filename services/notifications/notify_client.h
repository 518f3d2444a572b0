/*
 * One open SSE connection: a bounded output buffer that libmicrohttpd
 * drains through a content reader callback. When the buffer is empty the
 * reader suspends the connection, and the next write resumes it, so an
 * idle connection uses no worker thread.
 *
 * A client is owned by the hub's list and by its MHD response: the
 * response's free callback unlinks it from the hub and frees it. Every
 * field below the lock is guarded by it.
 */
#ifndef EX_NOTIFY_CLIENT_H
#define EX_NOTIFY_CLIENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notify_event.h"
#include "stream_id.h"

struct MHD_Connection;
struct MHD_Response;
typedef struct ex_notify_hub ex_notify_hub;

/* A live event that arrived while the client was still replaying history. */
typedef struct ex_notify_pending {
	struct ex_notify_pending *next;
	ex_notify_stream_id id;
	size_t length;
	char frame[];
} ex_notify_pending;

typedef struct ex_notify_client {
	struct ex_notify_client *prev, *next; /* the hub's list, guarded by the hub's lock */
	ex_notify_hub *hub;
	struct MHD_Connection *connection;
	int socket_fd; /* the connection's socket, shut down to drop a slow client; -1 if unknown */
	char tenant[EX_NOTIFY_MAX_TOKEN + 1];
	char user[EX_NOTIFY_MAX_TOKEN + 1];
	size_t max_buffer;
	int64_t close_at; /* seconds since the epoch when the credentials expire; 0 for never */

	pthread_mutex_t lock;
	char *buffer;           /* bytes not yet handed to libmicrohttpd; NULL when empty */
	size_t start, length;   /* unread bytes are buffer[start .. length) */
	size_t capacity;
	ex_notify_stream_id last_id; /* newest event id written */
	bool replaying;         /* live events go to pending until the replay is done */
	ex_notify_pending *pending, **pending_tail;
	size_t pending_bytes;
	bool suspended;
	bool closing;           /* end the stream once the buffer is drained */
	bool overflowed;        /* the client did not read fast enough: drop it */
	uint64_t last_write_ms; /* monotonic time of the last write, for heartbeats */
	uint64_t bytes_read;    /* handed to libmicrohttpd so far */
} ex_notify_client;

/*
 * Appends LENGTH bytes. When ID is given, the bytes are the frame of that
 * event and are skipped unless ID is newer than the last id written. While
 * replaying, live events (LIVE true) are queued instead. Returns 0, or -1
 * when the buffer limit was crossed and the client is now dropped.
 * Takes the client's lock.
 */
int ex_notify_client_write(ex_notify_client *client, const char *bytes, size_t length, const ex_notify_stream_id *id,
			   bool live);

/* Ends the replay: writes the queued live events newer than the replay. Takes the lock. */
void ex_notify_client_finish_replay(ex_notify_client *client);

/* Marks the stream for closing once drained and wakes it. Takes the lock. */
void ex_notify_client_close(ex_notify_client *client);

/* Builds the streaming response that owns CLIENT from now on. NULL when out of memory. */
struct MHD_Response *ex_notify_client_response(ex_notify_client *client);

/* Releases a client whose response was never created. Called with the client unlinked from the hub. */
void ex_notify_client_free(ex_notify_client *client);

uint64_t ex_notify_monotonic_ms(void);

#endif
