/*
 * The RFC 5546 rules for incoming iMIP messages (imip_apply.h). The
 * stored copies are written through caldav_schedule_store.c, as
 * expresso-calendar writes them.
 */
#include "imip_apply.h"

#include <libical/ical.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar_addresses.h"
#include "calendar_itip.h"
#include "expresso/log.h"
#include "ical_object.h"

static const char *const outcome_names[IMIP_OUTCOME_COUNT] = {
	[IMIP_APPLIED] = "applied",
	[IMIP_IGNORED_METHOD] = "ignored_method",
	[IMIP_IGNORED_INVALID] = "ignored_invalid",
	[IMIP_IGNORED_SENDER] = "ignored_sender",
	[IMIP_IGNORED_NO_EVENT] = "ignored_no_event",
	[IMIP_IGNORED_NOT_PARTICIPANT] = "ignored_not_participant",
	[IMIP_IGNORED_LOCAL] = "ignored_local",
	[IMIP_IGNORED_OUTDATED] = "ignored_outdated",
	[IMIP_IGNORED_DUPLICATE] = "ignored_duplicate",
	[IMIP_IGNORED_NOT_STORED] = "ignored_not_stored",
};

const char *imip_outcome_name(imip_outcome outcome)
{
	return outcome < IMIP_OUTCOME_COUNT ? outcome_names[outcome] : "unknown";
}

/* The state of one message being applied. */
typedef struct {
	PGconn *connection;
	const imip_message *message;
	imip_result *result;
	ex_db_error *error;
	char recipient[EX_ITIP_MAX_ADDRESS]; /* users.email of the recipient, lowercase */
	icalcomponent *itip;                 /* the parsed iTIP message */
	ex_itip_roles *roles;                /* organizer and attendees of ITIP */
	const char *uid;
} apply_run;

static int ignore(apply_run *run, imip_outcome outcome, const char *reason)
{
	run->result->outcome = outcome;
	run->result->reason = reason;
	return 0;
}

/*
 * Returns true when ADDRESS is the From address or the envelope sender.
 * NOTE: both are taken as delivered, because expresso-mail checks no SPF,
 * DKIM or DMARC yet, so a forged From address passes this check.
 */
static bool sent_by(const apply_run *run, const char *address)
{
	return address[0] != '\0' &&
	       (strcmp(run->message->from, address) == 0 || strcmp(run->message->envelope_sender, address) == 0);
}

/* Returns 1 when ADDRESS is the email or an alias of a user of the tenant, 0 when not, -1 on error. */
static int is_local_user(apply_run *run, const char *address)
{
	char user_id[EX_DAV_UUID_TEXT];
	return calendar_user_for_address(run->connection, address, false, user_id, sizeof(user_id), run->error);
}

/*
 * Reads into RUN->recipient the address by which the recipient takes part
 * in the message: its email or the alias the message names. Returns 1
 * found, 0 when the user is disabled or gone, -1 on error.
 */
static int read_recipient(apply_run *run)
{
	int status = calendar_own_address(run->connection, run->message->user_id, run->roles, run->recipient,
					  sizeof(run->recipient), run->error);
	if (status < 0)
		return -1;
	return status == 0;
}

/* Returns the component of CALENDAR without RECURRENCE-ID (the master), else its first component. */
static icalcomponent *main_component(icalcomponent *calendar)
{
	icalcomponent *first = NULL;
	for (icalcomponent *c = icalcomponent_get_first_component(calendar, ICAL_ANY_COMPONENT); c != NULL;
	     c = icalcomponent_get_next_component(calendar, ICAL_ANY_COMPONENT)) {
		if (icalcomponent_isa(c) == ICAL_VTIMEZONE_COMPONENT)
			continue;
		if (first == NULL)
			first = c;
		if (icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY) == NULL)
			return c;
	}
	return first;
}

/*
 * Compares the revision (SEQUENCE, then DTSTAMP) of the iTIP message with
 * the stored copy, the order RFC 5546 gives to messages about one event. Returns <0 when the message is
 * older, 0 when it is the same, >0 when it is newer.
 */
static int compare_revision(icalcomponent *message, icalcomponent *stored)
{
	icalcomponent *a = main_component(message);
	icalcomponent *b = main_component(stored);
	if (a == NULL || b == NULL)
		return a == NULL ? -1 : 1;
	int sequence_a = icalcomponent_get_sequence(a);
	int sequence_b = icalcomponent_get_sequence(b);
	if (sequence_a != sequence_b)
		return sequence_a < sequence_b ? -1 : 1;
	return icaltime_compare(icalcomponent_get_dtstamp(a), icalcomponent_get_dtstamp(b));
}

/* Stores CALENDAR as the copy ROW (NULL: a new object) of the recipient and keeps the iTIP text in the schedule inbox. */
static int store(apply_run *run, PGresult *row, icalcomponent *calendar, bool keep_schedule_tag)
{
	const imip_message *message = run->message;
	char *text = icalcomponent_as_ical_string_r(calendar);
	if (text == NULL) {
		snprintf(run->error->message, sizeof(run->error->message), "serializing the calendar object failed");
		return -1;
	}
	int status;
	if (row != NULL)
		status = calendar_schedule_store(run->connection, message->tenant_id, PQgetvalue(row, 0, 0),
						 PQgetvalue(row, 0, 1), text, keep_schedule_tag, &run->result->written,
						 run->error);
	else
		status = calendar_schedule_store_new(run->connection, message->tenant_id, message->user_id, run->uid, text,
						     message->quota_bytes, &run->result->written, run->error);
	free(text);
	if (status != 0)
		return -1;
	if (run->result->written.calendar[0] == '\0')
		return ignore(run, IMIP_IGNORED_NOT_STORED, run->result->written.skipped);
	if (calendar_schedule_insert_inbox(run->connection, message->tenant_id, message->user_id, run->uid,
					   run->result->method, message->part->calendar, run->error) != 0)
		return -1;
	run->result->outcome = IMIP_APPLIED;
	run->result->reason = "applied";
	return 0;
}

/* Stores EDITED in place of ROW unless its text is that of ORIGINAL, which means the message was applied before. */
static int store_if_changed(apply_run *run, PGresult *row, icalcomponent *original, icalcomponent *edited,
			    bool keep_schedule_tag)
{
	char *before = icalcomponent_as_ical_string_r(original);
	char *after = icalcomponent_as_ical_string_r(edited);
	int status;
	if (before == NULL || after == NULL) {
		snprintf(run->error->message, sizeof(run->error->message), "serializing the calendar object failed");
		status = -1;
	} else if (strcmp(before, after) == 0) {
		status = ignore(run, IMIP_IGNORED_DUPLICATE, "already_applied");
	} else {
		status = store(run, row, edited, keep_schedule_tag);
	}
	free(before);
	free(after);
	return status;
}

static int apply_reply(apply_run *run)
{
	if (run->roles->attendee_count != 1 || run->roles->organizer[0] == '\0')
		return ignore(run, IMIP_IGNORED_INVALID, "reply_without_one_attendee_and_organizer");
	const ex_itip_attendee *replier = &run->roles->attendees[0];
	if (!ex_itip_partstat_is_valid(replier->partstat))
		return ignore(run, IMIP_IGNORED_INVALID, "reply_partstat_invalid");
	if (!sent_by(run, replier->address))
		return ignore(run, IMIP_IGNORED_SENDER, "sender_not_attendee");
	int local = is_local_user(run, replier->address);
	if (local != 0)
		return local < 0 ? -1 : ignore(run, IMIP_IGNORED_LOCAL, "attendee_is_local");

	bool failed;
	PGresult *row = calendar_schedule_find_copy(run->connection, run->message->user_id, run->uid, run->error, &failed);
	if (row == NULL)
		return failed ? -1 : ignore(run, IMIP_IGNORED_NO_EVENT, "no_matching_event");
	icalcomponent *stored = ex_ical_parse_stored(PQgetvalue(row, 0, 2));
	icalcomponent *edited = stored != NULL ? icalcomponent_new_clone(stored) : NULL;
	ex_itip_roles *stored_roles = edited != NULL ? malloc(sizeof(*stored_roles)) : NULL;
	int status;

	if (stored_roles == NULL) {
		status = ignore(run, IMIP_IGNORED_NO_EVENT, "stored_copy_unreadable");
		goto done;
	}
	ex_itip_read_roles(stored, stored_roles);
	if (strcmp(stored_roles->organizer, run->recipient) != 0) {
		status = ignore(run, IMIP_IGNORED_NOT_PARTICIPANT, "recipient_not_organizer");
	} else if (ex_itip_find_attendee(stored_roles, replier->address) == NULL) {
		status = ignore(run, IMIP_IGNORED_NOT_PARTICIPANT, "replier_not_attendee");
	} else if (icalcomponent_get_sequence(main_component(run->itip)) <
		   icalcomponent_get_sequence(main_component(stored))) {
		status = ignore(run, IMIP_IGNORED_OUTDATED, "reply_to_older_sequence");
	} else {
		/* RFC 6638 section 3.2.10: merging a reply leaves the organizer's schedule-tag as it was. */
		ex_itip_merge_reply(edited, run->itip, replier->address, "2.0");
		status = store_if_changed(run, row, stored, edited, true);
	}
done:
	free(stored_roles);
	if (edited != NULL)
		icalcomponent_free(edited);
	if (stored != NULL)
		icalcomponent_free(stored);
	PQclear(row);
	return status;
}

/* Checks what REQUEST and CANCEL share: an ORGANIZER who sent the message and is not a user of the tenant. Returns 1 to go on. */
static int check_organizer(apply_run *run)
{
	if (run->roles->organizer[0] == '\0')
		return ignore(run, IMIP_IGNORED_INVALID, "no_organizer");
	if (!sent_by(run, run->roles->organizer))
		return ignore(run, IMIP_IGNORED_SENDER, "sender_not_organizer");
	int local = is_local_user(run, run->roles->organizer);
	if (local != 0)
		return local < 0 ? -1 : ignore(run, IMIP_IGNORED_LOCAL, "organizer_is_local");
	return 1;
}

/* Returns the PARTSTAT the recipient gave in STORED (NULL: no copy), or NEEDS-ACTION. */
static void previous_partstat(apply_run *run, icalcomponent *stored, char *out, size_t size)
{
	snprintf(out, size, "NEEDS-ACTION");
	ex_itip_roles *roles = stored != NULL ? malloc(sizeof(*roles)) : NULL;
	if (roles == NULL)
		return;
	ex_itip_read_roles(stored, roles);
	const ex_itip_attendee *me = ex_itip_find_attendee(roles, run->recipient);
	if (me != NULL)
		snprintf(out, size, "%s", me->partstat);
	free(roles);
}

/* Returns the organizer address of STORED, lowercase, into OUT ("" when none). */
static void stored_organizer(icalcomponent *stored, char *out, size_t size)
{
	ex_itip_roles *roles = malloc(sizeof(*roles));
	out[0] = '\0';
	if (roles == NULL)
		return;
	ex_itip_read_roles(stored, roles);
	snprintf(out, size, "%s", roles->organizer);
	free(roles);
}

static int apply_request(apply_run *run)
{
	int checked = check_organizer(run);
	if (checked != 1)
		return checked;
	if (ex_itip_find_attendee(run->roles, run->recipient) == NULL)
		return ignore(run, IMIP_IGNORED_NOT_PARTICIPANT, "recipient_not_attendee");

	bool failed;
	PGresult *row = calendar_schedule_find_copy(run->connection, run->message->user_id, run->uid, run->error, &failed);
	if (row == NULL && failed)
		return -1;
	icalcomponent *stored = row != NULL ? ex_ical_parse_stored(PQgetvalue(row, 0, 2)) : NULL;
	icalcomponent *copy = NULL;
	char organizer[EX_ITIP_MAX_ADDRESS] = "";
	int status;

	if (stored != NULL)
		stored_organizer(stored, organizer, sizeof(organizer));
	if (row != NULL && stored == NULL) {
		status = ignore(run, IMIP_IGNORED_NO_EVENT, "stored_copy_unreadable");
	} else if (stored != NULL && strcmp(organizer, run->roles->organizer) != 0) {
		/* Another organizer may not take over an event by reusing its UID. */
		status = ignore(run, IMIP_IGNORED_SENDER, "organizer_changed");
	} else if (stored != NULL && compare_revision(run->itip, stored) < 0) {
		status = ignore(run, IMIP_IGNORED_OUTDATED, "older_revision");
	} else if (stored != NULL && compare_revision(run->itip, stored) == 0) {
		status = ignore(run, IMIP_IGNORED_DUPLICATE, "already_applied");
	} else if ((copy = icalcomponent_new_clone(run->itip)) == NULL) {
		snprintf(run->error->message, sizeof(run->error->message), "copying the calendar object failed");
		status = -1;
	} else {
		char partstat[32];
		previous_partstat(run, stored, partstat, sizeof(partstat));
		/* A calendar object resource carries no METHOD (RFC 4791 section 4.1). */
		icalproperty *method = icalcomponent_get_first_property(copy, ICAL_METHOD_PROPERTY);
		if (method != NULL) {
			icalcomponent_remove_property(copy, method);
			icalproperty_free(method);
		}
		ex_itip_strip_schedule_parameters(copy);
		ex_itip_set_partstat(copy, run->recipient, partstat, NULL);
		status = store(run, row, copy, false);
	}
	if (copy != NULL)
		icalcomponent_free(copy);
	if (stored != NULL)
		icalcomponent_free(stored);
	PQclear(row);
	return status;
}

/* Finds the component of CALENDAR whose RECURRENCE-ID is ID, or NULL. */
static icalcomponent *find_instance(icalcomponent *calendar, struct icaltimetype id)
{
	for (icalcomponent *c = icalcomponent_get_first_component(calendar, ICAL_ANY_COMPONENT); c != NULL;
	     c = icalcomponent_get_next_component(calendar, ICAL_ANY_COMPONENT)) {
		if (icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY) != NULL &&
		    icaltime_compare(icalcomponent_get_recurrenceid(c), id) == 0)
			return c;
	}
	return NULL;
}

/*
 * Cancels in EDITED what the CANCEL names: every component, or only the
 * instances of the CANCEL's components that carry a RECURRENCE-ID. An
 * overridden instance gets STATUS:CANCELLED; an instance of the rule gets
 * an EXDATE on the master component.
 */
static void cancel_instances(apply_run *run, icalcomponent *edited)
{
	bool whole = false;
	for (icalcomponent *c = icalcomponent_get_first_component(run->itip, ICAL_ANY_COMPONENT); c != NULL;
	     c = icalcomponent_get_next_component(run->itip, ICAL_ANY_COMPONENT)) {
		if (icalcomponent_isa(c) == ICAL_VTIMEZONE_COMPONENT)
			continue;
		if (icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY) == NULL) {
			whole = true;
			continue;
		}
		struct icaltimetype id = icalcomponent_get_recurrenceid(c);
		icalcomponent *instance = find_instance(edited, id);
		if (instance != NULL) {
			icalcomponent_set_status(instance, ICAL_STATUS_CANCELLED);
			continue;
		}
		icalcomponent *master = main_component(edited);
		if (master != NULL && icalcomponent_get_first_property(master, ICAL_RECURRENCEID_PROPERTY) == NULL)
			icalcomponent_add_property(master, icalproperty_new_exdate(id));
	}
	if (whole)
		ex_itip_mark_cancelled(edited);
}

static int apply_cancel(apply_run *run)
{
	int checked = check_organizer(run);
	if (checked != 1)
		return checked;

	bool failed;
	PGresult *row = calendar_schedule_find_copy(run->connection, run->message->user_id, run->uid, run->error, &failed);
	if (row == NULL)
		return failed ? -1 : ignore(run, IMIP_IGNORED_NO_EVENT, "no_matching_event");
	icalcomponent *stored = ex_ical_parse_stored(PQgetvalue(row, 0, 2));
	icalcomponent *edited = stored != NULL ? icalcomponent_new_clone(stored) : NULL;
	char organizer[EX_ITIP_MAX_ADDRESS] = "";
	int status;

	if (edited != NULL)
		stored_organizer(stored, organizer, sizeof(organizer));
	if (edited == NULL) {
		status = ignore(run, IMIP_IGNORED_NO_EVENT, "stored_copy_unreadable");
	} else if (strcmp(organizer, run->roles->organizer) != 0) {
		status = ignore(run, IMIP_IGNORED_SENDER, "organizer_changed");
	} else if (icalcomponent_get_sequence(main_component(run->itip)) <
		   icalcomponent_get_sequence(main_component(stored))) {
		status = ignore(run, IMIP_IGNORED_OUTDATED, "older_revision");
	} else {
		cancel_instances(run, edited);
		status = store_if_changed(run, row, stored, edited, false);
	}
	if (edited != NULL)
		icalcomponent_free(edited);
	if (stored != NULL)
		icalcomponent_free(stored);
	PQclear(row);
	return status;
}

/* Parses the part into RUN->itip and RUN->roles. Returns 1 to go on, 0 when the message is ignored, -1 without memory. */
static int parse_message(apply_run *run)
{
	const imip_part *part = run->message->part;
	ex_ical_object object;
	char err[256];

	if (ex_ical_object_parse(part->calendar, part->length, EX_ICAL_COMPONENT_VEVENT | EX_ICAL_COMPONENT_VTODO, &object,
				 err, sizeof(err)) != EX_ICAL_OK) {
		ex_log(EX_LOG_INFO, "imip_invalid_icalendar", "{s:s, s:s}", "user", run->message->user_id, "error", err);
		return ignore(run, IMIP_IGNORED_INVALID, "invalid_icalendar");
	}
	run->itip = object.calendar; /* owned by RUN from here */
	run->uid = object.uid;
	if (run->uid != NULL)
		snprintf(run->result->uid, sizeof(run->result->uid), "%s", run->uid);

	icalproperty_method method = icalcomponent_get_method(run->itip);
	const char *name = method != ICAL_METHOD_NONE ? icalproperty_method_to_string(method) : "";
	snprintf(run->result->method, sizeof(run->result->method), "%s", name != NULL ? name : "");
	if (method != ICAL_METHOD_REPLY && method != ICAL_METHOD_REQUEST && method != ICAL_METHOD_CANCEL)
		return ignore(run, IMIP_IGNORED_METHOD, "method_not_accepted");
	/* iMIP (RFC 6047) requires the Content-Type method parameter, when present, to name the same METHOD. */
	if (part->method[0] != '\0' && strcmp(part->method, run->result->method) != 0)
		return ignore(run, IMIP_IGNORED_INVALID, "method_parameter_mismatch");
	if (run->uid == NULL)
		return ignore(run, IMIP_IGNORED_INVALID, "no_uid");

	run->roles = malloc(sizeof(*run->roles));
	if (run->roles == NULL)
		return -1;
	ex_itip_read_roles(run->itip, run->roles);
	return 1;
}

int imip_apply(PGconn *connection, const imip_message *message, imip_result *result, ex_db_error *error)
{
	apply_run run = { .connection = connection, .message = message, .result = result, .error = error };
	memset(result, 0, sizeof(*result));
	int status = parse_message(&run);

	if (status == 1) {
		int found = read_recipient(&run);
		if (found == 0)
			status = ignore(&run, IMIP_IGNORED_NOT_PARTICIPANT, "recipient_without_address");
		else if (found < 0)
			status = -1;
	}
	if (status == 1) {
		const char *method = result->method;
		if (strcmp(method, "REPLY") == 0)
			status = apply_reply(&run);
		else if (strcmp(method, "REQUEST") == 0)
			status = apply_request(&run);
		else
			status = apply_cancel(&run);
	}
	if (status < 0 && error->message[0] == '\0')
		snprintf(error->message, sizeof(error->message), "out of memory");
	free(run.roles);
	if (run.itip != NULL)
		icalcomponent_free(run.itip);
	return status < 0 ? -1 : 0;
}
