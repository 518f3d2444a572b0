/*
 * The CALDAV:filter of a calendar-query REPORT (RFC 4791 section 9.7):
 * nested comp-filters with time-range and is-not-defined, prop-filters
 * with is-not-defined, text-match and param-filter. Every test of a
 * filter must hold (CalDAV filters have no anyof). A time-range on a
 * VEVENT, VTODO or VJOURNAL expands recurrences (ical_object.c).
 * Collations: i;ascii-casemap (the default), i;octet and i;unicode-casemap.
 */
#ifndef EXPRESSO_CALENDAR_CAL_FILTER_H
#define EXPRESSO_CALENDAR_CAL_FILTER_H

#include <libical/ical.h>
#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "card_filter.h"

enum {
	EX_CAL_FILTER_MAX_COMPS = 8,   /* comp-filter elements in one filter */
	EX_CAL_FILTER_MAX_PROPS = 8,   /* prop-filter elements in one comp-filter */
	EX_CAL_FILTER_MAX_PARAMS = 4,  /* param-filter elements in one prop-filter */
	EX_CAL_FILTER_MAX_NAME = 64,   /* bytes of a component, property or parameter name */
};

typedef struct {
	char name[EX_CAL_FILTER_MAX_NAME + 1];
	bool is_not_defined;
	bool has_text_match;
	ex_card_text_match text_match;
} ex_cal_param_filter;

typedef struct {
	char name[EX_CAL_FILTER_MAX_NAME + 1];
	bool is_not_defined;
	bool has_text_match;
	ex_card_text_match text_match;
	size_t param_count;
	ex_cal_param_filter params[EX_CAL_FILTER_MAX_PARAMS];
} ex_cal_prop_filter;

typedef struct {
	char name[EX_CAL_FILTER_MAX_NAME + 1];
	int parent; /* index of the enclosing comp-filter, -1 for the VCALENDAR one */
	bool is_not_defined;
	bool has_time_range;
	int64_t start; /* seconds since 1970 UTC; EX_ICAL_TIME_MIN when absent */
	int64_t end;   /* EX_ICAL_TIME_MAX when absent */
	size_t prop_count;
	ex_cal_prop_filter props[EX_CAL_FILTER_MAX_PROPS];
} ex_cal_comp_filter;

typedef struct {
	size_t count; /* 0: the filter matches every object */
	ex_cal_comp_filter comps[EX_CAL_FILTER_MAX_COMPS];
	const icaltimezone *floating_zone; /* zone that floating times are read in (CALDAV:calendar-timezone), NULL for UTC */
} ex_cal_filter;

typedef enum {
	EX_CAL_FILTER_OK = 0,
	EX_CAL_FILTER_INVALID,               /* 403 CALDAV:valid-filter */
	EX_CAL_FILTER_UNSUPPORTED_COLLATION, /* 403 CALDAV:supported-collation */
	EX_CAL_FILTER_UNSUPPORTED,           /* 403 CALDAV:supported-filter */
} ex_cal_filter_status;

/* Reads the CALDAV:filter element FILTER (NULL: match everything) into OUT. */
ex_cal_filter_status ex_cal_filter_parse(const xmlNode *filter, ex_cal_filter *out, char *err, size_t errlen);

/* Returns true when the VCALENDAR CALENDAR matches FILTER. */
bool ex_cal_filter_matches(const ex_cal_filter *filter, icalcomponent *calendar);

/*
 * Returns the time range the filter's component-level time-range asks
 * for in *START and *END, so the caller can narrow its candidates, and
 * true when there is one.
 */
bool ex_cal_filter_time_range(const ex_cal_filter *filter, int64_t *start, int64_t *end);

/* Reads the start and end attributes of a CALDAV:time-range element. Returns 0, or -1 with ERR set. */
int ex_cal_read_time_range(const xmlNode *element, int64_t *start, int64_t *end, char *err, size_t errlen);

#endif
