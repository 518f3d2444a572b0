/*
 * Implicit scheduling on PUT and DELETE (caldav_schedule.h). Everything
 * runs inside the transaction of the change, so an invitation, a reply
 * or an outbox row exists exactly when the change that caused it does.
 *
 * An organizer's store sends a REQUEST to each attendee when the event
 * changed in more than replies and timestamps (ex_itip_fingerprint).
 * Attendees added since the last version always get the REQUEST, and
 * attendees removed get a CANCEL. An attendee's store whose own PARTSTAT changed
 * sends a REPLY to the organizer. SCHEDULE-AGENT=CLIENT on the ORGANIZER
 * turns all of it off, on an ATTENDEE it skips that attendee; the request
 * header "Schedule-Reply: F" (RFC 6638 section 8.1) skips the reply.
 */
#include "caldav_schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "calendar_addresses.h"
#include "calendar_itip.h"
#include "expresso/log.h"
#include "ical_object.h"

/* Queued outbox rows deleted per transaction that sends an iMIP message, so that one change never deletes a large backlog at once. */
enum { OUTBOX_PRUNE_BATCH = 1000 };

/* One copy written for another user: its owner and where it went. */
typedef struct {
	char user_id[64];
	calendar_schedule_written written;
} schedule_change;

struct calendar_schedule_changes {
	schedule_change *entries;
	size_t count;
	size_t capacity;
};

void calendar_schedule_changes_free(calendar_schedule_changes *changes)
{
	if (changes == NULL)
		return;
	free(changes->entries);
	free(changes);
}

/* Remembers the copy WRITTEN for USER_ID, so that calendar_schedule_publish announces it. Returns 0 or -1. */
static int note_change(calendar_reply *reply, const char *user_id, const calendar_schedule_written *written)
{
	if (reply->schedule_changes == NULL && (reply->schedule_changes = calloc(1, sizeof(*reply->schedule_changes))) == NULL)
		return -1;
	calendar_schedule_changes *changes = reply->schedule_changes;
	if (changes->count == changes->capacity) {
		size_t capacity = changes->capacity ? changes->capacity * 2 : 8;
		schedule_change *grown = realloc(changes->entries, capacity * sizeof(*grown));
		if (grown == NULL)
			return -1;
		changes->entries = grown;
		changes->capacity = capacity;
	}
	schedule_change *change = &changes->entries[changes->count++];
	snprintf(change->user_id, sizeof(change->user_id), "%s", user_id);
	change->written = *written;
	return 0;
}

typedef struct {
	PGconn *connection;
	calendar_context *context;
	ex_db_error *error;
	char email[EX_ITIP_MAX_ADDRESS]; /* the address by which the user takes part: the email or an alias */
	const char *uid;
	const char *summary;
	bool outbox_pruned; /* prune_outbox ran in this transaction */
} schedule_run;

/* Finds the enabled user of the tenant whose email or alias is ADDRESS; writes the id into OUT. Returns 1 found, 0 not, -1 error. */
static int find_user(schedule_run *run, const char *address, char *out, size_t size)
{
	return calendar_user_for_address(run->connection, address, true, out, size, run->error);
}

static PGresult *find_copy(schedule_run *run, const char *user_id, bool *failed)
{
	return calendar_schedule_find_copy(run->connection, user_id, run->uid, run->error, failed);
}

static int insert_inbox(schedule_run *run, const char *user_id, const char *method, const char *message)
{
	return calendar_schedule_insert_inbox(run->connection, run->context->principal.tenant_id, user_id, run->uid, method,
					      message, run->error);
}

/*
 * Deletes up to OUTBOX_PRUNE_BATCH rows of the tenant that expresso-mail
 * queued more than itip_retention_days ago, once per transaction. Rows
 * still waiting are never deleted.
 */
static int prune_outbox(schedule_run *run)
{
	char days[16];
	char batch[16];
	if (run->outbox_pruned)
		return 0;
	run->outbox_pruned = true;
	snprintf(days, sizeof(days), "%d", run->context->service->itip_retention_days);
	snprintf(batch, sizeof(batch), "%d", OUTBOX_PRUNE_BATCH);
	PGresult *result = calendar_sql(run->connection, run->error,
					"DELETE FROM calendar_itip_outbox WHERE id IN (SELECT id FROM calendar_itip_outbox "
					"WHERE queued_at < now() - make_interval(days => $1::int) LIMIT $2::int)",
					2, days, batch);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

static int insert_outbox(schedule_run *run, const char *recipient, const char *method, const char *message)
{
	if (prune_outbox(run) != 0)
		return -1;
	PGresult *result = calendar_sql(run->connection, run->error,
					"INSERT INTO calendar_itip_outbox (tenant_id, user_id, sender, recipient, method, uid, summary, ical) "
					"VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
					8, run->context->principal.tenant_id, run->context->principal.user_id, run->email, recipient,
					method, run->uid, run->summary, message);
	if (result == NULL)
		return -1;
	PQclear(result);
	run->context->reply.itip_queued = true;
	return 0;
}

/* Serializes CALENDAR and stores it as the copy ROW (from find_copy), or as a new object of the user's default calendar when ROW is NULL. */
static int store_copy(schedule_run *run, const char *user_id, PGresult *row, icalcomponent *calendar, bool keep_tag)
{
	char *text = icalcomponent_as_ical_string_r(calendar);
	if (text == NULL)
		return -1;
	const char *tenant_id = run->context->principal.tenant_id;
	long long quota = run->context->service->quota_bytes;
	calendar_schedule_written written;
	int status;
	if (row != NULL)
		status = calendar_schedule_store(run->connection, tenant_id, PQgetvalue(row, 0, 0), PQgetvalue(row, 0, 1), text,
						 keep_tag, &written, run->error);
	else
		status = calendar_schedule_store_new(run->connection, tenant_id, user_id, run->uid, text, quota, &written,
						     run->error);
	free(text);
	if (status == 0 && written.calendar[0] != '\0' && note_change(&run->context->reply, user_id, &written) != 0) {
		snprintf(run->error->message, sizeof(run->error->message), "out of memory");
		return -1;
	}
	return status;
}

/* Places the organizer's CALENDAR in the calendars of the attendee USER_ID, keeping the PARTSTAT the attendee gave before. */
static int deliver_request(schedule_run *run, const char *user_id, const char *address, icalcomponent *calendar)
{
	bool failed;
	PGresult *row = find_copy(run, user_id, &failed);
	if (failed)
		return -1;

	char partstat[32] = "NEEDS-ACTION";
	if (row != NULL) {
		icalcomponent *old = ex_ical_parse_stored(PQgetvalue(row, 0, 2));
		ex_itip_roles *roles = old ? malloc(sizeof(*roles)) : NULL;
		if (roles != NULL) {
			ex_itip_read_roles(old, roles);
			const ex_itip_attendee *attendee = ex_itip_find_attendee(roles, address);
			if (attendee != NULL)
				snprintf(partstat, sizeof(partstat), "%s", attendee->partstat);
		}
		free(roles);
		if (old != NULL)
			icalcomponent_free(old);
	}
	icalcomponent *copy = icalcomponent_new_clone(calendar);
	int status = copy == NULL ? -1 : 0;
	if (copy != NULL) {
		ex_itip_strip_schedule_parameters(copy);
		ex_itip_set_partstat(copy, address, partstat, NULL);
		status = store_copy(run, user_id, row, copy, false);
		icalcomponent_free(copy);
	}
	PQclear(row);
	return status;
}

/* Marks the attendee USER_ID's copy of the event cancelled, when there is one. */
static int deliver_cancel(schedule_run *run, const char *user_id)
{
	bool failed;
	PGresult *row = find_copy(run, user_id, &failed);
	if (row == NULL)
		return failed ? -1 : 0;
	icalcomponent *copy = ex_ical_parse_stored(PQgetvalue(row, 0, 2));
	int status = 0;
	if (copy != NULL) {
		ex_itip_mark_cancelled(copy);
		status = store_copy(run, user_id, row, copy, false);
		icalcomponent_free(copy);
	}
	PQclear(row);
	return status;
}

/* Merges the reply of REPLIER, as its copy CALENDAR has it, into the organizer USER_ID's copy, with SCHEDULE-STATUS 2.0. */
static int deliver_reply(schedule_run *run, const char *user_id, const char *replier, icalcomponent *calendar)
{
	bool failed;
	PGresult *row = find_copy(run, user_id, &failed);
	if (row == NULL)
		return failed ? -1 : 0;
	icalcomponent *copy = ex_ical_parse_stored(PQgetvalue(row, 0, 2));
	int status = 0;
	if (copy != NULL) {
		/* RFC 6638 section 3.2.10: merging a reply leaves the organizer's schedule-tag as it was. */
		if (ex_itip_merge_reply(copy, calendar, replier, "2.0") > 0)
			status = store_copy(run, user_id, row, copy, true);
		icalcomponent_free(copy);
	}
	PQclear(row);
	return status;
}

/*
 * Sends the iTIP MESSAGE of METHOD to ADDRESS: to the schedule inbox and
 * calendars of a user of the tenant, else to the iMIP outbox. CALENDAR is
 * the object the message came from.
 */
static int send_message(schedule_run *run, const char *address, const char *method, const char *message,
			icalcomponent *calendar)
{
	char user_id[64];
	int found = find_user(run, address, user_id, sizeof(user_id));
	if (found < 0)
		return -1;
	if (found == 0)
		return insert_outbox(run, address, method, message);

	if (insert_inbox(run, user_id, method, message) != 0)
		return -1;
	if (strcmp(method, "REQUEST") == 0)
		return deliver_request(run, user_id, address, calendar);
	if (strcmp(method, "CANCEL") == 0)
		return deliver_cancel(run, user_id);
	return deliver_reply(run, user_id, run->email, calendar);
}

static bool reply_suppressed(const calendar_context *context)
{
	const char *header = context->request ? ex_http_header(context->request, "Schedule-Reply") : NULL;
	return header != NULL && strcasecmp(header, "F") == 0;
}

/* Sends METHOD built from CALENDAR to each attendee of ROLES that SKIP (may be NULL) does not list, the organizer and client-scheduled ones aside. */
static int send_to_attendees(schedule_run *run, const ex_itip_roles *roles, const ex_itip_roles *skip,
			     icalcomponent *calendar, icalproperty_method method)
{
	char *message = NULL;
	int status = 0;

	for (size_t i = 0; i < roles->attendee_count && status == 0; i++) {
		const ex_itip_attendee *attendee = &roles->attendees[i];
		if (attendee->client_agent || strcmp(attendee->address, roles->organizer) == 0 ||
		    (skip != NULL && ex_itip_find_attendee(skip, attendee->address) != NULL))
			continue;
		if (message == NULL)
			message = ex_itip_build(calendar, method, NULL);
		if (message == NULL)
			return -1;
		status = send_message(run, attendee->address, icalproperty_method_to_string(method), message, calendar);
	}
	free(message);
	return status;
}

/* Sends the REPLY of the current user, with the PARTSTATs in their copy CALENDAR, to the organizer of ROLES. */
static int send_reply(schedule_run *run, const ex_itip_roles *roles, icalcomponent *calendar)
{
	char *message = ex_itip_build(calendar, ICAL_METHOD_REPLY, run->email);
	if (message == NULL)
		return -1;
	int status = send_message(run, roles->organizer, "REPLY", message, calendar);
	free(message);
	return status;
}

/* Schedules the organizer's change from OLD (NULL: none) to NEW. */
static int schedule_organizer(schedule_run *run, const ex_itip_roles *roles, const ex_itip_roles *old_roles,
			      icalcomponent *stored, icalcomponent *old)
{
	bool significant = true;
	if (old != NULL) {
		char *before = ex_itip_fingerprint(old);
		char *after = ex_itip_fingerprint(stored);
		if (before == NULL || after == NULL) {
			free(before);
			free(after);
			return -1;
		}
		significant = strcmp(before, after) != 0;
		free(before);
		free(after);
	}
	/* Without a significant change only attendees added since the last version get the REQUEST. */
	if (send_to_attendees(run, roles, significant ? NULL : old_roles, stored, ICAL_METHOD_REQUEST) != 0)
		return -1;
	if (old == NULL)
		return 0;
	return send_to_attendees(run, old_roles, roles, old, ICAL_METHOD_CANCEL);
}

int calendar_schedule_after_put(PGconn *connection, calendar_context *context, icalcomponent *stored,
				const char *previous, ex_db_error *error)
{
	schedule_run run = { .connection = connection, .context = context, .error = error };
	ex_itip_roles *roles = malloc(sizeof(*roles));
	ex_itip_roles *old_roles = calloc(1, sizeof(*old_roles));
	icalcomponent *old = previous != NULL ? ex_ical_parse_stored(previous) : NULL;
	int status = 0;

	if (context->no_scheduling)
		goto done;
	if (roles == NULL || old_roles == NULL) {
		status = -1;
		goto done;
	}
	ex_itip_read_roles(stored, roles);
	if (old != NULL)
		ex_itip_read_roles(old, old_roles);
	if (roles->organizer[0] == '\0' || roles->organizer_client_agent || roles->attendee_count == 0)
		goto done;
	status = calendar_own_address(connection, context->principal.user_id, roles, run.email, sizeof(run.email), error);
	if (status != 0) {
		status = status < 0 ? -1 : 0;
		goto done;
	}
	run.uid = icalcomponent_get_uid(icalcomponent_get_first_real_component(stored));
	run.summary = roles->summary;
	if (run.uid == NULL)
		goto done;

	if (strcmp(roles->organizer, run.email) == 0) {
		status = schedule_organizer(&run, roles, old_roles, stored, old);
	} else {
		const ex_itip_attendee *me = ex_itip_find_attendee(roles, run.email);
		if (me != NULL && !me->client_agent && !reply_suppressed(context) &&
		    ex_itip_partstat_changed(old, stored, run.email))
			status = send_reply(&run, roles, stored);
	}
done:
	free(roles);
	free(old_roles);
	if (old != NULL)
		icalcomponent_free(old);
	return status;
}

int calendar_schedule_after_delete(PGconn *connection, calendar_context *context, const char *previous,
				   ex_db_error *error)
{
	schedule_run run = { .connection = connection, .context = context, .error = error };
	icalcomponent *old = ex_ical_parse_stored(previous);
	ex_itip_roles *roles = old != NULL ? malloc(sizeof(*roles)) : NULL;
	int status = 0;

	if (roles == NULL || context->no_scheduling)
		goto done;
	ex_itip_read_roles(old, roles);
	if (roles->organizer[0] == '\0' || roles->organizer_client_agent || roles->attendee_count == 0)
		goto done;
	status = calendar_own_address(connection, context->principal.user_id, roles, run.email, sizeof(run.email), error);
	run.uid = icalcomponent_get_uid(icalcomponent_get_first_real_component(old));
	run.summary = roles->summary;
	if (status != 0 || run.uid == NULL) {
		status = status < 0 ? -1 : 0;
		goto done;
	}

	if (strcmp(roles->organizer, run.email) == 0) {
		status = send_to_attendees(&run, roles, NULL, old, ICAL_METHOD_CANCEL);
	} else {
		const ex_itip_attendee *me = ex_itip_find_attendee(roles, run.email);
		/* An attendee who deletes the event declines it (RFC 6638 section 3.2.2.3). */
		if (me != NULL && !me->client_agent && !reply_suppressed(context) && strcmp(me->partstat, "DECLINED") != 0) {
			ex_itip_set_partstat(old, run.email, "DECLINED", NULL);
			status = send_reply(&run, roles, old);
		}
	}
done:
	free(roles);
	if (old != NULL)
		icalcomponent_free(old);
	return status;
}

bool calendar_schedule_tag_matches(calendar_context *context, const char *current)
{
	const char *expected = context->request ? ex_http_header(context->request, "If-Schedule-Tag-Match") : NULL;
	if (expected == NULL || (current != NULL && strcmp(expected, current) == 0))
		return true;
	calendar_reply_error(&context->reply, 412, NULL, NULL,
			     current ? "the schedule-tag of the calendar object is now %s; fetch it again and merge your change"
				     : "the calendar object does not exist%s",
			     current ? current : "");
	return false;
}

/* Publishes calendar.changed for each copy written for another user. */
static void publish_changes(const calendar_context *context)
{
	const calendar_schedule_changes *changes = context->reply.schedule_changes;
	char err[256];

	for (size_t i = 0; changes != NULL && i < changes->count; i++) {
		const schedule_change *change = &changes->entries[i];
		json_t *event = json_pack("{s:s, s:s, s:s, s:s}", "user", change->user_id, "calendar",
					  change->written.calendar, "resource", change->written.object, "change",
					  change->written.change);
		if (event == NULL)
			return;
		if (ex_bus_publish(context->service->dav.bus, context->principal.tenant_id, "calendar", "changed", event, err,
				   sizeof(err)) != 0)
			ex_log(EX_LOG_WARN, "calendar_event_publish_failed", "{s:s, s:s}", "user", change->user_id, "error", err);
		json_decref(event);
	}
}

void calendar_schedule_publish(const calendar_context *context)
{
	ex_bus *bus = context->service->dav.bus;
	char err[256];

	if (context->reply.dav.status >= 300 || bus == NULL)
		return;
	publish_changes(context);
	if (!context->reply.itip_queued)
		return;
	json_t *event = json_pack("{s:s}", "user", context->principal.user_id);
	if (event == NULL)
		return;
	/* NOTE: a failed publish leaves the outbox rows waiting until the next calendar.itip of the tenant. */
	if (ex_bus_publish(bus, context->principal.tenant_id, "calendar", "itip", event, err, sizeof(err)) != 0)
		ex_log(EX_LOG_WARN, "calendar_itip_publish_failed", "{s:s, s:s}", "user", context->principal.user_id, "error",
		       err);
	json_decref(event);
}
