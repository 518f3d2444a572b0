/*
 * iTIP messages and scheduling edits on libical trees (calendar_itip.h).
 */
#include "calendar_itip.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ical_object.h"
#include "ical_zone.h"

static const char *const schedule_parameters[] = { "SCHEDULE-AGENT", "SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND" };

int ex_itip_address(const char *calendar_address, char *out, size_t size)
{
	if (calendar_address == NULL || strncasecmp(calendar_address, "mailto:", 7) != 0)
		return -1;
	const char *bare = calendar_address + 7;
	size_t length = strlen(bare);
	if (length < 3 || length >= size || strchr(bare, '@') == NULL)
		return -1;
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)bare[i];
		if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',')
			return -1;
		out[i] = (char)tolower(c);
	}
	out[length] = '\0';
	return 0;
}

static bool is_client_agent(icalproperty *property)
{
	const char *agent = icalproperty_get_parameter_as_string(property, "SCHEDULE-AGENT");
	return agent != NULL && (strcasecmp(agent, "CLIENT") == 0 || strcasecmp(agent, "NONE") == 0);
}

/* Returns the component after CURRENT (NULL: the first) of CALENDAR that is not a VTIMEZONE, or NULL. */
static icalcomponent *next_scheduled(icalcomponent *calendar, icalcomponent *current)
{
	icalcomponent *component = current == NULL ? icalcomponent_get_first_component(calendar, ICAL_ANY_COMPONENT)
						   : icalcomponent_get_next_component(calendar, ICAL_ANY_COMPONENT);
	while (component != NULL && icalcomponent_isa(component) == ICAL_VTIMEZONE_COMPONENT)
		component = icalcomponent_get_next_component(calendar, ICAL_ANY_COMPONENT);
	return component;
}

static void add_attendee(ex_itip_roles *roles, icalproperty *property)
{
	char address[EX_ITIP_MAX_ADDRESS];

	if (ex_itip_address(icalproperty_get_attendee(property), address, sizeof(address)) != 0 ||
	    ex_itip_find_attendee(roles, address) != NULL || roles->attendee_count == EX_ITIP_MAX_ATTENDEES)
		return;
	ex_itip_attendee *attendee = &roles->attendees[roles->attendee_count++];
	memcpy(attendee->address, address, sizeof(address));
	const char *partstat = icalproperty_get_parameter_as_string(property, "PARTSTAT");
	size_t length = partstat ? strlen(partstat) : 0;
	if (length == 0 || length >= sizeof(attendee->partstat))
		partstat = "NEEDS-ACTION";
	for (size_t i = 0; partstat[i] != '\0'; i++)
		attendee->partstat[i] = (char)toupper((unsigned char)partstat[i]);
	attendee->partstat[strlen(partstat)] = '\0';
	attendee->client_agent = is_client_agent(property);
}

void ex_itip_read_roles(icalcomponent *calendar, ex_itip_roles *roles)
{
	memset(roles, 0, sizeof(*roles));
	for (icalcomponent *component = next_scheduled(calendar, NULL); component != NULL;
	     component = next_scheduled(calendar, component)) {
		icalproperty *organizer = icalcomponent_get_first_property(component, ICAL_ORGANIZER_PROPERTY);
		if (organizer != NULL && roles->organizer[0] == '\0' &&
		    ex_itip_address(icalproperty_get_organizer(organizer), roles->organizer, sizeof(roles->organizer)) == 0)
			roles->organizer_client_agent = is_client_agent(organizer);
		const char *summary = icalcomponent_get_summary(component);
		if (summary != NULL && roles->summary[0] == '\0') {
			size_t length = strlen(summary);
			if (length >= sizeof(roles->summary))
				length = sizeof(roles->summary) - 1;
			/* Cut at a UTF-8 character boundary. */
			while (length > 0 && ((unsigned char)summary[length] & 0xC0) == 0x80)
				length--;
			memcpy(roles->summary, summary, length);
			roles->summary[length] = '\0';
		}
		for (icalproperty *p = icalcomponent_get_first_property(component, ICAL_ATTENDEE_PROPERTY); p != NULL;
		     p = icalcomponent_get_next_property(component, ICAL_ATTENDEE_PROPERTY))
			add_attendee(roles, p);
	}
}

const ex_itip_attendee *ex_itip_find_attendee(const ex_itip_roles *roles, const char *address)
{
	for (size_t i = 0; i < roles->attendee_count; i++) {
		if (strcmp(roles->attendees[i].address, address) == 0)
			return &roles->attendees[i];
	}
	return NULL;
}

static void strip_parameters(icalproperty *property)
{
	for (size_t i = 0; i < sizeof(schedule_parameters) / sizeof(schedule_parameters[0]); i++)
		icalproperty_remove_parameter_by_name(property, schedule_parameters[i]);
}

void ex_itip_strip_schedule_parameters(icalcomponent *calendar)
{
	for (icalcomponent *component = next_scheduled(calendar, NULL); component != NULL;
	     component = next_scheduled(calendar, component)) {
		for (icalproperty *p = icalcomponent_get_first_property(component, ICAL_ANY_PROPERTY); p != NULL;
		     p = icalcomponent_get_next_property(component, ICAL_ANY_PROPERTY)) {
			icalproperty_kind kind = icalproperty_isa(p);
			if (kind == ICAL_ATTENDEE_PROPERTY || kind == ICAL_ORGANIZER_PROPERTY)
				strip_parameters(p);
		}
	}
}

/* Removes every property of KIND from COMPONENT but the ATTENDEE KEEP_ATTENDEE (NULL keeps none). */
static void remove_properties(icalcomponent *component, icalproperty_kind kind, const char *keep_attendee)
{
	icalproperty *next;
	for (icalproperty *p = icalcomponent_get_first_property(component, kind); p != NULL; p = next) {
		next = icalcomponent_get_next_property(component, kind);
		char address[EX_ITIP_MAX_ADDRESS];
		bool keep = keep_attendee != NULL &&
			    ex_itip_address(icalproperty_get_attendee(p), address, sizeof(address)) == 0 &&
			    strcmp(address, keep_attendee) == 0;
		if (!keep) {
			icalcomponent_remove_property(component, p);
			icalproperty_free(p);
		}
	}
}

static void remove_alarms(icalcomponent *component)
{
	icalcomponent *next;
	for (icalcomponent *alarm = icalcomponent_get_first_component(component, ICAL_VALARM_COMPONENT); alarm != NULL;
	     alarm = next) {
		next = icalcomponent_get_next_component(component, ICAL_VALARM_COMPONENT);
		icalcomponent_remove_component(component, alarm);
		icalcomponent_free(alarm);
	}
}

void ex_itip_mark_cancelled(icalcomponent *calendar)
{
	for (icalcomponent *component = next_scheduled(calendar, NULL); component != NULL;
	     component = next_scheduled(calendar, component)) {
		icalcomponent_set_status(component, ICAL_STATUS_CANCELLED);
	}
}

char *ex_itip_build(icalcomponent *calendar, icalproperty_method method, const char *replier)
{
	icalcomponent *message = icalcomponent_new_clone(calendar);
	if (message == NULL)
		return NULL;

	icalproperty *old_method = icalcomponent_get_first_property(message, ICAL_METHOD_PROPERTY);
	if (old_method != NULL) {
		icalcomponent_remove_property(message, old_method);
		icalproperty_free(old_method);
	}
	icalcomponent_add_property(message, icalproperty_new_method(method));
	ex_itip_strip_schedule_parameters(message);
	for (icalcomponent *component = next_scheduled(message, NULL); component != NULL;
	     component = next_scheduled(message, component)) {
		remove_alarms(component);
		if (method == ICAL_METHOD_REPLY)
			remove_properties(component, ICAL_ATTENDEE_PROPERTY, replier);
	}
	if (method == ICAL_METHOD_CANCEL)
		ex_itip_mark_cancelled(message);

	char *text = icalcomponent_as_ical_string_r(message);
	icalcomponent_free(message);
	return text;
}

/* Sets PARTSTAT (and SCHEDULE-STATUS when not NULL) of the ATTENDEE ADDRESS in COMPONENT. Returns 1 when it is there. */
static int set_component_partstat(icalcomponent *component, const char *address, const char *partstat,
				  const char *schedule_status)
{
	int changed = 0;
	for (icalproperty *p = icalcomponent_get_first_property(component, ICAL_ATTENDEE_PROPERTY); p != NULL;
	     p = icalcomponent_get_next_property(component, ICAL_ATTENDEE_PROPERTY)) {
		char found[EX_ITIP_MAX_ADDRESS];
		if (ex_itip_address(icalproperty_get_attendee(p), found, sizeof(found)) != 0 || strcmp(found, address) != 0)
			continue;
		icalproperty_set_parameter_from_string(p, "PARTSTAT", partstat);
		if (schedule_status != NULL)
			icalproperty_set_parameter_from_string(p, "SCHEDULE-STATUS", schedule_status);
		changed = 1;
	}
	return changed;
}

int ex_itip_set_partstat(icalcomponent *calendar, const char *address, const char *partstat, const char *schedule_status)
{
	int changed = 0;
	for (icalcomponent *component = next_scheduled(calendar, NULL); component != NULL;
	     component = next_scheduled(calendar, component))
		changed += set_component_partstat(component, address, partstat, schedule_status);
	return changed;
}

/* Returns the PARTSTAT of the ATTENDEE ADDRESS in COMPONENT, or NULL when it is absent or not valid. */
static const char *component_partstat(icalcomponent *component, const char *address)
{
	for (icalproperty *p = icalcomponent_get_first_property(component, ICAL_ATTENDEE_PROPERTY); p != NULL;
	     p = icalcomponent_get_next_property(component, ICAL_ATTENDEE_PROPERTY)) {
		char found[EX_ITIP_MAX_ADDRESS];
		if (ex_itip_address(icalproperty_get_attendee(p), found, sizeof(found)) != 0 || strcmp(found, address) != 0)
			continue;
		const char *partstat = icalproperty_get_parameter_as_string(p, "PARTSTAT");
		if (partstat == NULL)
			partstat = "NEEDS-ACTION"; /* RFC 5545 3.2.12: the default */
		return ex_itip_partstat_is_valid(partstat) ? partstat : NULL;
	}
	return NULL;
}

/* Returns the moment, in seconds since the epoch, that the RECURRENCE-ID PROPERTY of CALENDAR names. */
static int64_t recurrence_seconds(icalcomponent *calendar, icalproperty *property)
{
	return ex_ical_time_to_utc(icalproperty_get_recurrenceid(property), ex_ical_property_zone(calendar, property),
				   NULL);
}

/* Returns the component of CALENDAR of type KIND whose RECURRENCE-ID names the moment SECONDS, or NULL. */
static icalcomponent *find_instance(icalcomponent *calendar, icalcomponent_kind kind, int64_t seconds)
{
	for (icalcomponent *c = icalcomponent_get_first_component(calendar, kind); c != NULL;
	     c = icalcomponent_get_next_component(calendar, kind)) {
		icalproperty *recurrence = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
		if (recurrence != NULL && recurrence_seconds(calendar, recurrence) == seconds)
			return c;
	}
	return NULL;
}

/* Returns the recurring component of CALENDAR of type KIND (RRULE or RDATE, no RECURRENCE-ID), or NULL. */
static icalcomponent *find_recurring_master(icalcomponent *calendar, icalcomponent_kind kind)
{
	for (icalcomponent *c = icalcomponent_get_first_component(calendar, kind); c != NULL;
	     c = icalcomponent_get_next_component(calendar, kind)) {
		if (icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY) == NULL &&
		    (icalcomponent_get_first_property(c, ICAL_RRULE_PROPERTY) != NULL ||
		     icalcomponent_get_first_property(c, ICAL_RDATE_PROPERTY) != NULL))
			return c;
	}
	return NULL;
}

/* Sets the value of the date-time PROPERTY to TIME, with the TZID parameter of ZONE_SOURCE. */
static void set_time(icalproperty *property, struct icaltimetype time, icalproperty *zone_source)
{
	icalproperty_set_value(property, time.is_date ? icalvalue_new_date(time) : icalvalue_new_datetime(time));
	icalproperty_remove_parameter_by_kind(property, ICAL_TZID_PARAMETER);
	icalparameter *zone = icalproperty_get_first_parameter(zone_source, ICAL_TZID_PARAMETER);
	if (zone != NULL)
		icalproperty_add_parameter(property, icalparameter_new_clone(zone));
}

/*
 * Adds to CALENDAR an override of MASTER for the instance that the
 * RECURRENCE-ID property RECURRENCE names: a copy of MASTER without its
 * recurrence rules, starting at that instance and lasting as long.
 */
static icalcomponent *add_override(icalcomponent *calendar, icalcomponent *master, icalproperty *recurrence)
{
	icalcomponent *override = icalcomponent_new_clone(master);
	if (override == NULL)
		return NULL;
	struct icaldurationtype duration = icalcomponent_get_duration(master);
	struct icaltimetype start = icalproperty_get_recurrenceid(recurrence);
	remove_properties(override, ICAL_RRULE_PROPERTY, NULL);
	remove_properties(override, ICAL_RDATE_PROPERTY, NULL);
	remove_properties(override, ICAL_EXDATE_PROPERTY, NULL);
	remove_properties(override, ICAL_EXRULE_PROPERTY, NULL);
	icalcomponent_add_property(override, icalproperty_new_clone(recurrence));

	icalproperty *dtstart = icalcomponent_get_first_property(override, ICAL_DTSTART_PROPERTY);
	if (dtstart != NULL)
		set_time(dtstart, start, recurrence);
	icalproperty *end = icalcomponent_get_first_property(override, ICAL_DTEND_PROPERTY);
	if (end == NULL)
		end = icalcomponent_get_first_property(override, ICAL_DUE_PROPERTY);
	if (end != NULL)
		set_time(end, icaltime_add(start, duration), recurrence);
	icalcomponent_add_component(calendar, override);
	return override;
}

/* Applies the components of REPLY that carry a RECURRENCE-ID (INSTANCES) or those that do not. */
static int merge_components(icalcomponent *calendar, icalcomponent *reply, const char *address,
			    const char *schedule_status, bool instances)
{
	int changed = 0;
	for (icalcomponent *component = next_scheduled(reply, NULL); component != NULL;
	     component = next_scheduled(reply, component)) {
		icalproperty *recurrence = icalcomponent_get_first_property(component, ICAL_RECURRENCEID_PROPERTY);
		const char *partstat = component_partstat(component, address);
		if ((recurrence != NULL) != instances || partstat == NULL)
			continue;
		if (recurrence == NULL) {
			changed += ex_itip_set_partstat(calendar, address, partstat, schedule_status);
			continue;
		}
		icalcomponent_kind kind = icalcomponent_isa(component);
		icalcomponent *target = find_instance(calendar, kind, recurrence_seconds(reply, recurrence));
		if (target == NULL) {
			icalcomponent *master = find_recurring_master(calendar, kind);
			/* NOTE: the instance is not checked against the master's rule, so a RECURRENCE-ID that
			 * names no occurrence adds an override that clients show as one extra instance. */
			if (master == NULL || component_partstat(master, address) == NULL)
				continue;
			target = add_override(calendar, master, recurrence);
		}
		if (target != NULL)
			changed += set_component_partstat(target, address, partstat, schedule_status);
	}
	return changed;
}

/* Returns the PARTSTAT of ADDRESS for the instance of COMPONENT (from OTHER) in CALENDAR: its override, else the master. */
static const char *instance_partstat(icalcomponent *calendar, icalcomponent *other, icalcomponent *component,
			      const char *address)
{
	icalproperty *recurrence = icalcomponent_get_first_property(component, ICAL_RECURRENCEID_PROPERTY);
	icalcomponent_kind kind = icalcomponent_isa(component);
	icalcomponent *match = recurrence != NULL ? find_instance(calendar, kind, recurrence_seconds(other, recurrence))
						  : NULL;
	for (icalcomponent *c = icalcomponent_get_first_component(calendar, kind); c != NULL && match == NULL;
	     c = icalcomponent_get_next_component(calendar, kind))
		if (icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY) == NULL)
			match = c;
	const char *partstat = match != NULL ? component_partstat(match, address) : NULL;
	return partstat != NULL ? partstat : "NEEDS-ACTION";
}

bool ex_itip_partstat_changed(icalcomponent *before, icalcomponent *after, const char *address)
{
	for (icalcomponent *c = next_scheduled(after, NULL); c != NULL; c = next_scheduled(after, c)) {
		const char *now = component_partstat(c, address);
		if (now == NULL)
			continue;
		const char *then = before != NULL ? instance_partstat(before, after, c, address) : "NEEDS-ACTION";
		if (strcasecmp(now, then) != 0)
			return true;
	}
	return false;
}

int ex_itip_merge_reply(icalcomponent *calendar, icalcomponent *reply, const char *address,
			const char *schedule_status)
{
	/* The PARTSTAT for the whole series first, so that those for single instances then replace it there. */
	int changed = merge_components(calendar, reply, address, schedule_status, false);
	return changed + merge_components(calendar, reply, address, schedule_status, true);
}

char *ex_itip_fingerprint(icalcomponent *calendar)
{
	icalcomponent *copy = icalcomponent_new_clone(calendar);
	if (copy == NULL)
		return NULL;
	ex_itip_strip_schedule_parameters(copy);
	for (icalcomponent *component = next_scheduled(copy, NULL); component != NULL;
	     component = next_scheduled(copy, component)) {
		remove_alarms(component);
		remove_properties(component, ICAL_DTSTAMP_PROPERTY, NULL);
		remove_properties(component, ICAL_LASTMODIFIED_PROPERTY, NULL);
		for (icalproperty *p = icalcomponent_get_first_property(component, ICAL_ATTENDEE_PROPERTY); p != NULL;
		     p = icalcomponent_get_next_property(component, ICAL_ATTENDEE_PROPERTY)) {
			icalproperty_remove_parameter_by_name(p, "PARTSTAT");
			icalproperty_remove_parameter_by_name(p, "RSVP");
		}
	}
	char *text = icalcomponent_as_ical_string_r(copy);
	icalcomponent_free(copy);
	return text;
}

size_t ex_itip_max_attendees_per_component(icalcomponent *calendar)
{
	size_t highest = 0;
	for (icalcomponent *component = next_scheduled(calendar, NULL); component != NULL;
	     component = next_scheduled(calendar, component)) {
		size_t count = (size_t)icalcomponent_count_properties(component, ICAL_ATTENDEE_PROPERTY);
		if (count > highest)
			highest = count;
	}
	return highest;
}

bool ex_itip_partstat_is_valid(const char *text)
{
	static const char *const allowed[] = { "ACCEPTED", "DECLINED", "TENTATIVE", "NEEDS-ACTION" };
	for (size_t i = 0; text != NULL && i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		if (strcasecmp(text, allowed[i]) == 0)
			return true;
	}
	return false;
}
