/*
 * Pieces every CalDAV handler uses: request paths, hrefs, replies,
 * ETags, the SQL helper, the default calendars and the change events.
 */
#include "calendar_service.h"
#include "caldav_schedule.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_http.h"
#include "expresso/dav_properties.h"
#include "expresso/dav_route.h"
#include "expresso/dav_store_checks.h"
#include "expresso/dav_sync.h"
#include "expresso/dav_target.h"
#include "expresso/log.h"

const ex_dav_store calendar_dav_store = {
	.home = CALENDAR_HOME,
	.collection_table = "calendars",
	.resource_table = "calendar_objects",
	.tombstone_table = "calendar_tombstones",
	.collection_column = "calendar_id",
	.resource_noun = "calendar object",
	.collection_noun = "calendar",
	.data_column = "ical",
	.protocol_ns = EX_CALDAV_NS,
	.protocol = "caldav",
	.service_noun = "calendar",
	.event_domain = "calendar",
	.event_collection = "calendar",
};

bool calendar_name_is_valid(const char *name)
{
	return ex_dav_collection_name_is_valid(name);
}

/* Maps the shared target kinds onto the calendar's, and moves the schedule inbox and outbox to their own kinds. */
void calendar_parse_target(const char *path, const char *user_id, calendar_target *target)
{
	ex_dav_target parsed;

	ex_dav_parse_target(path, CALENDAR_HOME, user_id, &parsed);
	memset(target, 0, sizeof(*target));
	memcpy(target->calendar, parsed.collection, sizeof(target->calendar));
	memcpy(target->object, parsed.resource, sizeof(target->object));
	static const target_kind kinds[] = {
		[EX_DAV_TARGET_NOT_FOUND] = TARGET_NOT_FOUND, [EX_DAV_TARGET_DAV_ROOT] = TARGET_DAV_ROOT,
		[EX_DAV_TARGET_PRINCIPALS] = TARGET_PRINCIPALS, [EX_DAV_TARGET_PRINCIPAL] = TARGET_PRINCIPAL,
		[EX_DAV_TARGET_HOME] = TARGET_HOME, [EX_DAV_TARGET_COLLECTION] = TARGET_CALENDAR,
		[EX_DAV_TARGET_RESOURCE] = TARGET_OBJECT,
	};
	target->kind = kinds[parsed.kind];

	bool inbox = strcmp(target->calendar, CALENDAR_SCHEDULE_INBOX) == 0;
	if (inbox && target->kind == TARGET_CALENDAR)
		target->kind = TARGET_SCHEDULE_INBOX;
	else if (inbox && target->kind == TARGET_OBJECT)
		target->kind = TARGET_SCHEDULE_MESSAGE;
	else if (strcmp(target->calendar, CALENDAR_SCHEDULE_OUTBOX) == 0)
		target->kind = target->kind == TARGET_CALENDAR ? TARGET_SCHEDULE_OUTBOX : TARGET_NOT_FOUND;
}

int calendar_href_principal(char *out, const char *user_id)
{
	return ex_dav_format_href(out, EX_DAV_PRINCIPALS, user_id, NULL, NULL);
}

int calendar_href_home(char *out, const char *user_id)
{
	return ex_dav_format_href(out, CALENDAR_HOME, user_id, NULL, NULL);
}

int calendar_href_calendar(char *out, const char *user_id, const char *calendar)
{
	return ex_dav_format_href(out, CALENDAR_HOME, user_id, calendar, NULL);
}

int calendar_href_object(char *out, const char *user_id, const char *calendar, const char *object)
{
	return ex_dav_format_href(out, CALENDAR_HOME, user_id, calendar, object);
}

int calendar_property_path(char *out, size_t size, const char *user_id, const calendar_target *target)
{
	ex_dav_target shared = {.kind = EX_DAV_TARGET_NOT_FOUND};

	switch (target->kind) {
	case TARGET_PRINCIPAL:
		shared.kind = EX_DAV_TARGET_PRINCIPAL;
		break;
	case TARGET_HOME:
		shared.kind = EX_DAV_TARGET_HOME;
		break;
	case TARGET_CALENDAR:
		shared.kind = EX_DAV_TARGET_COLLECTION;
		break;
	case TARGET_OBJECT:
		shared.kind = EX_DAV_TARGET_RESOURCE;
		break;
	default:
		return -1;
	}
	memcpy(shared.collection, target->calendar, sizeof(shared.collection));
	memcpy(shared.resource, target->object, sizeof(shared.resource));
	return ex_dav_property_path(out, size, CALENDAR_HOME, user_id, &shared);
}

void calendar_reply_reset(calendar_reply *reply)
{
	calendar_schedule_changes_free(reply->schedule_changes);
	ex_dav_reply_reset(&reply->dav);
	reply->itip_queued = false;
	reply->schedule_changes = NULL;
}

void calendar_compute_etag(const char *data, size_t length, char *out)
{
	ex_dav_compute_etag(data, length, out);
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
	return ex_dav_store_quota_used(connection, &calendar_dav_store, context->principal.user_id, error);
}

void calendar_sync_token(char *out, size_t size, const char *calendar_id, const char *sequence)
{
	ex_dav_format_sync_token(out, size, calendar_id, sequence);
}

PGresult *calendar_load_dead_properties(PGconn *connection, const calendar_context *context, ex_db_error *error)
{
	return ex_dav_load_dead_properties(connection, context->principal.user_id, error);
}

void calendar_run(calendar_context *context, ex_db_isolation isolation, ex_db_work work, void *argument)
{
	ex_dav_run(context->service->dav.database, &context->principal, &calendar_dav_store, &context->reply.dav, isolation,
		   work, argument);
}

void calendar_publish_change(const calendar_context *context)
{
	ex_dav_publish_change(context->service->dav.bus, &context->principal, &calendar_dav_store, &context->reply.dav);
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
