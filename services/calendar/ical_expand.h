/*
 * The calendar-data options of RFC 4791 sections 9.6.5 to 9.6.7, applied
 * to a stored calendar object resource before a REPORT returns it.
 * CALDAV:expand turns a recurrence set into its instances within a range,
 * and CALDAV:limit-recurrence-set keeps the master component and the
 * overrides that touch a range. CALDAV:limit-freebusy-set trims
 * VFREEBUSY components, which no calendar here stores, so it has no
 * function of its own.
 */
#ifndef EXPRESSO_CALENDAR_ICAL_EXPAND_H
#define EXPRESSO_CALENDAR_ICAL_EXPAND_H

#include <libical/ical.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
	EX_ICAL_EXPAND_OK = 0,
	EX_ICAL_EXPAND_TOO_MANY, /* more instances in the range than allowed */
	EX_ICAL_EXPAND_FAILED,   /* out of memory */
} ex_ical_expand_status;

/*
 * Writes into *OUT (free with free()) a VCALENDAR with one component per
 * instance of CALENDAR that overlaps [START, END) (seconds since 1970
 * UTC). Each instance has no RRULE, RDATE, EXDATE or EXRULE, its
 * DATE-TIME values are in UTC, a recurring master's instances carry a
 * RECURRENCE-ID, and overridden instances come from their override. DATE
 * values stay dates. VTIMEZONEs are left out. Floating times are read in
 * FLOATING (NULL: UTC). Returns EX_ICAL_EXPAND_TOO_MANY, with *OUT NULL,
 * when more than MAX_INSTANCES instances overlap the range.
 */
ex_ical_expand_status ex_ical_expand(icalcomponent *calendar, int64_t start, int64_t end, const icaltimezone *floating,
				     size_t max_instances, char **out);

/*
 * Removes from CALENDAR the overrides (components with a RECURRENCE-ID)
 * that neither overlap [START, END) nor replace an instance starting in
 * it, and returns the text of what remains (free with free()), or NULL
 * when out of memory.
 */
char *ex_ical_limit_recurrence_set(icalcomponent *calendar, int64_t start, int64_t end, const icaltimezone *floating);

#endif
