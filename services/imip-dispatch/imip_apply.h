/*
 * Applies one incoming iTIP message (RFC 5546), taken from an iMIP email,
 * to the calendars of the user who received it, inside the caller's
 * tenant-bound transaction.
 *
 * - REPLY: the one ATTENDEE of the reply, who must be the From address or
 *   the envelope sender, gets its PARTSTAT and SCHEDULE-STATUS 2.0 in the
 *   recipient's copy, when the recipient is its ORGANIZER.
 * - REQUEST: creates or updates the recipient's copy (higher SEQUENCE, or
 *   the same SEQUENCE and a later DTSTAMP, wins), when the recipient is an
 *   ATTENDEE and the ORGANIZER sent it. A new copy goes to the default
 *   calendar with the recipient's PARTSTAT NEEDS-ACTION.
 * - CANCEL from the ORGANIZER marks the copy STATUS:CANCELLED, or only the
 *   instance its RECURRENCE-ID names.
 *
 * Each applied message is also kept in the recipient's schedule inbox.
 * Messages about an ORGANIZER (REQUEST, CANCEL) or ATTENDEE (REPLY) who is
 * a user of the same tenant are ignored, because implicit scheduling in
 * expresso-calendar already delivered them. Everything else is ignored
 * with a reason.
 */
#ifndef EXPRESSO_IMIP_APPLY_H
#define EXPRESSO_IMIP_APPLY_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "caldav_schedule_store.h"
#include "expresso/db.h"
#include "imip_part.h"

/* Why a message was not applied; each has a counter in /metrics. */
typedef enum {
	IMIP_APPLIED = 0,
	IMIP_IGNORED_METHOD,          /* a METHOD other than REPLY, REQUEST, CANCEL */
	IMIP_IGNORED_INVALID,         /* malformed iCalendar, or not what its METHOD requires */
	IMIP_IGNORED_SENDER,          /* the sender is not the attendee (REPLY) or the organizer (REQUEST, CANCEL) */
	IMIP_IGNORED_NO_EVENT,        /* no copy of the event to update */
	IMIP_IGNORED_NOT_PARTICIPANT, /* the recipient is not the organizer (REPLY) or an attendee (REQUEST) */
	IMIP_IGNORED_LOCAL,           /* the organizer or replier is a user of the tenant */
	IMIP_IGNORED_OUTDATED,        /* an older SEQUENCE or DTSTAMP than the stored copy */
	IMIP_IGNORED_DUPLICATE,       /* the copy already contains what the message changes */
	IMIP_IGNORED_NOT_STORED,      /* the copy was not stored: over the owner's quota, or rejected by the PUT checks */
	IMIP_OUTCOME_COUNT,
} imip_outcome;

/* The iTIP message and who sent and received it. */
typedef struct {
	const char *tenant_id;
	const char *user_id;         /* the recipient */
	const char *from;            /* the message's From address, lowercase, "" when none */
	const char *envelope_sender; /* the SMTP reverse path, lowercase, "" for the null sender */
	const imip_part *part;       /* the text/calendar part */
	long long quota_bytes;       /* bytes of calendar objects one user may store, 0 for no limit */
} imip_message;

typedef struct {
	imip_outcome outcome;
	const char *reason;                /* a short word for the log, "applied" when applied */
	char method[16];                   /* the iTIP METHOD, "" when unreadable */
	char uid[256];                     /* the UID, cut to fit, "" when unreadable */
	calendar_schedule_written written; /* where the copy was stored when applied */
} imip_result;

/* Returns the name of OUTCOME for metrics: "applied", "ignored_method", ... */
const char *imip_outcome_name(imip_outcome outcome);

/* Applies MESSAGE and fills RESULT. Returns 0, or -1 on a database error with ERROR filled. */
int imip_apply(PGconn *connection, const imip_message *message, imip_result *result, ex_db_error *error);

#endif
