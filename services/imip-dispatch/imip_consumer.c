/*
 * The handler of expresso.<tenant>.mail.delivered events (imip_service.h).
 * Each event names one delivered copy (tenant, user, mailbox, uid). The
 * cached BODYSTRUCTURE of its messages row shows whether it can contain a
 * text/calendar part, so most messages are skipped without reading their
 * object. Handling is idempotent: applying the same iTIP message again
 * finds the copy already up to date and changes nothing.
 */
#include "imip_service.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"

/* The delivered copy an event names. */
typedef struct {
	const char *tenant_id;
	const char *user_id;
	const char *mailbox_id;
	char uid[24];
	char sender[IMIP_MAX_ADDRESS]; /* envelope sender, lowercase; "" for the null reverse path or one too long */
} delivered_copy;

/* What the read transaction found in the messages row. */
typedef struct {
	const delivered_copy *copy;
	bool found;
	bool may_have_calendar;
	char storage_key[EX_STORAGE_MAX_KEY + 1];
	long long size;
} message_row;

static int read_row(PGconn *connection, void *opaque, ex_db_error *error)
{
	message_row *row = opaque;
	const char *params[] = { row->copy->mailbox_id, row->copy->uid, row->copy->user_id };
	/*
	 * BODYSTRUCTURE writes media subtypes in uppercase (imap_structure.c), so
	 * a message without the octets CALENDAR has no text/calendar part. NULL
	 * means the cache was not built, and the object decides.
	 */
	PGresult *result = ex_db_exec(connection,
				      "SELECT m.storage_key, m.size::text, (m.imap_bodystructure IS NULL OR "
				      "position(convert_to('CALENDAR', 'UTF8') in m.imap_bodystructure) > 0)::text "
				      "FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id "
				      "WHERE m.mailbox_id = $1 AND m.uid = $2::bigint AND b.user_id = $3",
				      3, params, error);
	if (result == NULL)
		return -1;
	row->found = PQntuples(result) == 1;
	if (row->found) {
		snprintf(row->storage_key, sizeof(row->storage_key), "%s", PQgetvalue(result, 0, 0));
		row->size = strtoll(PQgetvalue(result, 0, 1), NULL, 10);
		row->may_have_calendar = strcmp(PQgetvalue(result, 0, 2), "true") == 0;
	}
	PQclear(result);
	return 0;
}

typedef struct {
	const imip_message *message;
	imip_result result;
} apply_work_state;

static int apply_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	apply_work_state *state = opaque;
	return imip_apply(connection, state->message, &state->result, error);
}

static void publish_change(imip_service *service, const delivered_copy *copy, const imip_result *result)
{
	char err[256];
	if (service->bus == NULL)
		return;
	json_t *event = json_pack("{s:s, s:s, s:s, s:s}", "user", copy->user_id, "calendar", result->written.calendar,
				  "resource", result->written.object, "change", result->written.change);
	if (event == NULL)
		return;
	/* NOTE: a failed publish is logged only: the change is committed, and clients still see it on their next sync. */
	if (ex_bus_publish(service->bus, copy->tenant_id, "calendar", "changed", event, err, sizeof(err)) != 0)
		ex_log(EX_LOG_WARN, "calendar_event_publish_failed", "{s:s, s:s, s:s}", "tenant", copy->tenant_id, "user",
		       copy->user_id, "error", err);
	json_decref(event);
}

/* Applies the text/calendar PART of the message COPY. */
static ex_bus_verdict apply_part(imip_service *service, const delivered_copy *copy, const imip_part *part)
{
	const imip_message message = { .tenant_id = copy->tenant_id, .user_id = copy->user_id, .from = part->from,
				       .envelope_sender = copy->sender, .part = part, .quota_bytes = service->quota_bytes };
	apply_work_state state = { .message = &message };
	ex_db_error error;
	memset(&error, 0, sizeof(error));
	if (ex_db_tenant_transaction(service->database, copy->tenant_id, EX_DB_READ_COMMITTED, apply_work, &state,
				     &error) != 0) {
		ex_counter_add(service->failures, 1);
		ex_log(EX_LOG_ERROR, "imip_apply_failed", "{s:s, s:s, s:s, s:s, s:s}", "tenant", copy->tenant_id, "user",
		       copy->user_id, "uid", copy->uid, "sqlstate", error.sqlstate, "error", error.message);
		return EX_BUS_NAK;
	}

	const imip_result *result = &state.result;
	ex_counter_add(service->outcomes[result->outcome], 1);
	ex_log(result->outcome == IMIP_APPLIED ? EX_LOG_INFO : EX_LOG_WARN,
	       result->outcome == IMIP_APPLIED ? "imip_applied" : "imip_ignored",
	       "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "tenant", copy->tenant_id, "user", copy->user_id, "mailbox",
	       copy->mailbox_id, "message_uid", copy->uid, "method", result->method, "event_uid", result->uid, "from",
	       part->from, "sender", copy->sender, "reason", result->reason != NULL ? result->reason : "");
	if (result->outcome == IMIP_APPLIED)
		publish_change(service, copy, result);
	return EX_BUS_ACK;
}

static void log_skipped(const delivered_copy *copy, const char *reason, const char *detail)
{
	ex_log(EX_LOG_WARN, "imip_ignored", "{s:s, s:s, s:s, s:s, s:s, s:s}", "tenant", copy->tenant_id, "user",
	       copy->user_id, "mailbox", copy->mailbox_id, "message_uid", copy->uid, "reason", reason, "detail", detail);
}

/* Reads the object of ROW and applies its text/calendar part. */
static ex_bus_verdict handle_message(imip_service *service, const delivered_copy *copy, const message_row *row)
{
	if (row->size < 0 || (unsigned long long)row->size > service->max_message_size) {
		ex_counter_add(service->too_large, 1);
		log_skipped(copy, "message_too_large", "the message is larger than EXPRESSO_IMIP_MAX_MESSAGE_SIZE");
		return EX_BUS_ACK;
	}
	char *data = NULL;
	size_t length = 0;
	char err[EX_STORAGE_ERROR_MAX] = "";
	ex_storage_status stored = ex_storage_read_all(service->storage, copy->tenant_id, row->storage_key,
						       service->max_message_size, &data, &length, err, sizeof(err));
	if (stored == EX_STORAGE_IO_ERROR) {
		ex_counter_add(service->failures, 1);
		ex_log(EX_LOG_ERROR, "imip_read_failed", "{s:s, s:s, s:s}", "tenant", copy->tenant_id, "key",
		       row->storage_key, "error", err);
		return EX_BUS_NAK;
	}
	if (stored != EX_STORAGE_OK) {
		ex_counter_add(stored == EX_STORAGE_TOO_LARGE ? service->too_large : service->unreadable, 1);
		log_skipped(copy, stored == EX_STORAGE_TOO_LARGE ? "message_too_large" : "message_unreadable", err);
		return EX_BUS_ACK;
	}

	imip_part part;
	imip_part_status found = imip_part_extract(data, length, service->max_part_size, &part);
	free(data);
	ex_bus_verdict verdict = EX_BUS_ACK;
	if (found == IMIP_PART_NONE) {
		ex_counter_add(service->without_calendar, 1);
	} else if (found == IMIP_PART_TOO_LARGE) {
		ex_counter_add(service->too_large, 1);
		log_skipped(copy, "part_too_large", "the text/calendar part is larger than EXPRESSO_IMIP_MAX_PART_SIZE");
	} else if (found == IMIP_PART_INVALID) {
		ex_counter_add(service->unreadable, 1);
		log_skipped(copy, "message_unreadable", "GMime could not parse the message");
	} else {
		verdict = apply_part(service, copy, &part);
	}
	imip_part_clear(&part);
	return verdict;
}

/* Fills COPY from the event EVENT. Returns 0, or -1 when a field is missing or invalid. */
static int read_event(json_t *event, delivered_copy *copy)
{
	json_t *uid = json_object_get(event, "uid");
	const char *sender = json_string_value(json_object_get(event, "sender"));
	copy->tenant_id = json_string_value(json_object_get(event, "tenant"));
	copy->user_id = json_string_value(json_object_get(event, "user_id"));
	copy->mailbox_id = json_string_value(json_object_get(event, "mailbox_id"));
	if (copy->tenant_id == NULL || !ex_storage_tenant_is_valid(copy->tenant_id) || copy->user_id == NULL ||
	    strlen(copy->user_id) != 36 || copy->mailbox_id == NULL || strlen(copy->mailbox_id) != 36 ||
	    !json_is_integer(uid) || json_integer_value(uid) < 1)
		return -1;
	snprintf(copy->uid, sizeof(copy->uid), "%lld", (long long)json_integer_value(uid));
	if (sender == NULL || imip_address_lower(sender, copy->sender, sizeof(copy->sender)) != 0)
		copy->sender[0] = '\0';
	return 0;
}

ex_bus_verdict imip_handle_delivered(const char *subject, const char *data, size_t length, void *context)
{
	imip_service *service = context;
	json_error_t parse_error;
	json_t *event = json_loadb(data, length, 0, &parse_error);
	delivered_copy copy;
	memset(&copy, 0, sizeof(copy));
	if (event == NULL || read_event(event, &copy) != 0) {
		ex_log(EX_LOG_WARN, "imip_event_invalid", "{s:s}", "subject", subject);
		json_decref(event);
		return EX_BUS_TERM;
	}

	message_row row = { .copy = &copy };
	ex_db_error error;
	memset(&error, 0, sizeof(error));
	ex_bus_verdict verdict = EX_BUS_ACK;
	if (ex_db_tenant_transaction(service->database, copy.tenant_id, EX_DB_READ_COMMITTED, read_row, &row, &error) != 0) {
		ex_counter_add(service->failures, 1);
		ex_log(EX_LOG_ERROR, "imip_read_failed", "{s:s, s:s, s:s}", "tenant", copy.tenant_id, "sqlstate",
		       error.sqlstate, "error", error.message);
		verdict = EX_BUS_NAK;
	} else if (!row.found) {
		/* Expunged before this event was handled: nothing to apply. */
		ex_log(EX_LOG_INFO, "imip_message_gone", "{s:s, s:s, s:s}", "tenant", copy.tenant_id, "mailbox",
		       copy.mailbox_id, "message_uid", copy.uid);
	} else if (!row.may_have_calendar) {
		ex_counter_add(service->without_calendar, 1);
	} else {
		verdict = handle_message(service, &copy, &row);
	}
	json_decref(event);
	return verdict;
}
