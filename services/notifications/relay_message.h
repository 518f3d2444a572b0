/*
 * Names and payloads of the relay between replicas on Redis.
 *
 * Every user has, namespaced by tenant:
 *   - the pub/sub channel  expresso:notify:<tenant>:<user>
 *   - the capped stream    expresso:notify:{<tenant>:<user>}:events
 *   - the stream's origin  expresso:notify:{<tenant>:<user>}:origin
 *     (id of the first entry since the stream was created; a Last-Event-ID
 *     older than it cannot be replayed)
 *   - seen markers          expresso:notify:{<tenant>:<user>}:seen:<event id>
 * The braces keep one user's keys in one Redis Cluster slot.
 *
 * A relay payload is "<stream id>\n<event name>\n<data>".
 */
#ifndef EX_NOTIFY_RELAY_MESSAGE_H
#define EX_NOTIFY_RELAY_MESSAGE_H

#include <stddef.h>

#include "notify_event.h"
#include "stream_id.h"

#define EX_NOTIFY_CHANNEL_PREFIX "expresso:notify:"
#define EX_NOTIFY_CHANNEL_PATTERN "expresso:notify:*"

enum {
	EX_NOTIFY_MAX_KEY = 2 * EX_NOTIFY_MAX_TOKEN + EX_NOTIFY_MAX_EVENT_ID + 64,
};

typedef enum {
	EX_NOTIFY_KEY_EVENTS,
	EX_NOTIFY_KEY_ORIGIN,
} ex_notify_key_kind;

/* Each returns 0, or -1 when a token is invalid or OUT is too small. */
int ex_notify_channel_name(char *out, size_t size, const char *tenant, const char *user);
int ex_notify_user_key(char *out, size_t size, const char *tenant, const char *user, ex_notify_key_kind kind);
int ex_notify_seen_key(char *out, size_t size, const char *tenant, const char *user, const char *event_id);

/* Splits a channel name into tenant and user (buffers of EX_NOTIFY_MAX_TOKEN + 1). Returns 0 or -1. */
int ex_notify_channel_parse(const char *channel, size_t length, char *tenant, char *user);

typedef struct {
	ex_notify_stream_id id;
	char id_text[EX_NOTIFY_STREAM_ID_MAX];
	char event[EX_NOTIFY_MAX_TYPE + 1];
	const char *data; /* points into the payload */
	size_t data_length;
} ex_notify_relay;

/* Parses a relay payload of LENGTH bytes. Returns 0, or -1 when it is malformed. */
int ex_notify_relay_parse(const char *payload, size_t length, ex_notify_relay *out);

#endif
