/*
 * Pieces every CalDAV handler uses: request paths, hrefs, replies,
 * ETags, the SQL helper, the default calendars and the change events.
 */
#include "calendar_service.h"
#include "caldav_schedule.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_http.h"
#include "expresso/log.h"

enum { SQL_MAX_PARAMETERS = 12 };

bool calendar_name_is_valid(const char *name)
{
	size_t length = strlen(name);
	if (length == 0 || length > CALENDAR_MAX_CALENDAR_NAME)
		return false;
	for (size_t i = 0; i < length; i++) {
		char c = name[i];
		bool letter_or_digit = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!letter_or_digit && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

static bool object_name_is_valid(const char *name)
{
	size_t length = strlen(name);
	if (length == 0 || length > CALENDAR_MAX_OBJECT_NAME || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < length; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return false;
	}
	return true;
}

/* Copies the next segment of *PATH into OUT; returns its length or -1 when it does not fit. */
static long next_segment(const char **path, char *out, size_t size)
{
	const char *slash = strchr(*path, '/');
	size_t length = slash ? (size_t)(slash - *path) : strlen(*path);
	if (length >= size)
		return -1;
	memcpy(out, *path, length);
	out[length] = '\0';
	*path += length + (slash ? 1 : 0);
	return (long)length;
}

void calendar_parse_target(const char *path, const char *user_id, calendar_target *target)
{
	char kind[32];
	char user[64];

	memset(target, 0, sizeof(*target));
	target->kind = TARGET_NOT_FOUND;
	if (path[0] == '\0') {
		target->kind = TARGET_DAV_ROOT;
		return;
	}
	if (next_segment(&path, kind, sizeof(kind)) < 0)
		return;
	if (strcmp(kind, "principals") == 0 && path[0] == '\0') {
		target->kind = TARGET_PRINCIPALS;
		return;
	}
	if (next_segment(&path, user, sizeof(user)) <= 0 || strcmp(user, user_id) != 0)
		return;
	if (strcmp(kind, "principals") == 0) {
		if (path[0] == '\0')
			target->kind = TARGET_PRINCIPAL;
		return;
	}
	if (strcmp(kind, "calendars") != 0)
		return;
	if (path[0] == '\0') {
		target->kind = TARGET_HOME;
		return;
	}
	if (next_segment(&path, target->calendar, sizeof(target->calendar)) <= 0 || !calendar_name_is_valid(target->calendar))
		return;
	bool inbox = strcmp(target->calendar, CALENDAR_SCHEDULE_INBOX) == 0;
	if (inbox || strcmp(target->calendar, CALENDAR_SCHEDULE_OUTBOX) == 0) {
		if (path[0] == '\0')
			target->kind = inbox ? TARGET_SCHEDULE_INBOX : TARGET_SCHEDULE_OUTBOX;
		else if (inbox && next_segment(&path, target->object, sizeof(target->object)) > 0 && path[0] == '\0' &&
			 object_name_is_valid(target->object))
			target->kind = TARGET_SCHEDULE_MESSAGE;
		return;
	}
	if (path[0] == '\0') {
		target->kind = TARGET_CALENDAR;
		return;
	}
	if (next_segment(&path, target->object, sizeof(target->object)) <= 0 || path[0] != '\0' ||
	    !object_name_is_valid(target->object))
		return;
	target->kind = TARGET_OBJECT;
}

/* Writes CALENDAR_DAV_ROOT KIND "/" USER "/" [COLLECTION "/" [RESOURCE]] into OUT, percent-encoding COLLECTION and RESOURCE. */
static int format_href(char *out, const char *kind, const char *user_id, const char *collection, const char *resource)
{
	char encoded_collection[CALENDAR_MAX_HREF] = "";
	char encoded_resource[CALENDAR_MAX_HREF] = "";

	if ((collection != NULL && ex_dav_encode_segment(collection, encoded_collection, sizeof(encoded_collection)) != 0) ||
	    (resource != NULL && ex_dav_encode_segment(resource, encoded_resource, sizeof(encoded_resource)) != 0))
		return -1;
	int written = snprintf(out, CALENDAR_MAX_HREF, "%s%s/%s/%s%s%s", CALENDAR_DAV_ROOT, kind, user_id, encoded_collection,
			       collection != NULL ? "/" : "", encoded_resource);
	return written > 0 && written < CALENDAR_MAX_HREF ? 0 : -1;
}

int calendar_href_principal(char *out, const char *user_id)
{
	return format_href(out, "principals", user_id, NULL, NULL);
}

int calendar_href_home(char *out, const char *user_id)
{
	return format_href(out, "calendars", user_id, NULL, NULL);
}

int calendar_href_calendar(char *out, const char *user_id, const char *calendar)
{
	return format_href(out, "calendars", user_id, calendar, NULL);
}

int calendar_href_object(char *out, const char *user_id, const char *calendar, const char *object)
{
	return format_href(out, "calendars", user_id, calendar, object);
}

int calendar_property_path(char *out, size_t size, const char *user_id, const calendar_target *target)
{
	int written;
	switch (target->kind) {
	case TARGET_PRINCIPAL:
		written = snprintf(out, size, "principals/%s/", user_id);
		break;
	case TARGET_HOME:
		written = snprintf(out, size, "calendars/%s/", user_id);
		break;
	case TARGET_CALENDAR:
		written = snprintf(out, size, "calendars/%s/%s/", user_id, target->calendar);
		break;
	case TARGET_OBJECT:
		written = snprintf(out, size, "calendars/%s/%s/%s", user_id, target->calendar, target->object);
		break;
	default:
		return -1;
	}
	return written > 0 && (size_t)written < size ? 0 : -1;
}

void calendar_reply_reset(calendar_reply *reply)
{
	free(reply->body);
	calendar_schedule_changes_free(reply->schedule_changes);
	memset(reply, 0, sizeof(*reply));
}

void calendar_reply_error(calendar_reply *reply, unsigned status, const char *ns, const char *condition,
			  const char *format, ...)
{
	va_list arguments;

	free(reply->body);
	reply->body = NULL;
	reply->status = status;
	reply->condition_ns = ns;
	reply->condition = condition;
	reply->changed = false;
	va_start(arguments, format);
	vsnprintf(reply->message, sizeof(reply->message), format, arguments);
	va_end(arguments);
}

void calendar_reply_multistatus(calendar_reply *reply, ex_dav_multistatus *ms)
{
	size_t length = 0;
	const char *body = ms ? ex_dav_ms_finish(ms, &length) : NULL;

	free(reply->body);
	reply->body = body ? malloc(length + 1) : NULL;
	if (reply->body == NULL) {
		ex_dav_multistatus_free(ms);
		calendar_reply_error(reply, 500, NULL, NULL, "the multistatus response could not be written");
		return;
	}
	memcpy(reply->body, body, length);
	reply->body[length] = '\0';
	reply->length = length;
	reply->status = 207;
	reply->content_type = "application/xml; charset=utf-8";
	ex_dav_multistatus_free(ms);
}

void calendar_compute_etag(const char *data, size_t length, char *out)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_length = 0;
	static const char hex[] = "0123456789abcdef";

	EVP_Digest(data, length, digest, &digest_length, EVP_sha256(), NULL);
	out[0] = '"';
	for (unsigned int i = 0; i < digest_length && i < 32; i++) {
		out[1 + 2 * i] = hex[digest[i] >> 4];
		out[2 + 2 * i] = hex[digest[i] & 0x0f];
	}
	out[1 + 2 * digest_length] = '"';
	out[2 + 2 * digest_length] = '\0';
}

PGresult *calendar_sql(PGconn *connection, ex_db_error *error, const char *sql, int count, ...)
{
	const char *params[SQL_MAX_PARAMETERS];
	va_list arguments;

	if (count > SQL_MAX_PARAMETERS)
		return NULL;
	va_start(arguments, count);
	for (int i = 0; i < count; i++)
		params[i] = va_arg(arguments, const char *);
	va_end(arguments);
	return ex_db_exec(connection, sql, count, params, error);
}

int calendar_ensure_defaults(PGconn *connection, const calendar_context *context, ex_db_error *error)
{
	/* Components: 1 is VEVENT and 2 is VTODO (ical_object.h). */
	PGresult *result = calendar_sql(
		connection, error,
		"INSERT INTO calendars (tenant_id, user_id, name, displayname, components) "
		"SELECT $1, $2, d.name, d.displayname, d.components FROM (VALUES "
		"('" CALENDAR_DEFAULT_CALENDAR "', 'Calendar', 1), ('" CALENDAR_DEFAULT_TASKS "', 'Tasks', 2)) "
		"AS d (name, displayname, components) "
		"WHERE NOT EXISTS (SELECT 1 FROM calendars WHERE user_id = $2) "
		"ON CONFLICT (user_id, name) DO NOTHING",
		2, context->principal.tenant_id, context->principal.user_id);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

PGresult *calendar_find(PGconn *connection, const calendar_context *context, const char *name, bool for_update,
			ex_db_error *error, bool *failed)
{
	const char *sql = for_update ? "SELECT " CALENDAR_COLLECTION_COLUMNS " FROM calendars "
				       "WHERE user_id = $1 AND name = $2 FOR UPDATE"
				     : "SELECT " CALENDAR_COLLECTION_COLUMNS " FROM calendars "
				       "WHERE user_id = $1 AND name = $2";
	PGresult *result = calendar_sql(connection, error, sql, 2, context->principal.user_id, name);
	*failed = result == NULL;
	if (result != NULL && PQntuples(result) == 0) {
		PQclear(result);
		return NULL;
	}
	return result;
}

long long calendar_quota_used(PGconn *connection, const calendar_context *context, ex_db_error *error)
{
	/* Each calendar counts the bytes of its objects in octets, so this reads one row per calendar. */
	PGresult *result = calendar_sql(connection, error,
					"SELECT coalesce(sum(octets), 0)::text FROM calendars WHERE user_id = $1",
					1, context->principal.user_id);
	if (result == NULL)
		return -1;
	long long used = strtoll(PQgetvalue(result, 0, 0), NULL, 10);
	PQclear(result);
	return used;
}

void calendar_sync_token(char *out, size_t size, const char *calendar_id, const char *sequence)
{
	snprintf(out, size, CALENDAR_SYNC_TOKEN_PREFIX "%s:%s", calendar_id, sequence);
}

PGresult *calendar_load_dead_properties(PGconn *connection, const calendar_context *context, ex_db_error *error)
{
	return calendar_sql(connection, error,
			    "SELECT path, namespace, name, value FROM dav_properties WHERE user_id = $1 "
			    "ORDER BY path, namespace, name LIMIT 10000",
			    1, context->principal.user_id);
}

void calendar_run(calendar_context *context, ex_db_isolation isolation, ex_db_work work, void *argument)
{
	ex_db_error error;

	memset(&error, 0, sizeof(error));
	if (ex_db_tenant_transaction(context->service->database, context->principal.tenant_id, isolation, work,
				     argument, &error) == 0)
		return;
	/* foreign_key_violation: the user row the calendars hang on does not exist yet. */
	if (strcmp(error.sqlstate, "23503") == 0) {
		ex_log(EX_LOG_WARN, "caldav_user_not_provisioned", "{s:s}", "user", context->principal.user_id);
		calendar_reply_error(&context->reply, 403, NULL, NULL,
				     "your account has no user record yet; log in once through expresso-auth, then retry");
		return;
	}
	ex_log(EX_LOG_ERROR, "caldav_database_failed", "{s:s, s:s, s:s}", "user", context->principal.user_id,
	       "sqlstate", error.sqlstate, "error", error.message);
	calendar_reply_error(&context->reply, 503, NULL, NULL,
			     "the calendar database is unavailable or failed; retry the request later");
}

void calendar_publish_change(const calendar_context *context)
{
	const calendar_reply *reply = &context->reply;
	ex_bus *bus = context->service->bus;
	char err[256];

	if (!reply->changed || bus == NULL)
		return;
	json_t *event = json_pack("{s:s, s:s, s:s, s:s}", "user", context->principal.user_id, "calendar",
				  reply->changed_calendar, "resource", reply->changed_object, "change",
				  reply->change_kind ? reply->change_kind : "updated");
	if (event == NULL)
		return;
	if (ex_bus_publish(bus, context->principal.tenant_id, "calendar", "changed", event, err, sizeof(err)) != 0)
		ex_log(EX_LOG_WARN, "calendar_event_publish_failed", "{s:s, s:s}", "user", context->principal.user_id,
		       "error", err);
	json_decref(event);
}

PGresult *calendar_select_objects(PGconn *connection, const char *calendar_id, const char *name, ex_db_error *error)
{
	if (name == NULL)
		return calendar_sql(connection, error,
				    "SELECT " CALENDAR_OBJECT_COLUMNS ", ical, coalesce(schedule_tag, etag) FROM calendar_objects "
				    "WHERE calendar_id = $1 ORDER BY name",
				    1, calendar_id);
	return calendar_sql(connection, error,
			    "SELECT " CALENDAR_OBJECT_COLUMNS ", ical, coalesce(schedule_tag, etag) FROM calendar_objects "
			    "WHERE calendar_id = $1 AND name = $2",
			    2, calendar_id, name);
}
