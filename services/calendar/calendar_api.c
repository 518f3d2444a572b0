/*
 * The JSON API under /api/v1/calendars. It lists, creates, changes and
 * deletes calendars, reads, writes and deletes events as iCalendar,
 * exports a calendar as one .ics file or fills it from one, and returns
 * free/busy periods.
 *
 * Writes of events go through the same handlers as CalDAV PUT and DELETE
 * (caldav_resource.c), so the API applies the same checks, ETags and
 * sync-tokens, and publishes the same calendar.changed events. A DAV
 * precondition becomes the error code (no-uid-conflict: no_uid_conflict).
 * Credentials are those of the DAV routes (Bearer, or Basic with an app
 * password).
 */
#include "calendar_service.h"
#include "caldav_schedule.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expresso/dav_api.h"
#include "expresso/log.h"
#include "cal_busy.h"
#include "calendar_addresses.h"
#include "calendar_itip.h"
#include "ical_object.h"

enum {
	MAX_COLOR = 32,
	MAX_DISPLAYNAME = 255,
	MAX_DESCRIPTION = 4096,
	MAX_QUERY_TIME = 32,
	MAX_LISTED_EVENTS = 10000, /* events in one GET .../events response */
};

typedef struct {
	calendar_context *context;
	json_t *input;   /* request body of POST and PATCH */
	json_t *result;  /* JSON response body, or NULL */
	char *text;      /* export.ics body, or NULL */
	int64_t start;   /* ?start= and ?end= of an event listing */
	int64_t end;
	bool not_found;
	bool conflict;
} api_state;

static void reset(api_state *state)
{
	json_decref(state->result);
	state->result = NULL;
	free(state->text);
	state->text = NULL;
	state->not_found = false;
	state->conflict = false;
}

/* Authenticates REQUEST into CONTEXT; on failure sends the JSON 401 or 503 and returns false. */
static bool authenticate(calendar_service *service, ex_http_request *request, calendar_context *context)
{
	return ex_dav_api_authenticate(service->dav.authenticator, service->dav.auth_failures, request, &context->principal);
}

/* Runs WORK(ARGUMENT) for STATE and sends a 503 when the database failed; returns true when the work committed. */
static bool run(api_state *state, ex_http_request *request, ex_db_isolation isolation, ex_db_work work, void *argument)
{
	return ex_dav_api_run(state->context->service->dav.database, &state->context->principal, request, "calendar", isolation,
			      work, argument);
}

/*
 * Sets CONTEXT's target from the {calendar} and {event} route parameters.
 * Sends 404 and returns false when they do not name a valid resource.
 */
static bool read_target(ex_http_request *request, calendar_context *context, bool event)
{
	const char *calendar = ex_http_param(request, "calendar");
	const char *name = event ? ex_http_param(request, "event") : NULL;
	char path[CALENDAR_MAX_HREF];

	int written = snprintf(path, sizeof(path), "calendars/%s/%s/%s", context->principal.user_id,
			       calendar ? calendar : "", name ? name : "");
	if (calendar != NULL && strchr(calendar, '/') == NULL && (name == NULL || strchr(name, '/') == NULL) &&
	    written > 0 && (size_t)written < sizeof(path))
		calendar_parse_target(path, context->principal.user_id, &context->target);
	if (context->target.kind != (event ? TARGET_OBJECT : TARGET_CALENDAR)) {
		ex_http_respond_error(request, 404, event ? "event_not_found" : "calendar_not_found",
				      "no %s has this name", event ? "event" : "calendar");
		return false;
	}
	return true;
}

/* Sends the reply a DAV handler left in CONTEXT as JSON (errors) or as the body it carries. */
static void send_dav_reply(calendar_context *context, ex_http_request *request)
{
	calendar_reply *reply = &context->reply;
	ex_dav_api_reply sent = {
		.status = reply->dav.status,
		.condition = reply->dav.condition,
		.message = reply->dav.message,
		.body = reply->dav.body,
		.length = reply->dav.length,
		.content_type = reply->dav.content_type,
		.etag = reply->dav.etag,
	};

	ex_dav_api_send_reply(request, &sent, NULL);
	if (reply->dav.status < 300 && reply->dav.changed && context->service->dav.changes != NULL)
		ex_counter_add(context->service->dav.changes, 1);
	if (reply->dav.status < 300) {
		calendar_publish_change(context);
		calendar_schedule_publish(context);
	}
}

static int list_calendars_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	api_state *state = opaque;
	char token[256];

	reset(state);
	if (calendar_ensure_defaults(connection, state->context, error) != 0)
		return -1;
	PGresult *calendars = calendar_sql(connection, error,
					   "SELECT c.name, c.displayname, c.description, c.id::text, c.sync_seq::text, "
					   "c.components, c.color, c.timezone, "
					   "(SELECT count(*) FROM calendar_objects AS o WHERE o.calendar_id = c.id)::text "
					   "FROM calendars AS c WHERE c.user_id = $1 ORDER BY c.name LIMIT 1000",
					   1, state->context->principal.user_id);
	if (calendars == NULL)
		return -1;
	json_t *list = json_array();
	for (int row = 0; row < PQntuples(calendars); row++) {
		unsigned bits = (unsigned)strtoul(PQgetvalue(calendars, row, 5), NULL, 10);
		json_t *components = json_array();
		for (unsigned bit = 1; bit <= EX_ICAL_COMPONENT_VJOURNAL; bit <<= 1) {
			if (bits & bit)
				json_array_append_new(components, json_string(ex_ical_component_name(bit)));
		}
		calendar_sync_token(token, sizeof(token), PQgetvalue(calendars, row, 3), PQgetvalue(calendars, row, 4));
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:I}", "name",
						      PQgetvalue(calendars, row, 0), "displayname", PQgetvalue(calendars, row, 1),
						      "description", PQgetvalue(calendars, row, 2), "components", components,
						      "color", PQgetvalue(calendars, row, 6), "timezone",
						      PQgetvalue(calendars, row, 7), "ctag", token, "count",
						      (json_int_t)strtoll(PQgetvalue(calendars, row, 8), NULL, 10)));
	}
	PQclear(calendars);
	state->result = json_pack("{s:o}", "calendars", list);
	return state->result ? 0 : -1;
}

static void handle_list_calendars(ex_http_request *request, void *opaque)
{
	calendar_context context = { .service = opaque, .request = request };
	api_state state = { .context = &context };

	if (!authenticate(opaque, request, &context))
		return;
	if (run(&state, request, EX_DB_REPEATABLE_READ, list_calendars_work, &state)) {
		ex_http_respond_json(request, 200, state.result);
		state.result = NULL;
	}
	reset(&state);
}

/* Reads a string member NAME of at most MAX bytes into *OUT (kept when absent). Returns false when it is invalid. */
static bool read_string(json_t *input, const char *name, size_t max, const char **out)
{
	json_t *value = json_object_get(input, name);
	if (value == NULL)
		return true;
	if (!json_is_string(value) || json_string_length(value) > max)
		return false;
	*out = json_string_value(value);
	return true;
}

/* Reads the "components" member into *BITS; returns false when it is not a list of VEVENT, VTODO, VJOURNAL. */
static bool read_components(json_t *input, unsigned *bits)
{
	json_t *list = json_object_get(input, "components");
	size_t index;
	json_t *item;

	if (list == NULL)
		return true;
	if (!json_is_array(list) || json_array_size(list) == 0)
		return false;
	*bits = 0;
	json_array_foreach(list, index, item) {
		unsigned bit = json_is_string(item) ? ex_ical_component_from_name(json_string_value(item)) : 0;
		if (bit == 0)
			return false;
		*bits |= bit;
	}
	return true;
}

typedef struct {
	const char *displayname;
	const char *description;
	const char *color;
	const char *timezone;
	unsigned components;
} calendar_fields;

/* Reads the members of a POST or PATCH body; sends 400 and returns false when one is invalid. */
static bool read_fields(ex_http_request *request, json_t *input, calendar_fields *fields)
{
	if (!json_is_object(input)) {
		ex_http_respond_error(request, 400, "invalid_body", "the body must be a JSON object");
		return false;
	}
	if (!read_string(input, "displayname", MAX_DISPLAYNAME, &fields->displayname) ||
	    !read_string(input, "description", MAX_DESCRIPTION, &fields->description) ||
	    !read_string(input, "color", MAX_COLOR, &fields->color) ||
	    !read_string(input, "timezone", 65536, &fields->timezone)) {
		ex_http_respond_error(request, 400, "invalid_field",
				      "displayname (up to 255 bytes), description (4096), color (32) and timezone "
				      "must be strings");
		return false;
	}
	if (!read_components(input, &fields->components)) {
		ex_http_respond_error(request, 400, "invalid_components",
				      "components must be a non-empty list of VEVENT, VTODO and VJOURNAL");
		return false;
	}
	return true;
}

typedef struct {
	api_state *api;
	calendar_fields fields;
	const char *name;
} calendar_write;

static int create_calendar_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	calendar_write *write = opaque;
	calendar_context *context = write->api->context;
	char components[16];

	reset(write->api);
	snprintf(components, sizeof(components), "%u", write->fields.components);
	PGresult *created = calendar_sql(connection, error,
					 "INSERT INTO calendars (tenant_id, user_id, name, displayname, description, components, "
					 "timezone, color) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
					 "ON CONFLICT (user_id, name) DO NOTHING RETURNING id",
					 8, context->principal.tenant_id, context->principal.user_id, write->name,
					 write->fields.displayname, write->fields.description, components, write->fields.timezone,
					 write->fields.color);
	if (created == NULL)
		return -1;
	write->api->conflict = PQntuples(created) == 0;
	PQclear(created);
	return 0;
}

static void handle_create_calendar(ex_http_request *request, void *opaque)
{
	calendar_context context = { .service = opaque, .request = request };
	api_state state = { .context = &context };
	calendar_write write = { .api = &state, .fields = { "", "", "", "", EX_ICAL_COMPONENT_ALL } };
	size_t length;
	json_error_t parse_error;

	if (!authenticate(opaque, request, &context))
		return;
	const char *body = ex_http_body(request, &length);
	state.input = json_loadb(body ? body : "", length, 0, &parse_error);
	json_t *name = json_object_get(state.input, "name");
	if (!read_fields(request, state.input, &write.fields)) {
		json_decref(state.input);
		return;
	}
	write.name = json_is_string(name) ? json_string_value(name) : "";
	if (!calendar_name_is_valid(write.name)) {
		ex_http_respond_error(request, 400, "invalid_name",
				      "name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit");
	} else if (run(&state, request, EX_DB_READ_COMMITTED, create_calendar_work, &write)) {
		if (state.conflict) {
			ex_http_respond_error(request, 409, "calendar_exists", "the calendar %s already exists", write.name);
		} else {
			ex_http_respond_json(request, 201, json_pack("{s:s}", "name", write.name));
			snprintf(context.reply.dav.changed_collection, sizeof(context.reply.dav.changed_collection), "%s", write.name);
			context.reply.dav.changed = true;
			context.reply.dav.change_kind = "created";
			calendar_publish_change(&context);
		}
	}
	json_decref(state.input);
	reset(&state);
}

static int update_calendar_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	calendar_write *write = opaque;
	calendar_context *context = write->api->context;

	reset(write->api);
	/* A NULL parameter keeps the stored value. */
	PGresult *updated = calendar_sql(connection, error,
					 "UPDATE calendars SET displayname = coalesce($3, displayname), "
					 "description = coalesce($4, description), color = coalesce($5, color), "
					 "timezone = coalesce($6, timezone) WHERE user_id = $1 AND name = $2 RETURNING id",
					 6, context->principal.user_id, context->target.calendar, write->fields.displayname,
					 write->fields.description, write->fields.color, write->fields.timezone);
	if (updated == NULL)
		return -1;
	write->api->not_found = PQntuples(updated) == 0;
	PQclear(updated);
	return 0;
}

static void handle_update_calendar(ex_http_request *request, void *opaque)
{
	calendar_context context = { .service = opaque, .request = request };
	api_state state = { .context = &context };
	calendar_write write = { .api = &state, .fields = { NULL, NULL, NULL, NULL, 0 } };
	size_t length;
	json_error_t parse_error;

	if (!authenticate(opaque, request, &context) || !read_target(request, &context, false))
		return;
	const char *body = ex_http_body(request, &length);
	state.input = json_loadb(body ? body : "", length, 0, &parse_error);
	if (read_fields(request, state.input, &write.fields)) {
		if (write.fields.components != 0) {
			ex_http_respond_error(request, 400, "invalid_field", "components are set only when a calendar is created");
		} else if (run(&state, request, EX_DB_READ_COMMITTED, update_calendar_work, &write)) {
			if (state.not_found)
				ex_http_respond_error(request, 404, "calendar_not_found", "the calendar %s does not exist",
						      context.target.calendar);
			else
				ex_http_respond_bytes(request, 204, NULL, "", 0);
		}
	}
	json_decref(state.input);
	reset(&state);
}

/* DELETE of a calendar, and GET, PUT and DELETE of an event, through the CalDAV handlers. */
static void handle_through_dav(ex_http_request *request, void *opaque, bool event, void (*handler)(calendar_context *))
{
	calendar_context context = { .service = opaque, .request = request, .quota_used = -1 };

	if (!authenticate(opaque, request, &context) || !read_target(request, &context, event))
		return;
	context.body = ex_http_body(request, &context.body_length);
	handler(&context);
	send_dav_reply(&context, request);
	calendar_reply_reset(&context.reply);
}

static void handle_delete_calendar(ex_http_request *request, void *opaque)
{
	handle_through_dav(request, opaque, false, calendar_handle_delete);
}

static void handle_get_event(ex_http_request *request, void *opaque)
{
	handle_through_dav(request, opaque, true, calendar_handle_get);
}

static void handle_put_event(ex_http_request *request, void *opaque)
{
	handle_through_dav(request, opaque, true, calendar_handle_put);
}

static void handle_delete_event(ex_http_request *request, void *opaque)
{
	handle_through_dav(request, opaque, true, calendar_handle_delete);
}

/* Returns the SUMMARY of the first component of an object, or "". */
static const char *first_summary(icalcomponent *calendar)
{
	for (icalcomponent *c = icalcomponent_get_first_component(calendar, ICAL_ANY_COMPONENT); c != NULL;
	     c = icalcomponent_get_next_component(calendar, ICAL_ANY_COMPONENT)) {
		if (icalcomponent_isa(c) == ICAL_VTIMEZONE_COMPONENT)
			continue;
		const char *summary = icalcomponent_get_summary(c);
		return summary ? summary : "";
	}
	return "";
}

/* Returns the "organizer" and "attendees" of the first component of an object as JSON members of EVENT. */
static void add_scheduling_json(json_t *event, icalcomponent *calendar)
{
	icalcomponent *component = icalcomponent_get_first_real_component(calendar);
	json_t *attendees = json_array();
	char address[EX_ITIP_MAX_ADDRESS];

	icalproperty *organizer = component ? icalcomponent_get_first_property(component, ICAL_ORGANIZER_PROPERTY) : NULL;
	if (organizer != NULL && ex_itip_address(icalproperty_get_organizer(organizer), address, sizeof(address)) == 0)
		json_object_set_new(event, "organizer", json_string(address));
	for (icalproperty *p = component ? icalcomponent_get_first_property(component, ICAL_ATTENDEE_PROPERTY) : NULL;
	     p != NULL; p = icalcomponent_get_next_property(component, ICAL_ATTENDEE_PROPERTY)) {
		if (ex_itip_address(icalproperty_get_attendee(p), address, sizeof(address)) != 0)
			continue;
		const char *partstat = icalproperty_get_parameter_as_string(p, "PARTSTAT");
		const char *role = icalproperty_get_parameter_as_string(p, "ROLE");
		const char *name = icalproperty_get_parameter_as_string(p, "CN");
		json_array_append_new(attendees, json_pack("{s:s, s:s, s:s, s:s}", "email", address, "partstat",
							   partstat ? partstat : "NEEDS-ACTION", "role",
							   role ? role : "REQ-PARTICIPANT", "name", name ? name : ""));
	}
	json_object_set_new(event, "attendees", attendees);
}

static int list_events_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	api_state *state = opaque;
	calendar_context *context = state->context;
	char start[32] = "";
	char end[32] = "";
	bool failed;

	reset(state);
	if (calendar_ensure_defaults(connection, context, error) != 0)
		return -1;
	PGresult *calendar = calendar_find(connection, context, context->target.calendar, false, error, &failed);
	if (calendar == NULL) {
		state->not_found = !failed;
		return failed ? -1 : 0;
	}
	/* Floating times are read in the calendar's time zone, so the stored bounds (read as UTC) are widened. */
	icaltimezone *floating = ex_ical_calendar_timezone(PQgetvalue(calendar, 0, 5));
	int64_t shift = floating != NULL ? EX_ICAL_FLOATING_SHIFT_MAX : 0;
	if (state->start != EX_ICAL_TIME_MIN) {
		int64_t from = state->start - shift;
		snprintf(start, sizeof(start), "%lld", (long long)from);
	}
	if (state->end != EX_ICAL_TIME_MAX) {
		int64_t to = state->end + shift;
		snprintf(end, sizeof(end), "%lld", (long long)to);
	}
	PGresult *objects = calendar_sql(
		connection, error,
		"SELECT name, uid, component, etag, ical FROM calendar_objects WHERE calendar_id = $1 "
		"AND ($2 = '' OR last_end IS NULL OR last_end >= to_timestamp(nullif($2, '')::double precision)) "
		"AND ($3 = '' OR first_start IS NULL OR first_start < to_timestamp(nullif($3, '')::double precision)) "
		"ORDER BY name LIMIT 10000",
		3, PQgetvalue(calendar, 0, 0), start, end);
	PQclear(calendar);
	if (objects == NULL) {
		if (floating != NULL)
			icaltimezone_free(floating, 1);
		return -1;
	}
	json_t *list = json_array();
	for (int row = 0; row < PQntuples(objects) && row < MAX_LISTED_EVENTS; row++) {
		icalcomponent *parsed = ex_ical_parse_stored(PQgetvalue(objects, row, 4));
		unsigned kind = ex_ical_component_from_name(PQgetvalue(objects, row, 2));
		bool ranged = state->start != EX_ICAL_TIME_MIN || state->end != EX_ICAL_TIME_MAX;
		if (parsed != NULL && (!ranged || ex_ical_overlaps_in(parsed, kind, state->start, state->end, floating))) {
			json_t *event = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", PQgetvalue(objects, row, 0), "uid",
						  PQgetvalue(objects, row, 1), "component", PQgetvalue(objects, row, 2), "etag",
						  PQgetvalue(objects, row, 3), "summary", first_summary(parsed), "ical",
						  PQgetvalue(objects, row, 4));
			if (event != NULL)
				add_scheduling_json(event, parsed);
			json_array_append_new(list, event);
		}
		if (parsed != NULL)
			icalcomponent_free(parsed);
	}
	PQclear(objects);
	if (floating != NULL)
		icaltimezone_free(floating, 1);
	state->result = json_pack("{s:o}", "events", list);
	return state->result ? 0 : -1;
}

/* Reads the optional ?start= and ?end= (UTC date-times) into STATE; sends 400 and returns false when invalid. */
static bool read_range(ex_http_request *request, api_state *state, bool required)
{
	char start[MAX_QUERY_TIME];
	char end[MAX_QUERY_TIME];
	int has_start = ex_http_query(request, "start", start, sizeof(start));
	int has_end = ex_http_query(request, "end", end, sizeof(end));

	state->start = EX_ICAL_TIME_MIN;
	state->end = EX_ICAL_TIME_MAX;
	if ((has_start == 0 && ex_ical_parse_utc(start, &state->start) != 0) || has_start < 0 ||
	    (has_end == 0 && ex_ical_parse_utc(end, &state->end) != 0) || has_end < 0 ||
	    (required && (has_start != 0 || has_end != 0)) || state->end <= state->start) {
		ex_http_respond_error(request, 400, "invalid_range",
				      "start and end must be UTC date-times such as 20260101T000000Z, end after start%s",
				      required ? "; both are required" : "");
		return false;
	}
	return true;
}

static void handle_list_events(ex_http_request *request, void *opaque)
{
	calendar_context context = { .service = opaque, .request = request };
	api_state state = { .context = &context };

	if (!authenticate(opaque, request, &context) || !read_target(request, &context, false) ||
	    !read_range(request, &state, false))
		return;
	if (run(&state, request, EX_DB_REPEATABLE_READ, list_events_work, &state)) {
		if (state.not_found) {
			ex_http_respond_error(request, 404, "calendar_not_found", "the calendar %s does not exist",
					      context.target.calendar);
		} else {
			ex_http_respond_json(request, 200, state.result);
			state.result = NULL;
		}
	}
	reset(&state);
}

/* Adds the VTIMEZONEs of SOURCE to TARGET unless one with the same TZID is there already. */
static void merge_timezones(icalcomponent *target, icalcomponent *source)
{
	for (icalcomponent *zone = icalcomponent_get_first_component(source, ICAL_VTIMEZONE_COMPONENT); zone != NULL;
	     zone = icalcomponent_get_next_component(source, ICAL_VTIMEZONE_COMPONENT)) {
		icalproperty *tzid = icalcomponent_get_first_property(zone, ICAL_TZID_PROPERTY);
		const char *name = tzid ? icalproperty_get_tzid(tzid) : NULL;
		if (name == NULL || icalcomponent_get_timezone(target, name) != NULL)
			continue;
		icalcomponent_add_component(target, icalcomponent_new_clone(zone));
	}
}

static int export_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	api_state *state = opaque;
	calendar_context *context = state->context;
	bool failed;

	reset(state);
	if (calendar_ensure_defaults(connection, context, error) != 0)
		return -1;
	PGresult *calendar = calendar_find(connection, context, context->target.calendar, false, error, &failed);
	if (calendar == NULL) {
		state->not_found = !failed;
		return failed ? -1 : 0;
	}
	PGresult *objects = calendar_select_objects(connection, PQgetvalue(calendar, 0, 0), NULL, error);
	PQclear(calendar);
	if (objects == NULL)
		return -1;
	icalcomponent *out = icalcomponent_vanew(ICAL_VCALENDAR_COMPONENT, icalproperty_new_version("2.0"),
						 icalproperty_new_prodid("-//Expresso//expresso-calendar//EN"), (void *)0);
	for (int row = 0; out != NULL && row < PQntuples(objects); row++) {
		icalcomponent *parsed = ex_ical_parse_stored(PQgetvalue(objects, row, 4));
		if (parsed == NULL)
			continue;
		merge_timezones(out, parsed);
		for (icalcomponent *c = icalcomponent_get_first_component(parsed, ICAL_ANY_COMPONENT); c != NULL;
		     c = icalcomponent_get_next_component(parsed, ICAL_ANY_COMPONENT)) {
			if (icalcomponent_isa(c) != ICAL_VTIMEZONE_COMPONENT)
				icalcomponent_add_component(out, icalcomponent_new_clone(c));
		}
		icalcomponent_free(parsed);
	}
	PQclear(objects);
	if (out == NULL)
		return -1;
	state->text = icalcomponent_as_ical_string_r(out);
	icalcomponent_free(out);
	return state->text ? 0 : -1;
}

static void handle_export(ex_http_request *request, void *opaque)
{
	calendar_context context = { .service = opaque, .request = request };
	api_state state = { .context = &context };
	char disposition[128];

	if (!authenticate(opaque, request, &context) || !read_target(request, &context, false))
		return;
	if (run(&state, request, EX_DB_REPEATABLE_READ, export_work, &state)) {
		if (state.not_found) {
			ex_http_respond_error(request, 404, "calendar_not_found", "the calendar %s does not exist",
					      context.target.calendar);
		} else {
			ex_http_respond_bytes(request, 200, "text/calendar; charset=utf-8", state.text, strlen(state.text));
			snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s.ics\"", context.target.calendar);
			ex_http_add_header(request, "Content-Disposition", disposition);
		}
	}
	reset(&state);
}

/* Writes into OUT the resource name an imported UID is stored under: the UID when it is a safe name, else a hash. */
static void import_name(const char *uid, const char *text, char *out, size_t size)
{
	char etag[80];
	bool safe = uid != NULL && strlen(uid) > 0 && strlen(uid) <= 200;
	for (const char *c = uid; safe && *c != '\0'; c++) {
		safe = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		       *c == '_' || *c == '.' || *c == '@';
	}
	if (safe) {
		snprintf(out, size, "%s.ics", uid);
		return;
	}
	calendar_compute_etag(uid ? uid : text, strlen(uid ? uid : text), etag);
	snprintf(out, size, "%.40s.ics", etag + 1);
}

/* The calendar components of an import file, listed once so that grouping them does not disturb libical's iterators. */
typedef struct {
	icalcomponent **items;
	size_t count;
} component_list;

/* Returns true when component I belongs to the group of UID (NULL: components without UID) and KIND. */
static bool in_group(const component_list *list, size_t i, const char *uid, icalcomponent_kind kind)
{
	const char *other = icalcomponent_get_uid(list->items[i]);
	if (icalcomponent_isa(list->items[i]) != kind)
		return false;
	if (uid == NULL || other == NULL)
		return uid == NULL && other == NULL;
	return strcmp(uid, other) == 0;
}

/* Stores the group of component FIRST (its UID and type) through the PUT handler; appends a failure to FAILED. */
static void import_group(calendar_context *base, icalcomponent *source, const component_list *list, size_t first,
			 json_t *failed, int *stored)
{
	const char *uid = icalcomponent_get_uid(list->items[first]);
	icalcomponent_kind kind = icalcomponent_isa(list->items[first]);
	icalcomponent *group = icalcomponent_vanew(ICAL_VCALENDAR_COMPONENT, icalproperty_new_version("2.0"),
						   icalproperty_new_prodid("-//Expresso//expresso-calendar import//EN"),
						   (void *)0);
	if (group == NULL)
		return;
	merge_timezones(group, source);
	for (size_t i = first; i < list->count; i++) {
		if (in_group(list, i, uid, kind))
			icalcomponent_add_component(group, icalcomponent_new_clone(list->items[i]));
		/* Components without UID cannot be grouped, so each becomes an object of its own. */
		if (uid == NULL)
			break;
	}
	char *text = icalcomponent_as_ical_string_r(group);
	icalcomponent_free(group);
	if (text == NULL)
		return;

	calendar_context context = *base;
	memset(&context.reply, 0, sizeof(context.reply));
	context.body = text;
	context.body_length = strlen(text);
	context.target.kind = TARGET_OBJECT;
	/* An import restores existing events, so it sends no invitations. */
	context.no_scheduling = true;
	import_name(uid, text, context.target.object, sizeof(context.target.object));
	calendar_handle_put(&context);
	if (context.reply.dav.status >= 400)
		json_array_append_new(failed, json_pack("{s:s?, s:s, s:s}", "uid", uid, "error",
							 context.reply.dav.condition ? context.reply.dav.condition : "rejected",
							 "message", context.reply.dav.message));
	else
		(*stored)++;
	if (context.reply.dav.status < 300 && context.reply.dav.changed && context.service->dav.changes != NULL)
		ex_counter_add(context.service->dav.changes, 1);
	if (context.reply.dav.status < 300)
		calendar_publish_change(&context);
	calendar_reply_reset(&context.reply);
	free(text);
}

/* Lists the VEVENT, VTODO and VJOURNAL components of SOURCE into LIST. Returns 0, or -1 when out of memory. */
static int list_components(icalcomponent *source, component_list *list)
{
	int count = icalcomponent_count_components(source, ICAL_ANY_COMPONENT);
	list->items = calloc((size_t)count + 1, sizeof(icalcomponent *));
	list->count = 0;
	if (list->items == NULL)
		return -1;
	for (icalcomponent *c = icalcomponent_get_first_component(source, ICAL_ANY_COMPONENT);
	     c != NULL && list->count < (size_t)count; c = icalcomponent_get_next_component(source, ICAL_ANY_COMPONENT)) {
		icalcomponent_kind kind = icalcomponent_isa(c);
		if (kind == ICAL_VEVENT_COMPONENT || kind == ICAL_VTODO_COMPONENT || kind == ICAL_VJOURNAL_COMPONENT)
			list->items[list->count++] = c;
	}
	return 0;
}

static void handle_import(ex_http_request *request, void *opaque)
{
	calendar_service *service = opaque;
	calendar_context context = { .service = service, .request = request, .quota_used = -1 };
	component_list list = { 0 };
	size_t length;

	if (!authenticate(opaque, request, &context) || !read_target(request, &context, false))
		return;
	const char *body = ex_http_body(request, &length);
	if (length > service->max_import_size) {
		ex_http_respond_error(request, 413, "import_too_large",
				      "the file has %zu bytes, more than the import limit of %zu bytes; split it", length,
				      service->max_import_size);
		return;
	}
	char *text = malloc(length + 1);
	if (text == NULL) {
		ex_http_respond_error(request, 500, "out_of_memory", "out of memory");
		return;
	}
	memcpy(text, body ? body : "", length);
	text[length] = '\0';
	icalcomponent *source = ex_ical_parse_stored(text);
	free(text);
	if (source == NULL) {
		ex_http_respond_error(request, 400, "invalid_calendar_data", "the body must be one iCalendar VCALENDAR");
		return;
	}
	if (list_components(source, &list) != 0) {
		icalcomponent_free(source);
		ex_http_respond_error(request, 500, "out_of_memory", "out of memory");
		return;
	}

	/* Each UID of each component type becomes one resource, as CalDAV requires; the group starts at its first component. */
	json_t *failed = json_array();
	int stored = 0;
	for (size_t i = 0; i < list.count; i++) {
		const char *uid = icalcomponent_get_uid(list.items[i]);
		bool seen = false;
		for (size_t k = 0; uid != NULL && k < i && !seen; k++)
			seen = in_group(&list, k, uid, icalcomponent_isa(list.items[i]));
		if (!seen)
			import_group(&context, source, &list, i, failed, &stored);
	}
	free(list.items);
	icalcomponent_free(source);
	ex_http_respond_json(request, json_array_size(failed) == 0 ? 200 : 207,
			     json_pack("{s:i, s:o}", "imported", stored, "failed", failed));
}

static void handle_free_busy(ex_http_request *request, void *opaque)
{
	calendar_context context = { .service = opaque, .request = request, .quota_used = -1 };
	api_state state = { .context = &context };
	char start[20];
	char end[20];
	char xml[512];

	if (!authenticate(opaque, request, &context) || !read_target(request, &context, false) ||
	    !read_range(request, &state, true))
		return;
	ex_ical_format_utc(state.start, start, sizeof(start));
	ex_ical_format_utc(state.end, end, sizeof(end));
	int length = snprintf(xml, sizeof(xml),
			      "<C:free-busy-query xmlns:C=\"" EX_CALDAV_NS "\"><C:time-range start=\"%s\" end=\"%s\"/>"
			      "</C:free-busy-query>",
			      start, end);
	context.document = xmlReadMemory(xml, length, NULL, NULL, XML_PARSE_NONET);
	if (context.document == NULL) {
		ex_http_respond_error(request, 500, "out_of_memory", "out of memory");
		return;
	}
	calendar_handle_report(&context);
	xmlFreeDoc(context.document);
	if (context.reply.dav.status != 200) {
		send_dav_reply(&context, request);
		calendar_reply_reset(&context.reply);
		return;
	}
	/* The VFREEBUSY lines written by caldav_report.c: FREEBUSY;FBTYPE=<type>:<start>/<end>. */
	json_t *busy = json_array();
	for (const char *line = strstr(context.reply.dav.body, "FREEBUSY;FBTYPE="); line != NULL;
	     line = strstr(line + 1, "FREEBUSY;FBTYPE=")) {
		char type[32];
		char from[20];
		char to[20];
		if (sscanf(line, "FREEBUSY;FBTYPE=%31[^:]:%16[0-9TZ]/%16[0-9TZ]", type, from, to) == 3)
			json_array_append_new(busy, json_pack("{s:s, s:s, s:s}", "type", type, "start", from, "end", to));
	}
	ex_http_respond_json(request, 200, json_pack("{s:s, s:s, s:o}", "start", start, "end", end, "busy", busy));
	calendar_reply_reset(&context.reply);
}

/* The busy time of users for GET /api/v1/calendars/freebusy: free-busy information only, never event details. */
typedef struct {
	calendar_context *context;
	int64_t start;
	int64_t end;
	char **addresses;
	size_t count;
	json_t *users; /* the result: [{email, busy: [{type, start, end}]}] or, for an unknown address, {email, error} */
} users_freebusy;

/* Appends to BUSY the merged busy periods of USER_ID's events in the range (cal_busy.h). */
static int collect_busy(PGconn *connection, const users_freebusy *state, const char *user_id, json_t *busy,
			ex_db_error *error)
{
	ex_cal_busy_list list = { .max = MAX_LISTED_EVENTS, .range_start = state->start, .range_end = state->end };
	if (ex_cal_busy_collect(connection, user_id, &list, error) != 0) {
		ex_cal_busy_free(&list);
		return -1;
	}
	for (size_t i = 0; i < list.count; i++) {
		char from[20];
		char to[20];
		ex_ical_format_utc(list.periods[i].start, from, sizeof(from));
		ex_ical_format_utc(list.periods[i].end, to, sizeof(to));
		json_array_append_new(busy, json_pack("{s:s, s:s, s:s}", "type",
						      list.periods[i].tentative ? "BUSY-TENTATIVE" : "BUSY", "start", from,
						      "end", to));
	}
	ex_cal_busy_free(&list);
	return 0;
}

static int users_freebusy_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	users_freebusy *state = opaque;

	json_decref(state->users);
	state->users = json_array();
	for (size_t i = 0; i < state->count; i++) {
		char user_id[EX_DAV_UUID_TEXT];
		int found = calendar_user_for_address(connection, state->addresses[i], true, user_id, sizeof(user_id), error);
		if (found < 0)
			return -1;
		if (found == 0) {
			json_array_append_new(state->users, json_pack("{s:s, s:s}", "email", state->addresses[i], "error", "unknown_user"));
			continue;
		}
		json_t *busy = json_array();
		int status = collect_busy(connection, state, user_id, busy, error);
		if (status != 0) {
			json_decref(busy);
			return -1;
		}
		json_array_append_new(state->users, json_pack("{s:s, s:o}", "email", state->addresses[i], "busy", busy));
	}
	return 0;
}

/* Splits the comma-separated addresses of TEXT into STATE (lowercase, trimmed); returns false when one is invalid or there are too many. */
static bool read_addresses(char *text, users_freebusy *state, size_t max)
{
	for (char *saved = NULL, *part = strtok_r(text, ",", &saved); part != NULL; part = strtok_r(NULL, ",", &saved)) {
		while (*part == ' ')
			part++;
		size_t length = strlen(part);
		while (length > 0 && part[length - 1] == ' ')
			part[--length] = '\0';
		char address[EX_ITIP_MAX_ADDRESS + 8];
		snprintf(address, sizeof(address), "mailto:%s", part);
		if (state->count == max || length == 0)
			return false;
		state->addresses[state->count] = malloc(EX_ITIP_MAX_ADDRESS);
		if (state->addresses[state->count] == NULL ||
		    ex_itip_address(address, state->addresses[state->count], EX_ITIP_MAX_ADDRESS) != 0) {
			free(state->addresses[state->count]);
			return false;
		}
		state->count++;
	}
	return state->count > 0;
}

/* GET /api/v1/calendars/freebusy?start=&end=&users=a@x,b@y: the busy time of users of the caller's tenant. */
static void handle_users_freebusy(ex_http_request *request, void *opaque)
{
	calendar_service *service = opaque;
	calendar_context context = { .service = service, .request = request, .quota_used = -1 };
	api_state api = { .context = &context };
	users_freebusy state = { .context = &context };
	size_t size = service->max_freebusy_users * (EX_ITIP_MAX_ADDRESS + 1) + 1;
	char *text = malloc(size);

	if (text == NULL || !authenticate(service, request, &context) || !read_range(request, &api, true)) {
		free(text);
		return;
	}
	state.start = api.start;
	state.end = api.end;
	state.addresses = calloc(service->max_freebusy_users, sizeof(*state.addresses));
	int found = ex_http_query(request, "users", text, size);
	if (state.addresses == NULL || found != 0 || !read_addresses(text, &state, service->max_freebusy_users)) {
		ex_http_respond_error(request, 400, "invalid_users",
				      "users must list 1 to %zu email addresses separated by commas", service->max_freebusy_users);
	} else if (run(&api, request, EX_DB_REPEATABLE_READ, users_freebusy_work, &state)) {
		char start[20];
		char end[20];
		ex_ical_format_utc(state.start, start, sizeof(start));
		ex_ical_format_utc(state.end, end, sizeof(end));
		ex_http_respond_json(request, 200, json_pack("{s:s, s:s, s:O}", "start", start, "end", end, "users", state.users));
	}
	for (size_t i = 0; state.addresses != NULL && i < state.count; i++)
		free(state.addresses[i]);
	free(state.addresses);
	json_decref(state.users);
	free(text);
}

typedef struct {
	calendar_context *context;
	char email[256];
	char partstat[16];
	char *text;          /* the object with the new PARTSTAT, for the PUT */
	char etag[80];       /* the ETag of the object read, for the PUT's If-Match */
	const char *problem; /* a 404 or 409 error code, or NULL */
} rsvp_state;

/* Reads the event and the caller's address, and writes the event with the caller's new PARTSTAT into STATE->text. */
static int rsvp_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	rsvp_state *state = opaque;
	calendar_context *context = state->context;
	bool failed;

	free(state->text);
	state->text = NULL;
	state->problem = NULL;
	PGresult *calendar = calendar_find(connection, context, context->target.calendar, false, error, &failed);
	if (calendar == NULL) {
		state->problem = "event_not_found";
		return failed ? -1 : 0;
	}
	PGresult *object = calendar_select_objects(connection, PQgetvalue(calendar, 0, 0), context->target.object, error);
	PQclear(calendar);
	if (object == NULL)
		return -1;
	icalcomponent *parsed = PQntuples(object) == 1 ? ex_ical_parse_stored(PQgetvalue(object, 0, 4)) : NULL;
	if (PQntuples(object) == 1)
		snprintf(state->etag, sizeof(state->etag), "%s", PQgetvalue(object, 0, 1));
	PQclear(object);
	if (parsed == NULL) {
		state->problem = "event_not_found";
		return 0;
	}
	ex_itip_roles *roles = malloc(sizeof(*roles));
	int own = -1;
	if (roles == NULL) {
		snprintf(error->message, sizeof(error->message), "out of memory reading the event's attendees");
	} else {
		ex_itip_read_roles(parsed, roles);
		own = calendar_own_address(connection, context->principal.user_id, roles, state->email, sizeof(state->email),
					   error);
		free(roles);
	}
	if (own < 0) {
		icalcomponent_free(parsed);
		return -1;
	}
	if (own == 1 || ex_itip_set_partstat(parsed, state->email, state->partstat, NULL) == 0)
		state->problem = "not_an_attendee";
	else
		state->text = icalcomponent_as_ical_string_r(parsed);
	icalcomponent_free(parsed);
	return state->problem != NULL || state->text != NULL ? 0 : -1;
}

/*
 * POST .../events/{event}/rsvp {"partstat": "accepted"}: the caller
 * replies to an invitation. The event is stored again through the CalDAV
 * PUT, whose scheduling sends the REPLY to the organizer.
 */
static void handle_rsvp(ex_http_request *request, void *opaque)
{
	calendar_context context = { .service = opaque, .request = request, .quota_used = -1 };
	api_state api = { .context = &context };
	rsvp_state state = { .context = &context };
	json_error_t parse_error;
	size_t length;

	if (!authenticate(opaque, request, &context) || !read_target(request, &context, true))
		return;
	const char *body = ex_http_body(request, &length);
	json_t *input = json_loadb(body ? body : "", length, 0, &parse_error);
	const char *partstat = json_string_value(json_object_get(input, "partstat"));
	if (partstat == NULL || !ex_itip_partstat_is_valid(partstat) || strcasecmp(partstat, "needs-action") == 0) {
		ex_http_respond_error(request, 400, "invalid_partstat",
				      "partstat must be \"accepted\", \"declined\" or \"tentative\"");
		json_decref(input);
		return;
	}
	for (size_t i = 0; partstat[i] != '\0' && i + 1 < sizeof(state.partstat); i++)
		state.partstat[i] = (char)toupper((unsigned char)partstat[i]);
	json_decref(input);

	/* The PUT carries the ETag read, so a change stored in between fails it with 412 rather than being lost. */
	if (!run(&api, request, EX_DB_REPEATABLE_READ, rsvp_work, &state)) {
		free(state.text);
		return;
	}
	if (state.problem != NULL) {
		bool missing = strcmp(state.problem, "event_not_found") == 0;
		ex_http_respond_error(request, missing ? 404 : 409, state.problem,
				      missing ? "the event %s does not exist" : "you are not an attendee of the event %s",
				      context.target.object);
		free(state.text);
		return;
	}
	context.body = state.text;
	context.body_length = strlen(state.text);
	context.body_type = "text/calendar";
	context.if_match = state.etag;
	calendar_handle_put(&context);
	if (context.reply.dav.status < 300) {
		calendar_reply *reply = &context.reply;
		ex_http_respond_json(request, 200, json_pack("{s:s, s:s}", "partstat", state.partstat, "etag", reply->dav.etag));
		if (reply->dav.changed && context.service->dav.changes != NULL)
			ex_counter_add(context.service->dav.changes, 1);
		calendar_publish_change(&context);
		calendar_schedule_publish(&context);
	} else {
		send_dav_reply(&context, request);
	}
	calendar_reply_reset(&context.reply);
	free(state.text);
}

int calendar_add_api_routes(calendar_service *service, ex_http_server *http)
{
	size_t put_limit = service->max_resource_size * 2;
	int status = 0;

	status |= ex_http_route(http, "GET", "/api/v1/calendars", handle_list_calendars, service);
	status |= ex_http_route_limited(http, "POST", "/api/v1/calendars", handle_create_calendar, service, 128 * 1024);
	status |= ex_http_route_limited(http, "PATCH", "/api/v1/calendars/{calendar}", handle_update_calendar, service,
					128 * 1024);
	status |= ex_http_route(http, "DELETE", "/api/v1/calendars/{calendar}", handle_delete_calendar, service);
	status |= ex_http_route(http, "GET", "/api/v1/calendars/{calendar}/events", handle_list_events, service);
	status |= ex_http_route(http, "GET", "/api/v1/calendars/{calendar}/events/{event}", handle_get_event, service);
	status |= ex_http_route_limited(http, "PUT", "/api/v1/calendars/{calendar}/events/{event}", handle_put_event, service,
					put_limit);
	status |= ex_http_route(http, "DELETE", "/api/v1/calendars/{calendar}/events/{event}", handle_delete_event, service);
	status |= ex_http_route(http, "GET", "/api/v1/calendars/{calendar}/export.ics", handle_export, service);
	status |= ex_http_route_limited(http, "POST", "/api/v1/calendars/{calendar}/import", handle_import, service,
					service->max_import_size + 1);
	status |= ex_http_route(http, "GET", "/api/v1/calendars/{calendar}/freebusy", handle_free_busy, service);
	status |= ex_http_route(http, "GET", "/api/v1/calendars/freebusy", handle_users_freebusy, service);
	status |= ex_http_route_limited(http, "POST", "/api/v1/calendars/{calendar}/events/{event}/rsvp", handle_rsvp,
					service, 4096);
	return status == 0 ? 0 : -1;
}
