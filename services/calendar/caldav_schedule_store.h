/*
 * The writes that scheduling makes on behalf of the server into a user's
 * calendars and schedule inbox. They place an invitation in an attendee's
 * default calendar, merge a reply into the organizer's copy, mark a
 * cancellation and keep iTIP messages in the schedule inbox. expresso-calendar (implicit
 * scheduling) and expresso-imip-dispatch (incoming iMIP) both link these
 * functions, so sync tokens, ETags, tombstones and octets stay the same
 * whichever daemon writes. Every function runs inside the caller's
 * tenant-bound transaction.
 */
#ifndef EXPRESSO_CALENDAR_CALDAV_SCHEDULE_STORE_H
#define EXPRESSO_CALENDAR_CALDAV_SCHEDULE_STORE_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "expresso/db.h"

/* Where a server-written object was stored, for the calendar.changed event. */
typedef struct {
	char calendar[65];  /* calendar name (a path segment), "" when nothing was stored */
	char object[256];   /* object name */
	const char *change; /* "created" or "updated" */
	const char *skipped; /* why nothing was stored ("invalid_copy", "over_quota", "no_calendar"), else NULL */
} calendar_schedule_written;

/*
 * Stores TEXT as the object NAME of the calendar CALENDAR_ID on behalf of
 * the server (a delivered invitation, a merged reply), taking the next
 * sync_seq of the calendar. KEEP_SCHEDULE_TAG leaves the schedule-tag as
 * it was. WRITTEN receives where the object went. Returns 0, or -1 with
 * ERROR filled. TEXT that libical rejects is logged and not stored, with
 * WRITTEN->skipped set.
 */
int calendar_schedule_store(PGconn *connection, const char *tenant_id, const char *calendar_id, const char *name,
			    const char *text, bool keep_schedule_tag, calendar_schedule_written *written,
			    ex_db_error *error);

/*
 * Stores TEXT as a new object of the first calendar of USER_ID that takes
 * events (the default calendar first), creating the default calendars
 * when the user has none. A new object that would take the user's
 * calendars past QUOTA_BYTES (0: no quota) is logged and not stored.
 * Updates of existing copies are not limited, so that replies and
 * cancellations still reach a user who is over quota. Returns 0 (also
 * when nothing was stored, with WRITTEN->skipped set), or -1 with ERROR
 * filled.
 */
int calendar_schedule_store_new(PGconn *connection, const char *tenant_id, const char *user_id, const char *uid,
				const char *text, long long quota_bytes, calendar_schedule_written *written,
				ex_db_error *error);

/*
 * Returns the copy of the event UID in the calendars of USER_ID (the
 * default calendar first) as one row: calendar id, object name, ical,
 * locked FOR UPDATE. Returns NULL when there is none, with *FAILED set
 * when the query failed.
 */
PGresult *calendar_schedule_find_copy(PGconn *connection, const char *user_id, const char *uid, ex_db_error *error,
				      bool *failed);

/* Adds the iTIP MESSAGE of METHOD for the event UID to the schedule inbox of USER_ID. Returns 0 or -1. */
int calendar_schedule_insert_inbox(PGconn *connection, const char *tenant_id, const char *user_id, const char *uid,
				   const char *method, const char *message, ex_db_error *error);

#endif
