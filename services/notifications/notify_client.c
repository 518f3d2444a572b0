/*
 * The output side of one SSE connection: buffer, replay queue, and the
 * libmicrohttpd callbacks that drain it with suspend and resume.
 */
#include "notify_client.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "notify_hub.h"

enum {
	INITIAL_BUFFER = 1024,
	/*
	 * libmicrohttpd allocates this buffer with every response. A chunked
	 * (HTTP/1.1) stream is written straight into the connection's buffer and
	 * leaves it unused, so a small one saves memory on every open stream.
	 */
	RESPONSE_BLOCK_SIZE = 1024,
};

uint64_t ex_notify_monotonic_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

/* Resumes the connection if the reader suspended it. Called with the lock held. */
static void wake(ex_notify_client *client)
{
	if (client->suspended) {
		client->suspended = false;
		MHD_resume_connection(client->connection);
	}
}

static void drop_buffer(ex_notify_client *client)
{
	free(client->buffer);
	client->buffer = NULL;
	client->start = client->length = client->capacity = 0;
}

static void drop_pending(ex_notify_client *client)
{
	ex_notify_pending *item = client->pending;
	while (item != NULL) {
		ex_notify_pending *next = item->next;
		free(item);
		item = next;
	}
	client->pending = NULL;
	client->pending_tail = &client->pending;
	client->pending_bytes = 0;
}

/*
 * Drops a client whose send buffer is full. A client that stopped reading
 * leaves its socket unwritable, so libmicrohttpd would not call the reader
 * again before its idle timeout. Shutting the socket down makes the next
 * send fail at once, and the connection closes. The descriptor stays open
 * until libmicrohttpd closes it, so no other connection can reuse it first.
 */
static int overflow(ex_notify_client *client)
{
	client->overflowed = true;
	drop_buffer(client);
	drop_pending(client);
	if (client->socket_fd >= 0)
		shutdown(client->socket_fd, SHUT_RDWR);
	wake(client);
	return -1;
}

/* Makes room for LENGTH more bytes within max_buffer. Called with the lock held. */
static int reserve(ex_notify_client *client, size_t length)
{
	size_t unread = client->length - client->start;

	if (unread + length > client->max_buffer)
		return -1;
	if (client->start > 0 && client->length + length > client->capacity) {
		memmove(client->buffer, client->buffer + client->start, unread);
		client->start = 0;
		client->length = unread;
	}
	if (client->length + length <= client->capacity)
		return 0;

	size_t capacity = client->capacity ? client->capacity : INITIAL_BUFFER;
	while (capacity < client->length + length)
		capacity *= 2;
	if (capacity > client->max_buffer)
		capacity = client->max_buffer;
	char *grown = realloc(client->buffer, capacity);
	if (grown == NULL)
		return -1;
	client->buffer = grown;
	client->capacity = capacity;
	return 0;
}

static int append(ex_notify_client *client, const char *bytes, size_t length)
{
	if (reserve(client, length) != 0)
		return overflow(client);
	memcpy(client->buffer + client->length, bytes, length);
	client->length += length;
	client->last_write_ms = ex_notify_monotonic_ms();
	wake(client);
	return 0;
}

static int queue_pending(ex_notify_client *client, const char *bytes, size_t length, const ex_notify_stream_id *id)
{
	if (client->pending_bytes + length > client->max_buffer)
		return overflow(client);
	ex_notify_pending *item = malloc(sizeof(*item) + length);
	if (item == NULL)
		return overflow(client);
	item->next = NULL;
	item->id = *id;
	item->length = length;
	memcpy(item->frame, bytes, length);
	*client->pending_tail = item;
	client->pending_tail = &item->next;
	client->pending_bytes += length;
	return 0;
}

int ex_notify_client_write(ex_notify_client *client, const char *bytes, size_t length, const ex_notify_stream_id *id,
			   bool live)
{
	int result = 0;

	pthread_mutex_lock(&client->lock);
	if (client->overflowed || client->closing) {
		result = client->overflowed ? -1 : 0;
	} else if (id != NULL && live && client->replaying) {
		result = queue_pending(client, bytes, length, id);
	} else if (id == NULL || ex_notify_stream_id_compare(id, &client->last_id) > 0) {
		result = append(client, bytes, length);
		if (result == 0 && id != NULL)
			client->last_id = *id;
	}
	pthread_mutex_unlock(&client->lock);
	return result;
}

void ex_notify_client_finish_replay(ex_notify_client *client)
{
	pthread_mutex_lock(&client->lock);
	client->replaying = false;
	for (ex_notify_pending *item = client->pending; item != NULL && !client->overflowed; item = item->next) {
		if (ex_notify_stream_id_compare(&item->id, &client->last_id) <= 0)
			continue;
		if (append(client, item->frame, item->length) == 0)
			client->last_id = item->id;
	}
	drop_pending(client);
	pthread_mutex_unlock(&client->lock);
}

void ex_notify_client_close(ex_notify_client *client)
{
	pthread_mutex_lock(&client->lock);
	client->closing = true;
	wake(client);
	pthread_mutex_unlock(&client->lock);
}

/* Copies the next bytes of the stream for libmicrohttpd, or suspends the connection when there are none. */
static ssize_t read_stream(void *context, uint64_t position, char *out, size_t max)
{
	ex_notify_client *client = context;
	ssize_t result;
	(void)position;

	pthread_mutex_lock(&client->lock);
	if (client->overflowed) {
		result = MHD_CONTENT_READER_END_WITH_ERROR;
	} else if (client->length > client->start) {
		size_t count = client->length - client->start;
		if (count > max)
			count = max;
		memcpy(out, client->buffer + client->start, count);
		client->start += count;
		client->bytes_read += count;
		if (client->start == client->length)
			drop_buffer(client); /* an idle connection keeps no buffer */
		result = (ssize_t)count;
	} else if (client->closing) {
		result = MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		/* Nothing to send: park the connection until a write resumes it. */
		client->suspended = true;
		MHD_suspend_connection(client->connection);
		result = 0;
	}
	pthread_mutex_unlock(&client->lock);
	return result;
}

/* libmicrohttpd is done with the response: the connection has ended. */
static void release_stream(void *context)
{
	ex_notify_client *client = context;
	ex_notify_hub_unlink(client->hub, client);
	ex_notify_client_free(client);
}

struct MHD_Response *ex_notify_client_response(ex_notify_client *client)
{
	return MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, RESPONSE_BLOCK_SIZE, read_stream, client,
						 release_stream);
}

void ex_notify_client_free(ex_notify_client *client)
{
	if (client == NULL)
		return;
	drop_buffer(client);
	drop_pending(client);
	pthread_mutex_destroy(&client->lock);
	free(client);
}
