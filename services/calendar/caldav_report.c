/*
 * REPORTs on a calendar: sync-collection (RFC 6578), calendar-query,
 * calendar-multiget and free-busy-query (RFC 4791 sections 7.8 to 7.10).
 * Each runs in one REPEATABLE READ transaction, so the sync-token a
 * response carries matches the members it lists.
 *
 * A time-range query first narrows the candidates with the instance
 * bounds stored for each object (first_start, last_end), then evaluates
 * the whole filter on each candidate with recurrences expanded. Floating
 * times are read in the calendar's CALDAV:calendar-timezone when it has
 * one (RFC 4791 section 9.9).
 *
 * calendar-data takes CALDAV:expand and CALDAV:limit-recurrence-set
 * (ical_expand.c); CALDAV:limit-freebusy-set is accepted and changes
 * nothing, because no calendar stores VFREEBUSY components.
 */
#include "calendar_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cal_busy.h"
#include "cal_filter.h"
#include "expresso/dav_sync.h"
#include "expresso/router.h"
#include "ical_expand.h"
#include "ical_object.h"
#include "ical_subset.h"

typedef enum { REPORT_SYNC, REPORT_QUERY, REPORT_MULTIGET, REPORT_FREE_BUSY } report_kind;

/* How calendar-data returns an object (RFC 4791 sections 9.6.5 and 9.6.6). */
typedef enum { DATA_AS_STORED, DATA_EXPAND, DATA_LIMIT_RECURRENCE_SET } data_option;

typedef struct {
	calendar_context *context;
	report_kind kind;
	ex_dav_sync_collection sync;
	ex_dav_propfind properties;
	ex_cal_filter *filter;
	int64_t busy_start; /* free-busy-query range */
	int64_t busy_end;
	ex_dav_multistatus *ms;
	char *free_busy; /* the VFREEBUSY body of a free-busy-query response */
	PGresult *dead_properties;
	PGresult *changed_rows;       /* the changed resources a sync-collection report is describing */
	icaltimezone *floating_zone; /* the calendar's CALDAV:calendar-timezone, NULL when unset */
	data_option data;
	int64_t data_start; /* range of CALDAV:expand or limit-recurrence-set */
	int64_t data_end;
	ex_ical_subset *subset; /* CALDAV:comp of calendar-data, NULL to return whole objects */
} report_state;

/*
 * Returns the calendar-data of OBJECT_NAME after the requested option,
 * in memory the caller frees, or NULL with an error reply set.
 */
static char *shape_calendar_data(report_state *state, const char *object_name, const char *stored)
{
	calendar_reply *reply = &state->context->reply;
	icalcomponent *calendar = ex_ical_parse_stored(stored);
	char *text = NULL;

	if (calendar == NULL) {
		calendar_reply_error(reply, 500, NULL, NULL, "the stored calendar object %s could not be read", object_name);
		return NULL;
	}
	if (state->data == DATA_LIMIT_RECURRENCE_SET) {
		text = ex_ical_limit_recurrence_set(calendar, state->data_start, state->data_end, state->floating_zone);
	} else {
		size_t max = state->context->service->max_expanded_instances;
		ex_ical_expand_status status = ex_ical_expand(calendar, state->data_start, state->data_end,
							      state->floating_zone, max, &text);
		if (status == EX_ICAL_EXPAND_TOO_MANY)
			calendar_reply_error(reply, 403, EX_CALDAV_NS, "max-instances",
					     "the calendar object %s has more than %zu instances in the CALDAV:expand range; "
					     "narrow the range",
					     object_name, max);
	}
	icalcomponent_free(calendar);
	if (text == NULL && reply->dav.status == 0)
		calendar_reply_error(reply, 500, NULL, NULL, "out of memory");
	return text;
}

/*
 * Writes one object response from row ROW of OBJECTS (CALENDAR_OBJECT_COLUMNS,
 * then ical and the schedule-tag). Returns 0, or -1 with an error reply set when calendar-data
 * could not be produced.
 */
static int describe_object(report_state *state, PGresult *objects, int row, const ex_dav_propfind *properties)
{
	calendar_context *context = state->context;
	char href[CALENDAR_MAX_HREF];
	char path[CALENDAR_MAX_HREF];
	calendar_target target = context->target;

	snprintf(target.object, sizeof(target.object), "%s", PQgetvalue(objects, row, 0));
	target.kind = TARGET_OBJECT;
	char *shaped = NULL;
	if (state->data != DATA_AS_STORED) {
		shaped = shape_calendar_data(state, target.object, PQgetvalue(objects, row, 4));
		if (shaped == NULL)
			return -1;
	}
	if (state->subset != NULL) {
		char *trimmed = ex_ical_subset_apply(state->subset, shaped != NULL ? shaped : PQgetvalue(objects, row, 4));
		free(shaped);
		shaped = trimmed;
		if (shaped == NULL) {
			calendar_reply_error(&context->reply, 500, NULL, NULL,
					     "the components and properties of calendar object %s could not be selected",
					     target.object);
			return -1;
		}
	}
	calendar_resource resource = {
		.context = context,
		.kind = TARGET_OBJECT,
		.object_etag = PQgetvalue(objects, row, 1),
		.object_length = PQgetvalue(objects, row, 2),
		.object_lastmod = PQgetvalue(objects, row, 3),
		.object_data = shaped != NULL ? shaped : PQgetvalue(objects, row, 4),
		.schedule_tag = PQgetvalue(objects, row, 5),
		.dead_properties = state->dead_properties,
		.property_path = calendar_property_path(path, sizeof(path), context->principal.user_id, &target) == 0
					 ? path
					 : NULL,
	};
	if (calendar_href_object(href, context->principal.user_id, context->target.calendar, target.object) == 0) {
		ex_dav_ms_begin_response(state->ms, href);
		calendar_write_properties(state->ms, properties, &resource);
		ex_dav_ms_end_response(state->ms);
	}
	free(shaped);
	return 0;
}

static void describe_missing(report_state *state, const char *href)
{
	ex_dav_ms_begin_response(state->ms, href);
	ex_dav_ms_status(state->ms, 404);
	ex_dav_ms_end_response(state->ms);
}

/* Returns the modseq named by TOKEN for calendar CALENDAR_ID, -1 for an empty token, -2 when the token is not valid here. */
/* Describes row ROW of the changed objects of a sync-collection report. */
static int describe_changed(void *opaque, int row)
{
	report_state *state = opaque;
	return describe_object(state, state->changed_rows, row, &state->sync.properties);
}

static int sync_report(report_state *state, PGconn *connection, const char *calendar_id, const char *calendar_seq,
		       const char *pruned_seq, ex_db_error *error)
{
	calendar_context *context = state->context;
	char since_text[32];
	long long since = ex_dav_parse_sync_token(state->sync.sync_token, calendar_id, strtoll(calendar_seq, NULL, 10),
					   strtoll(pruned_seq, NULL, 10));

	if (since == EX_DAV_SYNC_INVALID) {
		calendar_reply_error(&context->reply, 403, EX_DAV_NS, "valid-sync-token",
				     "the sync-token is unknown for this calendar; sync again with an empty sync-token");
		return 0;
	}
	snprintf(since_text, sizeof(since_text), "%lld", since);
	PGresult *objects = calendar_sql(connection, error,
				       "SELECT " CALENDAR_OBJECT_COLUMNS ", ical, coalesce(schedule_tag, etag), modseq::text "
				       "FROM calendar_objects "
				       "WHERE calendar_id = $1 AND modseq > $2 ORDER BY modseq",
				       2, calendar_id, since_text);
	PGresult *removed = ex_dav_store_select_tombstones(connection, &calendar_dav_store, calendar_id, since_text, error);
	if (objects == NULL || removed == NULL) {
		PQclear(objects);
		PQclear(removed);
		return -1;
	}
	state->changed_rows = objects;
	ex_dav_sync_changes changes = {
		.ms = state->ms,
		.changed = objects,
		.modseq_column = 6,
		.removed = removed,
		.limit = state->sync.limit,
		.home = CALENDAR_HOME,
		.user_id = context->principal.user_id,
		.collection = context->target.calendar,
		.collection_id = calendar_id,
		.sequence = calendar_seq,
		.describe = describe_changed,
		.context = state,
	};
	ex_dav_write_sync_changes(&changes);
	PQclear(objects);
	PQclear(removed);
	return 0;
}

/* Returns the component type the filter requires at the top level, or NULL. */
static const char *required_component(const ex_cal_filter *filter)
{
	for (size_t i = 1; i < filter->count; i++) {
		if (filter->comps[i].parent == 0 && !filter->comps[i].is_not_defined &&
		    ex_ical_component_from_name(filter->comps[i].name) != 0)
			return ex_ical_component_name(ex_ical_component_from_name(filter->comps[i].name));
	}
	return NULL;
}

/*
 * Selects the candidates of a calendar-query: every object, or those whose
 * bounds meet the time range. The stored bounds read floating times as
 * UTC, so with FLOATING_ZONE the range is widened by the largest shift a
 * time zone can give them.
 */
static PGresult *select_candidates(PGconn *connection, const char *calendar_id, const ex_cal_filter *filter,
				   const icaltimezone *floating_zone, ex_db_error *error)
{
	int64_t start;
	int64_t end;
	char start_text[32] = "";
	char end_text[32] = "";
	const char *component = required_component(filter);

	if (ex_cal_filter_time_range(filter, &start, &end)) {
		if (floating_zone != NULL && start != EX_ICAL_TIME_MIN)
			start -= EX_ICAL_FLOATING_SHIFT_MAX;
		if (floating_zone != NULL && end != EX_ICAL_TIME_MAX)
			end += EX_ICAL_FLOATING_SHIFT_MAX;
		if (start != EX_ICAL_TIME_MIN)
			snprintf(start_text, sizeof(start_text), "%lld", (long long)start);
		if (end != EX_ICAL_TIME_MAX)
			snprintf(end_text, sizeof(end_text), "%lld", (long long)end);
	}
	/* A zero-length instance at the range start matches, so last_end is compared with >=. */
	return calendar_sql(connection, error,
			    "SELECT " CALENDAR_OBJECT_COLUMNS ", ical, coalesce(schedule_tag, etag) FROM calendar_objects "
			    "WHERE calendar_id = $1 "
			    "AND ($2 = '' OR last_end IS NULL OR last_end >= to_timestamp(nullif($2, '')::double precision)) "
			    "AND ($3 = '' OR first_start IS NULL OR first_start < to_timestamp(nullif($3, '')::double precision)) "
			    "AND ($4 = '' OR component = $4) ORDER BY name",
			    4, calendar_id, start_text, end_text, component ? component : "");
}

static int query_report(report_state *state, PGconn *connection, const char *calendar_id, ex_db_error *error)
{
	state->filter->floating_zone = state->floating_zone;
	PGresult *objects = select_candidates(connection, calendar_id, state->filter, state->floating_zone, error);
	if (objects == NULL)
		return -1;
	for (int row = 0; row < PQntuples(objects); row++) {
		icalcomponent *calendar = ex_ical_parse_stored(PQgetvalue(objects, row, 4));
		bool matches = calendar != NULL && ex_cal_filter_matches(state->filter, calendar);
		if (calendar != NULL)
			icalcomponent_free(calendar);
		if (matches && describe_object(state, objects, row, &state->properties) != 0)
			break;
	}
	PQclear(objects);
	return 0;
}

/* Writes the VFREEBUSY of the merged periods of LIST into STATE->free_busy. */
static int write_free_busy(report_state *state, ex_cal_busy_list *list)
{
	char start[20];
	char end[20];
	char stamp[20];
	char *text = NULL;
	size_t length = 0;
	FILE *out = open_memstream(&text, &length);
	if (out == NULL)
		return -1;
	ex_ical_format_utc((int64_t)time(NULL), stamp, sizeof(stamp));
	ex_ical_format_utc(list->range_start, start, sizeof(start));
	ex_ical_format_utc(list->range_end, end, sizeof(end));
	fprintf(out,
		"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Expresso//expresso-calendar//EN\r\n"
		"BEGIN:VFREEBUSY\r\nDTSTAMP:%s\r\nDTSTART:%s\r\nDTEND:%s\r\n",
		stamp, start, end);
	ex_cal_busy_merge(list);
	ex_cal_busy_write(out, list);
	fprintf(out, "END:VFREEBUSY\r\nEND:VCALENDAR\r\n");
	if (fclose(out) != 0) {
		free(text);
		return -1;
	}
	state->free_busy = text;
	return 0;
}

static int free_busy_report(report_state *state, PGconn *connection, const char *calendar_id, ex_db_error *error)
{
	ex_cal_filter filter = { .count = 2 };
	ex_cal_busy_list list = { .range_start = state->busy_start, .range_end = state->busy_end };

	snprintf(filter.comps[0].name, sizeof(filter.comps[0].name), "VCALENDAR");
	filter.comps[0].parent = -1;
	snprintf(filter.comps[1].name, sizeof(filter.comps[1].name), "VEVENT");
	filter.comps[1].has_time_range = true;
	filter.comps[1].start = state->busy_start;
	filter.comps[1].end = state->busy_end;
	PGresult *objects = select_candidates(connection, calendar_id, &filter, state->floating_zone, error);
	if (objects == NULL)
		return -1;
	for (int row = 0; row < PQntuples(objects); row++) {
		icalcomponent *calendar = ex_ical_parse_stored(PQgetvalue(objects, row, 4));
		if (calendar == NULL)
			continue;
		ex_ical_foreach_instance_in(calendar, EX_ICAL_COMPONENT_VEVENT, state->busy_start, state->busy_end,
					    state->floating_zone, ex_cal_busy_note, &list);
		icalcomponent_free(calendar);
	}
	PQclear(objects);
	int status = write_free_busy(state, &list);
	ex_cal_busy_free(&list);
	return status;
}

/* Reduces HREF (absolute URL or path, percent-encoded) to the name of a calendar object in the request's calendar, or NULL. */
/* Appends NAME to the PostgreSQL array literal in OUT, quoting it. Returns 0, or -1 when OUT is full. */
static int append_array_item(char *out, size_t size, size_t *used, const char *name)
{
	if (*used + 2 * strlen(name) + 4 >= size)
		return -1;
	out[*used] = *used == 0 ? '{' : ',';
	(*used)++;
	out[(*used)++] = '"';
	for (const char *c = name; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\')
			out[(*used)++] = '\\';
		out[(*used)++] = *c;
	}
	out[(*used)++] = '"';
	out[*used] = '\0';
	return 0;
}

/* Returns the row of OBJECTS named NAME, or -1. */
static int find_row(PGresult *objects, const char *name)
{
	for (int row = 0; row < PQntuples(objects); row++) {
		if (strcmp(PQgetvalue(objects, row, 0), name) == 0)
			return row;
	}
	return -1;
}

/* The hrefs of a calendar-multiget with the object names they resolve to ("" for none). */
typedef struct {
	size_t count;
	xmlChar *hrefs[CALENDAR_MAX_MULTIGET];
	char names[CALENDAR_MAX_MULTIGET][CALENDAR_MAX_OBJECT_NAME + 1];
} multiget_list;

static void free_multiget(multiget_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		xmlFree(list->hrefs[i]);
	free(list);
}

/* Reads every object with one query, then writes one response per href in request order. */
static int multiget_report(report_state *state, PGconn *connection, const char *calendar_id, ex_db_error *error)
{
	const xmlNode *root = xmlDocGetRootElement(state->context->document);
	multiget_list *list = calloc(1, sizeof(*list));
	size_t array_size = (size_t)CALENDAR_MAX_MULTIGET * (2 * CALENDAR_MAX_OBJECT_NAME + 4) + 4;
	char *array = malloc(array_size);
	size_t used = 0;

	if (list == NULL || array == NULL) {
		free(array);
		free(list);
		return -1;
	}
	for (xmlNode *child = root->children; child != NULL; child = child->next) {
		if (!ex_dav_xml_is(child, EX_DAV_NS, "href"))
			continue;
		if (list->count == CALENDAR_MAX_MULTIGET) {
			calendar_reply_error(&state->context->reply, 400, NULL, NULL,
					     "a calendar-multiget is limited to %d hrefs; split the request", CALENDAR_MAX_MULTIGET);
			free(array);
			free_multiget(list);
			return 0;
		}
		size_t i = list->count++;
		list->hrefs[i] = xmlNodeGetContent(child);
		const char *href = list->hrefs[i] ? (const char *)list->hrefs[i] : "";
		while (*href == ' ' || *href == '\n' || *href == '\r' || *href == '\t')
			href++;
		if (ex_dav_resource_name_of_href(href, CALENDAR_HOME, state->context->principal.user_id, state->context->target.calendar,
						 list->names[i], sizeof(list->names[i])) == NULL)
			list->names[i][0] = '\0';
		else
			append_array_item(array, array_size, &used, list->names[i]);
	}
	if (used > 0)
		snprintf(array + used, array_size - used, "}");
	else
		snprintf(array, array_size, "{}");

	PGresult *objects = calendar_sql(connection, error,
					 "SELECT " CALENDAR_OBJECT_COLUMNS ", ical, coalesce(schedule_tag, etag) FROM calendar_objects "
					 "WHERE calendar_id = $1 AND name = ANY ($2::text[])",
					 2, calendar_id, array);
	free(array);
	if (objects == NULL) {
		free_multiget(list);
		return -1;
	}
	for (size_t i = 0; i < list->count; i++) {
		int row = list->names[i][0] != '\0' ? find_row(objects, list->names[i]) : -1;
		const char *href = list->hrefs[i] ? (const char *)list->hrefs[i] : "";
		while (*href == ' ' || *href == '\n' || *href == '\r' || *href == '\t')
			href++;
		if (row >= 0) {
			if (describe_object(state, objects, row, &state->properties) != 0)
				break;
		} else
			describe_missing(state, href);
	}
	PQclear(objects);
	free_multiget(list);
	return 0;
}

static int report_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	report_state *state = opaque;
	calendar_context *context = state->context;
	bool failed;
	int status = 0;

	calendar_reply_reset(&context->reply);
	ex_dav_multistatus_free(state->ms);
	PQclear(state->dead_properties);
	free(state->free_busy);
	state->free_busy = NULL;
	state->dead_properties = NULL;
	if (state->floating_zone != NULL)
		icaltimezone_free(state->floating_zone, 1);
	state->floating_zone = NULL;
	state->ms = ex_dav_multistatus_new();
	if (state->ms == NULL || calendar_ensure_defaults(connection, context, error) != 0)
		return -1;
	PGresult *calendar = calendar_find(connection, context, context->target.calendar, false, error, &failed);
	if (calendar == NULL) {
		if (!failed)
			calendar_reply_error(&context->reply, 404, NULL, NULL, "the calendar %s does not exist",
					     context->target.calendar);
		return failed ? -1 : 0;
	}
	state->dead_properties = calendar_load_dead_properties(connection, context, error);
	if (state->dead_properties == NULL) {
		PQclear(calendar);
		return -1;
	}

	const char *calendar_id = PQgetvalue(calendar, 0, 0);
	state->floating_zone = ex_ical_calendar_timezone(PQgetvalue(calendar, 0, 5));
	if (state->kind == REPORT_SYNC)
		status = sync_report(state, connection, calendar_id, PQgetvalue(calendar, 0, 3), PQgetvalue(calendar, 0, 7), error);
	else if (state->kind == REPORT_QUERY)
		status = query_report(state, connection, calendar_id, error);
	else if (state->kind == REPORT_FREE_BUSY)
		status = free_busy_report(state, connection, calendar_id, error);
	else
		status = multiget_report(state, connection, calendar_id, error);
	PQclear(calendar);
	return status;
}

/* Reads the DAV:prop (or DAV:allprop) and, for a query, the filter of ROOT. */
static int read_query(report_state *state, const xmlNode *root, char *err, size_t errlen)
{
	calendar_reply *reply = &state->context->reply;
	if (ex_dav_xml_child(root, EX_DAV_NS, "allprop") != NULL) {
		state->properties.kind = EX_DAV_PROPFIND_ALLPROP;
		state->properties.count = 0;
	} else if (ex_dav_collect_properties(ex_dav_xml_child(root, EX_DAV_NS, "prop"), &state->properties, err,
					     errlen) != 0) {
		calendar_reply_error(reply, 400, NULL, NULL, "%s", err);
		return -1;
	}
	if (state->kind != REPORT_QUERY)
		return 0;

	state->filter = calloc(1, sizeof(*state->filter));
	if (state->filter == NULL) {
		calendar_reply_error(reply, 500, NULL, NULL, "out of memory");
		return -1;
	}
	const xmlNode *filter = ex_dav_xml_child(root, EX_CALDAV_NS, "filter");
	if (filter == NULL) {
		calendar_reply_error(reply, 403, EX_CALDAV_NS, "valid-filter", "a calendar-query needs a CALDAV:filter");
		return -1;
	}
	static const char *const conditions[] = {
		[EX_CAL_FILTER_INVALID] = "valid-filter",
		[EX_CAL_FILTER_UNSUPPORTED_COLLATION] = "supported-collation",
		[EX_CAL_FILTER_UNSUPPORTED] = "supported-filter",
	};
	ex_cal_filter_status status = ex_cal_filter_parse(filter, state->filter, err, errlen);
	if (status != EX_CAL_FILTER_OK) {
		calendar_reply_error(reply, 403, EX_CALDAV_NS, conditions[status], "%s", err);
		return -1;
	}
	return 0;
}

/* Reads the time-range of a free-busy-query; sets the error reply and returns -1 when it is missing or invalid. */
static int read_free_busy(report_state *state, const xmlNode *root, char *err, size_t errlen)
{
	const xmlNode *range = ex_dav_xml_child(root, EX_CALDAV_NS, "time-range");
	if (range == NULL) {
		calendar_reply_error(&state->context->reply, 400, NULL, NULL, "a free-busy-query needs a CALDAV:time-range");
		return -1;
	}
	if (ex_cal_read_time_range(range, &state->busy_start, &state->busy_end, err, errlen) != 0 ||
	    state->busy_start == EX_ICAL_TIME_MIN || state->busy_end == EX_ICAL_TIME_MAX) {
		calendar_reply_error(&state->context->reply, 400, NULL, NULL, "%s",
				     state->busy_start == EX_ICAL_TIME_MIN || state->busy_end == EX_ICAL_TIME_MAX
					     ? "the free-busy-query time-range needs both start and end"
					     : err);
		return -1;
	}
	return 0;
}

/*
 * Reads the CALDAV:expand, limit-recurrence-set or limit-freebusy-set
 * child of the calendar-data element DATA. Sets a 400 reply and returns
 * -1 when one lacks its start or end or has both options.
 */
static int read_data_option(report_state *state, const xmlNode *data)
{
	static const char *const names[] = { "expand", "limit-recurrence-set", "limit-freebusy-set" };
	char err[256];

	for (const xmlNode *child = data->children; child != NULL; child = child->next) {
		size_t i = 0;
		while (i < sizeof(names) / sizeof(names[0]) && !ex_dav_xml_is(child, EX_CALDAV_NS, names[i]))
			i++;
		if (i == sizeof(names) / sizeof(names[0]))
			continue;
		int64_t start;
		int64_t end;
		if (ex_cal_read_time_range(child, &start, &end, err, sizeof(err)) != 0 || start == EX_ICAL_TIME_MIN ||
		    end == EX_ICAL_TIME_MAX) {
			calendar_reply_error(&state->context->reply, 400, NULL, NULL,
					     "CALDAV:%s needs start and end attributes in UTC, such as "
					     "start=\"20260101T000000Z\" end=\"20260201T000000Z\", with end after start",
					     names[i]);
			return -1;
		}
		/* limit-freebusy-set trims VFREEBUSY components, which calendars here never store. */
		if (i == 2)
			continue;
		if (state->data != DATA_AS_STORED) {
			calendar_reply_error(&state->context->reply, 400, NULL, NULL,
					     "calendar-data takes one of CALDAV:expand and limit-recurrence-set");
			return -1;
		}
		state->data = i == 0 ? DATA_EXPAND : DATA_LIMIT_RECURRENCE_SET;
		state->data_start = start;
		state->data_end = end;
	}
	if (ex_ical_subset_read(data, &state->subset, err, sizeof(err)) != 0) {
		calendar_reply_error(&state->context->reply, 400, NULL, NULL, "%s", err);
		return -1;
	}
	return 0;
}

/*
 * Reads the content-type and version attributes and the options of
 * CALDAV:calendar-data among PROPERTIES; sets an error reply and returns
 * -1 when the server cannot produce them.
 */
static int read_calendar_data_type(report_state *state, const ex_dav_propfind *properties)
{
	for (size_t i = 0; i < properties->count; i++) {
		if (!ex_dav_xml_is(properties->properties[i], EX_CALDAV_NS, "calendar-data"))
			continue;
		xmlChar *type = xmlGetProp(properties->properties[i], BAD_CAST "content-type");
		xmlChar *version = xmlGetProp(properties->properties[i], BAD_CAST "version");
		int status = 0;
		if ((type != NULL && strcasecmp((const char *)type, "text/calendar") != 0) ||
		    (version != NULL && strcmp((const char *)version, "2.0") != 0)) {
			calendar_reply_error(&state->context->reply, 403, EX_CALDAV_NS, "supported-calendar-data",
					     "calendar-data is served as text/calendar version 2.0 only");
			status = -1;
		}
		xmlFree(type);
		xmlFree(version);
		if (status == 0)
			status = read_data_option(state, properties->properties[i]);
		return status;
	}
	return 0;
}

void calendar_handle_report(calendar_context *context)
{
	report_state *state = calloc(1, sizeof(*state));
	char err[256];

	if (state == NULL) {
		calendar_reply_error(&context->reply, 500, NULL, NULL, "out of memory");
		return;
	}
	state->context = context;
	const xmlNode *root = context->document ? xmlDocGetRootElement(context->document) : NULL;
	if (context->target.kind != TARGET_CALENDAR) {
		calendar_reply_error(&context->reply, 403, EX_DAV_NS, "supported-report", "REPORTs are served on calendars only");
	} else if (ex_dav_xml_is(root, EX_DAV_NS, "sync-collection")) {
		state->kind = REPORT_SYNC;
		if (ex_dav_parse_sync_collection(context->document, &state->sync, err, sizeof(err)) != 0)
			calendar_reply_error(&context->reply, 400, NULL, NULL, "%s", err);
	} else if (ex_dav_xml_is(root, EX_CALDAV_NS, "calendar-query")) {
		state->kind = REPORT_QUERY;
		read_query(state, root, err, sizeof(err));
	} else if (ex_dav_xml_is(root, EX_CALDAV_NS, "calendar-multiget")) {
		state->kind = REPORT_MULTIGET;
		read_query(state, root, err, sizeof(err));
	} else if (ex_dav_xml_is(root, EX_CALDAV_NS, "free-busy-query")) {
		state->kind = REPORT_FREE_BUSY;
		read_free_busy(state, root, err, sizeof(err));
	} else {
		calendar_reply_error(&context->reply, 403, EX_DAV_NS, "supported-report",
				     "this REPORT is not supported; use sync-collection, calendar-query, calendar-multiget "
				     "or free-busy-query");
	}

	if (context->reply.dav.status == 0)
		read_calendar_data_type(state, state->kind == REPORT_SYNC ? &state->sync.properties : &state->properties);
	if (context->reply.dav.status == 0) {
		calendar_run(context, EX_DB_REPEATABLE_READ, report_work, state);
		if (context->reply.dav.status == 0 && state->kind == REPORT_FREE_BUSY && state->free_busy != NULL) {
			context->reply.dav.status = 200;
			context->reply.dav.content_type = "text/calendar; charset=utf-8";
			context->reply.dav.body = state->free_busy;
			context->reply.dav.length = strlen(state->free_busy);
			state->free_busy = NULL;
		} else if (context->reply.dav.status == 0) {
			calendar_reply_multistatus(&context->reply, state->ms);
			state->ms = NULL;
		}
	}
	ex_dav_multistatus_free(state->ms);
	PQclear(state->dead_properties);
	if (state->floating_zone != NULL)
		icaltimezone_free(state->floating_zone, 1);
	free(state->free_busy);
	free(state->filter);
	ex_ical_subset_free(state->subset);
	free(state);
}
