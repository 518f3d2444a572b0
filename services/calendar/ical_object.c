/*
 * Checks of calendar object resources and recurrence expansion on
 * libical. libical's parser is lenient: it keeps going past bad lines and
 * records them as X-LIC-ERROR properties. This module rejects what CalDAV
 * forbids: several UIDs or component types in one resource, no component
 * at all, or a component type the collection does not take. It also
 * rejects errors that would make the times wrong, such as an unreadable
 * DTSTART, DTEND, DUE, DURATION, RRULE or RECURRENCE-ID. It accepts the
 * rest as sent, because real clients send many small deviations.
 */
#include "ical_object.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ical_zone.h"

enum { DAY_SECONDS = 86400 };

static const struct {
	unsigned bit;
	const char *name;
	icalcomponent_kind kind;
} component_types[] = {
	{ EX_ICAL_COMPONENT_VEVENT, "VEVENT", ICAL_VEVENT_COMPONENT },
	{ EX_ICAL_COMPONENT_VTODO, "VTODO", ICAL_VTODO_COMPONENT },
	{ EX_ICAL_COMPONENT_VJOURNAL, "VJOURNAL", ICAL_VJOURNAL_COMPONENT },
};

const char *ex_ical_component_name(unsigned component)
{
	for (size_t i = 0; i < sizeof(component_types) / sizeof(component_types[0]); i++) {
		if (component_types[i].bit == component)
			return component_types[i].name;
	}
	return NULL;
}

unsigned ex_ical_component_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(component_types) / sizeof(component_types[0]); i++) {
		if (strcasecmp(component_types[i].name, name) == 0)
			return component_types[i].bit;
	}
	return 0;
}

static unsigned component_bit(icalcomponent_kind kind)
{
	for (size_t i = 0; i < sizeof(component_types) / sizeof(component_types[0]); i++) {
		if (component_types[i].kind == kind)
			return component_types[i].bit;
	}
	return 0;
}

static icalcomponent_kind component_kind(unsigned bit)
{
	for (size_t i = 0; i < sizeof(component_types) / sizeof(component_types[0]); i++) {
		if (component_types[i].bit == bit)
			return component_types[i].kind;
	}
	return ICAL_NO_COMPONENT;
}

int64_t ex_ical_time_to_utc(struct icaltimetype t, const icaltimezone *zone, const icaltimezone *floating)
{
	if (t.is_date) {
		t.is_date = 0;
		t.hour = 0;
		t.minute = 0;
		t.second = 0;
	}
	if (zone == NULL)
		zone = floating;
	if (icaltime_is_utc(t) || zone == NULL)
		zone = icaltimezone_get_utc_timezone();
	t.zone = NULL;
	return (int64_t)icaltime_as_timet_with_zone(t, zone);
}

/* Reads the DATE or DATE-TIME value of the first property KIND of COMPONENT with its zone. */
static bool read_time(icalcomponent *calendar, icalcomponent *component, icalproperty_kind kind,
		      struct icaltimetype *time, const icaltimezone **zone)
{
	icalproperty *property = icalcomponent_get_first_property(component, kind);
	if (property == NULL)
		return false;
	icalvalue *value = icalproperty_get_value(property);
	if (value == NULL)
		return false;
	icalvalue_kind value_kind = icalvalue_isa(value);
	if (value_kind != ICAL_DATETIME_VALUE && value_kind != ICAL_DATE_VALUE)
		return false;
	*time = icalvalue_get_datetime(value);
	if (icaltime_is_null_time(*time) || !icaltime_is_valid_time(*time))
		return false;
	*zone = ex_ical_property_zone(calendar, property);
	return true;
}

/* The span of a component as written: start, length in seconds, and whether it has a start at all. */
typedef struct {
	bool dated;
	struct icaltimetype start;
	const icaltimezone *zone;
	int64_t length;
} component_span;

static int64_t duration_seconds(icalcomponent *component)
{
	icalproperty *property = icalcomponent_get_first_property(component, ICAL_DURATION_PROPERTY);
	if (property == NULL)
		return -1;
	struct icaldurationtype duration = icalproperty_get_duration(property);
	int64_t seconds = (int64_t)icaldurationtype_as_int(duration);
	return seconds >= 0 ? seconds : 0;
}

static component_span read_span(icalcomponent *calendar, icalcomponent *component, const icaltimezone *floating)
{
	component_span span = { 0 };
	struct icaltimetype end;
	const icaltimezone *end_zone = NULL;
	bool todo = icalcomponent_isa(component) == ICAL_VTODO_COMPONENT;

	if (read_time(calendar, component, ICAL_DTSTART_PROPERTY, &span.start, &span.zone)) {
		span.dated = true;
		int64_t duration = duration_seconds(component);
		if (read_time(calendar, component, todo ? ICAL_DUE_PROPERTY : ICAL_DTEND_PROPERTY, &end, &end_zone))
			span.length = ex_ical_time_to_utc(end, end_zone, floating) - ex_ical_time_to_utc(span.start, span.zone, floating);
		else if (duration >= 0)
			span.length = duration;
		else if (span.start.is_date && icalcomponent_isa(component) == ICAL_VEVENT_COMPONENT)
			span.length = DAY_SECONDS;
		if (span.length < 0)
			span.length = 0;
	} else if (todo && read_time(calendar, component, ICAL_DUE_PROPERTY, &span.start, &span.zone)) {
		/* A VTODO with DUE and no DTSTART: the instance is the moment it is due. */
		span.dated = true;
	}
	return span;
}

/* Returns true when RRULE has neither COUNT nor UNTIL, so the series never ends. */
static bool rule_is_infinite(icalproperty *rule_property)
{
	struct icalrecurrencetype rule = icalproperty_get_rrule(rule_property);
	return rule.count == 0 && icaltime_is_null_time(rule.until);
}

static bool time_in_list(int64_t value, const int64_t *list, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (list[i] == value)
			return true;
	}
	return false;
}

/* The instances of one master component being expanded. */
typedef struct {
	int64_t range_start;
	int64_t range_end;
	const icaltimezone *floating; /* zone of floating times, NULL for UTC */
	int64_t *excluded; /* EXDATEs and overridden RECURRENCE-IDs, UTC seconds */
	size_t excluded_count;
	ex_ical_instance_visitor visit;
	void *context;
	bool stopped;
	bool skip_infinite_rules; /* computing bounds: an endless rule makes the end unbounded anyway */
	bool truncated;           /* a rule had more than EX_ICAL_MAX_INSTANCES instances */
} expansion;

/* Visits one instance starting at START when it is not excluded and may overlap the range. */
static void offer_instance(expansion *run, icalcomponent *component, int64_t start, int64_t length)
{
	if (run->stopped || time_in_list(start, run->excluded, run->excluded_count))
		return;
	int64_t end = start + length;
	if (start >= run->range_end || (end < run->range_start) || (length > 0 && end == run->range_start))
		return;
	if (!run->visit(run->context, component, start, end))
		run->stopped = true;
}

/* Collects EXDATEs of MASTER and the RECURRENCE-IDs of overrides of KIND into RUN->excluded. */
static int collect_exclusions(icalcomponent *calendar, icalcomponent *master, icalcomponent_kind kind, expansion *run)
{
	size_t capacity = (size_t)icalcomponent_count_properties(master, ICAL_EXDATE_PROPERTY) +
			  (size_t)icalcomponent_count_components(calendar, kind) + 1;
	run->excluded = calloc(capacity, sizeof(*run->excluded));
	if (run->excluded == NULL)
		return -1;
	for (icalproperty *exdate = icalcomponent_get_first_property(master, ICAL_EXDATE_PROPERTY); exdate != NULL;
	     exdate = icalcomponent_get_next_property(master, ICAL_EXDATE_PROPERTY)) {
		struct icaltimetype time = icalproperty_get_exdate(exdate);
		if (!icaltime_is_null_time(time) && run->excluded_count < capacity)
			run->excluded[run->excluded_count++] = ex_ical_time_to_utc(time, ex_ical_property_zone(calendar, exdate), run->floating);
	}
	for (icalcomponent *other = icalcomponent_get_first_component(calendar, kind); other != NULL;
	     other = icalcomponent_get_next_component(calendar, kind)) {
		struct icaltimetype recurrence_id;
		const icaltimezone *zone = NULL;
		if (read_time(calendar, other, ICAL_RECURRENCEID_PROPERTY, &recurrence_id, &zone) &&
		    run->excluded_count < capacity)
			run->excluded[run->excluded_count++] = ex_ical_time_to_utc(recurrence_id, zone, run->floating);
	}
	return 0;
}

static void expand_rule(expansion *run, icalcomponent *master, icalproperty *rule_property, const component_span *span,
			int64_t first)
{
	struct icalrecurrencetype rule = icalproperty_get_rrule(rule_property);
	if (run->skip_infinite_rules && rule_is_infinite(rule_property))
		return;
	icalrecur_iterator *iterator = icalrecur_iterator_new(rule, span->start);
	if (iterator == NULL)
		return;
	/* NOTE: every instance from DTSTART on is visited, so a query far past DTSTART of a dense endless rule costs up to EX_ICAL_MAX_INSTANCES steps. */
	for (int visited = 0; !run->stopped; visited++) {
		if (visited == EX_ICAL_MAX_INSTANCES) {
			run->truncated = true;
			break;
		}
		struct icaltimetype next = icalrecur_iterator_next(iterator);
		if (icaltime_is_null_time(next))
			break;
		int64_t start = ex_ical_time_to_utc(next, span->zone, run->floating);
		if (start >= run->range_end)
			break;
		/* DTSTART is always the first instance and was offered already. */
		if (start != first)
			offer_instance(run, master, start, span->length);
	}
	icalrecur_iterator_free(iterator);
}

static void expand_rdates(icalcomponent *calendar, expansion *run, icalcomponent *master, const component_span *span,
			  int64_t first)
{
	for (icalproperty *rdate = icalcomponent_get_first_property(master, ICAL_RDATE_PROPERTY);
	     rdate != NULL && !run->stopped; rdate = icalcomponent_get_next_property(master, ICAL_RDATE_PROPERTY)) {
		struct icaldatetimeperiodtype value = icalproperty_get_rdate(rdate);
		const icaltimezone *zone = ex_ical_property_zone(calendar, rdate);
		if (!icaltime_is_null_time(value.period.start)) {
			int64_t start = ex_ical_time_to_utc(value.period.start, zone, run->floating);
			int64_t end = icaltime_is_null_time(value.period.end)
					      ? start + (int64_t)icaldurationtype_as_int(value.period.duration)
					      : ex_ical_time_to_utc(value.period.end, zone, run->floating);
			if (start != first)
				offer_instance(run, master, start, end > start ? end - start : 0);
		} else if (!icaltime_is_null_time(value.time)) {
			int64_t start = ex_ical_time_to_utc(value.time, zone, run->floating);
			if (start != first)
				offer_instance(run, master, start, span->length);
		}
	}
}

static void expand_master(icalcomponent *calendar, icalcomponent *master, expansion *run)
{
	component_span span = read_span(calendar, master, run->floating);

	if (!span.dated) {
		/* A component without any date (an undated VTODO or VJOURNAL) matches every range. */
		if (!run->visit(run->context, master, EX_ICAL_TIME_MIN, EX_ICAL_TIME_MAX))
			run->stopped = true;
		return;
	}
	int64_t first = ex_ical_time_to_utc(span.start, span.zone, run->floating);
	offer_instance(run, master, first, span.length);
	for (icalproperty *rule = icalcomponent_get_first_property(master, ICAL_RRULE_PROPERTY);
	     rule != NULL && !run->stopped; rule = icalcomponent_get_next_property(master, ICAL_RRULE_PROPERTY))
		expand_rule(run, master, rule, &span, first);
	expand_rdates(calendar, run, master, &span, first);
}

/* Expands the components of KIND; with BOUNDS, endless rules are skipped. Returns true when a rule was truncated. */
static bool expand_all(icalcomponent *calendar, unsigned kind, int64_t start, int64_t end, const icaltimezone *floating,
		       ex_ical_instance_visitor visit, void *context, bool bounds)
{
	bool truncated = false;
	icalcomponent_kind requested = component_kind(kind);
	/* Nested iteration over the same kind would reset libical's internal iterator, so the components are listed first. */
	int count = icalcomponent_count_components(calendar, requested);
	icalcomponent **components = calloc((size_t)count + 1, sizeof(icalcomponent *));
	if (components == NULL)
		return false;
	int listed = 0;
	for (icalcomponent *c = icalcomponent_get_first_component(calendar, requested); c != NULL && listed < count;
	     c = icalcomponent_get_next_component(calendar, requested))
		components[listed++] = c;

	bool stopped = false;
	for (int i = 0; i < listed && !stopped; i++) {
		expansion run = { .range_start = start, .range_end = end, .floating = floating, .visit = visit,
				  .context = context, .skip_infinite_rules = bounds };
		struct icaltimetype recurrence_id;
		const icaltimezone *zone = NULL;
		if (read_time(calendar, components[i], ICAL_RECURRENCEID_PROPERTY, &recurrence_id, &zone)) {
			/* An override is one instance of its own, with its own times. */
			component_span span = read_span(calendar, components[i], floating);
			if (span.dated)
				offer_instance(&run, components[i], ex_ical_time_to_utc(span.start, span.zone, floating), span.length);
			else
				offer_instance(&run, components[i], ex_ical_time_to_utc(recurrence_id, zone, floating), 0);
		} else if (collect_exclusions(calendar, components[i], requested, &run) == 0) {
			expand_master(calendar, components[i], &run);
		}
		free(run.excluded);
		stopped = run.stopped;
		truncated |= run.truncated;
	}
	free(components);
	return truncated;
}

void ex_ical_foreach_instance(icalcomponent *calendar, unsigned kind, int64_t start, int64_t end,
			      ex_ical_instance_visitor visit, void *context)
{
	expand_all(calendar, kind, start, end, NULL, visit, context, false);
}

void ex_ical_foreach_instance_in(icalcomponent *calendar, unsigned kind, int64_t start, int64_t end,
				 const icaltimezone *floating, ex_ical_instance_visitor visit, void *context)
{
	expand_all(calendar, kind, start, end, floating, visit, context, false);
}

static bool note_overlap(void *context, icalcomponent *component, int64_t start, int64_t end)
{
	(void)component;
	(void)start;
	(void)end;
	*(bool *)context = true;
	return false;
}

bool ex_ical_overlaps(icalcomponent *calendar, unsigned kind, int64_t start, int64_t end)
{
	return ex_ical_overlaps_in(calendar, kind, start, end, NULL);
}

bool ex_ical_overlaps_in(icalcomponent *calendar, unsigned kind, int64_t start, int64_t end, const icaltimezone *floating)
{
	bool found = false;
	expand_all(calendar, kind, start, end, floating, note_overlap, &found, false);
	return found;
}

/* Widens the bounds of OBJECT to cover one instance. */
static bool note_bounds(void *context, icalcomponent *component, int64_t start, int64_t end)
{
	ex_ical_object *object = context;
	(void)component;
	if (start < object->first_start)
		object->first_start = start;
	if (end > object->last_end)
		object->last_end = end;
	return true;
}

/* Computes first_start and last_end; a series without an end is unbounded. */
static void compute_bounds(ex_ical_object *object)
{
	icalcomponent_kind kind = component_kind(object->component);

	object->first_start = EX_ICAL_TIME_MAX;
	object->last_end = EX_ICAL_TIME_MIN;
	bool truncated = expand_all(object->calendar, object->component, EX_ICAL_TIME_MIN, EX_ICAL_TIME_MAX, NULL,
				    note_bounds, object, true);
	if (truncated)
		object->last_end = EX_ICAL_TIME_MAX;
	for (icalcomponent *c = icalcomponent_get_first_component(object->calendar, kind); c != NULL;
	     c = icalcomponent_get_next_component(object->calendar, kind)) {
		for (icalproperty *rule = icalcomponent_get_first_property(c, ICAL_RRULE_PROPERTY); rule != NULL;
		     rule = icalcomponent_get_next_property(c, ICAL_RRULE_PROPERTY)) {
			if (rule_is_infinite(rule))
				object->last_end = EX_ICAL_TIME_MAX;
		}
	}
	if (object->first_start == EX_ICAL_TIME_MAX)
		object->first_start = EX_ICAL_TIME_MIN;
	if (object->last_end == EX_ICAL_TIME_MIN)
		object->last_end = EX_ICAL_TIME_MAX;
}

/* Returns true when the fields of T form a real date and time; libical keeps "20261340T250000" as read. */
static bool time_is_real(struct icaltimetype t)
{
	if (t.year < 1 || t.year > 9999 || t.month < 1 || t.month > 12 || t.day < 1 ||
	    t.day > icaltime_days_in_month(t.month, t.year))
		return false;
	return t.is_date || (t.hour >= 0 && t.hour <= 23 && t.minute >= 0 && t.minute <= 59 && t.second >= 0 && t.second <= 60);
}

/* Returns the name of a time property that libical could not read in COMPONENT, or NULL. */
static const char *unreadable_time_property(icalcomponent *component)
{
	static const icalproperty_kind dated[] = { ICAL_DTSTART_PROPERTY, ICAL_DTEND_PROPERTY, ICAL_DUE_PROPERTY,
						   ICAL_RECURRENCEID_PROPERTY };
	for (size_t i = 0; i < sizeof(dated) / sizeof(dated[0]); i++) {
		icalproperty *property = icalcomponent_get_first_property(component, dated[i]);
		icalvalue *value = property ? icalproperty_get_value(property) : NULL;
		if (value != NULL && (icalvalue_isa(value) == ICAL_DATETIME_VALUE || icalvalue_isa(value) == ICAL_DATE_VALUE) &&
		    !time_is_real(icalvalue_get_datetime(value)))
			return icalproperty_kind_to_string(dated[i]);
	}
	static const char *const names[] = { "DTSTART", "DTEND", "DUE", "DURATION", "RRULE", "RECURRENCE-ID", "EXDATE", "RDATE" };
	for (icalproperty *error = icalcomponent_get_first_property(component, ICAL_XLICERROR_PROPERTY); error != NULL;
	     error = icalcomponent_get_next_property(component, ICAL_XLICERROR_PROPERTY)) {
		const char *text = icalproperty_get_xlicerror(error);
		for (size_t i = 0; text != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
			char needle[32];
			snprintf(needle, sizeof(needle), " %s property", names[i]);
			if (strstr(text, needle) != NULL)
				return names[i];
		}
	}
	return NULL;
}

/* Checks the components of a parsed VCALENDAR and fills the component type and UID of OBJECT. */
static ex_ical_status check_components(ex_ical_object *object, unsigned allowed, char *err, size_t errlen)
{
	unsigned seen = 0;
	int count = 0;

	for (icalcomponent *c = icalcomponent_get_first_component(object->calendar, ICAL_ANY_COMPONENT); c != NULL;
	     c = icalcomponent_get_next_component(object->calendar, ICAL_ANY_COMPONENT)) {
		icalcomponent_kind kind = icalcomponent_isa(c);
		if (kind == ICAL_VTIMEZONE_COMPONENT || kind == ICAL_X_COMPONENT)
			continue;
		unsigned bit = component_bit(kind);
		if (bit == 0 || (allowed & bit) == 0) {
			snprintf(err, errlen, "this calendar does not take %s components", icalcomponent_kind_to_string(kind));
			return EX_ICAL_UNSUPPORTED_COMPONENT;
		}
		if (++count > EX_ICAL_MAX_COMPONENTS) {
			snprintf(err, errlen, "the resource has more than %d components", EX_ICAL_MAX_COMPONENTS);
			return EX_ICAL_INVALID_OBJECT;
		}
		seen |= bit;
		const char *broken = unreadable_time_property(c);
		if (broken != NULL) {
			snprintf(err, errlen, "the %s property of a %s could not be read", broken,
				 icalcomponent_kind_to_string(kind));
			return EX_ICAL_INVALID_DATA;
		}
		const char *uid = icalcomponent_get_uid(c);
		if (uid != NULL && uid[0] == '\0')
			uid = NULL;
		if (count == 1) {
			object->uid = uid;
		} else if ((uid == NULL) != (object->uid == NULL) || (uid != NULL && strcmp(uid, object->uid) != 0)) {
			snprintf(err, errlen, "a calendar object resource holds the components of one UID; store each UID "
					      "in a resource of its own");
			return EX_ICAL_INVALID_OBJECT;
		}
	}
	if (count == 0) {
		snprintf(err, errlen, "the VCALENDAR has no VEVENT, VTODO or VJOURNAL");
		return EX_ICAL_INVALID_OBJECT;
	}
	if ((seen & (seen - 1)) != 0) {
		snprintf(err, errlen, "a calendar object resource holds components of one type only (RFC 4791 section 4.1)");
		return EX_ICAL_INVALID_OBJECT;
	}
	if (object->uid != NULL && strlen(object->uid) > EX_ICAL_MAX_UID) {
		snprintf(err, errlen, "the UID is longer than %d bytes", EX_ICAL_MAX_UID);
		return EX_ICAL_INVALID_OBJECT;
	}
	object->component = seen;
	return EX_ICAL_OK;
}

/* Returns true when TEXT (after an optional BOM) begins with BEGIN:VCALENDAR and ends with END:VCALENDAR. */
static bool has_vcalendar_frame(const char *text, size_t length)
{
	static const char begin[] = "BEGIN:VCALENDAR";
	static const char end[] = "END:VCALENDAR";

	while (length > 0 && (text[length - 1] == '\r' || text[length - 1] == '\n' || text[length - 1] == ' '))
		length--;
	return length >= sizeof(begin) + sizeof(end) && strncasecmp(text, begin, sizeof(begin) - 1) == 0 &&
	       (text[sizeof(begin) - 1] == '\r' || text[sizeof(begin) - 1] == '\n') &&
	       strncasecmp(text + length - (sizeof(end) - 1), end, sizeof(end) - 1) == 0;
}

ex_ical_status ex_ical_object_parse(const char *data, size_t length, unsigned allowed, ex_ical_object *out, char *err,
				    size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (length >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
		data += 3;
		length -= 3;
	}
	if (memchr(data, '\0', length) != NULL) {
		snprintf(err, errlen, "the body contains a NUL byte");
		return EX_ICAL_INVALID_DATA;
	}
	if (!has_vcalendar_frame(data, length)) {
		snprintf(err, errlen, "the body must be one BEGIN:VCALENDAR ... END:VCALENDAR object");
		return EX_ICAL_INVALID_DATA;
	}
	char *text = malloc(length + 1);
	if (text == NULL) {
		snprintf(err, errlen, "out of memory");
		return EX_ICAL_INVALID_DATA;
	}
	memcpy(text, data, length);
	text[length] = '\0';
	out->calendar = icalparser_parse_string(text);
	free(text);
	if (out->calendar == NULL || icalcomponent_isa(out->calendar) != ICAL_VCALENDAR_COMPONENT) {
		snprintf(err, errlen, "the body is not one iCalendar VCALENDAR object");
		ex_ical_object_free(out);
		return EX_ICAL_INVALID_DATA;
	}
	ex_ical_status status = check_components(out, allowed, err, errlen);
	if (status != EX_ICAL_OK) {
		ex_ical_object_free(out);
		return status;
	}
	compute_bounds(out);
	return EX_ICAL_OK;
}

icalcomponent *ex_ical_parse_stored(const char *data)
{
	if (strncmp(data, "\xEF\xBB\xBF", 3) == 0)
		data += 3;
	icalcomponent *calendar = icalparser_parse_string(data);
	if (calendar != NULL && icalcomponent_isa(calendar) != ICAL_VCALENDAR_COMPONENT) {
		icalcomponent_free(calendar);
		return NULL;
	}
	return calendar;
}

void ex_ical_object_free(ex_ical_object *object)
{
	if (object->calendar != NULL)
		icalcomponent_free(object->calendar);
	memset(object, 0, sizeof(*object));
}

int ex_ical_parse_utc(const char *text, int64_t *seconds)
{
	size_t length = strlen(text);
	if (length != 16 || text[8] != 'T' || text[15] != 'Z')
		return -1;
	for (size_t i = 0; i < 15; i++) {
		if (i != 8 && (text[i] < '0' || text[i] > '9'))
			return -1;
	}
	struct icaltimetype time = icaltime_from_string(text);
	if (icaltime_is_null_time(time) || !icaltime_is_valid_time(time) || !icaltime_is_utc(time))
		return -1;
	if (time.month < 1 || time.month > 12 || time.day < 1 || time.day > icaltime_days_in_month(time.month, time.year) ||
	    time.hour > 23 || time.minute > 59 || time.second > 60)
		return -1;
	*seconds = ex_ical_time_to_utc(time, NULL, NULL);
	return 0;
}

void ex_ical_format_utc(int64_t seconds, char *out, size_t size)
{
	struct icaltimetype time = icaltime_from_timet_with_zone((time_t)seconds, 0, icaltimezone_get_utc_timezone());
	snprintf(out, size, "%04d%02d%02dT%02d%02d%02dZ", time.year, time.month, time.day, time.hour, time.minute,
		 time.second);
}

/* Returns a zone of its own built from VTIMEZONE, or from the system tz data when VTIMEZONE has no observance. */
static icaltimezone *zone_from_component(icalcomponent *vtimezone)
{
	icalcomponent *source = vtimezone;
	bool observed = icalcomponent_get_first_component(vtimezone, ICAL_XSTANDARD_COMPONENT) != NULL ||
			icalcomponent_get_first_component(vtimezone, ICAL_XDAYLIGHT_COMPONENT) != NULL;
	if (!observed) {
		/* Some clients send only the TZID: look its name up as ical_zone.c does for a property. */
		icalproperty *tzid = icalcomponent_get_first_property(vtimezone, ICAL_TZID_PROPERTY);
		const char *name = tzid != NULL ? icalproperty_get_tzid(tzid) : NULL;
		const char *iana = name != NULL ? ex_ical_windows_zone(name) : NULL;
		icaltimezone *builtin = name != NULL ? icaltimezone_get_builtin_timezone(iana != NULL ? iana : name) : NULL;
		source = builtin != NULL ? icaltimezone_get_component(builtin) : NULL;
		if (source == NULL)
			return NULL;
	}

	icaltimezone *zone = icaltimezone_new();
	icalcomponent *copy = icalcomponent_new_clone(source);
	if (zone == NULL || copy == NULL || !icaltimezone_set_component(zone, copy)) {
		if (copy != NULL)
			icalcomponent_free(copy);
		if (zone != NULL)
			icaltimezone_free(zone, 1);
		return NULL;
	}
	return zone;
}

icaltimezone *ex_ical_calendar_timezone(const char *text)
{
	if (text == NULL || text[0] == '\0')
		return NULL;
	icalcomponent *calendar = ex_ical_parse_stored(text);
	if (calendar == NULL)
		return NULL;
	icalcomponent *vtimezone = icalcomponent_get_first_component(calendar, ICAL_VTIMEZONE_COMPONENT);
	icaltimezone *zone = vtimezone != NULL ? zone_from_component(vtimezone) : NULL;
	icalcomponent_free(calendar);
	return zone;
}
