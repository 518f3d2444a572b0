/*
 * Busy periods of free-busy responses (cal_busy.h).
 */
#include "cal_busy.h"

#include <stdlib.h>

#include "expresso/dav_store.h"

#include "ical_object.h"

bool ex_cal_busy_note(void *context, icalcomponent *component, int64_t start, int64_t end)
{
	ex_cal_busy_list *list = context;
	icalproperty *transp = icalcomponent_get_first_property(component, ICAL_TRANSP_PROPERTY);
	icalproperty_status status = icalcomponent_get_status(component);
	if (end <= start || status == ICAL_STATUS_CANCELLED ||
	    (transp != NULL && icalproperty_get_transp(transp) == ICAL_TRANSP_TRANSPARENT))
		return true;
	if (list->max > 0 && list->count == list->max)
		return false;
	if (list->count == list->capacity) {
		size_t capacity = list->capacity ? list->capacity * 2 : 64;
		ex_cal_busy_period *grown = realloc(list->periods, capacity * sizeof(*grown));
		if (grown == NULL)
			return false;
		list->periods = grown;
		list->capacity = capacity;
	}
	list->periods[list->count++] = (ex_cal_busy_period){
		.start = start < list->range_start ? list->range_start : start,
		.end = end > list->range_end ? list->range_end : end,
		.tentative = status == ICAL_STATUS_TENTATIVE,
	};
	return true;
}

int ex_cal_busy_collect(PGconn *connection, const char *user_id, ex_cal_busy_list *list, ex_db_error *error)
{
	char start[32];
	char end[32];
	char limit[16];
	snprintf(start, sizeof(start), "%lld", (long long)list->range_start);
	snprintf(end, sizeof(end), "%lld", (long long)list->range_end);
	snprintf(limit, sizeof(limit), "%d", EX_CAL_BUSY_MAX_OBJECTS);
	PGresult *objects = ex_dav_sql(
		connection, error,
		"SELECT o.ical FROM calendar_objects o JOIN calendars c ON c.id = o.calendar_id "
		"WHERE c.user_id = $1 AND o.component = 'VEVENT' "
		"AND (o.last_end IS NULL OR o.last_end >= to_timestamp($2::double precision)) "
		"AND (o.first_start IS NULL OR o.first_start < to_timestamp($3::double precision)) LIMIT $4::int",
		4, user_id, start, end, limit);
	if (objects == NULL)
		return -1;
	for (int row = 0; row < PQntuples(objects); row++) {
		icalcomponent *calendar = ex_ical_parse_stored(PQgetvalue(objects, row, 0));
		if (calendar == NULL)
			continue;
		ex_ical_foreach_instance(calendar, EX_ICAL_COMPONENT_VEVENT, list->range_start, list->range_end,
					 ex_cal_busy_note, list);
		icalcomponent_free(calendar);
		if (list->max > 0 && list->count == list->max)
			break;
	}
	PQclear(objects);
	ex_cal_busy_merge(list);
	return 0;
}

static int compare_periods(const void *left, const void *right)
{
	const ex_cal_busy_period *a = left;
	const ex_cal_busy_period *b = right;
	if (a->tentative != b->tentative)
		return a->tentative ? 1 : -1;
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return (a->end > b->end) - (a->end < b->end);
}

void ex_cal_busy_merge(ex_cal_busy_list *list)
{
	if (list->count == 0)
		return;
	qsort(list->periods, list->count, sizeof(*list->periods), compare_periods);
	size_t last_index = 0;
	for (size_t i = 1; i < list->count; i++) {
		ex_cal_busy_period *last = &list->periods[last_index];
		const ex_cal_busy_period *next = &list->periods[i];
		if (next->tentative == last->tentative && next->start <= last->end) {
			if (next->end > last->end)
				last->end = next->end;
		} else {
			list->periods[++last_index] = *next;
		}
	}
	list->count = last_index + 1;
}

void ex_cal_busy_write(FILE *out, const ex_cal_busy_list *list)
{
	for (size_t i = 0; i < list->count; i++) {
		char from[20];
		char to[20];
		ex_ical_format_utc(list->periods[i].start, from, sizeof(from));
		ex_ical_format_utc(list->periods[i].end, to, sizeof(to));
		fprintf(out, "FREEBUSY;FBTYPE=%s:%s/%s\r\n", list->periods[i].tentative ? "BUSY-TENTATIVE" : "BUSY", from,
			to);
	}
}

void ex_cal_busy_free(ex_cal_busy_list *list)
{
	free(list->periods);
	list->periods = NULL;
	list->count = 0;
	list->capacity = 0;
}
