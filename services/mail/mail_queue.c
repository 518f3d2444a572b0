/*
 * The submission queue. Local recipients are delivered at once through
 * the same path as SMTP (ex_mail_deliver: storage, fsync, one transaction,
 * mail.delivered event). Remote recipients are queued: the message is
 * written to storage as queue/<uuid> and made durable, then the queue
 * rows are inserted in one transaction, and only then is the submission
 * accepted. A crash between the two leaves an object no row names.
 *
 * When a message has both, the remote copy is queued first but held (a
 * future locked_until, so no worker takes it), then the local copies are
 * delivered, then the remote copy is released, or discarded when local
 * delivery failed. So a client that gets a 4xx reply has had nothing
 * delivered or sent, except after a crash between the two steps: then
 * the held copy is sent once its hold ends and the retry sends it again.
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expresso/log.h"
#include "mail_alias.h"
#include "mail_dsn_send.h"
#include "mail_envelope.h"
#include "mail_outbound.h"
#include "mail_queue.h"
#include "mail_sweep.h"
#include "smtp_address.h"
#include "smtp_trace.h"

enum { KEY_SIZE = 128, NUMBER_TEXT = 24 };

/* Seconds a held remote copy waits for its local copies before a worker may take it anyway (after a crash). */
#define HOLD_SECONDS "600"

static int random_uuid(char out[EX_SMTP_UUID_TEXT])
{
	unsigned char bytes[16];
	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		return -1;
	bytes[6] = (unsigned char)((bytes[6] & 0x0f) | 0x40);
	bytes[8] = (unsigned char)((bytes[8] & 0x3f) | 0x80);
	snprintf(out, EX_SMTP_UUID_TEXT, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
		 bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
	return 0;
}

typedef struct {
	const ex_mail_queue_entry *entry;
	const char *id;
	const char *storage_key;
	const char *size;
	const char *lifetime;
} queue_insert;

static int insert_queue_rows(PGconn *connection, void *context, ex_db_error *error)
{
	const queue_insert *insert = context;
	const ex_mail_queue_entry *entry = insert->entry;
	const char *params[] = {
		insert->id, entry->tenant_id, entry->user_id, entry->reverse_path, insert->storage_key, insert->size,
		entry->envelope_id, entry->return_content, entry->session_id != NULL ? entry->session_id : "",
		insert->lifetime, entry->held ? HOLD_SECONDS : "0",
	};
	PGresult *result = ex_db_exec(connection,
				      "INSERT INTO mail_queue (id, tenant_id, user_id, reverse_path, storage_key, size, "
				      "envelope_id, return_content, session_id, expires_at, locked_until) VALUES ($1, $2, "
				      "$3, $4, $5, $6, $7, $8, $9, now() + make_interval(secs => $10::bigint), "
				      "CASE WHEN $11::bigint > 0 THEN now() + make_interval(secs => $11::bigint) END)",
				      11, params, error);
	if (result == NULL)
		return -1;
	PQclear(result);

	for (size_t i = 0; i < entry->recipient_count; i++) {
		char position[NUMBER_TEXT];
		snprintf(position, sizeof(position), "%zu", i);
		const ex_mail_queue_recipient *recipient = &entry->recipients[i];
		const char *recipient_params[] = { entry->tenant_id, insert->id, position, recipient->address,
						   recipient->notify, recipient->original_recipient };
		result = ex_db_exec(connection,
				    "INSERT INTO mail_queue_recipients (tenant_id, queue_id, position, address, notify, "
				    "original_recipient) VALUES ($1, $2, $3, $4, $5, $6)",
				    6, recipient_params, error);
		if (result == NULL)
			return -1;
		PQclear(result);
	}
	if (entry->also != NULL && entry->also(connection, entry->also_context, error) != 0)
		return -1;
	return ex_mail_sweep_forget_key(connection, entry->tenant_id, insert->storage_key, error);
}

int ex_mail_queue_enqueue(ex_mail_service *service, const ex_mail_queue_entry *entry, char *queue_id,
			  size_t queue_id_size)
{
	char id[EX_SMTP_UUID_TEXT];
	char key[KEY_SIZE];
	char err[EX_STORAGE_ERROR_MAX] = "";
	char size[NUMBER_TEXT];
	char lifetime[NUMBER_TEXT];
	ex_storage_writer *writer = NULL;

	if (random_uuid(id) != 0)
		return -1;
	snprintf(key, sizeof(key), "queue/%s", id);
	const char *keys[] = { key };
	if (ex_mail_sweep_record_keys(service, entry->tenant_id, keys, 1) != 0)
		return -1;
	ex_storage_status status =
		ex_storage_writer_begin(service->storage, entry->tenant_id, key, &writer, err, sizeof(err));
	if (status == EX_STORAGE_OK && entry->trace != NULL)
		status = ex_storage_writer_write(writer, entry->trace, entry->trace_length, err, sizeof(err));
	if (status == EX_STORAGE_OK)
		status = ex_storage_writer_write(writer, entry->content, entry->length, err, sizeof(err));
	if (status != EX_STORAGE_OK) {
		ex_storage_writer_abort(writer);
		ex_log(EX_LOG_ERROR, "queue_store_failed", "{s:s, s:s, s:s}", "session",
		       entry->session_id != NULL ? entry->session_id : "", "key", key, "error", err);
		return -1;
	}
	if (ex_storage_writer_commit(writer, err, sizeof(err)) != EX_STORAGE_OK) {
		ex_log(EX_LOG_ERROR, "queue_store_failed", "{s:s, s:s, s:s}", "session",
		       entry->session_id != NULL ? entry->session_id : "", "key", key, "error", err);
		return -1;
	}

	snprintf(size, sizeof(size), "%zu", entry->length + (entry->trace != NULL ? entry->trace_length : 0));
	snprintf(lifetime, sizeof(lifetime), "%lld", (long long)ex_mail_outbound_lifetime_seconds(service->outbound));
	queue_insert insert = { .entry = entry, .id = id, .storage_key = key, .size = size, .lifetime = lifetime };
	ex_db_error error = { 0 };
	if (ex_db_tenant_transaction(service->database, entry->tenant_id, EX_DB_READ_COMMITTED, insert_queue_rows,
				     &insert, &error) != 0) {
		ex_log(EX_LOG_ERROR, "queue_insert_failed", "{s:s, s:s, s:s}", "session",
		       entry->session_id != NULL ? entry->session_id : "", "tenant", entry->tenant_id, "error",
		       error.message);
		if (ex_storage_delete(service->storage, entry->tenant_id, key, err, sizeof(err)) != EX_STORAGE_OK)
			ex_log(EX_LOG_WARN, "queue_orphan_left", "{s:s, s:s}", "key", key, "error", err);
		return -1;
	}
	snprintf(queue_id, queue_id_size, "%s", id);
	ex_log(EX_LOG_INFO, "queue_accepted", "{s:s, s:s, s:s, s:I, s:s}", "session",
	       entry->session_id != NULL ? entry->session_id : "", "tenant", entry->tenant_id, "queue_id", id,
	       "recipients", (json_int_t)entry->recipient_count, "sender", entry->reverse_path);
	if (!entry->held)
		ex_mail_outbound_wake(service->outbound);
	return 0;
}

typedef struct {
	const char *id;
	const char *tenant_id;
	char storage_key[KEY_SIZE];
} held_message;

static int release_rows(PGconn *connection, void *context, ex_db_error *error)
{
	const held_message *held = context;
	const char *params[] = { held->id };
	PGresult *result = ex_db_exec(connection,
				      "UPDATE mail_queue SET locked_until = NULL WHERE id = $1 AND lease_token IS NULL", 1,
				      params, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

/* Deletes the rows of a held message and lists its object as garbage, as a finished delivery does. */
static int discard_rows(PGconn *connection, void *context, ex_db_error *error)
{
	held_message *held = context;
	const char *params[] = { held->id };
	PGresult *result = ex_db_exec(connection, "DELETE FROM mail_queue WHERE id = $1 RETURNING storage_key", 1,
				      params, error);
	if (result == NULL)
		return -1;
	if (PQntuples(result) == 1)
		snprintf(held->storage_key, sizeof(held->storage_key), "%s", PQgetvalue(result, 0, 0));
	PQclear(result);
	if (held->storage_key[0] == '\0')
		return 0;
	const char *garbage_params[] = { held->tenant_id, held->storage_key };
	result = ex_db_exec(connection,
			    "INSERT INTO mail_object_garbage (tenant_id, storage_key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
			    2, garbage_params, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

/*
 * Ends the hold of the queued message ID: releases it to the workers when
 * DELIVERED, else deletes it. A failure is logged; a held message whose
 * release failed is taken once its hold ends.
 */
static void end_hold(ex_mail_service *service, const char *tenant_id, const char *id, bool delivered)
{
	held_message held = { .id = id, .tenant_id = tenant_id };
	ex_db_error error = { 0 };
	char err[EX_STORAGE_ERROR_MAX] = "";
	if (ex_db_tenant_transaction(service->database, tenant_id, EX_DB_READ_COMMITTED,
				     delivered ? release_rows : discard_rows, &held, &error) != 0) {
		ex_log(EX_LOG_ERROR, delivered ? "queue_release_failed" : "queue_discard_failed", "{s:s, s:s}",
		       "queue_id", id, "error", error.message);
		return;
	}
	if (delivered) {
		ex_mail_outbound_wake(service->outbound);
		return;
	}
	if (held.storage_key[0] != '\0' &&
	    ex_storage_delete(service->storage, tenant_id, held.storage_key, err, sizeof(err)) != EX_STORAGE_OK)
		ex_log(EX_LOG_WARN, "queue_orphan_left", "{s:s, s:s}", "key", held.storage_key, "error", err);
}

/* Writes the Received field of a relayed message (the trace without Return-Path) into OUT. Returns its length or -1. */
static int received_field(ex_mail_service *service, const ex_smtp_envelope *envelope, const char *queue_id,
			  char *out, size_t size)
{
	int length = ex_smtp_trace_headers(out, size, envelope, service->hostname, queue_id, NULL, time(NULL));
	if (length < 0)
		return -1;
	/* RFC 5321 4.4: Return-Path is added only at final delivery, so drop the first field. */
	const char *received = strstr(out, "\r\nReceived:");
	if (received == NULL)
		return -1;
	size_t skip = (size_t)(received + 2 - out);
	memmove(out, out + skip, (size_t)length - skip + 1);
	return length - (int)skip;
}

/* Splits ENVELOPE's recipients into LOCAL (an envelope of its own) and REMOTE addresses. */
static void split_recipients(const ex_smtp_envelope *envelope, ex_smtp_recipient *local, size_t *local_count,
			     ex_mail_queue_recipient *remote, size_t *remote_count)
{
	*local_count = 0;
	*remote_count = 0;
	for (size_t i = 0; i < envelope->recipient_count; i++) {
		const ex_smtp_recipient *recipient = &envelope->recipients[i];
		if (recipient->remote)
			remote[(*remote_count)++] = (ex_mail_queue_recipient){
				.address = recipient->address,
				.notify = recipient->notify[0] != '\0' ? recipient->notify : NULL,
				.original_recipient =
					recipient->original_recipient[0] != '\0' ? recipient->original_recipient : NULL,
			};
		else
			local[(*local_count)++] = *recipient;
	}
}

/* Checks the From field of an authenticated submission against the user's address and aliases. */
static ex_smtp_delivery_status check_from(ex_mail_service *service, const ex_smtp_envelope *envelope)
{
	char **addresses = NULL;
	int count = ex_mail_alias_sender_addresses(service, envelope->identity, &addresses);
	if (count < 0)
		return EX_SMTP_DELIVERY_TEMPORARY_FAILURE;
	bool allowed = ex_mail_envelope_from_allowed(envelope->content, envelope->length, (const char *const *)addresses,
						     (size_t)count);
	ex_mail_alias_free(addresses, (size_t)count);
	if (allowed)
		return EX_SMTP_DELIVERY_STORED;
	ex_log(EX_LOG_WARN, "smtp_from_rejected", "{s:s, s:s}", "session", envelope->session_id, "user",
	       envelope->identity->user_id);
	return EX_SMTP_DELIVERY_FROM_REJECTED;
}

/* Queues the REMOTE recipients of ENVELOPE, held when HELD, and writes the queue row's id into ID. */
static ex_smtp_delivery_status queue_remote(ex_mail_service *service, const ex_smtp_envelope *envelope,
					    const ex_mail_queue_recipient *remote, size_t remote_count,
					    const char *queue_id, bool held, char id[EX_SMTP_UUID_TEXT])
{
	char trace[EX_SMTP_TRACE_MAX];
	int trace_length = received_field(service, envelope, queue_id, trace, sizeof(trace));
	const ex_mail_queue_entry entry = {
		.tenant_id = envelope->identity->tenant_id,
		.user_id = envelope->identity->user_id,
		.reverse_path = envelope->reverse_path,
		.recipients = remote,
		.recipient_count = remote_count,
		.trace = trace_length > 0 ? trace : NULL,
		.trace_length = trace_length > 0 ? (size_t)trace_length : 0,
		.content = envelope->content,
		.length = envelope->length,
		.envelope_id = envelope->envelope_id,
		.return_content = envelope->return_content,
		.session_id = envelope->session_id,
		.held = held,
	};
	if (ex_mail_queue_enqueue(service, &entry, id, EX_SMTP_UUID_TEXT) != 0)
		return EX_SMTP_DELIVERY_TEMPORARY_FAILURE;
	return EX_SMTP_DELIVERY_STORED;
}

/* Sends a "delivered" DSN for the local recipients that asked for one with NOTIFY=SUCCESS (RFC 3461 5.2.2). */
static void report_local_success(ex_mail_service *service, const ex_smtp_envelope *envelope,
				 const ex_smtp_recipient *local, size_t local_count)
{
	if (envelope->reverse_path[0] == '\0')
		return;
	ex_mail_dsn_recipient *entries = calloc(local_count, sizeof(*entries));
	if (entries == NULL)
		return;
	size_t count = 0;
	for (size_t i = 0; i < local_count; i++) {
		if (strstr(local[i].notify, "SUCCESS") == NULL)
			continue;
		entries[count++] = (ex_mail_dsn_recipient){
			.address = local[i].address,
			.original_recipient = local[i].original_recipient[0] != '\0' ? local[i].original_recipient : NULL,
			.action = "delivered",
			.status = "2.0.0",
		};
	}
	if (count > 0) {
		const ex_mail_dsn_request request = {
			.tenant_id = local[0].tenant_id,
			.sender = envelope->reverse_path,
			.envelope_id = envelope->envelope_id,
			/* RET=FULL applies to failure reports only (RFC 3461 4.3), so a success report returns the header. */
			.return_full = false,
			.about_id = envelope->session_id,
			.recipients = entries,
			.recipient_count = count,
			.original = envelope->content,
			.original_length = envelope->length,
		};
		/* NOTE: the message is already delivered, so a DSN that fails here is only logged. */
		ex_mail_dsn_send(service, &request);
	}
	free(entries);
}

ex_smtp_delivery_status ex_mail_queue_deliver(void *context, const ex_smtp_envelope *envelope, char *queue_id,
					      size_t queue_id_size)
{
	ex_mail_service *service = context;
	size_t local_count = 0;
	size_t remote_count = 0;

	ex_smtp_recipient *local = calloc(envelope->recipient_count, sizeof(*local));
	ex_mail_queue_recipient *remote = calloc(envelope->recipient_count, sizeof(*remote));
	if (local == NULL || remote == NULL) {
		free(local);
		free(remote);
		return EX_SMTP_DELIVERY_TEMPORARY_FAILURE;
	}
	split_recipients(envelope, local, &local_count, remote, &remote_count);

	ex_smtp_delivery_status status = EX_SMTP_DELIVERY_STORED;
	if (remote_count > 0 && envelope->identity == NULL) {
		/* The session accepts remote recipients only after AUTH; anything else is a bug upstream. */
		status = EX_SMTP_DELIVERY_TEMPORARY_FAILURE;
	} else if (envelope->identity != NULL) {
		status = check_from(service, envelope);
	}
	char remote_id[EX_SMTP_UUID_TEXT] = "";
	if (status == EX_SMTP_DELIVERY_STORED && remote_count > 0) {
		/* The Received field of the remote copy needs an id before the local copies have theirs. */
		char id[EX_SMTP_UUID_TEXT];
		if (random_uuid(id) != 0)
			status = EX_SMTP_DELIVERY_TEMPORARY_FAILURE;
		else
			snprintf(queue_id, queue_id_size, "%.8s%.4s", id, id + 9);
		if (status == EX_SMTP_DELIVERY_STORED)
			status = queue_remote(service, envelope, remote, remote_count, queue_id, local_count > 0,
					      remote_id);
	}
	if (status == EX_SMTP_DELIVERY_STORED && local_count > 0) {
		ex_smtp_envelope local_envelope = *envelope;
		local_envelope.recipients = local;
		local_envelope.recipient_count = local_count;
		status = ex_mail_deliver(service, &local_envelope, queue_id, queue_id_size);
		if (status == EX_SMTP_DELIVERY_STORED)
			report_local_success(service, envelope, local, local_count);
		if (remote_id[0] != '\0')
			end_hold(service, envelope->identity->tenant_id, remote_id, status == EX_SMTP_DELIVERY_STORED);
	}
	free(local);
	free(remote);
	return status;
}

ex_mail_queue_status ex_mail_queue_submit(ex_mail_service *service, const ex_mail_submission *submission,
					  char *queue_id, size_t queue_id_size, long *failed_recipient)
{
	if (failed_recipient != NULL)
		*failed_recipient = -1;
	if (queue_id_size > 0)
		queue_id[0] = '\0';
	if (submission->recipient_count == 0)
		return EX_MAIL_QUEUE_INVALID_RECIPIENT;

	ex_smtp_recipient *recipients = calloc(submission->recipient_count, sizeof(*recipients));
	ex_mail_queue_recipient *remote = calloc(submission->recipient_count, sizeof(*remote));
	if (recipients == NULL || remote == NULL) {
		free(recipients);
		free(remote);
		return EX_MAIL_QUEUE_TEMPORARY_FAILURE;
	}

	size_t local_count = 0;
	size_t remote_count = 0;
	ex_mail_queue_status status = EX_MAIL_QUEUE_ACCEPTED;
	for (size_t i = 0; i < submission->recipient_count && status == EX_MAIL_QUEUE_ACCEPTED; i++) {
		const char *address = submission->recipients[i];
		ex_smtp_path path;
		if (ex_smtp_parse_mailbox(address, strlen(address), true, &path) != EX_SMTP_PATH_OK) {
			status = EX_MAIL_QUEUE_INVALID_RECIPIENT;
		} else {
			switch (ex_mail_lookup_recipient(service, &path, &recipients[local_count])) {
			case EX_SMTP_LOOKUP_LOCAL:
				snprintf(recipients[local_count].address, sizeof(recipients[local_count].address), "%s",
					 path.mailbox);
				local_count++;
				break;
			case EX_SMTP_LOOKUP_NO_MAILBOX:
				status = EX_MAIL_QUEUE_INVALID_RECIPIENT;
				break;
			case EX_SMTP_LOOKUP_OVER_QUOTA:
				status = EX_MAIL_QUEUE_OVER_QUOTA;
				break;
			case EX_SMTP_LOOKUP_NOT_LOCAL:
				if (submission->tenant_id == NULL)
					status = EX_MAIL_QUEUE_REMOTE_UNAVAILABLE;
				else
					remote[remote_count++] = (ex_mail_queue_recipient){ .address = address };
				break;
			case EX_SMTP_LOOKUP_TEMPORARY_FAILURE:
			default:
				status = EX_MAIL_QUEUE_TEMPORARY_FAILURE;
				break;
			}
		}
		if (status != EX_MAIL_QUEUE_ACCEPTED && failed_recipient != NULL)
			*failed_recipient = (long)i;
	}

	const ex_smtp_envelope envelope = {
		.session_id = submission->session_id,
		.helo = service->hostname,
		.client_address = "127.0.0.1",
		.listener = EX_SMTP_LISTENER_SUBMISSION,
		.tls = true,
		.esmtp = true,
		.reverse_path = submission->reverse_path,
		.smtputf8 = true,
		.recipients = recipients,
		.recipient_count = local_count,
		.content = submission->content,
		.length = submission->length,
	};
	char remote_id[EX_SMTP_UUID_TEXT] = "";
	if (status == EX_MAIL_QUEUE_ACCEPTED && remote_count > 0) {
		/* Queued first and held while local copies exist, as in ex_mail_queue_deliver. */
		char id[EX_SMTP_UUID_TEXT];
		char trace[EX_SMTP_TRACE_MAX];
		int trace_length = -1;
		if (random_uuid(id) == 0) {
			snprintf(queue_id, queue_id_size, "%.8s%.4s", id, id + 9);
			trace_length = received_field(service, &envelope, queue_id, trace, sizeof(trace));
		}
		const ex_mail_queue_entry entry = {
			.tenant_id = submission->tenant_id,
			.user_id = submission->user_id,
			.reverse_path = submission->reverse_path,
			.recipients = remote,
			.recipient_count = remote_count,
			.trace = trace_length > 0 ? trace : NULL,
			.trace_length = trace_length > 0 ? (size_t)trace_length : 0,
			.content = submission->content,
			.length = submission->length,
			.session_id = submission->session_id,
			.held = local_count > 0,
			.also = submission->also,
			.also_context = submission->also_context,
		};
		if (ex_mail_queue_enqueue(service, &entry, remote_id, sizeof(remote_id)) != 0) {
			remote_id[0] = '\0';
			status = EX_MAIL_QUEUE_TEMPORARY_FAILURE;
		} else if (local_count == 0) {
			snprintf(queue_id, queue_id_size, "%s", remote_id);
		}
	}
	if (status == EX_MAIL_QUEUE_ACCEPTED && local_count > 0) {
		switch (ex_mail_deliver(service, &envelope, queue_id, queue_id_size)) {
		case EX_SMTP_DELIVERY_STORED:
			break;
		case EX_SMTP_DELIVERY_OVER_QUOTA:
			status = EX_MAIL_QUEUE_OVER_QUOTA;
			break;
		default:
			status = EX_MAIL_QUEUE_TEMPORARY_FAILURE;
			break;
		}
		if (remote_id[0] != '\0')
			end_hold(service, submission->tenant_id, remote_id, status == EX_MAIL_QUEUE_ACCEPTED);
	}
	if (status != EX_MAIL_QUEUE_ACCEPTED)
		ex_log(EX_LOG_WARN, "mail_submission_refused", "{s:s, s:i, s:I}", "session",
		       submission->session_id != NULL ? submission->session_id : "", "status", (int)status,
		       "failed_recipient", (json_int_t)(failed_recipient != NULL ? *failed_recipient : -1));
	free(recipients);
	free(remote);
	return status;
}
