/*
 * Composing through the JSON API. POST /send and /send-itip build the
 * message (mail_compose*.c), submit it with ex_mail_queue_submit(), the
 * one entry for outgoing mail, and file a copy with \Seen in Sent. With
 * draft_id, the sent draft is deleted in the transaction that files the
 * copy. POST /drafts and PUT /drafts/{id} file the message in Drafts, the
 * update replacing the old draft in the same transaction.
 *
 * A copy is filed as every writer files messages: its storage key is
 * recorded in mail_object_garbage, the object is stored durably, then one
 * transaction inserts the row and removes the key from the garbage list.
 * A crash in between leaves a key that the garbage sweep removes.
 */
#include <glib.h>
#include <microhttpd.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expresso/log.h"
#include "imap_structure.h"
#include "mail_api.h"
#include "mail_api_cursor.h"
#include "mail_delivery_index.h"
#include "mail_drive_client.h"
#include "mail_envelope.h"
#include "mail_queue.h"

enum {
	UUID_TEXT = EX_MAIL_CURSOR_UUID_TEXT + 1,
	KEY_TEXT = 128,
	QUEUE_ID_TEXT = 64,
	NUMBER_TEXT = 24,
};

static int random_uuid(char out[UUID_TEXT])
{
	unsigned char bytes[16];
	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		return -1;
	bytes[6] = (unsigned char)((bytes[6] & 0x0f) | 0x40);
	bytes[8] = (unsigned char)((bytes[8] & 0x3f) | 0x80);
	snprintf(out, UUID_TEXT, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0],
		 bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10],
		 bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
	return 0;
}

/* ---- the sender ------------------------------------------------------------------------------------------ */

typedef struct {
	const char *user_id;
	char email[256];
	char display_name[256];
	bool found;
} sender_lookup;

static int sender_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	sender_lookup *sender = opaque;
	PGresult *result = ex_mail_api_sql(connection, error,
					   "SELECT email, display_name FROM users WHERE id = $1 AND NOT disabled", 1,
					   sender->user_id);
	if (result == NULL)
		return -1;
	sender->found = PQntuples(result) == 1;
	if (sender->found) {
		snprintf(sender->email, sizeof(sender->email), "%s", PQgetvalue(result, 0, 0));
		snprintf(sender->display_name, sizeof(sender->display_name), "%s", PQgetvalue(result, 0, 1));
	}
	PQclear(result);
	return 0;
}

/* ---- filing a copy in Sent or Drafts ----------------------------------------------------------------------- */

typedef struct {
	ex_mail_api_caller *caller;
	const char *special_use; /* "\\Sent" or "\\Drafts" */
	const char *flags;       /* PostgreSQL array literal */
	const char *content;
	size_t length;
	const char *replace_id;  /* draft replaced in the same transaction, or NULL */
	char storage_key[KEY_TEXT];
	char size_text[NUMBER_TEXT];
	ex_mail_envelope envelope;
	bool over_quota;
	bool replaced_missing;
	char replaced_mailbox[UUID_TEXT];
	char replaced_uid[NUMBER_TEXT];
	json_t *result;
} copy_work;

/* Over quota when the user's stored bytes plus this copy exceed users.quota_bytes (NULL: no quota). */
static const char quota_sql[] =
	"SELECT u.quota_bytes IS NOT NULL AND "
	"  coalesce((SELECT sum(s.bytes) FROM mailbox_stats AS s JOIN mailboxes AS b ON b.id = s.mailbox_id "
	"            WHERE b.user_id = u.id), 0) + $2::bigint > u.quota_bytes "
	"FROM users AS u WHERE u.id = $1";

static int intent_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	copy_work *work = opaque;
	PGresult *result = ex_mail_api_sql(connection, error, quota_sql, 2, work->caller->user_id, work->size_text);
	if (result == NULL)
		return -1;
	work->over_quota = PQntuples(result) == 1 && strcmp(PQgetvalue(result, 0, 0), "t") == 0;
	PQclear(result);
	if (work->over_quota)
		return 0;
	result = ex_mail_api_sql(connection, error,
				 "INSERT INTO mail_object_garbage (tenant_id, storage_key) VALUES ($1, $2) "
				 "ON CONFLICT DO NOTHING",
				 2, work->caller->tenant_id, work->storage_key);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

static int insert_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	copy_work *work = opaque;
	const char *const *fields = (const char *const *)work->envelope.values;

	json_decref(work->result);
	work->result = NULL;
	work->replaced_missing = false;
	if (work->replace_id != NULL) {
		PGresult *old = ex_mail_api_sql(connection, error,
						"DELETE FROM messages AS m USING mailboxes AS b "
						"WHERE m.id = $1 AND b.id = m.mailbox_id AND b.user_id = $2 "
						"AND b.special_use = '\\Drafts' RETURNING m.mailbox_id::text, m.uid::text",
						2, work->replace_id, work->caller->user_id);
		if (old == NULL)
			return -1;
		work->replaced_missing = PQntuples(old) == 0;
		if (!work->replaced_missing) {
			snprintf(work->replaced_mailbox, sizeof(work->replaced_mailbox), "%s", PQgetvalue(old, 0, 0));
			snprintf(work->replaced_uid, sizeof(work->replaced_uid), "%s", PQgetvalue(old, 0, 1));
		}
		PQclear(old);
		if (work->replaced_missing) {
			snprintf(error->message, sizeof(error->message), "draft %s not found", work->replace_id);
			return -1;
		}
	}
	if (ex_mail_api_create_standard_mailboxes(connection, work->caller->tenant_id, work->caller->user_id, error) != 0)
		return -1;

	/* The cached ENVELOPE and BODYSTRUCTURE; NULL when building them failed, and FETCH builds them later. */
	char *structure_text[2] = { NULL, NULL };
	imap_structure structure;
	if (imap_structure_build(work->content, work->length, &structure) == 0) {
		structure_text[0] = imap_structure_bytea_text(structure.envelope, structure.envelope_length);
		structure_text[1] = imap_structure_bytea_text(structure.bodystructure, structure.bodystructure_length);
		imap_structure_clear(&structure);
	}

	/* uid and modseq are left NULL: the insert trigger takes the mailbox's next UID and a new modseq. */
	PGresult *result = ex_mail_api_sql(
		connection, error,
		"INSERT INTO messages (tenant_id, mailbox_id, flags, size, storage_key, date, subject, \"from\", sender, "
		"reply_to, \"to\", cc, bcc, in_reply_to, message_id, \"references\", imap_envelope, imap_bodystructure) "
		"SELECT $1, b.id, $4::text[], $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18::bytea, "
		"$19::bytea FROM mailboxes AS b WHERE b.user_id = $2 AND b.special_use = $3 "
		"RETURNING id::text, mailbox_id::text, uid, modseq",
		19, work->caller->tenant_id, work->caller->user_id, work->special_use, work->flags, work->size_text,
		work->storage_key, fields[EX_MAIL_ENVELOPE_DATE], fields[EX_MAIL_ENVELOPE_SUBJECT],
		fields[EX_MAIL_ENVELOPE_FROM], fields[EX_MAIL_ENVELOPE_SENDER], fields[EX_MAIL_ENVELOPE_REPLY_TO],
		fields[EX_MAIL_ENVELOPE_TO], fields[EX_MAIL_ENVELOPE_CC], fields[EX_MAIL_ENVELOPE_BCC],
		fields[EX_MAIL_ENVELOPE_IN_REPLY_TO], fields[EX_MAIL_ENVELOPE_MESSAGE_ID],
		fields[EX_MAIL_ENVELOPE_REFERENCES], structure_text[0], structure_text[1]);
	free(structure_text[0]);
	free(structure_text[1]);
	if (result == NULL)
		return -1;
	if (PQntuples(result) != 1) {
		PQclear(result);
		snprintf(error->message, sizeof(error->message), "the %s mailbox of user %s is missing", work->special_use,
			 work->caller->user_id);
		return -1;
	}
	work->result = json_pack("{s:s, s:s, s:I, s:I}", "id", PQgetvalue(result, 0, 0), "folder_id",
				 PQgetvalue(result, 0, 1), "uid", (json_int_t)strtoll(PQgetvalue(result, 0, 2), NULL, 10),
				 "modseq", (json_int_t)strtoll(PQgetvalue(result, 0, 3), NULL, 10));
	PQclear(result);

	result = ex_mail_api_sql(connection, error, "DELETE FROM mail_object_garbage WHERE tenant_id = $1 AND storage_key = $2",
				 2, work->caller->tenant_id, work->storage_key);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

typedef enum { COPY_STORED = 0, COPY_OVER_QUOTA, COPY_DRAFT_MISSING, COPY_FAILED } copy_status;

/* Records the intent and stores the object durably (the first half of filing a copy). */
static copy_status store_object(ex_mail_api *api, copy_work *work)
{
	char object_id[UUID_TEXT];
	char err[EX_STORAGE_ERROR_MAX] = "";
	ex_db_error error = { 0 };

	if (random_uuid(object_id) != 0)
		return COPY_FAILED;
	snprintf(work->storage_key, sizeof(work->storage_key), "mail/%s/%s", work->caller->user_id, object_id);
	snprintf(work->size_text, sizeof(work->size_text), "%zu", work->length);
	if (ex_db_tenant_transaction(api->service->database, work->caller->tenant_id, EX_DB_READ_COMMITTED, intent_work,
				     work, &error) != 0) {
		ex_log(EX_LOG_ERROR, "mail_api_copy_failed", "{s:s, s:s, s:s}", "step", "intent", "sqlstate", error.sqlstate,
		       "error", error.message);
		return COPY_FAILED;
	}
	if (work->over_quota)
		return COPY_OVER_QUOTA;
	if (ex_storage_put(api->service->storage, work->caller->tenant_id, work->storage_key, work->content, work->length,
			   err, sizeof(err)) != EX_STORAGE_OK) {
		ex_log(EX_LOG_ERROR, "mail_api_copy_failed", "{s:s, s:s, s:s}", "step", "store", "key", work->storage_key,
		       "error", err);
		return COPY_FAILED;
	}
	return COPY_STORED;
}

/* Inserts the row of a stored object (the second half). On failure the object is removed again. */
static copy_status insert_row(ex_mail_api *api, copy_work *work)
{
	ex_db_error error = { 0 };
	char err[EX_STORAGE_ERROR_MAX] = "";

	if (ex_mail_envelope_parse(work->content, work->length, NULL, &work->envelope) != 0)
		return COPY_FAILED;
	int status = ex_db_tenant_transaction(api->service->database, work->caller->tenant_id, EX_DB_READ_COMMITTED,
					      insert_work, work, &error);
	ex_mail_envelope_clear(&work->envelope);
	if (status == 0) {
		ex_mail_delivery_index_push(api->service, work->caller->tenant_id, work->storage_key);
		return COPY_STORED;
	}
	if (!work->replaced_missing)
		ex_log(EX_LOG_ERROR, "mail_api_copy_failed", "{s:s, s:s, s:s}", "step", "insert", "sqlstate",
		       error.sqlstate, "error", error.message);
	if (work->replaced_missing)
		return COPY_DRAFT_MISSING;
	/* The key stays in mail_object_garbage, so a failed removal here is found by the sweep. */
	ex_storage_delete(api->service->storage, work->caller->tenant_id, work->storage_key, err, sizeof(err));
	return COPY_FAILED;
}

/* Removes the stored object of a copy whose row was not inserted. */
static void discard_object(ex_mail_api *api, const copy_work *work)
{
	char err[EX_STORAGE_ERROR_MAX] = "";
	if (ex_storage_delete(api->service->storage, work->caller->tenant_id, work->storage_key, err, sizeof(err)) !=
	    EX_STORAGE_OK)
		ex_log(EX_LOG_WARN, "mail_api_object_not_removed", "{s:s, s:s}", "key", work->storage_key, "error", err);
}

typedef struct {
	const ex_mail_api_caller *caller;
	const char *draft_id;
	bool found;
} draft_lookup;

static int draft_lookup_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	draft_lookup *lookup = opaque;
	PGresult *result = ex_mail_api_sql(connection, error,
					   "SELECT 1 FROM messages AS m JOIN mailboxes AS b ON b.id = m.mailbox_id "
					   "WHERE m.id = $1 AND b.user_id = $2 AND b.special_use = '\\Drafts'",
					   2, lookup->draft_id, lookup->caller->user_id);
	if (result == NULL)
		return -1;
	lookup->found = PQntuples(result) == 1;
	PQclear(result);
	return 0;
}

static void publish_replaced(ex_mail_api *api, const ex_mail_api_caller *caller, const copy_work *copy)
{
	ex_mail_api_publish(api, caller, "expunged",
			    json_pack("{s:s, s:s, s:I}", "mailbox_id", copy->replaced_mailbox, "message_id",
				      copy->replace_id, "uid", (json_int_t)strtoll(copy->replaced_uid, NULL, 10)));
}

static void publish_added(ex_mail_api *api, const ex_mail_api_caller *caller, const json_t *copy)
{
	ex_mail_api_publish(api, caller, "mailbox_changed",
			    json_pack("{s:O, s:s, s:O, s:O}", "mailbox_id", json_object_get(copy, "folder_id"), "change",
				      "message_added", "message_id", json_object_get(copy, "id"), "uid",
				      json_object_get(copy, "uid")));
}

/* ---- requests -------------------------------------------------------------------------------------------- */

/* Sends the error of a failed parse. */
static void respond_compose_error(ex_http_request *request, ex_mail_compose_status status, const char *err,
				  const char *field)
{
	switch (status) {
	case EX_MAIL_COMPOSE_INVALID_RECIPIENT:
		ex_http_respond_error_detail(request, 400, "invalid_recipient", err, json_pack("{s:s}", "field", field));
		break;
	case EX_MAIL_COMPOSE_TOO_MANY_RECIPIENTS:
		ex_http_respond_error(request, 400, "too_many_recipients", "%s", err);
		break;
	case EX_MAIL_COMPOSE_ATTACHMENT_TOO_LARGE:
		ex_http_respond_error(request, 413, "attachment_too_large", "%s", err);
		break;
	case EX_MAIL_COMPOSE_MESSAGE_TOO_LARGE:
		ex_http_respond_error(request, 413, "message_too_large", "%s", err);
		break;
	case EX_MAIL_COMPOSE_NO_MEMORY:
		ex_http_respond_error(request, 503, "out_of_memory", "the server ran out of memory; retry later");
		break;
	default:
		ex_http_respond_error(request, 400, "invalid_request", "%s", err);
		break;
	}
}

/* ---- attachments from expresso-drive ---------------------------------------------------------------------- */

/*
 * Returns the user's access token as an Authorization header value: the
 * request's own Bearer header, else the session cookie that authenticated
 * it. The caller frees the copy; NULL when out of memory.
 */
static char *caller_authorization(ex_http_request *request)
{
	const char *header = ex_http_header(request, MHD_HTTP_HEADER_AUTHORIZATION);
	if (header != NULL && g_ascii_strncasecmp(header, "Bearer ", 7) == 0)
		return strdup(header);
	const char *cookie = MHD_lookup_connection_value(ex_http_connection(request), MHD_COOKIE_KIND, "expresso_session");
	if (cookie == NULL || cookie[0] == '\0')
		return NULL;
	size_t length = strlen("Bearer ") + strlen(cookie) + 1;
	char *value = malloc(length);
	if (value != NULL)
		snprintf(value, length, "Bearer %s", cookie);
	return value;
}

/* Sends the error for a drive attachment that could not be read. */
static void respond_drive_error(ex_http_request *request, ex_mail_drive_status status, size_t index, bool attachment_limit,
				const char *err)
{
	json_t *detail = json_pack("{s:s}", "field", "attachments");
	json_object_set_new(detail, "index", json_integer((json_int_t)index));
	switch (status) {
	case EX_MAIL_DRIVE_NOT_FOUND:
		ex_http_respond_error_detail(request, 404, "attachment_not_found", err, detail);
		return;
	case EX_MAIL_DRIVE_TOO_LARGE:
		ex_http_respond_error_detail(request, 413, attachment_limit ? "attachment_too_large" : "message_too_large",
					     err, detail);
		return;
	case EX_MAIL_DRIVE_UNAVAILABLE:
		ex_log(EX_LOG_WARN, "mail_drive_unavailable", "{s:s}", "error", err);
		ex_http_respond_error_detail(request, 502, "drive_unavailable", err, detail);
		return;
	default:
		json_decref(detail);
		ex_http_respond_error(request, 503, "out_of_memory", "the server ran out of memory; retry later");
		return;
	}
}

/*
 * Fetches every {"drive_file_id": ...} attachment from expresso-drive as the
 * caller. Each read stops at the smaller of the attachment limit and what
 * is left of the message limit. Sends the error and returns false on failure.
 */
static bool fetch_drive_attachments(ex_mail_api *api, ex_http_request *request, ex_mail_compose *compose)
{
	char err[512];
	char *authorization = NULL;
	bool fetched = true;

	for (size_t i = 0; i < compose->attachment_count && fetched; i++) {
		ex_mail_compose_attachment *attachment = &compose->attachments[i];
		if (attachment->drive_file_id == NULL || attachment->data != NULL)
			continue;
		if (authorization == NULL && (authorization = caller_authorization(request)) == NULL) {
			ex_http_respond_error(request, 503, "out_of_memory", "the server ran out of memory; retry later");
			return false;
		}

		uint64_t used = ex_mail_compose_size(compose);
		uint64_t message_left = used < api->compose_limits.max_message_bytes
						? api->compose_limits.max_message_bytes - used
						: 0;
		bool attachment_limit = api->compose_limits.max_attachment_bytes <= message_left;
		uint64_t max_bytes = attachment_limit ? api->compose_limits.max_attachment_bytes : message_left;
		const ex_mail_drive_caller caller = {
			.base_url = api->drive_url,
			.authorization = authorization,
			.request_id = ex_http_request_id(request),
			.timeout_ms = api->drive_timeout_ms,
		};
		ex_mail_drive_file file;
		ex_mail_drive_status status = ex_mail_drive_fetch(&caller, attachment->drive_file_id, max_bytes, &file, err,
								  sizeof(err));
		if (status != EX_MAIL_DRIVE_OK) {
			respond_drive_error(request, status, i, attachment_limit, err);
			fetched = false;
			continue;
		}

		/* A filename or content_type in the request wins over drive's; one that
		 * cannot go into a MIME header falls back to a neutral value. */
		if (attachment->filename == NULL) {
			bool usable = ex_mail_compose_is_filename(file.filename);
			attachment->filename = usable ? file.filename : strdup("attachment");
			if (usable)
				file.filename = NULL;
		}
		if (attachment->content_type == NULL)
			attachment->content_type = g_ascii_strdown(
				ex_mail_compose_is_media_type(file.content_type) ? file.content_type : "application/octet-stream",
				-1);
		attachment->data = file.data;
		attachment->length = file.length;
		file.data = NULL;
		ex_mail_drive_file_clear(&file);
	}
	free(authorization);
	return fetched;
}

typedef struct {
	ex_mail_compose compose;
	sender_lookup sender;
	char message_id[300];
	char *with_bcc;
	size_t with_bcc_length;
	char *without_bcc;
	size_t without_bcc_length;
} built_message;

static void built_message_clear(built_message *built)
{
	ex_mail_compose_clear(&built->compose);
	free(built->with_bcc);
	free(built->without_bcc);
	memset(built, 0, sizeof(*built));
}

/* Parses the body, looks up the sender and builds the message; sends the error and returns false on failure. */
static bool build_from_request(ex_mail_api *api, ex_http_request *request, ex_mail_api_caller *caller,
			       ex_mail_compose_mode mode, built_message *built)
{
	size_t length = 0;
	const char *body = ex_http_body(request, &length);
	char err[512];
	char field[32];
	ex_db_error error = { 0 };
	char object_id[UUID_TEXT];

	ex_mail_compose_status status = ex_mail_compose_parse(body != NULL ? body : "", length, mode,
							      &api->compose_limits, &built->compose, err, sizeof(err),
							      field, sizeof(field));
	if (status != EX_MAIL_COMPOSE_OK) {
		respond_compose_error(request, status, err, field);
		return false;
	}
	if (!fetch_drive_attachments(api, request, &built->compose))
		return false;
	built->sender.user_id = caller->user_id;
	if (ex_db_tenant_transaction(api->service->database, caller->tenant_id, EX_DB_READ_COMMITTED, sender_work,
				     &built->sender, &error) != 0) {
		ex_mail_api_respond_database_error(request, "look up the sender", &error);
		return false;
	}
	if (!built->sender.found) {
		ex_http_respond_error(request, 403, "account_not_provisioned",
				      "your account has no mail address in this tenant; ask an administrator to create it");
		return false;
	}

	const char *domain = strchr(built->sender.email, '@');
	if (random_uuid(object_id) != 0) {
		ex_http_respond_error(request, 503, "internal_error", "no random bytes for the Message-ID; retry later");
		return false;
	}
	snprintf(built->message_id, sizeof(built->message_id), "%s@%s", object_id, domain != NULL ? domain + 1 : "localhost");
	const ex_mail_compose_origin origin = {
		.from_name = built->sender.display_name,
		.from_address = built->sender.email,
		.message_id = built->message_id,
		.date = time(NULL),
	};
	if (ex_mail_compose_build(&built->compose, &origin, &built->with_bcc, &built->with_bcc_length,
				  mode == EX_MAIL_COMPOSE_DRAFT ? NULL : &built->without_bcc,
				  mode == EX_MAIL_COMPOSE_DRAFT ? NULL : &built->without_bcc_length) != 0) {
		ex_http_respond_error(request, 503, "out_of_memory", "the message could not be built; retry later");
		return false;
	}
	if (built->with_bcc_length > api->max_message_bytes) {
		ex_http_respond_error(request, 413, "message_too_large",
				      "the encoded message has %zu bytes, more than the maximum of %llu",
				      built->with_bcc_length, (unsigned long long)api->max_message_bytes);
		return false;
	}
	return true;
}

/* Sends the error for a submission the queue did not accept. */
static void respond_queue_error(ex_http_request *request, ex_mail_queue_status status, const char *recipient)
{
	switch (status) {
	case EX_MAIL_QUEUE_INVALID_RECIPIENT:
		ex_http_respond_error_detail(request, 400, "invalid_recipient",
					     "a recipient is not a valid address or has no mailbox here",
					     json_pack("{s:s?}", "recipient", recipient));
		break;
	case EX_MAIL_QUEUE_OVER_QUOTA:
		ex_http_respond_error_detail(request, 422, "recipient_over_quota", "a recipient's mailbox is full",
					     json_pack("{s:s?}", "recipient", recipient));
		break;
	case EX_MAIL_QUEUE_REMOTE_UNAVAILABLE:
		ex_http_respond_error_detail(request, 503, "remote_delivery_unavailable",
					     "a recipient is on another server and mail to other servers cannot be sent yet",
					     json_pack("{s:s?}", "recipient", recipient));
		break;
	default:
		ex_http_respond_error(request, 503, "submission_failed", "the message could not be queued; retry later");
		break;
	}
}

static void send_message(ex_mail_api *api, ex_http_request *request, ex_mail_compose_mode mode)
{
	ex_mail_api_caller caller;
	built_message built;
	char queue_id[QUEUE_ID_TEXT] = "";
	const char **recipients = NULL;
	long failed = -1;

	memset(&built, 0, sizeof(built));
	if (!ex_mail_api_authenticate(api, request, &caller))
		return;
	if (!build_from_request(api, request, &caller, mode, &built))
		goto done;

	if (built.compose.draft_id != NULL) {
		ex_db_error error = { 0 };
		draft_lookup lookup = { .caller = &caller, .draft_id = built.compose.draft_id };
		if (ex_db_tenant_transaction(api->service->database, caller.tenant_id, EX_DB_READ_COMMITTED,
					     draft_lookup_work, &lookup, &error) != 0) {
			ex_mail_api_respond_database_error(request, "look up the draft", &error);
			goto done;
		}
		if (!lookup.found) {
			ex_http_respond_error(request, 404, "message_not_found", "draft %s does not exist in Drafts; nothing was sent",
					      built.compose.draft_id);
			goto done;
		}
	}

	/* The draft named by draft_id is deleted in the transaction that files the copy in Sent. */
	copy_work copy = { .caller = &caller, .special_use = "\\Sent", .flags = "{\\\\Seen}", .content = built.with_bcc,
			   .length = built.with_bcc_length, .replace_id = built.compose.draft_id };
	copy_status stored = store_object(api, &copy);
	if (stored == COPY_OVER_QUOTA) {
		ex_http_respond_error(request, 413, "quota_exceeded",
				      "your mailbox is full, so the copy for Sent cannot be kept; delete mail and send again");
		goto done;
	}
	if (stored != COPY_STORED) {
		ex_http_respond_error(request, 503, "storage_unavailable", "the copy for Sent could not be stored; retry later");
		goto done;
	}

	recipients = calloc(api->compose_limits.max_recipients, sizeof(*recipients));
	if (recipients == NULL) {
		ex_http_respond_error(request, 503, "out_of_memory", "the server ran out of memory; retry later");
		goto done;
	}
	size_t count = ex_mail_compose_envelope(&built.compose, recipients, api->compose_limits.max_recipients);
	const ex_mail_submission submission = {
		.tenant_id = caller.tenant_id,
		.user_id = caller.user_id,
		.reverse_path = built.sender.email,
		.recipients = recipients,
		.recipient_count = count,
		.content = built.without_bcc,
		.length = built.without_bcc_length,
		.session_id = ex_http_request_id(request),
	};
	ex_mail_queue_status queued = ex_mail_queue_submit(api->service, &submission, queue_id, sizeof(queue_id), &failed);
	if (queued != EX_MAIL_QUEUE_ACCEPTED) {
		char err[EX_STORAGE_ERROR_MAX];
		ex_storage_delete(api->service->storage, caller.tenant_id, copy.storage_key, err, sizeof(err));
		respond_queue_error(request, queued, failed >= 0 && (size_t)failed < count ? recipients[failed] : NULL);
		goto done;
	}
	ex_counter_add(api->messages_sent, 1);

	/* The message is sent now; a copy that cannot be filed is logged and reported, never a reason to send again. */
	json_t *response = json_pack("{s:s, s:s, s:I}", "message_id", built.message_id, "queue_id", queue_id,
				     "recipients", (json_int_t)count);
	copy_status filed = insert_row(api, &copy);
	if (filed == COPY_DRAFT_MISSING) {
		/* The draft went away after the check; the copy is filed all the same. */
		copy.replace_id = NULL;
		filed = insert_row(api, &copy);
	}
	if (filed == COPY_STORED) {
		if (copy.replace_id != NULL)
			publish_replaced(api, &caller, &copy);
		publish_added(api, &caller, copy.result);
		json_object_set_new(response, "sent", copy.result);
		copy.result = NULL;
	} else {
		json_object_set_new(response, "sent", json_null());
	}
	json_decref(copy.result);
	ex_log(EX_LOG_INFO, "mail_api_sent", "{s:s, s:s, s:s, s:I}", "user", caller.user_id, "queue_id", queue_id,
	       "message_id", built.message_id, "recipients", (json_int_t)count);
	ex_http_respond_json(request, 201, response);
done:
	free(recipients);
	built_message_clear(&built);
	ex_mail_api_caller_clear(&caller);
}

static void handle_send(ex_http_request *request, void *context)
{
	send_message(context, request, EX_MAIL_COMPOSE_SEND);
}

static void handle_send_itip(ex_http_request *request, void *context)
{
	send_message(context, request, EX_MAIL_COMPOSE_ITIP);
}

static void save_draft(ex_mail_api *api, ex_http_request *request, const char *replace_id)
{
	ex_mail_api_caller caller;
	built_message built;

	memset(&built, 0, sizeof(built));
	if (!ex_mail_api_authenticate(api, request, &caller))
		return;
	if (replace_id != NULL && !ex_mail_is_uuid(replace_id)) {
		ex_http_respond_error(request, 404, "message_not_found", "draft %s does not exist", replace_id);
		goto done;
	}
	if (!build_from_request(api, request, &caller, EX_MAIL_COMPOSE_DRAFT, &built))
		goto done;

	copy_work copy = { .caller = &caller, .special_use = "\\Drafts", .flags = "{\\\\Seen,\\\\Draft}",
			   .content = built.with_bcc, .length = built.with_bcc_length, .replace_id = replace_id };
	copy_status status = store_object(api, &copy);
	if (status == COPY_STORED)
		status = insert_row(api, &copy);
	if (status == COPY_DRAFT_MISSING)
		discard_object(api, &copy);
	if (status == COPY_OVER_QUOTA) {
		ex_http_respond_error(request, 413, "quota_exceeded", "your mailbox is full; delete mail and save again");
	} else if (status == COPY_DRAFT_MISSING) {
		ex_http_respond_error(request, 404, "message_not_found", "draft %s does not exist in Drafts", replace_id);
	} else if (status != COPY_STORED) {
		ex_http_respond_error(request, 503, "storage_unavailable", "the draft could not be saved; retry later");
	} else {
		if (replace_id != NULL)
			publish_replaced(api, &caller, &copy);
		publish_added(api, &caller, copy.result);
		json_object_set_new(copy.result, "message_id", json_string(built.message_id));
		ex_http_respond_json(request, replace_id != NULL ? 200 : 201, copy.result);
		copy.result = NULL;
	}
	json_decref(copy.result);
done:
	built_message_clear(&built);
	ex_mail_api_caller_clear(&caller);
}

static void handle_draft_create(ex_http_request *request, void *context)
{
	save_draft(context, request, NULL);
}

static void handle_draft_update(ex_http_request *request, void *context)
{
	save_draft(context, request, ex_http_param(request, "id"));
}

int ex_mail_api_add_send_routes(ex_mail_api *api, ex_http_server *http, size_t max_body)
{
	int status = 0;
	status |= ex_http_route_limited(http, "POST", "/api/v1/mail/send", handle_send, api, max_body);
	status |= ex_http_route_limited(http, "POST", "/api/v1/mail/send-itip", handle_send_itip, api, max_body);
	status |= ex_http_route_limited(http, "POST", "/api/v1/mail/drafts", handle_draft_create, api, max_body);
	status |= ex_http_route_limited(http, "PUT", "/api/v1/mail/drafts/{id}", handle_draft_update, api, max_body);
	return status == 0 ? 0 : -1;
}
