/*
 * Redis key, channel and payload formats shared by the bus consumer (which
 * writes them) and the subscriber and stream handler (which read them).
 */
#include "relay_message.h"

#include <stdio.h>
#include <string.h>

static int format_checked(size_t size, int written)
{
	return written < 0 || (size_t)written >= size ? -1 : 0;
}

int ex_notify_channel_name(char *out, size_t size, const char *tenant, const char *user)
{
	if (!ex_notify_token_valid(tenant) || !ex_notify_token_valid(user))
		return -1;
	return format_checked(size, snprintf(out, size, EX_NOTIFY_CHANNEL_PREFIX "%s:%s", tenant, user));
}

int ex_notify_user_key(char *out, size_t size, const char *tenant, const char *user, ex_notify_key_kind kind)
{
	const char *suffix = kind == EX_NOTIFY_KEY_EVENTS ? "events" : "origin";
	if (!ex_notify_token_valid(tenant) || !ex_notify_token_valid(user))
		return -1;
	return format_checked(size,
			      snprintf(out, size, EX_NOTIFY_CHANNEL_PREFIX "{%s:%s}:%s", tenant, user, suffix));
}

int ex_notify_seen_key(char *out, size_t size, const char *tenant, const char *user, const char *event_id)
{
	if (!ex_notify_token_valid(tenant) || !ex_notify_token_valid(user) || event_id == NULL ||
	    strlen(event_id) > EX_NOTIFY_MAX_EVENT_ID)
		return -1;
	return format_checked(size,
			      snprintf(out, size, EX_NOTIFY_CHANNEL_PREFIX "{%s:%s}:seen:%s", tenant, user, event_id));
}

/* Copies the token of LENGTH bytes at TEXT into OUT if it is valid. */
static int copy_token(const char *text, size_t length, char *out)
{
	if (length == 0 || length > EX_NOTIFY_MAX_TOKEN)
		return -1;
	memcpy(out, text, length);
	out[length] = '\0';
	return ex_notify_token_valid(out) ? 0 : -1;
}

int ex_notify_channel_parse(const char *channel, size_t length, char *tenant, char *user)
{
	size_t prefix = strlen(EX_NOTIFY_CHANNEL_PREFIX);

	if (length <= prefix || memcmp(channel, EX_NOTIFY_CHANNEL_PREFIX, prefix) != 0)
		return -1;
	const char *rest = channel + prefix;
	size_t rest_length = length - prefix;
	const char *colon = memchr(rest, ':', rest_length);
	if (colon == NULL)
		return -1;
	size_t tenant_length = (size_t)(colon - rest);
	if (copy_token(rest, tenant_length, tenant) != 0)
		return -1;
	return copy_token(colon + 1, rest_length - tenant_length - 1, user);
}

int ex_notify_relay_parse(const char *payload, size_t length, ex_notify_relay *out)
{
	const char *first = memchr(payload, '\n', length);
	if (first == NULL)
		return -1;
	size_t id_length = (size_t)(first - payload);
	if (ex_notify_stream_id_parse(payload, id_length, &out->id) != 0)
		return -1;
	memcpy(out->id_text, payload, id_length);
	out->id_text[id_length] = '\0';

	const char *event = first + 1;
	size_t remaining = length - id_length - 1;
	const char *second = memchr(event, '\n', remaining);
	if (second == NULL)
		return -1;
	size_t event_length = (size_t)(second - event);
	if (event_length == 0 || event_length > EX_NOTIFY_MAX_TYPE)
		return -1;
	memcpy(out->event, event, event_length);
	out->event[event_length] = '\0';
	if (strpbrk(out->event, "\r") != NULL || strlen(out->event) != event_length)
		return -1;

	out->data = second + 1;
	out->data_length = remaining - event_length - 1;
	if (out->data_length == 0 || out->data_length > EX_NOTIFY_MAX_DATA ||
	    memchr(out->data, '\n', out->data_length) != NULL || memchr(out->data, '\r', out->data_length) != NULL ||
	    memchr(out->data, '\0', out->data_length) != NULL)
		return -1;
	return 0;
}
