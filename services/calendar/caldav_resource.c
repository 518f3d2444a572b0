/*
 * GET, PUT and DELETE of calendar object resources (RFC 4791 section
 * 5.3.2) and DELETE of calendars. A PUT stores the body byte for byte
 * after checking it. Every change takes the next sync_seq of its
 * calendar, and the row lock on the calendar orders concurrent changes.
 * A deletion leaves a
 * tombstone for sync-collection.
 */
#include "calendar_service.h"
#include "caldav_schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expresso/dav_http.h"
#include "expresso/dav_store.h"
#include "expresso/dav_store_checks.h"
#include "calendar_itip.h"
#include "ical_object.h"

typedef struct {
	calendar_context *context;
	ex_ical_object object;
	char etag[80];
	const char *uid;        /* points into OBJECT or the target */
	char first_start[32];   /* seconds since 1970, "" for unbounded */
	char last_end[32];
} put_state;

/* Applies If-Match and If-None-Match to a resource whose ETag is CURRENT (NULL: absent). Returns true when it may go on. */
static bool conditions_pass(calendar_context *context, const char *current, bool read_only)
{
	const char *if_match = context->if_match ? context->if_match : ex_http_header(context->request, "If-Match");

	return ex_dav_reply_check_conditions(&context->reply.dav, if_match, ex_http_header(context->request, "If-None-Match"),
					     current, read_only, calendar_dav_store.resource_noun);
}

static int get_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	calendar_context *context = opaque;
	bool failed;

	calendar_reply_reset(&context->reply);
	if (calendar_ensure_defaults(connection, context, error) != 0)
		return -1;
	PGresult *calendar = calendar_find(connection, context, context->target.calendar, false, error, &failed);
	if (calendar == NULL) {
		if (!failed)
			calendar_reply_error(&context->reply, 404, NULL, NULL, "the calendar %s does not exist",
					     context->target.calendar);
		return failed ? -1 : 0;
	}
	PGresult *object = calendar_select_objects(connection, PQgetvalue(calendar, 0, 0), context->target.object, error);
	PQclear(calendar);
	if (object == NULL)
		return -1;
	if (PQntuples(object) == 0) {
		calendar_reply_error(&context->reply, 404, NULL, NULL, "the calendar object %s does not exist", context->target.object);
	} else if (conditions_pass(context, PQgetvalue(object, 0, 1), true)) {
		size_t length = (size_t)PQgetlength(object, 0, 4);
		context->reply.dav.body = malloc(length + 1);
		if (context->reply.dav.body == NULL) {
			PQclear(object);
			return -1;
		}
		memcpy(context->reply.dav.body, PQgetvalue(object, 0, 4), length);
		context->reply.dav.length = length;
		context->reply.dav.status = 200;
		context->reply.dav.content_type = "text/calendar; charset=utf-8";
		snprintf(context->reply.dav.etag, sizeof(context->reply.dav.etag), "%s", PQgetvalue(object, 0, 1));
		snprintf(context->reply.dav.schedule_tag, sizeof(context->reply.dav.schedule_tag), "%s", PQgetvalue(object, 0, 5));
	}
	PQclear(object);
	return 0;
}

void calendar_handle_get(calendar_context *context)
{
	if (context->target.kind != TARGET_OBJECT) {
		calendar_reply_error(&context->reply, 405, NULL, NULL,
				     "GET is served on calendar objects only; use PROPFIND or REPORT on collections");
		snprintf(context->reply.dav.allow, sizeof(context->reply.dav.allow), "OPTIONS, PROPFIND, PROPPATCH, REPORT, MKCOL, DELETE");
		return;
	}
	calendar_run(context, EX_DB_REPEATABLE_READ, get_work, context);
}

/* Returns true when TEXT is valid UTF-8 without overlong forms or surrogates. */
static bool is_utf8(const unsigned char *text, size_t length)
{
	for (size_t i = 0; i < length;) {
		unsigned char c = text[i];
		size_t extra;
		if (c < 0x80)
			extra = 0;
		else if (c >= 0xC2 && c <= 0xDF)
			extra = 1;
		else if (c >= 0xE0 && c <= 0xEF)
			extra = 2;
		else if (c >= 0xF0 && c <= 0xF4)
			extra = 3;
		else
			return false;
		if (extra > 0 && i + extra >= length)
			return false;
		for (size_t k = 1; k <= extra; k++) {
			if ((text[i + k] & 0xC0) != 0x80)
				return false;
		}
		if ((c == 0xE0 && text[i + 1] < 0xA0) || (c == 0xED && text[i + 1] >= 0xA0) ||
		    (c == 0xF0 && text[i + 1] < 0x90) || (c == 0xF4 && text[i + 1] >= 0x90))
			return false;
		i += extra + 1;
	}
	return true;
}

/* Checks the body of a PUT; sets the error reply and returns false when it cannot be stored. */
static bool check_put_body(calendar_context *context, put_state *state)
{
	calendar_reply *reply = &context->reply;
	const char *content_type = context->body_type ? context->body_type : ex_http_header(context->request, "Content-Type");
	char err[300];

	if (context->body_length > context->service->max_resource_size) {
		calendar_reply_error(reply, 413, EX_CALDAV_NS, "max-resource-size",
				     "the calendar object has %zu bytes, more than the limit of %zu bytes", context->body_length,
				     context->service->max_resource_size);
		return false;
	}
	if (content_type != NULL && strncasecmp(content_type, "text/calendar", 13) != 0) {
		calendar_reply_error(reply, 415, EX_CALDAV_NS, "supported-calendar-data",
				     "the body must be text/calendar, not %.100s", content_type);
		return false;
	}
	if (!is_utf8((const unsigned char *)context->body, context->body_length)) {
		calendar_reply_error(reply, 403, EX_CALDAV_NS, "valid-calendar-data",
				     "the calendar object is not valid UTF-8; convert it to UTF-8 before uploading");
		return false;
	}
	ex_ical_status status = ex_ical_object_parse(context->body ? context->body : "", context->body_length,
						     EX_ICAL_COMPONENT_ALL, &state->object, err, sizeof(err));
	if (status != EX_ICAL_OK) {
		static const char *const conditions[] = {
			[EX_ICAL_INVALID_DATA] = "valid-calendar-data",
			[EX_ICAL_INVALID_OBJECT] = "valid-calendar-object-resource",
			[EX_ICAL_UNSUPPORTED_COMPONENT] = "supported-calendar-component",
		};
		calendar_reply_error(reply, 403, EX_CALDAV_NS, conditions[status], "the calendar object is invalid: %s", err);
		return false;
	}
	/* NOTE: an object without UID is keyed by its resource name for no-uid-conflict, as vCards are in expresso-contacts. */
	state->uid = state->object.uid != NULL ? state->object.uid : context->target.object;
	if (state->object.first_start != EX_ICAL_TIME_MIN)
		snprintf(state->first_start, sizeof(state->first_start), "%lld", (long long)state->object.first_start);
	if (state->object.last_end != EX_ICAL_TIME_MAX)
		snprintf(state->last_end, sizeof(state->last_end), "%lld", (long long)state->object.last_end);
	size_t attendees = ex_itip_max_attendees_per_component(state->object.calendar);
	if (attendees > context->service->max_attendees) {
		calendar_reply_error(reply, 403, EX_CALDAV_NS, "max-attendees-per-instance",
				     "a component of the calendar object has %zu attendees, more than the %zu allowed; "
				     "split the invitation or ask for a higher EXPRESSO_CALDAV_MAX_ATTENDEES",
				     attendees, context->service->max_attendees);
		return false;
	}
	calendar_compute_etag(context->body, context->body_length, state->etag);
	return true;
}

/* Returns true when the calendar row CALENDAR takes the component of STATE; else sets a 403 reply. */
static bool component_supported(calendar_context *context, PGresult *calendar, const put_state *state)
{
	unsigned supported = (unsigned)strtoul(PQgetvalue(calendar, 0, 4), NULL, 10);
	if ((supported & state->object.component) != 0)
		return true;
	calendar_reply_error(&context->reply, 403, EX_CALDAV_NS, "supported-calendar-component",
			     "the calendar %s does not take %s components", context->target.calendar,
			     ex_ical_component_name(state->object.component));
	return false;
}

/* Adds LENGTH minus the bytes of the object NAME stored now (0 when absent) to the calendar's octets. */
static int count_octets(PGconn *connection, const char *calendar_id, const char *name, size_t length,
			ex_db_error *error)
{
	char text[32];
	snprintf(text, sizeof(text), "%zu", length);
	PGresult *result = calendar_sql(connection, error,
					"UPDATE calendars SET octets = octets + $3::bigint - coalesce((SELECT octet_length(ical) "
					"FROM calendar_objects WHERE calendar_id = $1 AND name = $2), 0) WHERE id = $1",
					3, calendar_id, name, text);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

/* Checks no-uid-conflict: returns 1 with the reply set when another resource has UID, 0 when not, -1 on error. */
static int uid_conflict(calendar_context *context, PGconn *connection, const char *calendar_id, const char *uid,
			ex_db_error *error)
{
	return ex_dav_store_uid_conflict(connection, &calendar_dav_store, &context->reply.dav, context->principal.user_id,
					 context->target.calendar, calendar_id, context->target.object, uid, error);
}

/* Checks the user's quota for the new body: returns 1 with the reply set when it is exceeded, 0 when not, -1 on error. */
static int quota_exceeded(calendar_context *context, PGconn *connection, const char *calendar_id, PGresult *existing,
			  ex_db_error *error)
{
	return ex_dav_store_quota_exceeded(connection, &calendar_dav_store, &context->reply.dav, context->principal.user_id,
					   calendar_id, context->target.object, PQntuples(existing) == 1, context->body_length,
					   context->service->quota_bytes, error);
}

static int put_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	put_state *state = opaque;
	calendar_context *context = state->context;
	char sequence[EX_DAV_SEQUENCE_SIZE];
	bool failed;

	calendar_reply_reset(&context->reply);
	if (calendar_ensure_defaults(connection, context, error) != 0)
		return -1;
	PGresult *calendar = calendar_find(connection, context, context->target.calendar, true, error, &failed);
	if (calendar == NULL) {
		if (!failed)
			calendar_reply_error(&context->reply, 409, NULL, NULL,
					     "the calendar %s does not exist; create it with MKCALENDAR first", context->target.calendar);
		return failed ? -1 : 0;
	}
	const char *calendar_id = PQgetvalue(calendar, 0, 0);
	PGresult *existing = ex_dav_store_lock_resource(connection, &calendar_dav_store, calendar_id, context->target.object,
							"ical, coalesce(schedule_tag, etag)", error);
	int status = existing == NULL ? -1 : 0;
	const char *current = existing && PQntuples(existing) == 1 ? PQgetvalue(existing, 0, 0) : NULL;

	if (status == 0 && conditions_pass(context, current, false) &&
	    calendar_schedule_tag_matches(context, current ? PQgetvalue(existing, 0, 2) : NULL) &&
	    component_supported(context, calendar, state) &&
	    (status = uid_conflict(context, connection, calendar_id, state->uid, error)) == 0 &&
	    (status = quota_exceeded(context, connection, calendar_id, existing, error)) == 0) {
		snprintf(context->reply.dav.etag, sizeof(context->reply.dav.etag), "%s", state->etag);
		snprintf(context->reply.dav.schedule_tag, sizeof(context->reply.dav.schedule_tag), "%s", state->etag);
		context->reply.dav.status = current ? 204 : 201;
		/* Storing the same bytes again changes nothing, so neither the ETag nor the sync-token moves. */
		if (current == NULL || strcmp(current, state->etag) != 0) {
			PGresult *stored = NULL;
			status = ex_dav_store_next_sequence(connection, &calendar_dav_store, calendar_id, sequence, error);
			if (status == 0)
				status = count_octets(connection, calendar_id, context->target.object, context->body_length, error);
			if (status == 0)
				stored = calendar_sql(
					connection, error,
					"INSERT INTO calendar_objects (tenant_id, calendar_id, name, uid, etag, ical, modseq, component, "
					"first_start, last_end, schedule_tag) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
					"to_timestamp(nullif($9, '')::double precision), to_timestamp(nullif($10, '')::double precision), $5) "
					"ON CONFLICT (calendar_id, name) DO UPDATE SET "
					"uid = excluded.uid, etag = excluded.etag, ical = excluded.ical, "
					"modseq = excluded.modseq, component = excluded.component, first_start = excluded.first_start, "
					"last_end = excluded.last_end, modified_at = now(), schedule_tag = excluded.schedule_tag",
					10, context->principal.tenant_id, calendar_id, context->target.object, state->uid, state->etag,
					context->body ? context->body : "", sequence, ex_ical_component_name(state->object.component),
					state->first_start, state->last_end);
			PGresult *cleared = stored ? calendar_sql(connection, error,
								  "DELETE FROM calendar_tombstones WHERE calendar_id = $1 AND name = $2",
								  2, calendar_id, context->target.object)
						   : NULL;
			status = cleared != NULL ? 0 : -1;
			if (status == 0)
				status = calendar_schedule_after_put(connection, context, state->object.calendar,
								     current ? PQgetvalue(existing, 0, 1) : NULL, error);
			PQclear(stored);
			PQclear(cleared);
			context->reply.dav.changed = true;
			context->reply.dav.change_kind = current ? "updated" : "created";
		}
	}
	if (status > 0)
		status = 0;
	PQclear(existing);
	PQclear(calendar);
	return status;
}

void calendar_handle_put(calendar_context *context)
{
	put_state state = { .context = context };

	if (context->target.kind != TARGET_OBJECT) {
		calendar_reply_error(&context->reply, 405, NULL, NULL, "PUT is served on calendar object resources inside a calendar");
		snprintf(context->reply.dav.allow, sizeof(context->reply.dav.allow), "OPTIONS, PROPFIND, PROPPATCH, REPORT, MKCOL, DELETE");
		return;
	}
	if (check_put_body(context, &state)) {
		/* The UID points into the parsed object, which lives until the transaction ends. */
		calendar_run(context, EX_DB_READ_COMMITTED, put_work, &state);
		snprintf(context->reply.dav.changed_collection, sizeof(context->reply.dav.changed_collection), "%s", context->target.calendar);
		snprintf(context->reply.dav.changed_resource, sizeof(context->reply.dav.changed_resource), "%s", context->target.object);
	}
	ex_ical_object_free(&state.object);
}

static int delete_object_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	calendar_context *context = opaque;
	char sequence[EX_DAV_SEQUENCE_SIZE];
	bool failed;

	calendar_reply_reset(&context->reply);
	PGresult *calendar = calendar_find(connection, context, context->target.calendar, true, error, &failed);
	if (calendar == NULL) {
		if (!failed)
			calendar_reply_error(&context->reply, 404, NULL, NULL, "the calendar %s does not exist",
					     context->target.calendar);
		return failed ? -1 : 0;
	}
	const char *calendar_id = PQgetvalue(calendar, 0, 0);
	PGresult *existing = ex_dav_store_lock_resource(connection, &calendar_dav_store, calendar_id, context->target.object,
							"ical", error);
	int status = existing == NULL ? -1 : 0;
	if (status == 0 && PQntuples(existing) == 0) {
		calendar_reply_error(&context->reply, 404, NULL, NULL, "the calendar object %s does not exist", context->target.object);
	} else if (status == 0 && conditions_pass(context, PQgetvalue(existing, 0, 0), false)) {
		char path[CALENDAR_MAX_HREF] = "";
		calendar_property_path(path, sizeof(path), context->principal.user_id, &context->target);
		status = ex_dav_store_next_sequence(connection, &calendar_dav_store, calendar_id, sequence, error);
		if (status == 0)
			status = count_octets(connection, calendar_id, context->target.object, 0, error);
		if (status == 0)
			status = ex_dav_store_remove_resource(connection, &calendar_dav_store, context->principal.tenant_id,
							      context->principal.user_id, calendar_id, context->target.object,
							      sequence, path, error);
		if (status == 0)
			status = ex_dav_store_prune_tombstones(connection, &calendar_dav_store, calendar_id,
							       context->service->tombstone_days, error);
		if (status == 0)
			status = calendar_schedule_after_delete(connection, context, PQgetvalue(existing, 0, 1), error);
		context->reply.dav.status = 204;
		context->reply.dav.changed = true;
		context->reply.dav.change_kind = "deleted";
	}
	PQclear(existing);
	PQclear(calendar);
	return status;
}

static int delete_calendar_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	calendar_context *context = opaque;

	calendar_reply_reset(&context->reply);
	int found = ex_dav_store_remove_collection(connection, &calendar_dav_store, context->principal.user_id,
						   context->target.calendar, error);
	if (found < 0)
		return -1;
	if (found == 0) {
		calendar_reply_error(&context->reply, 404, NULL, NULL, "the calendar %s does not exist", context->target.calendar);
		return 0;
	}
	context->reply.dav.status = 204;
	context->reply.dav.changed = true;
	context->reply.dav.change_kind = "deleted";
	return 0;
}

void calendar_handle_delete(calendar_context *context)
{
	if (context->target.kind == TARGET_OBJECT) {
		calendar_run(context, EX_DB_READ_COMMITTED, delete_object_work, context);
	} else if (context->target.kind == TARGET_CALENDAR) {
		if (ex_http_header(context->request, "If-Match") != NULL) {
			calendar_reply_error(&context->reply, 412, NULL, NULL, "calendars have no ETag; send DELETE without If-Match");
			return;
		}
		calendar_run(context, EX_DB_READ_COMMITTED, delete_calendar_work, context);
	} else {
		calendar_reply_error(&context->reply, 403, NULL, NULL, "only calendars and calendar objects can be deleted");
		return;
	}
	snprintf(context->reply.dav.changed_collection, sizeof(context->reply.dav.changed_collection), "%s", context->target.calendar);
	snprintf(context->reply.dav.changed_resource, sizeof(context->reply.dav.changed_resource), "%s", context->target.object);
}
