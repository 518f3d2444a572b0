/*
 * PROPFIND (RFC 4918 section 9.1) on every CalDAV resource with Depth 0
 * or 1. Depth: infinity (also the default when the header is absent) is
 * answered 403 with DAV:propfind-finite-depth before any work.
 */
#include "calendar_service.h"

#include <stdio.h>
#include <string.h>


typedef struct {
	calendar_context *context;
	ex_dav_propfind request;
	PGresult *dead_properties;
	ex_dav_multistatus *ms;
} propfind_state;

static void describe(propfind_state *state, calendar_resource *resource, const char *href)
{
	char path[CALENDAR_MAX_HREF];
	calendar_target target = state->context->target;

	resource->context = state->context;
	resource->dead_properties = state->dead_properties;
	target.kind = resource->kind;
	resource->property_path = calendar_property_path(path, sizeof(path), state->context->principal.user_id,
							 &target) == 0
					  ? path
					  : NULL;
	ex_dav_ms_begin_response(state->ms, href);
	calendar_write_properties(state->ms, &state->request, resource);
	ex_dav_ms_end_response(state->ms);
}

static void describe_simple(propfind_state *state, target_kind kind, const char *href)
{
	calendar_resource resource = { .kind = kind };
	describe(state, &resource, href);
}

/* Fills RESOURCE from row ROW of a calendars result with CALENDAR_COLLECTION_COLUMNS from column OFFSET. */
static void fill_calendar(calendar_resource *resource, PGresult *calendars, int row, int offset)
{
	resource->kind = TARGET_CALENDAR;
	resource->calendar_id = PQgetvalue(calendars, row, offset + 0);
	resource->displayname = PQgetvalue(calendars, row, offset + 1);
	resource->description = PQgetvalue(calendars, row, offset + 2);
	resource->sync_seq = PQgetvalue(calendars, row, offset + 3);
	resource->components = PQgetvalue(calendars, row, offset + 4);
	resource->timezone = PQgetvalue(calendars, row, offset + 5);
	resource->color = PQgetvalue(calendars, row, offset + 6);
}

static void fill_object(calendar_resource *resource, PGresult *objects, int row)
{
	resource->kind = TARGET_OBJECT;
	resource->object_etag = PQgetvalue(objects, row, 1);
	resource->object_length = PQgetvalue(objects, row, 2);
	resource->object_lastmod = PQgetvalue(objects, row, 3);
	resource->schedule_tag = PQgetvalue(objects, row, 5);
}

/* Describes the home and, at Depth 1, each calendar in it. */
static int describe_home(propfind_state *state, PGconn *connection, ex_db_error *error)
{
	calendar_context *context = state->context;
	char href[CALENDAR_MAX_HREF];

	calendar_href_home(href, context->principal.user_id);
	describe_simple(state, TARGET_HOME, href);
	if (context->depth != EX_DAV_DEPTH_1)
		return 0;

	PGresult *calendars = calendar_sql(connection, error,
					   "SELECT name, " CALENDAR_COLLECTION_COLUMNS " FROM calendars "
					   "WHERE user_id = $1 ORDER BY name LIMIT 1000",
					   1, context->principal.user_id);
	if (calendars == NULL)
		return -1;
	for (int row = 0; row < PQntuples(calendars); row++) {
		calendar_resource resource = { 0 };
		fill_calendar(&resource, calendars, row, 1);
		snprintf(state->context->target.calendar, sizeof(state->context->target.calendar), "%s",
			 PQgetvalue(calendars, row, 0));
		if (calendar_href_calendar(href, context->principal.user_id, PQgetvalue(calendars, row, 0)) == 0)
			describe(state, &resource, href);
	}
	PQclear(calendars);
	return 0;
}

/* Describes a calendar and, at Depth 1, each calendar object in it; or one calendar object. */
static int describe_calendar(propfind_state *state, PGconn *connection, ex_db_error *error)
{
	calendar_context *context = state->context;
	const char *user = context->principal.user_id;
	char href[CALENDAR_MAX_HREF];
	bool failed;

	PGresult *calendar = calendar_find(connection, context, context->target.calendar, false, error, &failed);
	if (calendar == NULL) {
		if (!failed)
			calendar_reply_error(&context->reply, 404, NULL, NULL, "the calendar %s does not exist",
					     context->target.calendar);
		return failed ? -1 : 0;
	}
	const char *calendar_id = PQgetvalue(calendar, 0, 0);
	PGresult *objects = NULL;
	if (context->target.kind == TARGET_OBJECT)
		objects = calendar_select_objects(connection, calendar_id, context->target.object, error);
	else if (context->depth == EX_DAV_DEPTH_1)
		objects = calendar_select_objects(connection, calendar_id, NULL, error);
	if ((context->target.kind == TARGET_OBJECT || context->depth == EX_DAV_DEPTH_1) && objects == NULL) {
		PQclear(calendar);
		return -1;
	}

	if (context->target.kind == TARGET_OBJECT && PQntuples(objects) == 0) {
		calendar_reply_error(&context->reply, 404, NULL, NULL, "the calendar object %s does not exist", context->target.object);
	} else {
		if (context->target.kind == TARGET_CALENDAR) {
			calendar_resource resource = { 0 };
			fill_calendar(&resource, calendar, 0, 0);
			calendar_href_calendar(href, user, context->target.calendar);
			describe(state, &resource, href);
		}
		for (int row = 0; objects != NULL && row < PQntuples(objects); row++) {
			calendar_resource resource = { 0 };
			fill_object(&resource, objects, row);
			resource.calendar_id = calendar_id;
			snprintf(context->target.object, sizeof(context->target.object), "%s", PQgetvalue(objects, row, 0));
			if (calendar_href_object(href, user, context->target.calendar, PQgetvalue(objects, row, 0)) == 0)
				describe(state, &resource, href);
		}
	}
	PQclear(objects);
	PQclear(calendar);
	return 0;
}

static int propfind_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	propfind_state *state = opaque;
	calendar_context *context = state->context;
	calendar_target original = context->target;
	char href[CALENDAR_MAX_HREF];
	int status = 0;

	calendar_reply_reset(&context->reply);
	ex_dav_multistatus_free(state->ms);
	PQclear(state->dead_properties);
	state->dead_properties = NULL;
	state->ms = ex_dav_multistatus_new();
	if (state->ms == NULL || calendar_ensure_defaults(connection, context, error) != 0)
		return -1;
	state->dead_properties = calendar_load_dead_properties(connection, context, error);
	if (state->dead_properties == NULL)
		return -1;
	if (context->target.kind == TARGET_HOME || context->target.kind == TARGET_CALENDAR) {
		context->quota_used = calendar_quota_used(connection, context, error);
		if (context->quota_used < 0)
			return -1;
	}

	switch (context->target.kind) {
	case TARGET_SERVER_ROOT:
		describe_simple(state, TARGET_SERVER_ROOT, "/");
		break;
	case TARGET_DAV_ROOT:
		describe_simple(state, TARGET_DAV_ROOT, CALENDAR_DAV_ROOT);
		break;
	case TARGET_PRINCIPALS:
		describe_simple(state, TARGET_PRINCIPALS, CALENDAR_DAV_ROOT "principals/");
		if (context->depth == EX_DAV_DEPTH_1 && calendar_href_principal(href, context->principal.user_id) == 0)
			describe_simple(state, TARGET_PRINCIPAL, href);
		break;
	case TARGET_PRINCIPAL:
		calendar_href_principal(href, context->principal.user_id);
		describe_simple(state, TARGET_PRINCIPAL, href);
		break;
	case TARGET_HOME:
		status = describe_home(state, connection, error);
		break;
	default:
		status = describe_calendar(state, connection, error);
		break;
	}
	context->target = original;
	return status;
}

void calendar_handle_propfind(calendar_context *context)
{
	propfind_state state = { .context = context };

	if (!ex_dav_reply_parse_propfind(&context->reply.dav, context->depth, context->document, &state.request))
		return;

	calendar_run(context, EX_DB_REPEATABLE_READ, propfind_work, &state);
	ex_dav_reply_take_multistatus(&context->reply.dav, state.ms);
	PQclear(state.dead_properties);
}
