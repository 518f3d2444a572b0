/*
 * iTIP messages and scheduling edits on libical trees (calendar_itip.h).
 */
#include "calendar_itip.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

int ex_itip_set_partstat(icalcomponent *calendar, const char *address, const char *partstat, const char *schedule_status)
{
	int changed = 0;
	for (icalcomponent *component = next_scheduled(calendar, NULL); component != NULL;
	     component = next_scheduled(calendar, component)) {
		for (icalproperty *p = icalcomponent_get_first_property(component, ICAL_ATTENDEE_PROPERTY); p != NULL;
		     p = icalcomponent_get_next_property(component, ICAL_ATTENDEE_PROPERTY)) {
			char found[EX_ITIP_MAX_ADDRESS];
			if (ex_itip_address(icalproperty_get_attendee(p), found, sizeof(found)) != 0 || strcmp(found, address) != 0)
				continue;
			icalproperty_set_parameter_from_string(p, "PARTSTAT", partstat);
			if (schedule_status != NULL)
				icalproperty_set_parameter_from_string(p, "SCHEDULE-STATUS", schedule_status);
			changed++;
		}
	}
	return changed;
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
