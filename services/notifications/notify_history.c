/*
 * Reads a user's capped stream (XRANGE) to replay missed events. The
 * entries are read before the checks for missing history, so an entry
 * trimmed in between costs a needless resync, never a silent gap.
 */
#include "notify_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"
#include "relay_message.h"
#include "sse_frame.h"

/* Parses one XRANGE entry [id, [field, value, ...]] into RELAY (data points into the reply). */
static int parse_entry(const redisReply *entry, ex_notify_relay *relay)
{
	if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 || entry->element[0]->type != REDIS_REPLY_STRING ||
	    entry->element[1]->type != REDIS_REPLY_ARRAY)
		return -1;
	const redisReply *id = entry->element[0];
	const redisReply *fields = entry->element[1];
	if (ex_notify_stream_id_parse(id->str, id->len, &relay->id) != 0)
		return -1;
	memcpy(relay->id_text, id->str, id->len);
	relay->id_text[id->len] = '\0';

	relay->event[0] = '\0';
	relay->data = NULL;
	for (size_t i = 0; i + 1 < fields->elements; i += 2) {
		const redisReply *name = fields->element[i], *value = fields->element[i + 1];
		if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING)
			return -1;
		if (strcmp(name->str, "event") == 0 && value->len <= EX_NOTIFY_MAX_TYPE) {
			memcpy(relay->event, value->str, value->len);
			relay->event[value->len] = '\0';
		} else if (strcmp(name->str, "data") == 0 && value->len <= EX_NOTIFY_MAX_DATA) {
			relay->data = value->str;
			relay->data_length = value->len;
		}
	}
	return relay->event[0] != '\0' && relay->data != NULL ? 0 : -1;
}

static void write_entry(ex_notify_client *client, const ex_notify_relay *relay)
{
	char data[EX_NOTIFY_MAX_DATA + 1];
	size_t length;

	memcpy(data, relay->data, relay->data_length);
	data[relay->data_length] = '\0';
	char *frame = ex_notify_sse_frame(relay->id_text, relay->event, data, &length);
	if (frame != NULL)
		ex_notify_client_write(client, frame, length, &relay->id, false);
	free(frame);
}

/* Reads the id stored in KEY (GET). Returns 1 when found, 0 when absent, -1 on error. */
static int read_origin(ex_redis *redis, const char *key, ex_notify_stream_id *out)
{
	char err[256];
	redisReply *reply = ex_redis_command(redis, err, sizeof(err), "GET %s", key);
	if (reply == NULL)
		return -1;
	int found = reply->type == REDIS_REPLY_STRING && ex_notify_stream_id_parse(reply->str, reply->len, out) == 0;
	freeReplyObject(reply);
	return found;
}

/*
 * Reads max-deleted-entry-id (Redis 7.0 and later) from XINFO STREAM:
 * the newest id that trimming removed. Returns 1 when found, 0 when the
 * stream or the field is absent, -1 on error.
 */
static int read_max_deleted(ex_redis *redis, const char *key, ex_notify_stream_id *out)
{
	char err[256];
	redisReply *reply = ex_redis_command(redis, err, sizeof(err), "XINFO STREAM %s", key);
	if (reply == NULL)
		return strstr(err, "no such key") != NULL ? 0 : -1;
	int found = 0;
	for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i + 1 < reply->elements; i += 2) {
		const redisReply *name = reply->element[i], *value = reply->element[i + 1];
		if (name->type == REDIS_REPLY_STRING && strcmp(name->str, "max-deleted-entry-id") == 0 &&
		    value->type == REDIS_REPLY_STRING)
			found = ex_notify_stream_id_parse(value->str, value->len, out) == 0;
	}
	freeReplyObject(reply);
	return found;
}

static ex_notify_history_status start_after_newest(ex_redis *redis, ex_notify_client *client, const char *key)
{
	char err[256];
	redisReply *reply = ex_redis_command(redis, err, sizeof(err), "XREVRANGE %s + - COUNT 1", key);
	if (reply == NULL)
		return EX_NOTIFY_HISTORY_UNAVAILABLE;
	ex_notify_relay relay;
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 && parse_entry(reply->element[0], &relay) == 0) {
		pthread_mutex_lock(&client->lock);
		client->last_id = relay.id;
		pthread_mutex_unlock(&client->lock);
	}
	freeReplyObject(reply);
	return EX_NOTIFY_HISTORY_REPLAYED;
}

static void write_resync(ex_notify_client *client, const char *key, ex_redis *redis)
{
	static const char data[] = "{\"reason\":\"history_unavailable\",\"message\":\"events since the given "
				   "Last-Event-ID are no longer stored; reload the current state\"}";
	size_t length;

	/* The resync carries the newest id, so the next reconnect resumes from here. */
	start_after_newest(redis, client, key);
	pthread_mutex_lock(&client->lock);
	char id[EX_NOTIFY_STREAM_ID_MAX];
	ex_notify_stream_id newest = client->last_id;
	pthread_mutex_unlock(&client->lock);
	ex_notify_stream_id_format(id, sizeof(id), &newest);
	char *frame = ex_notify_sse_frame(newest.ms || newest.seq ? id : NULL, "resync", data, &length);
	if (frame != NULL)
		ex_notify_client_write(client, frame, length, NULL, false);
	free(frame);
}

ex_notify_history_status ex_notify_history_replay(ex_redis *redis, ex_notify_client *client,
						  const ex_notify_stream_id *since, size_t max_entries)
{
	char key[EX_NOTIFY_MAX_KEY], origin_key[EX_NOTIFY_MAX_KEY], start[EX_NOTIFY_STREAM_ID_MAX + 1];
	char err[256];

	if (ex_notify_user_key(key, sizeof(key), client->tenant, client->user, EX_NOTIFY_KEY_EVENTS) != 0 ||
	    ex_notify_user_key(origin_key, sizeof(origin_key), client->tenant, client->user, EX_NOTIFY_KEY_ORIGIN) != 0)
		return EX_NOTIFY_HISTORY_UNAVAILABLE;
	if (since == NULL)
		return start_after_newest(redis, client, key);

	pthread_mutex_lock(&client->lock);
	client->last_id = *since;
	pthread_mutex_unlock(&client->lock);
	start[0] = '(';
	ex_notify_stream_id_format(start + 1, sizeof(start) - 1, since);
	redisReply *entries = ex_redis_command(redis, err, sizeof(err), "XRANGE %s %s + COUNT %llu", key, start,
					       (unsigned long long)max_entries);
	if (entries == NULL)
		return EX_NOTIFY_HISTORY_UNAVAILABLE;

	ex_notify_stream_id origin, deleted;
	int has_origin = read_origin(redis, origin_key, &origin);
	int has_deleted = read_max_deleted(redis, key, &deleted);
	if (has_origin < 0 || has_deleted < 0) {
		freeReplyObject(entries);
		return EX_NOTIFY_HISTORY_UNAVAILABLE;
	}
	if (has_origin == 0 || ex_notify_stream_id_compare(since, &origin) < 0 ||
	    (has_deleted == 1 && ex_notify_stream_id_compare(&deleted, since) > 0)) {
		freeReplyObject(entries);
		write_resync(client, key, redis);
		return EX_NOTIFY_HISTORY_RESYNC;
	}

	for (size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements; i++) {
		ex_notify_relay relay;
		if (parse_entry(entries->element[i], &relay) == 0)
			write_entry(client, &relay);
	}
	freeReplyObject(entries);
	return EX_NOTIFY_HISTORY_REPLAYED;
}

int ex_notify_history_catch_up(ex_redis *redis, ex_notify_hub *hub, const char *tenant, const char *user,
			       size_t max_entries)
{
	char key[EX_NOTIFY_MAX_KEY], err[256];

	if (ex_notify_user_key(key, sizeof(key), tenant, user, EX_NOTIFY_KEY_EVENTS) != 0)
		return -1;
	redisReply *entries = ex_redis_command(redis, err, sizeof(err), "XRANGE %s - + COUNT %llu", key,
					       (unsigned long long)max_entries);
	if (entries == NULL)
		return -1;
	for (size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements; i++) {
		ex_notify_relay relay;
		if (parse_entry(entries->element[i], &relay) == 0)
			ex_notify_hub_deliver(hub, tenant, user, &relay);
	}
	freeReplyObject(entries);
	return 0;
}
