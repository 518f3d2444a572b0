/*
 * iTIP (RFC 5546) messages built from stored calendar objects, for the
 * implicit scheduling of RFC 6638. This file reads who organizes and who
 * attends an event, and builds the REQUEST, CANCEL and REPLY a change
 * produces. It also makes the edits the server applies to a copy: an
 * attendee's PARTSTAT, SCHEDULE-STATUS, STATUS:CANCELLED. It does no I/O,
 * because caldav_schedule.c stores and sends.
 *
 * Calendar user addresses are compared as lowercase bare addresses: a
 * "mailto:" prefix is removed, any other scheme is not an address here.
 */
#ifndef EXPRESSO_CALENDAR_ITIP_H
#define EXPRESSO_CALENDAR_ITIP_H

#include <libical/ical.h>
#include <stdbool.h>
#include <stddef.h>

enum {
	EX_ITIP_MAX_ADDRESS = 255,   /* bytes of a bare address, with its NUL */
	EX_ITIP_MAX_ATTENDEES = 1000, /* attendees read per object: the highest EXPRESSO_CALDAV_MAX_ATTENDEES */
};

typedef struct {
	char address[EX_ITIP_MAX_ADDRESS];
	char partstat[32];   /* PARTSTAT of the first component naming the attendee; NEEDS-ACTION when absent */
	bool client_agent;   /* SCHEDULE-AGENT=CLIENT or NONE: the server does not schedule this attendee */
} ex_itip_attendee;

/* The scheduling roles of one calendar object. */
typedef struct {
	char organizer[EX_ITIP_MAX_ADDRESS]; /* "" when the object has no ORGANIZER with a mailto: address */
	bool organizer_client_agent;         /* ORGANIZER;SCHEDULE-AGENT=CLIENT or NONE */
	char summary[256];                   /* SUMMARY of the first component, cut to fit */
	ex_itip_attendee attendees[EX_ITIP_MAX_ATTENDEES];
	size_t attendee_count;
} ex_itip_roles;

/* Writes the bare lowercase address of a calendar user address ("mailto:A@B") into OUT. Returns 0, or -1 when it is not a mailto: address or does not fit. */
int ex_itip_address(const char *calendar_address, char *out, size_t size);

/* Fills ROLES from the components (VTIMEZONE aside) of CALENDAR. */
void ex_itip_read_roles(icalcomponent *calendar, ex_itip_roles *roles);

/* Returns the attendee ADDRESS of ROLES, or NULL. */
const ex_itip_attendee *ex_itip_find_attendee(const ex_itip_roles *roles, const char *address);

/*
 * Builds the iTIP message METHOD (ICAL_METHOD_REQUEST, _CANCEL or _REPLY)
 * from CALENDAR, which is not changed: a copy with METHOD set, the
 * SCHEDULE-AGENT, SCHEDULE-STATUS and SCHEDULE-FORCE-SEND parameters
 * removed and VALARMs dropped. A REPLY keeps only the ATTENDEE REPLIER; a
 * CANCEL sets STATUS:CANCELLED. Returns the text (free) or NULL.
 */
char *ex_itip_build(icalcomponent *calendar, icalproperty_method method, const char *replier);

/* Sets PARTSTAT (and SCHEDULE-STATUS when not NULL) of the ATTENDEE ADDRESS in every component. Returns the components changed. */
int ex_itip_set_partstat(icalcomponent *calendar, const char *address, const char *partstat, const char *schedule_status);

/*
 * Merges the REPLY of the ATTENDEE ADDRESS into CALENDAR, the organizer's
 * copy: a component of REPLY without RECURRENCE-ID sets the PARTSTAT (and
 * SCHEDULE-STATUS when not NULL) in every component, and one with a
 * RECURRENCE-ID sets it only in that instance, which gets an override
 * when CALENDAR has none (RFC 5546 3.2.3). Returns the components changed.
 */
int ex_itip_merge_reply(icalcomponent *calendar, icalcomponent *reply, const char *address,
			const char *schedule_status);

/*
 * Returns true when the PARTSTAT of the ATTENDEE ADDRESS in some component
 * of AFTER differs from its PARTSTAT for the same instance in BEFORE (the
 * override, else the master; NEEDS-ACTION when BEFORE is NULL or lacks it).
 */
bool ex_itip_partstat_changed(icalcomponent *before, icalcomponent *after, const char *address);

/* Removes the SCHEDULE-AGENT, SCHEDULE-STATUS and SCHEDULE-FORCE-SEND parameters from ORGANIZER and ATTENDEE. */
void ex_itip_strip_schedule_parameters(icalcomponent *calendar);

/* Sets STATUS:CANCELLED on every component. */
void ex_itip_mark_cancelled(icalcomponent *calendar);

/*
 * Returns the text of CALENDAR without what a reply or a save of the same
 * event changes (PARTSTAT, RSVP and SCHEDULE-* parameters, DTSTAMP,
 * LAST-MODIFIED, VALARMs), so that two versions with the same text need no
 * new REQUEST. The caller frees it; NULL when memory ran out.
 */
char *ex_itip_fingerprint(icalcomponent *calendar);

/* Returns the highest number of ATTENDEE properties of one component of CALENDAR (CALDAV:max-attendees-per-instance counts them). */
size_t ex_itip_max_attendees_per_component(icalcomponent *calendar);

/* Returns true when TEXT names a PARTSTAT an attendee may reply with (ACCEPTED, DECLINED, TENTATIVE, NEEDS-ACTION), case-insensitive. */
bool ex_itip_partstat_is_valid(const char *text);

#endif
