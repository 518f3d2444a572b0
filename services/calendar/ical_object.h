/*
 * Calendar object resources (RFC 4791 section 4.1) parsed with libical:
 * the checks a PUT must pass, the UID and component type a resource is
 * stored under, and the time bounds the time-range index keeps.
 *
 * A resource is one VCALENDAR holding components of a single type
 * (VEVENT, VTODO or VJOURNAL) that all share one UID, besides any number
 * of VTIMEZONEs. The stored text is the body as sent; libical's tree is
 * used only to check it and to compute times.
 */
#ifndef EXPRESSO_CALENDAR_ICAL_OBJECT_H
#define EXPRESSO_CALENDAR_ICAL_OBJECT_H

#include <libical/ical.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	EX_ICAL_COMPONENT_VEVENT = 1,
	EX_ICAL_COMPONENT_VTODO = 2,
	EX_ICAL_COMPONENT_VJOURNAL = 4,
	EX_ICAL_COMPONENT_ALL = 7,
	EX_ICAL_MAX_UID = 1024,         /* bytes of a UID */
	EX_ICAL_MAX_COMPONENTS = 1000,  /* components of one resource, overrides included */
	EX_ICAL_MAX_INSTANCES = 100000, /* recurrence instances visited per component */
};

/* Seconds since 1970 (UTC) bounding every instance; the extremes stand for "unbounded". */
#define EX_ICAL_TIME_MIN INT64_MIN
#define EX_ICAL_TIME_MAX INT64_MAX

typedef enum {
	EX_ICAL_OK = 0,
	EX_ICAL_INVALID_DATA,          /* 403 CALDAV:valid-calendar-data */
	EX_ICAL_INVALID_OBJECT,        /* 403 CALDAV:valid-calendar-object-resource */
	EX_ICAL_UNSUPPORTED_COMPONENT, /* 403 CALDAV:supported-calendar-component */
} ex_ical_status;

/*
 * Seconds by which a floating time can move when it is read in a time
 * zone instead of UTC: an iCalendar UTC offset is below 24 hours.
 */
#define EX_ICAL_FLOATING_SHIFT_MAX INT64_C(86400)

/*
 * A parsed calendar object resource. The bounds read floating times as
 * UTC, so a search in a calendar with a CALDAV:calendar-timezone widens
 * its range by EX_ICAL_FLOATING_SHIFT_MAX before comparing with them.
 */
typedef struct {
	icalcomponent *calendar; /* the VCALENDAR, owned */
	unsigned component;      /* one EX_ICAL_COMPONENT_* */
	const char *uid;         /* points into CALENDAR; NULL when no component has a UID */
	int64_t first_start;     /* start of the earliest instance, or EX_ICAL_TIME_MIN */
	int64_t last_end;        /* end of the latest instance, or EX_ICAL_TIME_MAX */
} ex_ical_object;

/*
 * Parses and checks DATA (LENGTH bytes, UTF-8, an optional BOM). Only the
 * component types in ALLOWED (EX_ICAL_COMPONENT_* bits) are accepted. On
 * success fills OUT (free with ex_ical_object_free); otherwise ERR holds a
 * sentence naming the problem.
 */
ex_ical_status ex_ical_object_parse(const char *data, size_t length, unsigned allowed, ex_ical_object *out, char *err,
				    size_t errlen);
void ex_ical_object_free(ex_ical_object *object);

/* Parses DATA, stored after ex_ical_object_parse accepted it, into a VCALENDAR (icalcomponent_free), or NULL. */
icalcomponent *ex_ical_parse_stored(const char *data);

/* Returns the component name ("VEVENT", ...) of one EX_ICAL_COMPONENT_* bit, or NULL. */
const char *ex_ical_component_name(unsigned component);

/* Returns the EX_ICAL_COMPONENT_* bit of NAME (case-insensitive), or 0. */
unsigned ex_ical_component_from_name(const char *name);

/*
 * Converts T, read in ZONE, to seconds since 1970 UTC. A floating time or
 * a DATE (ZONE NULL) is read in FLOATING, which is the collection's
 * CALDAV:calendar-timezone (RFC 4791 section 9.9), or in UTC when FLOATING
 * is NULL. A DATE stands for its midnight.
 */
int64_t ex_ical_time_to_utc(struct icaltimetype t, const icaltimezone *zone, const icaltimezone *floating);

/*
 * Calls VISIT for every instance of the components of type KIND in
 * CALENDAR that may overlap [START, END): recurrences expanded with
 * RRULE, RDATE and EXDATE, instances replaced by a RECURRENCE-ID override
 * skipped in favour of the override. START and END are seconds since 1970
 * UTC. VISIT returns false to stop. Floating times are read as UTC.
 */
typedef bool (*ex_ical_instance_visitor)(void *context, icalcomponent *component, int64_t start, int64_t end);
void ex_ical_foreach_instance(icalcomponent *calendar, unsigned kind, int64_t start, int64_t end,
			      ex_ical_instance_visitor visit, void *context);

/* As ex_ical_foreach_instance, with floating times read in FLOATING (NULL: UTC). */
void ex_ical_foreach_instance_in(icalcomponent *calendar, unsigned kind, int64_t start, int64_t end,
				 const icaltimezone *floating, ex_ical_instance_visitor visit, void *context);

/*
 * Returns true when an instance of type KIND overlaps [START, END) by the
 * rules of RFC 4791 section 9.9 (a zero-length instance matches when it
 * starts inside the range, one without any date matches every range).
 * Floating times are read as UTC.
 */
bool ex_ical_overlaps(icalcomponent *calendar, unsigned kind, int64_t start, int64_t end);

/* As ex_ical_overlaps, with floating times read in FLOATING (NULL: UTC). */
bool ex_ical_overlaps_in(icalcomponent *calendar, unsigned kind, int64_t start, int64_t end, const icaltimezone *floating);

/*
 * Builds the time zone of a CALDAV:calendar-timezone value TEXT (a
 * VCALENDAR holding one VTIMEZONE), used as sent. Returns NULL when TEXT
 * is empty or holds no readable VTIMEZONE. Free with
 * icaltimezone_free(zone, 1).
 */
icaltimezone *ex_ical_calendar_timezone(const char *text);

/* Reads an iCalendar UTC DATE-TIME ("20260101T000000Z") into *SECONDS. Returns 0, or -1 when it is not one. */
int ex_ical_parse_utc(const char *text, int64_t *seconds);

/* Writes SECONDS as an iCalendar UTC DATE-TIME into OUT (at least 17 bytes). */
void ex_ical_format_utc(int64_t seconds, char *out, size_t size);

#endif
