/*
 * Event to notification: validates the subject and the body, collects the
 * recipients and builds the client-facing JSON from an allowlist (ids, the
 * time, a bounded summary). Pure: no I/O, so the unit tests and the fuzz
 * target run exactly this code.
 */
#include "notify_event.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_TIME_TEXT = 64 };

/* Summary keys that could carry content rather than a summary. */
static const char *const forbidden_summary_keys[] = { "body", "text", "html", "content", "password", "token", NULL };

/*
 * Top-level fields copied beside every "*_id" field. "from", "sender" and
 * "subject" are the short summary of a mail event, cut like summary text.
 */
static const char *const reference_fields[] = { "uid",	    "uidvalidity", "modseq", "mailbox", "path",	  "name",
						"addressbook", "calendar", "resource", "change", "version", "size",
						"from",	    "sender",	   "subject", NULL };

/*
 * Top-level lists copied when they are short: the messages and flags of a
 * mail.flags_changed or mail.expunged event. A longer list is replaced by
 * "<field>_count", and the client reloads what it shows.
 */
static const char *const list_fields[] = { "uids", "flags", "flags_added", "flags_removed", NULL };

/*
 * Fields naming recipients: "user", "users" and "user_id" in every event,
 * plus the fields a type adds. A drive upload reaches its owner, a share
 * reaches its owner and the users it was shared with, and a calendar
 * change reaches the calendar's owner.
 */
static const char *const common_recipient_fields[] = { "user", "users", "user_id", NULL };

static const struct {
	const char *type;
	const char *field;
} type_recipient_fields[] = {
	{ "drive.uploaded", "owner_id" },
	{ "drive.shared", "owner_id" },
	{ "drive.shared", "shared_with" },
	{ "calendar.changed", "owner_id" },
};

static int fail(char *err, size_t errlen, const char *format, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *format, ...)
{
	va_list args;
	va_start(args, format);
	vsnprintf(err, errlen, format, args);
	va_end(args);
	return -1;
}

static int is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int ex_notify_token_valid(const char *text)
{
	size_t length = 0;
	if (text == NULL)
		return 0;
	for (; text[length] != '\0'; length++) {
		if (length == EX_NOTIFY_MAX_TOKEN || !is_token_char(text[length]))
			return 0;
	}
	return length > 0;
}

static int event_id_valid(const char *text)
{
	size_t length = strlen(text);
	if (length == 0 || length > EX_NOTIFY_MAX_EVENT_ID)
		return 0;
	for (size_t i = 0; i < length; i++) {
		if (!is_token_char(text[i]) && text[i] != '.' && text[i] != ':')
			return 0;
	}
	return 1;
}

/* A type is "<domain>.<event>" in lower case, digits, '_' and '-', one or more dots. */
static int type_valid(const char *text)
{
	size_t length = strlen(text);
	int dots = 0;
	if (length < 3 || length > EX_NOTIFY_MAX_TYPE || text[0] == '.' || text[length - 1] == '.')
		return 0;
	for (size_t i = 0; i < length; i++) {
		char c = text[i];
		if (c == '.') {
			if (text[i + 1] == '.')
				return 0;
			dots++;
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
			return 0;
		}
	}
	return dots > 0;
}

/* Splits expresso.<tenant>.<domain>.<event> into the tenant and "<domain>.<event>". */
static int parse_subject(const char *subject, char *tenant, char *type, char *err, size_t errlen)
{
	static const char prefix[] = "expresso.";

	if (subject == NULL || strncmp(subject, prefix, sizeof(prefix) - 1) != 0)
		return fail(err, errlen, "subject does not start with %s", prefix);
	const char *rest = subject + sizeof(prefix) - 1;
	const char *dot = strchr(rest, '.');
	if (dot == NULL || (size_t)(dot - rest) > EX_NOTIFY_MAX_TOKEN)
		return fail(err, errlen, "subject has no valid tenant token");
	memcpy(tenant, rest, (size_t)(dot - rest));
	tenant[dot - rest] = '\0';
	if (!ex_notify_token_valid(tenant))
		return fail(err, errlen, "subject has no valid tenant token");

	const char *name = dot + 1;
	const char *second = strchr(name, '.');
	if (second == NULL || strchr(second + 1, '.') != NULL || strlen(name) > EX_NOTIFY_MAX_TYPE)
		return fail(err, errlen, "subject is not expresso.<tenant>.<domain>.<event>");
	strcpy(type, name);
	if (!type_valid(type))
		return fail(err, errlen, "subject names an invalid event type");
	return 0;
}

static int add_recipient(ex_notify_event *event, json_t *value, const char *field, char *err, size_t errlen)
{
	const char *user = json_string_value(value);

	if (user == NULL || !ex_notify_token_valid(user))
		return fail(err, errlen, "field %s holds an invalid user id", field);
	for (size_t i = 0; i < event->recipient_count; i++) {
		if (strcmp(event->recipients[i], user) == 0)
			return 0;
	}
	if (event->recipient_count == EX_NOTIFY_MAX_RECIPIENTS)
		return fail(err, errlen, "event names more than %d users", EX_NOTIFY_MAX_RECIPIENTS);
	strcpy(event->recipients[event->recipient_count++], user);
	return 0;
}

static int add_recipients(ex_notify_event *event, json_t *body, const char *field, char *err, size_t errlen)
{
	json_t *value = json_object_get(body, field);
	size_t index;
	json_t *item;

	if (value == NULL || json_is_null(value))
		return 0;
	if (!json_is_array(value))
		return add_recipient(event, value, field, err, errlen);
	json_array_foreach(value, index, item) {
		if (add_recipient(event, item, field, err, errlen) != 0)
			return -1;
	}
	return 0;
}

/* Copies at most EX_NOTIFY_MAX_SUMMARY_TEXT bytes of TEXT, cut before a UTF-8 continuation byte. */
static json_t *bounded_string(const char *text)
{
	size_t length = strlen(text);
	if (length > EX_NOTIFY_MAX_SUMMARY_TEXT) {
		length = EX_NOTIFY_MAX_SUMMARY_TEXT;
		while (length > 0 && ((unsigned char)text[length] & 0xC0) == 0x80)
			length--;
	}
	return json_stringn(text, length);
}

static int key_listed(const char *key, const char *const *list)
{
	for (size_t i = 0; list[i] != NULL; i++) {
		if (strcmp(key, list[i]) == 0)
			return 1;
	}
	return 0;
}

static int is_reference_key(const char *key)
{
	size_t length = strlen(key);
	if (length > 3 && length <= EX_NOTIFY_MAX_TYPE && strcmp(key + length - 3, "_id") == 0)
		return 1;
	return key_listed(key, reference_fields);
}

/* Returns a copy of a scalar for the client (strings bounded), or NULL for anything else. */
static json_t *copy_scalar(json_t *value)
{
	if (json_is_string(value))
		return bounded_string(json_string_value(value));
	if (json_is_integer(value) || json_is_boolean(value))
		return json_deep_copy(value);
	return NULL;
}

/*
 * Returns a copy of LIST when it has at most EX_NOTIFY_MAX_LIST_ITEMS
 * items, each an integer or a string of at most EX_NOTIFY_MAX_LIST_TEXT
 * bytes. Returns NULL otherwise.
 */
static json_t *copy_short_list(json_t *list)
{
	size_t index;
	json_t *item;

	if (json_array_size(list) > EX_NOTIFY_MAX_LIST_ITEMS)
		return NULL;
	json_array_foreach(list, index, item) {
		bool short_text = json_is_string(item) && json_string_length(item) <= EX_NOTIFY_MAX_LIST_TEXT;
		if (!json_is_integer(item) && !short_text)
			return NULL;
	}
	return json_deep_copy(list);
}

/* Copies each list field of BODY into DATA, or its item count when the list is too long to copy. */
static void copy_lists(json_t *data, json_t *body)
{
	char count_key[EX_NOTIFY_MAX_TYPE + 8];

	for (size_t i = 0; list_fields[i] != NULL; i++) {
		json_t *list = json_object_get(body, list_fields[i]);
		if (!json_is_array(list))
			continue;
		json_t *copy = copy_short_list(list);
		if (copy != NULL) {
			json_object_set_new(data, list_fields[i], copy);
			continue;
		}
		snprintf(count_key, sizeof(count_key), "%s_count", list_fields[i]);
		json_object_set_new(data, count_key, json_integer((json_int_t)json_array_size(list)));
	}
}

static json_t *copy_summary(json_t *summary)
{
	if (json_is_string(summary))
		return bounded_string(json_string_value(summary));
	if (!json_is_object(summary))
		return NULL;

	json_t *copy = json_object();
	const char *key;
	json_t *value;
	size_t fields = 0;
	json_object_foreach(summary, key, value) {
		if (fields == EX_NOTIFY_MAX_SUMMARY_FIELDS)
			break;
		if (strlen(key) > EX_NOTIFY_MAX_TYPE || key_listed(key, forbidden_summary_keys))
			continue;
		json_t *scalar = copy_scalar(value);
		if (scalar != NULL) {
			json_object_set_new(copy, key, scalar);
			fields++;
		}
	}
	return copy;
}

static char *build_data(const ex_notify_event *event, json_t *body)
{
	json_t *data = json_pack("{s:s, s:s}", "event_id", event->event_id, "type", event->type);
	const char *time = json_string_value(json_object_get(body, "time"));
	const char *key;
	json_t *value;

	if (data == NULL)
		return NULL;
	if (time != NULL && strlen(time) <= MAX_TIME_TEXT)
		json_object_set_new(data, "time", json_string(time));
	json_object_foreach(body, key, value) {
		if (!is_reference_key(key) || json_object_get(data, key) != NULL)
			continue;
		json_t *scalar = copy_scalar(value);
		if (scalar != NULL)
			json_object_set_new(data, key, scalar);
	}
	copy_lists(data, body);

	json_t *summary = copy_summary(json_object_get(body, "summary"));
	if (summary != NULL)
		json_object_set_new(data, "summary", summary);
	char *text = json_dumps(data, JSON_COMPACT);
	if (text != NULL && strlen(text) > EX_NOTIFY_MAX_DATA) {
		/* The summary is what usually grows, so it goes first. */
		free(text);
		json_object_del(data, "summary");
		text = json_dumps(data, JSON_COMPACT);
	}
	if (text != NULL && strlen(text) > EX_NOTIFY_MAX_DATA) {
		/*
		 * Many long reference fields still do not fit. The client gets the
		 * event id and type with "truncated" and reloads what it shows.
		 */
		free(text);
		json_t *minimal = json_pack("{s:O, s:O, s:O*, s:b}", "event_id", json_object_get(data, "event_id"),
					    "type", json_object_get(data, "type"), "time",
					    json_object_get(data, "time"), "truncated", 1);
		text = minimal != NULL ? json_dumps(minimal, JSON_COMPACT) : NULL;
		json_decref(minimal);
	}
	json_decref(data);
	return text;
}

static int parse_body(ex_notify_event *event, json_t *body, const char *subject_type, char *err, size_t errlen)
{
	const char *id = json_string_value(json_object_get(body, "id"));
	const char *tenant = json_string_value(json_object_get(body, "tenant"));
	const char *type = json_string_value(json_object_get(body, "type"));

	if (id == NULL || !event_id_valid(id))
		return fail(err, errlen, "event has no valid id (1 to %d characters of [A-Za-z0-9_.:-])",
			    EX_NOTIFY_MAX_EVENT_ID);
	strcpy(event->event_id, id);
	if (tenant != NULL && strcmp(tenant, event->tenant) != 0)
		return fail(err, errlen, "event tenant does not match the tenant of its subject");
	if (type != NULL && strcmp(type, subject_type) != 0)
		return fail(err, errlen, "event type does not match the type of its subject");

	for (size_t i = 0; common_recipient_fields[i] != NULL; i++) {
		if (add_recipients(event, body, common_recipient_fields[i], err, errlen) != 0)
			return -1;
	}
	for (size_t i = 0; i < sizeof(type_recipient_fields) / sizeof(type_recipient_fields[0]); i++) {
		if (strcmp(event->type, type_recipient_fields[i].type) == 0 &&
		    add_recipients(event, body, type_recipient_fields[i].field, err, errlen) != 0)
			return -1;
	}

	event->data = build_data(event, body);
	if (event->data == NULL)
		return fail(err, errlen, "out of memory building the notification");
	return 0;
}

int ex_notify_event_parse(const char *subject, const char *json, size_t length, ex_notify_event *out,
			  char *err, size_t errlen)
{
	json_error_t error;

	memset(out, 0, sizeof(*out));
	if (parse_subject(subject, out->tenant, out->type, err, errlen) != 0)
		return -1;
	json_t *body = json_loadb(json, length, JSON_REJECT_DUPLICATES, &error);
	if (body == NULL)
		return fail(err, errlen, "event body is not JSON: %s", error.text);
	if (!json_is_object(body)) {
		json_decref(body);
		return fail(err, errlen, "event body is not a JSON object");
	}

	int result = parse_body(out, body, out->type, err, errlen);
	json_decref(body);
	if (result != 0)
		ex_notify_event_clear(out);
	return result;
}

void ex_notify_event_clear(ex_notify_event *event)
{
	free(event->data);
	memset(event, 0, sizeof(*event));
}
