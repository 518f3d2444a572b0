/*
 * Implicit scheduling of CalDAV (RFC 6638 section 3.2): what the server
 * does when an organizer or an attendee stores or deletes a scheduling
 * object resource, and the schedule inbox and outbox collections.
 *
 * Attendees who are users of the same tenant (matched by users.email)
 * get the iTIP message in their schedule inbox and their copy of the
 * event in their default calendar. A reply is merged into the
 * organizer's copy. Other addresses get an iMIP message (RFC 6047):
 * a row of calendar_itip_outbox, written in the same transaction as the
 * change, that expresso-mail queues after the calendar.itip event.
 */
#ifndef EXPRESSO_CALENDAR_CALDAV_SCHEDULE_H
#define EXPRESSO_CALENDAR_CALDAV_SCHEDULE_H

#include <libical/ical.h>

#include "caldav_schedule_store.h"
#include "calendar_service.h"

/* Path segments below the calendar home that name the schedule inbox and outbox; no calendar can have them. */
#define CALENDAR_SCHEDULE_INBOX "inbox"
#define CALENDAR_SCHEDULE_OUTBOX "outbox"

/*
 * Schedules the change of the object CONTEXT's PUT has just stored as
 * STORED, in the same transaction. PREVIOUS is the text stored before
 * (NULL for a new object). Returns 0, or -1 with ERROR filled.
 */
int calendar_schedule_after_put(PGconn *connection, calendar_context *context, icalcomponent *stored,
				const char *previous, ex_db_error *error);

/* Schedules the deletion of the object whose text was PREVIOUS: a CANCEL from its organizer, a declining REPLY from an attendee. */
int calendar_schedule_after_delete(PGconn *connection, calendar_context *context, const char *previous,
				   ex_db_error *error);

/*
 * Applies If-Schedule-Tag-Match (RFC 6638 section 8.2) to an object whose
 * schedule-tag is CURRENT (NULL: absent). Returns true when the PUT may
 * go on; else sets a 412 reply.
 */
bool calendar_schedule_tag_matches(calendar_context *context, const char *current);

/* The copies scheduling wrote into the calendars of other users during one request. */
typedef struct calendar_schedule_changes calendar_schedule_changes;

/* Frees CHANGES; safe on NULL. */
void calendar_schedule_changes_free(calendar_schedule_changes *changes);

/*
 * After a commit, publishes calendar.changed for each copy scheduling
 * wrote for another user, and calendar.itip when outbox rows were
 * written, so that expresso-mail sends them.
 */
void calendar_schedule_publish(const calendar_context *context);

/*
 * Reads the user's email address into CONTEXT->user_email and the user's
 * aliases into CONTEXT->user_aliases (both left "" on failure), for
 * calendar-user-address-set and the free-busy ORGANIZER check.
 */
void calendar_schedule_load_address(calendar_context *context);

/* Returns true when ADDRESS (a bare address) is, ignoring case, the email or an alias loaded into CONTEXT. */
bool calendar_schedule_is_own_address(const calendar_context *context, const char *address);

/* Handles a POST: a free-busy request to the schedule outbox (caldav_schedule_outbox.c), 405 on any other resource. */
void calendar_schedule_handle_post(calendar_context *context);

/* Serves METHOD on the schedule inbox, its messages and the schedule outbox (PROPFIND, GET, DELETE, POST). */
void calendar_schedule_handle_dav(calendar_context *context, const char *method);

#endif
