/*
 * Local delivery. For each recipient the active Sieve script, if any,
 * decides which mailboxes (with which flags) the copy goes to
 * (mail_sieve.c). The message, with its Return-Path and Received fields
 * in front, is written to object storage under mail/<user id>/<uuid>, its
 * file fsynced and renamed over the key. The key is listed in
 * mail_object_garbage before: either it was reserved by the user's
 * previous delivery (mail_key_reserve.c), or the group committer lists it
 * first. The group committer (mail_commit_group.c) then fsyncs the
 * directory entries of several sessions' objects at once and inserts
 * their messages rows in one transaction. The rows have uid NULL, so the
 * insert trigger takes each mailbox's next UID and modseq under its row
 * lock. Only after the commit does the session reply 250 and Sieve send
 * its redirects and replies. A crash between the two leaves listed
 * objects that no row names, which the sweep deletes (mail_sweep.c), and
 * readers reach objects only through rows.
 *
 * Recipient lookups map the domain to a tenant with the SECURITY DEFINER
 * function ex_tenant_for_domain(), then read the user inside that tenant.
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expresso/log.h"
#include "imap_structure.h"
#include "mail_commit_group.h"
#include "mail_delivery_index.h"
#include "mail_envelope.h"
#include "mail_key_reserve.h"
#include "mail_prepared.h"
#include "mail_service.h"
#include "mail_sieve.h"
#include "mail_sweep.h"
#include "smtp_trace.h"

enum { ACQUIRE_TIMEOUT_MS = 5000, KEY_SIZE = 128, NUMBER_TEXT = 24 };


typedef struct {
	const char *address;
	ex_smtp_recipient *recipient;
	bool found;
	bool over_quota;
} recipient_lookup;

/* Generates a random (version 4) UUID in text form. */
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

int ex_mail_tenant_for_domain(ex_db_pool *pool, const char *domain, char out[EX_SMTP_UUID_TEXT])
{
	ex_db_error error = { 0 };
	PGconn *connection = ex_db_acquire(pool, ACQUIRE_TIMEOUT_MS, &error);
	if (connection == NULL) {
		ex_log(EX_LOG_ERROR, "domain_lookup_failed", "{s:s, s:s}", "domain", domain, "error", error.message);
		return -1;
	}
	const char *params[] = { domain };
	PGresult *result = ex_db_exec(connection, "SELECT ex_tenant_for_domain($1)", 1, params, &error);
	ex_db_release(pool, connection);
	if (result == NULL) {
		ex_log(EX_LOG_ERROR, "domain_lookup_failed", "{s:s, s:s}", "domain", domain, "error", error.message);
		return -1;
	}
	int found = PQntuples(result) == 1 && !PQgetisnull(result, 0, 0);
	if (found)
		snprintf(out, EX_SMTP_UUID_TEXT, "%s", PQgetvalue(result, 0, 0));
	PQclear(result);
	return found;
}

/*
 * Maps the recipient's domain to its tenant, binds it and reads the user
 * and quota state, in one round trip (libpq pipeline mode). The pipeline
 * contains BEGIN, the binding of ex_tenant_for_domain()'s tenant, ex_mail_usage_sql
 * and COMMIT. The binding is '' when no tenant owns the domain, so
 * row-level security then shows no user.
 * Returns 1 when the domain is local, 0 when not, -1 on an error.
 */
static int lookup_pipelined(PGconn *connection, recipient_lookup *lookup, const char *domain, ex_db_error *error)
{
	if (PQenterPipelineMode(connection) != 1) {
		snprintf(error->message, sizeof(error->message), "%s", PQerrorMessage(connection));
		return -1;
	}
	const char *bind_params[] = { domain };
	const char *usage_params[] = { lookup->address, "0" };
	bool sent = PQsendQueryParams(connection, "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY", 0, NULL, NULL, NULL,
				      NULL, 0) == 1 &&
		    PQsendQueryPrepared(connection, EX_MAIL_STATEMENT_BIND_DOMAIN, 1, bind_params, NULL, NULL, 0) == 1 &&
		    PQsendQueryPrepared(connection, EX_MAIL_STATEMENT_USAGE, 2, usage_params, NULL, NULL, 0) == 1 &&
		    PQsendQueryParams(connection, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) == 1 &&
		    PQpipelineSync(connection) == 1;
	if (!sent) {
		snprintf(error->message, sizeof(error->message), "%s", PQerrorMessage(connection));
		ex_mail_pipeline_abandon(connection, 4);
		return -1;
	}

	PGresult *tenant = NULL;
	PGresult *user = NULL;
	int failed = ex_db_pipeline_read(connection, NULL, error);
	failed |= ex_db_pipeline_read(connection, &tenant, error);
	failed |= ex_db_pipeline_read(connection, &user, error);
	failed |= ex_db_pipeline_read(connection, NULL, error);
	PGresult *sync = PQgetResult(connection);
	if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC || PQexitPipelineMode(connection) != 1) {
		if (failed == 0)
			snprintf(error->message, sizeof(error->message), "%s", PQerrorMessage(connection));
		failed = -1;
	}
	PQclear(sync);

	int local = 0;
	if (failed == 0 && tenant != NULL && PQntuples(tenant) == 1 && PQgetvalue(tenant, 0, 0)[0] != '\0') {
		local = 1;
		snprintf(lookup->recipient->tenant_id, sizeof(lookup->recipient->tenant_id), "%s",
			 PQgetvalue(tenant, 0, 0));
		lookup->found = user != NULL && PQntuples(user) == 1;
		if (lookup->found) {
			snprintf(lookup->recipient->user_id, sizeof(lookup->recipient->user_id), "%s",
				 PQgetvalue(user, 0, 0));
			/* Over when the bytes stored already exceed the quota; a message that would cross it is refused after DATA. */
			lookup->over_quota = strcmp(PQgetvalue(user, 0, 1), "t") == 0;
		}
	}
	PQclear(tenant);
	PQclear(user);
	return failed != 0 ? -1 : local;
}

ex_smtp_lookup_status ex_mail_lookup_recipient(void *context, const ex_smtp_path *path, ex_smtp_recipient *recipient)
{
	ex_mail_service *service = context;
	ex_db_error error = { 0 };
	const char *domain = ex_smtp_path_domain(path);

	PGconn *connection = ex_db_acquire(service->database, ACQUIRE_TIMEOUT_MS, &error);
	if (connection == NULL) {
		ex_log(EX_LOG_ERROR, "smtp_recipient_lookup_failed", "{s:s, s:s}", "domain", domain, "error",
		       error.message);
		return EX_SMTP_LOOKUP_TEMPORARY_FAILURE;
	}
	recipient_lookup lookup = { .address = path->mailbox, .recipient = recipient };
	int local = lookup_pipelined(connection, &lookup, domain, &error);
	/* After a failure the connection may be inside the aborted transaction: release rolls it back. */
	ex_db_release(service->database, connection);
	if (local < 0) {
		ex_log(EX_LOG_ERROR, "smtp_recipient_lookup_failed", "{s:s, s:s}", "domain", domain, "error",
		       error.message);
		return EX_SMTP_LOOKUP_TEMPORARY_FAILURE;
	}
	if (local == 0)
		return EX_SMTP_LOOKUP_NOT_LOCAL;
	if (!lookup.found)
		return EX_SMTP_LOOKUP_NO_MAILBOX;
	if (lookup.over_quota)
		return EX_SMTP_LOOKUP_OVER_QUOTA;
	return EX_SMTP_LOOKUP_LOCAL;
}

/* One stored copy: the object of one recipient and, after the commit, its row. */
typedef struct {
	const ex_smtp_recipient *recipient;
	char storage_key[KEY_SIZE];
	bool key_reserved;                  /* storage_key came from the key reserve, so its garbage record exists */
	char next_key[KEY_SIZE];            /* key the fast insert reserves for the user's next delivery, or "" */
	uint64_t size;
	bool stored;
	char mailbox_id[EX_SMTP_UUID_TEXT]; /* of the first row, for the event */
	char uid[NUMBER_TEXT];
	ex_mail_sieve_plan sieve;           /* the rows to insert: mailboxes and flags */
} delivery_copy;

typedef struct {
	ex_mail_service *service;
	const char *tenant_id;
	delivery_copy *copies;
	size_t count;
	const ex_mail_envelope *fields;
	/* The cached ENVELOPE and BODYSTRUCTURE as bytea text, or NULL to have FETCH build them. */
	const char *imap_envelope;
	const char *imap_bodystructure;
	bool over_quota;
} tenant_insert;

/* Creates the user's standard mailboxes (RFC 6154 special-use) that do not exist yet. */
static int create_standard_mailboxes(PGconn *connection, const char *tenant_id, const char *user_id,
				     ex_db_error *error)
{
	const char *params[] = { tenant_id, user_id };
	PGresult *result = ex_db_exec(connection,
				      "INSERT INTO mailboxes (tenant_id, user_id, name, special_use) "
				      "SELECT $1, $2, standard.name, standard.special_use FROM (VALUES "
				      "('INBOX', NULL), ('Sent', '\\Sent'), ('Drafts', '\\Drafts'), ('Trash', '\\Trash'), "
				      "('Junk', '\\Junk'), ('Archive', '\\Archive')) AS standard (name, special_use) "
				      "ON CONFLICT DO NOTHING",
				      2, params, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

/* Finds the id of the user's mailbox NAME: 1 found, 0 missing, -1 error. */
static int find_mailbox(PGconn *connection, const char *user_id, const char *name, char out[EX_SMTP_UUID_TEXT],
			ex_db_error *error)
{
	const char *params[] = { user_id, name };
	PGresult *result = ex_db_exec(connection, "SELECT id FROM mailboxes WHERE user_id = $1 AND name = $2", 2,
				      params, error);
	if (result == NULL)
		return -1;
	int found = PQntuples(result) == 1;
	if (found)
		snprintf(out, EX_SMTP_UUID_TEXT, "%s", PQgetvalue(result, 0, 0));
	PQclear(result);
	return found;
}

/* Returns true when NAME passes the mailboxes_name_format check, so creating it cannot fail the transaction. */
static bool mailbox_name_valid(const char *name)
{
	size_t length = strlen(name);
	if (length == 0 || length > 1024 || name[0] == '/' || name[length - 1] == '/' || strstr(name, "//") != NULL)
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return false;
	}
	return true;
}

/*
 * Finds the mailbox of target INDEX of COPY's Sieve plan. INBOX and the
 * other standard mailboxes are created on first use; another missing
 * mailbox is created only when sieve_create_folders is on, otherwise the
 * copy goes to INBOX and the script records the error. Returns 1 with
 * the id in OUT, 2 when the target is to be skipped (it fell back to
 * INBOX, which another target already files into), 0 or -1 on failure.
 */
static int target_mailbox(PGconn *connection, ex_mail_service *service, const char *tenant_id, delivery_copy *copy,
			  size_t index, char out[EX_SMTP_UUID_TEXT], ex_db_error *error)
{
	const char *user_id = copy->recipient->user_id;
	const char *name = copy->sieve.targets[index].mailbox;
	int found = find_mailbox(connection, user_id, name, out, error);
	if (found != 0)
		return found;

	if (create_standard_mailboxes(connection, tenant_id, user_id, error) != 0)
		return -1;
	if (service->sieve_create_folders && strcmp(name, "INBOX") != 0 && mailbox_name_valid(name)) {
		const char *params[] = { tenant_id, user_id, name };
		PGresult *result = ex_db_exec(connection,
					      "INSERT INTO mailboxes (tenant_id, user_id, name) VALUES ($1, $2, $3) "
					      "ON CONFLICT DO NOTHING",
					      3, params, error);
		if (result == NULL)
			return -1;
		PQclear(result);
	}
	found = find_mailbox(connection, user_id, name, out, error);
	if (found != 0 || strcmp(name, "INBOX") == 0)
		return found;
	int fallback = ex_mail_sieve_fall_back_to_inbox(&copy->sieve, index);
	if (fallback < 0)
		return -1;
	if (fallback > 0)
		return 2;
	return find_mailbox(connection, user_id, "INBOX", out, error);
}

static int insert_copy(PGconn *connection, const tenant_insert *insert, delivery_copy *copy, ex_db_error *error)
{
	char size_text[NUMBER_TEXT];
	snprintf(size_text, sizeof(size_text), "%llu", (unsigned long long)copy->size);

	const char *quota_params[] = { copy->recipient->address, size_text };
	PGresult *result = ex_db_exec(connection, ex_mail_usage_sql, 2, quota_params, error);
	if (result == NULL)
		return -1;
	bool over = PQntuples(result) == 1 && strcmp(PQgetvalue(result, 0, 1), "t") == 0;
	PQclear(result);
	if (over) {
		snprintf(error->message, sizeof(error->message), "over quota");
		return -1;
	}

	const char *const *fields = (const char *const *)insert->fields->values;
	for (size_t i = 0; i < copy->sieve.target_count; i++) {
		char mailbox_id[EX_SMTP_UUID_TEXT];
		int found = target_mailbox(connection, insert->service, insert->tenant_id, copy, i, mailbox_id, error);
		if (found <= 0) {
			if (found == 0)
				snprintf(error->message, sizeof(error->message),
					 "INBOX of user %s could not be found or created", copy->recipient->user_id);
			return -1;
		}
		if (found == 2)
			continue;

		/* uid NULL: the insert trigger takes the mailbox's next UID and modseq. */
		const char *params[] = {
			insert->tenant_id, mailbox_id, size_text, copy->storage_key, copy->sieve.targets[i].flags,
			fields[EX_MAIL_ENVELOPE_DATE], fields[EX_MAIL_ENVELOPE_SUBJECT], fields[EX_MAIL_ENVELOPE_FROM],
			fields[EX_MAIL_ENVELOPE_SENDER], fields[EX_MAIL_ENVELOPE_REPLY_TO], fields[EX_MAIL_ENVELOPE_TO],
			fields[EX_MAIL_ENVELOPE_CC], fields[EX_MAIL_ENVELOPE_BCC], fields[EX_MAIL_ENVELOPE_IN_REPLY_TO],
			fields[EX_MAIL_ENVELOPE_MESSAGE_ID], fields[EX_MAIL_ENVELOPE_REFERENCES], insert->imap_envelope,
			insert->imap_bodystructure,
		};
		result = ex_db_exec(connection,
				    "INSERT INTO messages (tenant_id, mailbox_id, uid, size, storage_key, flags, date, "
				    "subject, \"from\", sender, reply_to, \"to\", cc, bcc, in_reply_to, message_id, "
				    "\"references\", imap_envelope, imap_bodystructure) VALUES ($1, $2, NULL, $3, $4, $5, $6, "
				    "$7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::bytea, $18::bytea) RETURNING uid",
				    18, params, error);
		if (result == NULL)
			return -1;
		if (copy->mailbox_id[0] == '\0') {
			snprintf(copy->mailbox_id, sizeof(copy->mailbox_id), "%s", mailbox_id);
			snprintf(copy->uid, sizeof(copy->uid), "%s", PQgetvalue(result, 0, 0));
		}
		PQclear(result);
	}
	return 0;
}


/*
 * Queues the fast statement (ex_mail_fast_insert_sql) of target INDEX of
 * COPY on a connection in pipeline mode. The first target also reserves
 * the copy's next key, when it has one.
 */
static int send_fast_insert(PGconn *connection, const tenant_insert *insert, const delivery_copy *copy, size_t index,
			    const char *size_text)
{
	const char *const *fields = (const char *const *)insert->fields->values;
	const char *params[EX_MAIL_FAST_INSERT_PARAMS] = {
		insert->tenant_id, copy->sieve.targets[index].mailbox, size_text, copy->storage_key,
		copy->sieve.targets[index].flags, fields[EX_MAIL_ENVELOPE_DATE], fields[EX_MAIL_ENVELOPE_SUBJECT],
		fields[EX_MAIL_ENVELOPE_FROM], fields[EX_MAIL_ENVELOPE_SENDER], fields[EX_MAIL_ENVELOPE_REPLY_TO],
		fields[EX_MAIL_ENVELOPE_TO], fields[EX_MAIL_ENVELOPE_CC], fields[EX_MAIL_ENVELOPE_BCC],
		fields[EX_MAIL_ENVELOPE_IN_REPLY_TO], fields[EX_MAIL_ENVELOPE_MESSAGE_ID],
		fields[EX_MAIL_ENVELOPE_REFERENCES], insert->imap_envelope, insert->imap_bodystructure,
		copy->recipient->user_id, index == 0 ? "true" : "false",
		index == 0 && copy->next_key[0] != '\0' ? copy->next_key : NULL,
	};
	return PQsendQueryPrepared(connection, EX_MAIL_STATEMENT_FAST_INSERT, EX_MAIL_FAST_INSERT_PARAMS, params, NULL,
				   NULL, 0) == 1
		       ? 0
		       : -1;
}

static int insert_rows(PGconn *connection, void *context, ex_db_error *error)
{
	tenant_insert *insert = context;

	insert->over_quota = false;
	for (size_t i = 0; i < insert->count; i++) {
		if (strcmp(insert->copies[i].recipient->tenant_id, insert->tenant_id) != 0 ||
		    !insert->copies[i].stored)
			continue;
		if (insert_copy(connection, insert, &insert->copies[i], error) != 0) {
			insert->over_quota = strcmp(error->message, "over quota") == 0;
			return -1;
		}
		if (ex_mail_sweep_forget_key(connection, insert->tenant_id, insert->copies[i].storage_key, error) != 0)
			return -1;
	}
	return 0;
}

/* Writes one recipient's copy to storage: the file is durable, its directory entry not yet. */
static int store_copy(ex_mail_service *service, const ex_smtp_envelope *envelope, const char *queue_id,
		      delivery_copy *copy)
{
	char trace[EX_SMTP_TRACE_MAX];
	char err[EX_STORAGE_ERROR_MAX] = "";
	ex_storage_writer *writer = NULL;

	const char *for_recipient = envelope->recipient_count == 1 ? copy->recipient->address : NULL;
	int trace_length = ex_smtp_trace_headers(trace, sizeof(trace), envelope, service->hostname, queue_id,
						 for_recipient, time(NULL));
	if (trace_length < 0)
		return -1;

	ex_storage_status status = ex_storage_writer_begin(service->storage, copy->recipient->tenant_id,
							   copy->storage_key, &writer, err, sizeof(err));
	if (status == EX_STORAGE_OK)
		status = ex_storage_writer_write(writer, trace, (size_t)trace_length, err, sizeof(err));
	if (status == EX_STORAGE_OK)
		status = ex_storage_writer_write(writer, envelope->content, envelope->length, err, sizeof(err));
	if (status != EX_STORAGE_OK) {
		ex_storage_writer_abort(writer);
		ex_log(EX_LOG_ERROR, "smtp_store_failed", "{s:s, s:s, s:s}", "session", envelope->session_id, "key",
		       copy->storage_key, "error", err);
		return -1;
	}
	/* The directory entry becomes durable in the group commit, before the row commits. */
	status = ex_storage_writer_commit_unsynced(writer, err, sizeof(err));
	if (status != EX_STORAGE_OK) {
		ex_log(EX_LOG_ERROR, "smtp_store_failed", "{s:s, s:s, s:s}", "session", envelope->session_id, "key",
		       copy->storage_key, "error", err);
		return -1;
	}
	copy->size = (uint64_t)trace_length + envelope->length;
	copy->stored = true;
	return 0;
}

/* Removes the objects of a delivery that was not committed, so they do not wait for a sweep. */
static void remove_copies(ex_mail_service *service, delivery_copy *copies, size_t count, const char *tenant_id)
{
	char err[EX_STORAGE_ERROR_MAX];
	for (size_t i = 0; i < count; i++) {
		if (!copies[i].stored || (tenant_id != NULL && strcmp(copies[i].recipient->tenant_id, tenant_id) != 0))
			continue;
		if (ex_storage_delete(service->storage, copies[i].recipient->tenant_id, copies[i].storage_key, err,
				      sizeof(err)) != EX_STORAGE_OK)
			ex_log(EX_LOG_WARN, "smtp_orphan_left", "{s:s, s:s}", "key", copies[i].storage_key, "error", err);
		copies[i].stored = false;
	}
}

/* Bytes of the decoded subject carried in a mail.delivered event. */
enum { EVENT_SUBJECT_MAX = 200 };

static void publish_delivered(ex_mail_service *service, const ex_smtp_envelope *envelope, const delivery_copy *copy,
			      const char *subject)
{
	char err[256] = "";

	ex_log(EX_LOG_INFO, "smtp_delivered", "{s:s, s:s, s:s, s:s, s:s, s:I}", "session", envelope->session_id,
	       "tenant", copy->recipient->tenant_id, "user", copy->recipient->user_id, "mailbox", copy->mailbox_id,
	       "uid", copy->uid, "size", (json_int_t)copy->size);
	ex_counter_add(service->delivered, 1);
	if (service->bus == NULL)
		return;
	/* A short summary for notifications: the envelope sender and the decoded subject, never the body. */
	json_t *event = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s?}", "user_id", copy->recipient->user_id, "mailbox_id",
				  copy->mailbox_id, "uid", (json_int_t)strtoll(copy->uid, NULL, 10), "size",
				  (json_int_t)copy->size, "sender", envelope->reverse_path, "subject", subject);
	if (event == NULL)
		return;
	if (ex_bus_publish(service->bus, copy->recipient->tenant_id, "mail", "delivered", event, err, sizeof(err)) != 0)
		ex_log(EX_LOG_WARN, "event_publish_failed", "{s:s, s:s, s:s}", "event", "mail.delivered", "tenant",
		       copy->recipient->tenant_id, "error", err);
	json_decref(event);
}

/* One delivery's rows, written by the group committer inside the delivery's savepoint. */
typedef struct {
	ex_mail_service *service;
	const ex_smtp_envelope *envelope;
	delivery_copy *copies;
	const ex_mail_envelope *fields;
	char *structure_text[2]; /* cached ENVELOPE and BODYSTRUCTURE as bytea text, or NULL */
	bool over_quota;
	const char *failed_tenant;
	/* The statements send_fast_rows queued, in order. A NULL copy stands for a tenant binding. */
	delivery_copy **sent;
	size_t sent_count;
	char (*sizes)[NUMBER_TEXT]; /* size text of each copy, alive until the results are read */
	bool fast;                  /* the fast path committed, next keys included */
} delivery_rows;

/* Returns true when no copy before INDEX belongs to the tenant of copy INDEX. */
static bool first_of_tenant(const delivery_copy *copies, size_t index)
{
	for (size_t j = 0; j < index; j++)
		if (strcmp(copies[j].recipient->tenant_id, copies[index].recipient->tenant_id) == 0)
			return false;
	return true;
}

/*
 * Reads the results of one pipelined statement. Returns 1 when it
 * returned a row (whose mailbox id and uid go to COPY when COPY has none
 * yet), 0 when it returned none or another statement came first, -1 on
 * an error, which is copied into ERROR.
 */
static int read_pipelined(PGconn *connection, delivery_copy *copy, ex_db_error *error)
{
	int outcome = 0;
	PGresult *result;
	while ((result = PQgetResult(connection)) != NULL) {
		ExecStatusType status = PQresultStatus(result);
		if (status == PGRES_TUPLES_OK && PQntuples(result) == 1 && outcome == 0) {
			outcome = 1;
			if (copy != NULL && copy->mailbox_id[0] == '\0') {
				snprintf(copy->mailbox_id, sizeof(copy->mailbox_id), "%s", PQgetvalue(result, 0, 0));
				snprintf(copy->uid, sizeof(copy->uid), "%s", PQgetvalue(result, 0, 1));
			}
		} else if (status == PGRES_PIPELINE_ABORTED) {
			outcome = -1; /* skipped after an earlier statement's error, which ERROR keeps */
		} else if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK && outcome >= 0) {
			ex_db_error_from_result(connection, result, error);
			outcome = -1;
		}
		PQclear(result);
	}
	return outcome;
}

/*
 * Queues the fast statements of every stored copy on a connection in
 * pipeline mode: each tenant's binding, then one statement per target.
 * Records what it queued in ROWS for read_fast_rows.
 */
static int send_fast_rows(PGconn *connection, void *context)
{
	delivery_rows *rows = context;
	size_t count = rows->envelope->recipient_count;

	rows->sent_count = 0;
	for (size_t i = 0; i < count; i++) {
		if (!first_of_tenant(rows->copies, i))
			continue;
		const char *tenant_id = rows->copies[i].recipient->tenant_id;
		if (ex_mail_commit_send_bind_tenant(connection, tenant_id) != 0)
			return -1;
		rows->sent[rows->sent_count++] = NULL;
		tenant_insert insert = { .service = rows->service, .tenant_id = tenant_id, .fields = rows->fields,
					 .imap_envelope = rows->structure_text[0],
					 .imap_bodystructure = rows->structure_text[1] };
		for (size_t j = i; j < count; j++) {
			delivery_copy *copy = &rows->copies[j];
			if (!copy->stored || strcmp(copy->recipient->tenant_id, tenant_id) != 0)
				continue;
			snprintf(rows->sizes[j], NUMBER_TEXT, "%llu", (unsigned long long)copy->size);
			for (size_t t = 0; t < copy->sieve.target_count; t++) {
				if (send_fast_insert(connection, &insert, copy, t, rows->sizes[j]) != 0)
					return -1;
				rows->sent[rows->sent_count++] = copy;
			}
		}
	}
	return (int)rows->sent_count;
}

/*
 * Reads the results that send_fast_rows queued. Returns 0 when every
 * statement inserted its row, EX_MAIL_COMMIT_RUN_AGAIN when one inserted
 * none, and -1 on an error.
 */
static int read_fast_rows(PGconn *connection, void *context, ex_db_error *error)
{
	delivery_rows *rows = context;
	for (size_t i = 0; i < rows->envelope->recipient_count; i++) {
		rows->copies[i].mailbox_id[0] = '\0';
		rows->copies[i].uid[0] = '\0';
	}

	int outcome = 0;
	for (size_t i = 0; i < rows->sent_count; i++) {
		int read = read_pipelined(connection, rows->sent[i], error);
		if (read < 0)
			outcome = -1;
		else if (read == 0 && rows->sent[i] != NULL && outcome == 0)
			outcome = EX_MAIL_COMMIT_RUN_AGAIN;
	}
	return outcome;
}

/*
 * The slow path: inserts the rows of every tenant of the delivery, each
 * with its own tenant bound, creating missing mailboxes and telling an
 * over-quota copy apart.
 */
static int write_delivery_rows(PGconn *connection, void *context, ex_db_error *error)
{
	delivery_rows *rows = context;
	size_t count = rows->envelope->recipient_count;

	/* A retry after a deadlock starts over, so what the last attempt recorded goes. */
	for (size_t i = 0; i < count; i++) {
		rows->copies[i].mailbox_id[0] = '\0';
		rows->copies[i].uid[0] = '\0';
	}
	rows->over_quota = false;
	rows->failed_tenant = NULL;
	for (size_t i = 0; i < count; i++) {
		if (!first_of_tenant(rows->copies, i))
			continue;
		const char *tenant_id = rows->copies[i].recipient->tenant_id;
		tenant_insert insert = { .service = rows->service, .tenant_id = tenant_id, .copies = rows->copies,
					 .count = count, .fields = rows->fields,
					 .imap_envelope = rows->structure_text[0],
					 .imap_bodystructure = rows->structure_text[1] };
		if (ex_mail_commit_bind_tenant(connection, tenant_id, error) != 0 ||
		    insert_rows(connection, &insert, error) != 0) {
			rows->over_quota = insert.over_quota;
			rows->failed_tenant = tenant_id;
			return -1;
		}
	}
	return 0;
}

/* Puts the next keys that the committed fast statements listed in mail_object_garbage into the key reserve. */
static void reserve_next_keys(ex_mail_service *service, const delivery_copy *copies, size_t count,
			      uint64_t started_ms)
{
	for (size_t i = 0; i < count; i++) {
		if (copies[i].stored && copies[i].next_key[0] != '\0')
			ex_mail_key_reserve_put(service->key_reserve, copies[i].recipient->tenant_id,
						copies[i].recipient->user_id, copies[i].next_key, started_ms);
	}
}

/*
 * Hands the delivery to the group committer, which makes the stored
 * objects' directory entries durable and commits the rows of all the
 * delivery's tenants together. Returns the delivery status.
 */
static ex_smtp_delivery_status commit_delivery(ex_mail_service *service, const ex_smtp_envelope *envelope,
					       delivery_copy *copies, delivery_rows *rows)
{
	size_t count = envelope->recipient_count;
	ex_storage_object_name *objects = calloc(count, sizeof(*objects));
	if (objects == NULL)
		return EX_SMTP_DELIVERY_TEMPORARY_FAILURE;
	size_t object_count = 0;
	for (size_t i = 0; i < count; i++) {
		if (copies[i].stored)
			objects[object_count++] = (ex_storage_object_name){ .tenant_id = copies[i].recipient->tenant_id,
									    .key = copies[i].storage_key };
	}
	if (object_count == 0) {
		/* Every copy was discarded by its Sieve script: nothing to commit. */
		free(objects);
		return EX_SMTP_DELIVERY_STORED;
	}

	rows->sent = calloc(count * (EX_MAIL_SIEVE_MAX_TARGETS + 1), sizeof(delivery_copy *));
	rows->sizes = calloc(count, sizeof(*rows->sizes));
	if (rows->sent == NULL || rows->sizes == NULL) {
		free(rows->sent);
		free(rows->sizes);
		free(objects);
		return EX_SMTP_DELIVERY_TEMPORARY_FAILURE;
	}
	ex_mail_commit_request request = { .work = write_delivery_rows, .send_fast = send_fast_rows,
					   .read_fast = read_fast_rows, .context = rows, .objects = objects,
					   .object_count = object_count };
	/* Taken before the transaction begins, so a next key's age is never underestimated. */
	uint64_t started_ms = ex_mail_key_reserve_now();
	int committed = ex_mail_commit_group_run(service->commit_group, &request);
	rows->fast = committed == 0 && request.fast;
	if (rows->fast)
		reserve_next_keys(service, copies, count, started_ms);
	free(rows->sent);
	free(rows->sizes);
	free(objects);
	if (committed == 0)
		return EX_SMTP_DELIVERY_STORED;
	if (rows->over_quota)
		return EX_SMTP_DELIVERY_OVER_QUOTA;
	ex_log(EX_LOG_ERROR, "smtp_delivery_failed", "{s:s, s:s?, s:s}", "session", envelope->session_id, "tenant",
	       rows->failed_tenant, "error", request.error.message);
	return EX_SMTP_DELIVERY_TEMPORARY_FAILURE;
}

/* Commits the rows; the decoded subject goes into the mail.delivered events. */
static ex_smtp_delivery_status commit_rows(ex_mail_service *service, const ex_smtp_envelope *envelope,
					   delivery_copy *copies, const ex_mail_envelope *fields)
{
	delivery_rows rows = { .service = service, .envelope = envelope, .copies = copies, .fields = fields };

	/*
	 * The cache is built from the message without the trace fields of each
	 * copy: they only lengthen the top-level header, which no ENVELOPE or
	 * BODYSTRUCTURE value depends on. NULL leaves the building to FETCH.
	 */
	imap_structure structure;
	if (imap_structure_build(envelope->content, envelope->length, &structure) == 0) {
		rows.structure_text[0] = imap_structure_bytea_text(structure.envelope, structure.envelope_length);
		rows.structure_text[1] = imap_structure_bytea_text(structure.bodystructure, structure.bodystructure_length);
		imap_structure_clear(&structure);
	}
	ex_smtp_delivery_status status = commit_delivery(service, envelope, copies, &rows);
	free(rows.structure_text[0]);
	free(rows.structure_text[1]);
	if (status != EX_SMTP_DELIVERY_STORED)
		return status;

	char *subject = ex_mail_envelope_decode_text(fields->values[EX_MAIL_ENVELOPE_SUBJECT], EVENT_SUBJECT_MAX);
	for (size_t i = 0; i < envelope->recipient_count; i++) {
		if (copies[i].stored) {
			copies[i].stored = false; /* committed: no longer ours to remove */
			publish_delivered(service, envelope, &copies[i], subject);
			ex_mail_delivery_index_push(service, copies[i].recipient->tenant_id, copies[i].storage_key);
		}
	}
	free(subject);
	return status;
}

/* The garbage records of one delivery's keys, written by the group committer. */
typedef struct {
	delivery_copy *copies;
	size_t count;
	size_t sent_count; /* statements send_garbage_records queued */
} garbage_records;

static const char garbage_insert_query[] =
	"INSERT INTO mail_object_garbage (tenant_id, storage_key) VALUES ($1, $2) ON CONFLICT DO NOTHING";

/* Queues each tenant's binding and then one garbage record per key of that tenant, in pipeline mode. */
static int send_garbage_records(PGconn *connection, void *context)
{
	garbage_records *records = context;
	records->sent_count = 0;
	for (size_t i = 0; i < records->count; i++) {
		if (!first_of_tenant(records->copies, i))
			continue;
		const char *tenant_id = records->copies[i].recipient->tenant_id;
		if (ex_mail_commit_send_bind_tenant(connection, tenant_id) != 0)
			return -1;
		records->sent_count++;
		for (size_t j = i; j < records->count; j++) {
			if (records->copies[j].key_reserved || strcmp(records->copies[j].recipient->tenant_id, tenant_id) != 0)
				continue;
			const char *params[] = { tenant_id, records->copies[j].storage_key };
			if (PQsendQueryPrepared(connection, EX_MAIL_STATEMENT_GARBAGE_INSERT, 2, params, NULL, NULL, 0) != 1)
				return -1;
			records->sent_count++;
		}
	}
	return (int)records->sent_count;
}

static int read_garbage_records(PGconn *connection, void *context, ex_db_error *error)
{
	garbage_records *records = context;
	int outcome = 0;
	for (size_t i = 0; i < records->sent_count; i++) {
		if (read_pipelined(connection, NULL, error) < 0)
			outcome = -1;
	}
	return outcome;
}

/* The savepoint path of the same records, one statement at a time. */
static int write_garbage_records(PGconn *connection, void *context, ex_db_error *error)
{
	garbage_records *records = context;
	for (size_t i = 0; i < records->count; i++) {
		if (!first_of_tenant(records->copies, i))
			continue;
		const char *tenant_id = records->copies[i].recipient->tenant_id;
		if (ex_mail_commit_bind_tenant(connection, tenant_id, error) != 0)
			return -1;
		for (size_t j = i; j < records->count; j++) {
			if (records->copies[j].key_reserved || strcmp(records->copies[j].recipient->tenant_id, tenant_id) != 0)
				continue;
			const char *params[] = { tenant_id, records->copies[j].storage_key };
			PGresult *result = ex_db_exec(connection, garbage_insert_query, 2, params, error);
			if (result == NULL)
				return -1;
			PQclear(result);
		}
	}
	return 0;
}

/* Writes "mail/<user id>/<random UUID>" into KEY. Returns 0 or -1. */
static int new_storage_key(const delivery_copy *copy, char key[KEY_SIZE])
{
	char object_id[EX_SMTP_UUID_TEXT];
	if (random_uuid(object_id) != 0)
		return -1;
	snprintf(key, KEY_SIZE, "mail/%s/%s", copy->recipient->user_id, object_id);
	return 0;
}

/*
 * Gives every copy its storage key, listed in mail_object_garbage before
 * any object is written, so an object left by a crash before its row
 * commits is found by the sweep (mail_sweep.c). A key taken from the key
 * reserve is listed already. The other keys are recorded through the
 * group committer, so the deliveries that start together share that
 * commit. Each copy also gets the next key that its rows' transaction
 * reserves for the user's next delivery.
 */
static ex_smtp_delivery_status assign_keys(ex_mail_service *service, const ex_smtp_envelope *envelope,
					   delivery_copy *copies)
{
	size_t unrecorded = 0;
	bool reserving = ex_mail_key_reserve_enabled(service->key_reserve);
	for (size_t i = 0; i < envelope->recipient_count; i++) {
		delivery_copy *copy = &copies[i];
		copy->recipient = &envelope->recipients[i];
		copy->key_reserved = ex_mail_key_reserve_take(service->key_reserve, copy->recipient->tenant_id,
							      copy->recipient->user_id, copy->storage_key);
		if (!copy->key_reserved) {
			if (new_storage_key(copy, copy->storage_key) != 0)
				return EX_SMTP_DELIVERY_TEMPORARY_FAILURE;
			unrecorded++;
		}
		if (reserving && new_storage_key(copy, copy->next_key) != 0)
			return EX_SMTP_DELIVERY_TEMPORARY_FAILURE;
	}
	if (unrecorded == 0)
		return EX_SMTP_DELIVERY_STORED;

	garbage_records records = { .copies = copies, .count = envelope->recipient_count };
	ex_mail_commit_request request = { .work = write_garbage_records, .send_fast = send_garbage_records,
					   .read_fast = read_garbage_records, .context = &records };
	if (ex_mail_commit_group_run(service->commit_group, &request) != 0) {
		ex_log(EX_LOG_ERROR, "garbage_record_failed", "{s:s, s:s}", "session", envelope->session_id, "error",
		       request.error.message);
		return EX_SMTP_DELIVERY_TEMPORARY_FAILURE;
	}
	return EX_SMTP_DELIVERY_STORED;
}

ex_smtp_delivery_status ex_mail_deliver(void *context, const ex_smtp_envelope *envelope, char *queue_id,
					size_t queue_id_size)
{
	ex_mail_service *service = context;
	char id[EX_SMTP_UUID_TEXT];
	ex_mail_envelope fields;

	if (random_uuid(id) != 0)
		return EX_SMTP_DELIVERY_TEMPORARY_FAILURE;
	/* The queue id is the first 12 hex digits of a random UUID: unique enough to find log lines. */
	snprintf(queue_id, queue_id_size, "%.8s%.4s", id, id + 9);
	/* A submission's From field was checked against the user's addresses by ex_mail_queue_deliver. */
	if (ex_mail_envelope_parse(envelope->content, envelope->length, NULL, &fields) != 0)
		return EX_SMTP_DELIVERY_TEMPORARY_FAILURE;

	delivery_copy *copies = calloc(envelope->recipient_count, sizeof(*copies));
	if (copies == NULL) {
		ex_mail_envelope_clear(&fields);
		return EX_SMTP_DELIVERY_TEMPORARY_FAILURE;
	}
	ex_smtp_delivery_status status = assign_keys(service, envelope, copies);
	for (size_t i = 0; i < envelope->recipient_count && status == EX_SMTP_DELIVERY_STORED; i++) {
		/* The script decides which rows the copy becomes; no row (discard, reject) stores nothing. */
		int planned = ex_mail_sieve_plan_copy(service, envelope, copies[i].recipient, &copies[i].sieve);
		if (planned == 0 && copies[i].sieve.rejected && ex_mail_sieve_refuse_in_session(envelope))
			status = EX_SMTP_DELIVERY_REJECTED;
		else if (planned != 0 ||
			 (copies[i].sieve.target_count > 0 && store_copy(service, envelope, queue_id, &copies[i]) != 0))
			status = EX_SMTP_DELIVERY_TEMPORARY_FAILURE;
	}
	if (status == EX_SMTP_DELIVERY_STORED && service->test_commit_delay_ms > 0)
		ex_mail_sweep_test_delay(service->test_commit_delay_ms);
	if (status == EX_SMTP_DELIVERY_STORED)
		status = commit_rows(service, envelope, copies, &fields);
	remove_copies(service, copies, envelope->recipient_count, NULL);
	for (size_t i = 0; i < envelope->recipient_count; i++) {
		if (status == EX_SMTP_DELIVERY_STORED)
			ex_mail_sieve_after_commit(service, envelope, copies[i].recipient, &copies[i].sieve);
		ex_mail_sieve_plan_clear(&copies[i].sieve);
	}

	free(copies);
	ex_mail_envelope_clear(&fields);
	return status;
}
