/*
 * Live properties of the CalDAV resources (RFC 4918, 3744, 5397, 4791,
 * 6578, 6638 and CalendarServer's getctag) and the lookup of dead
 * properties stored by PROPPATCH.
 */
#include "calendar_service.h"
#include "caldav_schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_properties.h"

#include "ical_object.h"

/*
 * The live properties that allprop and propname list, besides dead
 * properties. current-user-principal is among them because clients that
 * follow the /.well-known/caldav redirect with Python's requests lose the
 * PROPFIND body on a 301 and send an allprop PROPFIND instead.
 */
static const ex_dav_property_name allprop_names[] = {
	{ EX_DAV_NS, "resourcetype" },
	{ EX_DAV_NS, "current-user-principal" },
	{ EX_DAV_NS, "displayname" },
	{ EX_DAV_NS, "getetag" },
	{ EX_DAV_NS, "getcontenttype" },
	{ EX_DAV_NS, "getcontentlength" },
	{ EX_DAV_NS, "getlastmodified" },
	{ EX_DAV_NS, "sync-token" },
	{ EX_CALSERVER_NS, "getctag" },
	{ EX_CALDAV_NS, "calendar-description" },
	{ NULL, NULL },
};

static bool is_collection(target_kind kind)
{
	return kind != TARGET_OBJECT && kind != TARGET_SCHEDULE_MESSAGE;
}

static void write_resourcetype(ex_dav_multistatus *ms, target_kind kind)
{
	ex_dav_ms_begin_property(ms, EX_DAV_NS, "resourcetype");
	if (is_collection(kind))
		ex_dav_ms_empty_element(ms, EX_DAV_NS, "collection");
	if (kind == TARGET_PRINCIPAL)
		ex_dav_ms_empty_element(ms, EX_DAV_NS, "principal");
	if (kind == TARGET_CALENDAR)
		ex_dav_ms_empty_element(ms, EX_CALDAV_NS, "calendar");
	if (kind == TARGET_SCHEDULE_INBOX)
		ex_dav_ms_empty_element(ms, EX_CALDAV_NS, "schedule-inbox");
	if (kind == TARGET_SCHEDULE_OUTBOX)
		ex_dav_ms_empty_element(ms, EX_CALDAV_NS, "schedule-outbox");
	ex_dav_ms_end_property(ms);
}

static void write_privileges(ex_dav_multistatus *ms, target_kind kind, bool read_only)
{
	bool owner = !read_only && (kind == TARGET_HOME || kind == TARGET_CALENDAR || kind == TARGET_OBJECT || kind == TARGET_PRINCIPAL);
	ex_dav_write_privileges(ms, owner);
}

static void write_supported_reports(ex_dav_multistatus *ms)
{
	static const ex_dav_property_name reports[] = {
		{ EX_DAV_NS, "sync-collection" },
		{ EX_CALDAV_NS, "calendar-query" },
		{ EX_CALDAV_NS, "calendar-multiget" },
		{ EX_CALDAV_NS, "free-busy-query" },
	};
	ex_dav_write_supported_reports(ms, reports, sizeof(reports) / sizeof(reports[0]));
}

static void write_calendar_data_types(ex_dav_multistatus *ms)
{
	xmlTextWriter *writer = ex_dav_ms_writer(ms);

	ex_dav_ms_begin_property(ms, EX_CALDAV_NS, "supported-calendar-data");
	ex_dav_ms_begin_property(ms, EX_CALDAV_NS, "calendar-data");
	xmlTextWriterWriteAttribute(writer, BAD_CAST "content-type", BAD_CAST "text/calendar");
	xmlTextWriterWriteAttribute(writer, BAD_CAST "version", BAD_CAST "2.0");
	ex_dav_ms_end_property(ms);
	ex_dav_ms_end_property(ms);
}

static void write_components(ex_dav_multistatus *ms, const char *components)
{
	unsigned bits = (unsigned)strtoul(components ? components : "7", NULL, 10);
	xmlTextWriter *writer = ex_dav_ms_writer(ms);

	ex_dav_ms_begin_property(ms, EX_CALDAV_NS, "supported-calendar-component-set");
	for (unsigned bit = 1; bit <= EX_ICAL_COMPONENT_VJOURNAL; bit <<= 1) {
		if ((bits & bit) == 0)
			continue;
		ex_dav_ms_begin_property(ms, EX_CALDAV_NS, "comp");
		xmlTextWriterWriteAttribute(writer, BAD_CAST "name", BAD_CAST ex_ical_component_name(bit));
		ex_dav_ms_end_property(ms);
	}
	ex_dav_ms_end_property(ms);
}

static void write_collations(ex_dav_multistatus *ms)
{
	static const char *const collations[] = { "i;ascii-casemap", "i;octet", "i;unicode-casemap" };
	ex_dav_ms_begin_property(ms, EX_CALDAV_NS, "supported-collation-set");
	for (size_t i = 0; i < sizeof(collations) / sizeof(collations[0]); i++)
		ex_dav_ms_text_property(ms, EX_CALDAV_NS, "supported-collation", collations[i]);
	ex_dav_ms_end_property(ms);
}

/* Finds the stored dead property NS:NAME of the resource; returns its row or -1. */
static int find_dead_property(const calendar_resource *resource, const char *ns, const char *name)
{
	return ex_dav_find_dead_property(resource->dead_properties, resource->property_path, ns, name);
}

/* Resolves the DAV: live properties; returns true when NAME is one the resource has. */
static bool resolve_dav(const calendar_resource *resource, ex_dav_multistatus *ms, const char *name)
{
	const char *user = resource->context->principal.user_id;
	target_kind kind = resource->kind;
	char href[CALENDAR_MAX_HREF];
	char token[256];

	if (strcmp(name, "resourcetype") == 0) {
		if (ms)
			write_resourcetype(ms, kind);
		return true;
	}
	if (strcmp(name, "current-user-principal") == 0 || (strcmp(name, "principal-URL") == 0 && kind == TARGET_PRINCIPAL) ||
	    (strcmp(name, "owner") == 0 && kind >= TARGET_PRINCIPAL)) {
		if (ms && calendar_href_principal(href, user) == 0)
			ex_dav_ms_href_property(ms, EX_DAV_NS, name, href);
		return true;
	}
	if (strcmp(name, "principal-collection-set") == 0) {
		if (ms)
			ex_dav_ms_href_property(ms, EX_DAV_NS, name, CALENDAR_DAV_ROOT "principals/");
		return true;
	}
	if (strcmp(name, "current-user-privilege-set") == 0) {
		if (ms)
			write_privileges(ms, kind, false);
		return true;
	}
	if (strcmp(name, "displayname") == 0 && kind == TARGET_CALENDAR && find_dead_property(resource, EX_DAV_NS, name) < 0) {
		if (ms)
			ex_dav_ms_text_property(ms, EX_DAV_NS, name, resource->displayname);
		return true;
	}
	if (kind == TARGET_CALENDAR && strcmp(name, "supported-report-set") == 0) {
		if (ms)
			write_supported_reports(ms);
		return true;
	}
	if (kind == TARGET_CALENDAR && strcmp(name, "sync-token") == 0) {
		if (ms) {
			calendar_sync_token(token, sizeof(token), resource->calendar_id, resource->sync_seq);
			ex_dav_ms_text_property(ms, EX_DAV_NS, name, token);
		}
		return true;
	}
	if ((kind == TARGET_HOME || kind == TARGET_CALENDAR) && resource->context->quota_used >= 0 &&
	    (strcmp(name, "quota-used-bytes") == 0 || strcmp(name, "quota-available-bytes") == 0)) {
		if (ms) {
			long long used = resource->context->quota_used;
			long long available = resource->context->service->quota_bytes - used;
			char number[32];
			snprintf(number, sizeof(number), "%lld", strcmp(name, "quota-used-bytes") == 0 ? used : (available > 0 ? available : 0));
			ex_dav_ms_text_property(ms, EX_DAV_NS, name, number);
		}
		return true;
	}
	if (kind != TARGET_OBJECT)
		return false;
	return ex_dav_write_content_property(ms, name, resource->object_etag, "text/calendar; charset=utf-8", resource->object_length,
					     resource->object_lastmod);
}

/* Resolves the scheduling properties of a principal (RFC 6638 section 2.4); returns true when NAME is one. */
static bool resolve_scheduling_principal(const calendar_resource *resource, ex_dav_multistatus *ms, const char *name)
{
	const char *user = resource->context->principal.user_id;
	const char *email = resource->context->user_email;
	char href[CALENDAR_MAX_HREF];

	if (strcmp(name, "calendar-user-address-set") == 0) {
		if (ms == NULL)
			return true;
		/* The mailto: address first: clients take the first href as the user's address in ORGANIZER and ATTENDEE. */
		ex_dav_ms_begin_property(ms, EX_CALDAV_NS, name);
		if (email[0] != '\0' && snprintf(href, sizeof(href), "mailto:%s", email) < (int)sizeof(href))
			ex_dav_ms_text_property(ms, EX_DAV_NS, "href", href);
		for (const char *alias = resource->context->user_aliases; *alias != '\0';) {
			int alias_length = (int)strcspn(alias, " ");
			if (snprintf(href, sizeof(href), "mailto:%.*s", alias_length, alias) < (int)sizeof(href))
				ex_dav_ms_text_property(ms, EX_DAV_NS, "href", href);
			alias += alias_length;
			alias += strspn(alias, " ");
		}
		if (calendar_href_principal(href, user) == 0)
			ex_dav_ms_text_property(ms, EX_DAV_NS, "href", href);
		ex_dav_ms_end_property(ms);
		return true;
	}
	if (strcmp(name, "schedule-inbox-URL") == 0 || strcmp(name, "schedule-outbox-URL") == 0) {
		bool inbox = strcmp(name, "schedule-inbox-URL") == 0;
		if (ms && calendar_href_calendar(href, user, inbox ? CALENDAR_SCHEDULE_INBOX : CALENDAR_SCHEDULE_OUTBOX) == 0)
			ex_dav_ms_href_property(ms, EX_CALDAV_NS, name, href);
		return true;
	}
	if (strcmp(name, "calendar-user-type") == 0) {
		if (ms)
			ex_dav_ms_text_property(ms, EX_CALDAV_NS, name, "INDIVIDUAL");
		return true;
	}
	return false;
}

/* Resolves the CALDAV: live properties; returns true when NAME is one the resource has. */
static bool resolve_caldav(const calendar_resource *resource, ex_dav_multistatus *ms, const char *name)
{
	const char *user = resource->context->principal.user_id;
	target_kind kind = resource->kind;
	char href[CALENDAR_MAX_HREF];
	char number[32];

	if (strcmp(name, "calendar-home-set") == 0 && kind == TARGET_PRINCIPAL) {
		if (ms && calendar_href_home(href, user) == 0)
			ex_dav_ms_href_property(ms, EX_CALDAV_NS, name, href);
		return true;
	}
	if (kind == TARGET_PRINCIPAL && resolve_scheduling_principal(resource, ms, name))
		return true;
	if ((kind == TARGET_PRINCIPAL || kind == TARGET_SCHEDULE_INBOX) && strcmp(name, "schedule-default-calendar-URL") == 0) {
		/* NOTE: names the calendar "default" even after its deletion, when invitations go to the first VEVENT calendar. */
		if (ms && calendar_href_calendar(href, user, CALENDAR_DEFAULT_CALENDAR) == 0)
			ex_dav_ms_href_property(ms, EX_CALDAV_NS, name, href);
		return true;
	}
	if (kind == TARGET_CALENDAR && strcmp(name, "calendar-description") == 0) {
		if (ms)
			ex_dav_ms_text_property(ms, EX_CALDAV_NS, name, resource->description);
		return true;
	}
	if (kind == TARGET_CALENDAR && strcmp(name, "calendar-timezone") == 0 && resource->timezone != NULL &&
	    resource->timezone[0] != '\0') {
		if (ms)
			ex_dav_ms_text_property(ms, EX_CALDAV_NS, name, resource->timezone);
		return true;
	}
	if (kind == TARGET_CALENDAR && strcmp(name, "supported-calendar-data") == 0) {
		if (ms)
			write_calendar_data_types(ms);
		return true;
	}
	if (kind == TARGET_CALENDAR && strcmp(name, "supported-calendar-component-set") == 0) {
		if (ms)
			write_components(ms, resource->components);
		return true;
	}
	if (kind == TARGET_CALENDAR && strcmp(name, "supported-collation-set") == 0) {
		if (ms)
			write_collations(ms);
		return true;
	}
	if (kind == TARGET_CALENDAR && strcmp(name, "max-resource-size") == 0) {
		if (ms) {
			snprintf(number, sizeof(number), "%zu", resource->context->service->max_resource_size);
			ex_dav_ms_text_property(ms, EX_CALDAV_NS, name, number);
		}
		return true;
	}
	if (kind == TARGET_CALENDAR && strcmp(name, "max-attendees-per-instance") == 0) {
		if (ms) {
			snprintf(number, sizeof(number), "%zu", resource->context->service->max_attendees);
			ex_dav_ms_text_property(ms, EX_CALDAV_NS, name, number);
		}
		return true;
	}
	/* Dates libical's recurrence iterator and PostgreSQL's timestamptz both represent. */
	if (kind == TARGET_CALENDAR && (strcmp(name, "min-date-time") == 0 || strcmp(name, "max-date-time") == 0)) {
		if (ms)
			ex_dav_ms_text_property(ms, EX_CALDAV_NS, name,
						strcmp(name, "min-date-time") == 0 ? "19000101T000000Z" : "99991231T235959Z");
		return true;
	}
	if (kind == TARGET_OBJECT && strcmp(name, "schedule-tag") == 0 && resource->schedule_tag != NULL) {
		if (ms)
			ex_dav_ms_text_property(ms, EX_CALDAV_NS, name, resource->schedule_tag);
		return true;
	}
	if (kind == TARGET_OBJECT && strcmp(name, "calendar-data") == 0 && resource->object_data != NULL) {
		if (ms)
			ex_dav_ms_text_property(ms, EX_CALDAV_NS, name, resource->object_data);
		return true;
	}
	return false;
}

void calendar_write_properties(ex_dav_multistatus *ms, const ex_dav_propfind *request, calendar_resource *resource)
{
	ex_dav_write_resource_properties(ms, request, allprop_names, resource->dead_properties, resource->property_path,
					 calendar_resolve_property, resource);
}

bool calendar_resolve_property(void *opaque, ex_dav_multistatus *ms, const char *ns, const char *name)
{
	const calendar_resource *resource = opaque;

	if (strcmp(ns, EX_DAV_NS) == 0 && resolve_dav(resource, ms, name))
		return true;
	if (strcmp(ns, EX_CALDAV_NS) == 0 && resolve_caldav(resource, ms, name))
		return true;
	if (strcmp(ns, CALENDAR_APPLE_NS) == 0 && strcmp(name, "calendar-color") == 0 && resource->kind == TARGET_CALENDAR &&
	    resource->color != NULL && resource->color[0] != '\0') {
		if (ms)
			ex_dav_ms_text_property(ms, CALENDAR_APPLE_NS, name, resource->color);
		return true;
	}
	if (strcmp(ns, EX_CALSERVER_NS) == 0 && strcmp(name, "getctag") == 0 && resource->kind == TARGET_CALENDAR) {
		if (ms) {
			char token[256];
			calendar_sync_token(token, sizeof(token), resource->calendar_id, resource->sync_seq);
			ex_dav_ms_text_property(ms, EX_CALSERVER_NS, name, token);
		}
		return true;
	}
	int row = find_dead_property(resource, ns, name);
	if (row < 0)
		return false;
	if (ms)
		ex_dav_ms_raw(ms, PQgetvalue(resource->dead_properties, row, 3));
	return true;
}
