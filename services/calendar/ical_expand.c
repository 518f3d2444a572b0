/*
 * CALDAV:expand and CALDAV:limit-recurrence-set (RFC 4791 sections 9.6.5
 * and 9.6.6) on a parsed calendar object resource. The instances come
 * from ex_ical_foreach_instance_in, so expand returns exactly the
 * instances a time-range query finds, with the same time zones and the
 * same overlap rules.
 */
#include "ical_expand.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ical_object.h"
#include "ical_zone.h"

/* Properties an expanded instance must not carry (RFC 4791 section 9.6.5). */
static const icalproperty_kind recurrence_properties[] = { ICAL_RRULE_PROPERTY, ICAL_RDATE_PROPERTY,
							    ICAL_EXDATE_PROPERTY, ICAL_EXRULE_PROPERTY };

/* Properties moved with each instance of a recurring master. */
static const icalproperty_kind instance_times[] = { ICAL_DTSTART_PROPERTY, ICAL_DTEND_PROPERTY, ICAL_DUE_PROPERTY };

/* Returns the text of COMPONENT in memory of its own (free with free()), or NULL. */
static char *component_text(icalcomponent *component)
{
	char *buffer = icalcomponent_as_ical_string_r(component);
	if (buffer == NULL)
		return NULL;
	char *text = strdup(buffer);
	icalmemory_free_buffer(buffer);
	return text;
}

/* Returns the EX_ICAL_COMPONENT_* bit of the first VEVENT, VTODO or VJOURNAL of CALENDAR, or 0. */
static unsigned object_kind(icalcomponent *calendar)
{
	for (icalcomponent *c = icalcomponent_get_first_component(calendar, ICAL_ANY_COMPONENT); c != NULL;
	     c = icalcomponent_get_next_component(calendar, ICAL_ANY_COMPONENT)) {
		unsigned bit = ex_ical_component_from_name(icalcomponent_kind_to_string(icalcomponent_isa(c)));
		if (bit != 0)
			return bit;
	}
	return 0;
}

/* Reads the DATE or DATE-TIME of PROPERTY as UTC seconds. Returns false when it has no such value. */
static bool property_seconds(icalcomponent *calendar, icalproperty *property, const icaltimezone *floating,
			     int64_t *seconds, bool *is_date)
{
	icalvalue *value = property != NULL ? icalproperty_get_value(property) : NULL;
	if (value == NULL || (icalvalue_isa(value) != ICAL_DATETIME_VALUE && icalvalue_isa(value) != ICAL_DATE_VALUE))
		return false;
	struct icaltimetype time = icalvalue_get_datetime(value);
	if (icaltime_is_null_time(time))
		return false;
	*seconds = ex_ical_time_to_utc(time, ex_ical_property_zone(calendar, property), floating);
	*is_date = time.is_date != 0;
	return true;
}

/* Sets PROPERTY to SECONDS: a UTC DATE-TIME, or with IS_DATE the DATE of that moment in FLOATING. Drops its TZID. */
static void set_time(icalproperty *property, int64_t seconds, bool is_date, const icaltimezone *floating)
{
	const icaltimezone *utc = icaltimezone_get_utc_timezone();
	struct icaltimetype time = icaltime_from_timet_with_zone((time_t)seconds, is_date ? 1 : 0,
								 is_date && floating != NULL ? floating : utc);

	icalproperty_remove_parameter_by_kind(property, ICAL_TZID_PARAMETER);
	icalproperty_set_value(property, is_date ? icalvalue_new_date(time) : icalvalue_new_datetime(time));
}

static void remove_properties(icalcomponent *component, icalproperty_kind kind)
{
	icalproperty *property;
	while ((property = icalcomponent_get_first_property(component, kind)) != NULL) {
		icalcomponent_remove_property(component, property);
		icalproperty_free(property);
	}
}

/* Rewrites every DATE-TIME property of INSTANCE in UTC. DATE values stay as they are. */
static void convert_to_utc(icalcomponent *calendar, icalcomponent *instance, const icaltimezone *floating)
{
	for (icalproperty *property = icalcomponent_get_first_property(instance, ICAL_ANY_PROPERTY); property != NULL;
	     property = icalcomponent_get_next_property(instance, ICAL_ANY_PROPERTY)) {
		int64_t seconds;
		bool is_date;
		if (property_seconds(calendar, property, floating, &seconds, &is_date) && !is_date)
			set_time(property, seconds, false, floating);
	}
}

/* The state of one expansion. */
typedef struct {
	icalcomponent *calendar; /* the stored object */
	icalcomponent *out;      /* the VCALENDAR being built */
	const icaltimezone *floating;
	size_t count;
	size_t max_instances;
	bool too_many;
	bool failed;
} expansion_output;

/*
 * Moves the times of INSTANCE, a copy of a master component, to the
 * instance starting at START: each of DTSTART, DTEND and DUE keeps its
 * distance from the master's first start (DTSTART, else DUE).
 */
static void move_instance(expansion_output *run, icalcomponent *instance, int64_t start, bool recurring)
{
	int64_t reference;
	bool reference_is_date;
	icalproperty *first = icalcomponent_get_first_property(instance, ICAL_DTSTART_PROPERTY);
	if (first == NULL)
		first = icalcomponent_get_first_property(instance, ICAL_DUE_PROPERTY);
	if (!property_seconds(run->calendar, first, run->floating, &reference, &reference_is_date))
		return;

	for (size_t i = 0; i < sizeof(instance_times) / sizeof(instance_times[0]); i++) {
		icalproperty *property = icalcomponent_get_first_property(instance, instance_times[i]);
		int64_t seconds;
		bool is_date;
		if (property_seconds(run->calendar, property, run->floating, &seconds, &is_date))
			set_time(property, start + (seconds - reference), is_date, run->floating);
	}
	if (recurring) {
		icalproperty *recurrence_id = icalproperty_new_recurrenceid(icaltime_null_time());
		set_time(recurrence_id, start, reference_is_date, run->floating);
		icalcomponent_add_property(instance, recurrence_id);
	}
}

static bool add_instance(void *context, icalcomponent *component, int64_t start, int64_t end)
{
	expansion_output *run = context;
	(void)end;

	if (run->count == run->max_instances) {
		run->too_many = true;
		return false;
	}
	icalcomponent *instance = icalcomponent_new_clone(component);
	if (instance == NULL) {
		run->failed = true;
		return false;
	}
	/* COMPONENT's own property iterator is in use by the expansion, so only the copy is read. */
	bool override = icalcomponent_get_first_property(instance, ICAL_RECURRENCEID_PROPERTY) != NULL;
	bool recurring = icalcomponent_get_first_property(instance, ICAL_RRULE_PROPERTY) != NULL ||
			 icalcomponent_get_first_property(instance, ICAL_RDATE_PROPERTY) != NULL;
	for (size_t i = 0; i < sizeof(recurrence_properties) / sizeof(recurrence_properties[0]); i++)
		remove_properties(instance, recurrence_properties[i]);

	/* An undated component (start EX_ICAL_TIME_MIN) and an override keep their own times. */
	if (!override && start != EX_ICAL_TIME_MIN)
		move_instance(run, instance, start, recurring);
	convert_to_utc(run->calendar, instance, run->floating);
	icalcomponent_add_component(run->out, instance);
	run->count++;
	return true;
}

ex_ical_expand_status ex_ical_expand(icalcomponent *calendar, int64_t start, int64_t end, const icaltimezone *floating,
				     size_t max_instances, char **out)
{
	expansion_output run = { .calendar = calendar, .floating = floating, .max_instances = max_instances };

	*out = NULL;
	run.out = icalcomponent_new_vcalendar();
	if (run.out == NULL)
		return EX_ICAL_EXPAND_FAILED;
	for (icalproperty *property = icalcomponent_get_first_property(calendar, ICAL_ANY_PROPERTY); property != NULL;
	     property = icalcomponent_get_next_property(calendar, ICAL_ANY_PROPERTY))
		icalcomponent_add_property(run.out, icalproperty_new_clone(property));

	unsigned kind = object_kind(calendar);
	if (kind != 0)
		ex_ical_foreach_instance_in(calendar, kind, start, end, floating, add_instance, &run);
	if (!run.too_many && !run.failed)
		*out = component_text(run.out);
	icalcomponent_free(run.out);
	if (run.too_many)
		return EX_ICAL_EXPAND_TOO_MANY;
	return *out != NULL ? EX_ICAL_EXPAND_OK : EX_ICAL_EXPAND_FAILED;
}

/* Returns true when OVERRIDE replaces an instance starting in [START, END) or its own times overlap that range. */
static bool override_touches(icalcomponent *calendar, icalcomponent *override, int64_t start, int64_t end,
			     const icaltimezone *floating)
{
	int64_t recurrence_id;
	bool is_date;

	if (property_seconds(calendar, icalcomponent_get_first_property(override, ICAL_RECURRENCEID_PROPERTY), floating,
			     &recurrence_id, &is_date) &&
	    recurrence_id >= start && recurrence_id < end)
		return true;
	/* The override's own instance, tested by the same rules as a time-range query. */
	unsigned kind = ex_ical_component_from_name(icalcomponent_kind_to_string(icalcomponent_isa(override)));
	icalcomponent *alone = icalcomponent_new_vcalendar();
	if (alone == NULL)
		return true;
	icalcomponent *copy = icalcomponent_new_clone(override);
	icalcomponent_add_component(alone, copy);
	for (icalcomponent *zone = icalcomponent_get_first_component(calendar, ICAL_VTIMEZONE_COMPONENT); zone != NULL;
	     zone = icalcomponent_get_next_component(calendar, ICAL_VTIMEZONE_COMPONENT))
		icalcomponent_add_component(alone, icalcomponent_new_clone(zone));
	bool touches = ex_ical_overlaps_in(alone, kind, start, end, floating);
	icalcomponent_free(alone);
	return touches;
}

char *ex_ical_limit_recurrence_set(icalcomponent *calendar, int64_t start, int64_t end, const icaltimezone *floating)
{
	int count = icalcomponent_count_components(calendar, ICAL_ANY_COMPONENT);
	icalcomponent **dropped = calloc((size_t)count + 1, sizeof(icalcomponent *));
	size_t dropped_count = 0;
	if (dropped == NULL)
		return NULL;

	/* Removing a component while iterating would move libical's iterator, so the overrides are listed first. */
	for (icalcomponent *c = icalcomponent_get_first_component(calendar, ICAL_ANY_COMPONENT);
	     c != NULL && dropped_count < (size_t)count; c = icalcomponent_get_next_component(calendar, ICAL_ANY_COMPONENT)) {
		if (icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY) != NULL &&
		    !override_touches(calendar, c, start, end, floating))
			dropped[dropped_count++] = c;
	}
	for (size_t i = 0; i < dropped_count; i++) {
		icalcomponent_remove_component(calendar, dropped[i]);
		icalcomponent_free(dropped[i]);
	}
	free(dropped);
	return component_text(calendar);
}
