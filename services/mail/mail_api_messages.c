/*
 * Messages of the JSON API: the list of a folder (keyset paging over one
 * of four sort orders, optional thread ids), a message's detail, its raw
 * form, one attachment, flag changes, moves and deletion. Every query
 * joins mailboxes on user_id, so a caller reaches only their own
 * messages, and row-level security keeps other tenants out.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"
#include "mail_api.h"
#include "mail_api_cursor.h"
#include "mail_api_disposition.h"
#include "mail_api_flags.h"
#include "mail_api_mime.h"

enum {
	PAGE_DEFAULT = 50,
	MESSAGE_BODY_MAX = 16 * 1024,
	NUMBER_TEXT = 24,
};

/* Per sort: the key expression, its text form (the cursor key) and the type of the cursor parameter. */
static const struct {
	const char *expression;
	const char *text;
	const char *parameter_type;
} sort_keys[EX_MAIL_SORT_COUNT] = {
	[EX_MAIL_SORT_DATE] = { "coalesce(m.date, m.internal_date)",
				"(coalesce(m.date, m.internal_date) AT TIME ZONE 'UTC')::text || '+00'", "timestamptz" },
	[EX_MAIL_SORT_FROM] = { "lower(left(coalesce(m.\"from\", ''), 200))", "lower(left(coalesce(m.\"from\", ''), 200))",
				"text" },
	[EX_MAIL_SORT_SUBJECT] = { "lower(left(coalesce(m.subject, ''), 200))",
				   "lower(left(coalesce(m.subject, ''), 200))", "text" },
	[EX_MAIL_SORT_SIZE] = { "m.size", "m.size::text", "bigint" },
};

/* Columns shared by the list and the detail, in this order. */
static const char summary_columns[] =
	"m.id::text, m.mailbox_id::text, m.uid::text, m.modseq::text, m.size::text, array_to_json(m.flags)::text, "
	"m.subject, m.\"from\", m.\"to\", m.cc, "
	"to_char(m.date AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
	"to_char(m.internal_date AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
	"m.message_id, m.in_reply_to, m.\"references\", m.storage_key, m.bcc, m.reply_to";

enum {
	COLUMN_ID = 0,
	COLUMN_MAILBOX,
	COLUMN_UID,
	COLUMN_MODSEQ,
	COLUMN_SIZE,
	COLUMN_FLAGS,
	COLUMN_SUBJECT,
	COLUMN_FROM,
	COLUMN_TO,
	COLUMN_CC,
	COLUMN_DATE,
	COLUMN_RECEIVED,
	COLUMN_MESSAGE_ID,
	COLUMN_IN_REPLY_TO,
	COLUMN_REFERENCES,
	COLUMN_STORAGE_KEY,
	COLUMN_BCC,
	COLUMN_REPLY_TO,
	COLUMN_SORT_KEY, /* list only */
};

static const char *value_or_null(PGresult *result, int row, int column)
{
	return PQgetisnull(result, row, column) ? NULL : PQgetvalue(result, row, column);
}

static json_int_t number(PGresult *result, int row, int column)
{
	return (json_int_t)strtoll(PQgetvalue(result, row, column), NULL, 10);
}

/* Returns the thread id: the first message id in References, else In-Reply-To, else the message's own id. */
static json_t *thread_id(PGresult *result, int row)
{
	const char *sources[] = { value_or_null(result, row, COLUMN_REFERENCES), value_or_null(result, row, COLUMN_IN_REPLY_TO),
				  value_or_null(result, row, COLUMN_MESSAGE_ID) };
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		const char *start = sources[i] != NULL ? strchr(sources[i], '<') : NULL;
		const char *end = start != NULL ? strchr(start, '>') : NULL;
		if (end != NULL && end > start + 1)
			return json_stringn(start, (size_t)(end - start + 1));
	}
	return json_string(PQgetvalue(result, row, COLUMN_ID));
}

static json_t *summary_json(PGresult *result, int row)
{
	json_t *flags = json_loads(PQgetvalue(result, row, COLUMN_FLAGS), 0, NULL);
	char *subject = ex_mail_api_decode_header(value_or_null(result, row, COLUMN_SUBJECT));
	json_t *summary = json_pack(
		"{s:s, s:s, s:I, s:I, s:I, s:s?, s:s?, s:s, s:o, s:o, s:o, s:s?, s:s?, s:o}", "id",
		PQgetvalue(result, row, COLUMN_ID), "folder_id", PQgetvalue(result, row, COLUMN_MAILBOX), "uid",
		number(result, row, COLUMN_UID), "modseq", number(result, row, COLUMN_MODSEQ), "size",
		number(result, row, COLUMN_SIZE), "subject", subject, "date", value_or_null(result, row, COLUMN_DATE),
		"received_at", PQgetvalue(result, row, COLUMN_RECEIVED), "from",
		ex_mail_api_addresses_json(value_or_null(result, row, COLUMN_FROM)), "to",
		ex_mail_api_addresses_json(value_or_null(result, row, COLUMN_TO)), "cc",
		ex_mail_api_addresses_json(value_or_null(result, row, COLUMN_CC)), "message_id",
		value_or_null(result, row, COLUMN_MESSAGE_ID), "in_reply_to", value_or_null(result, row, COLUMN_IN_REPLY_TO),
		"flags", ex_mail_flags_json(flags != NULL ? flags : json_array()));
	free(subject);
	json_decref(flags);
	return summary;
}

/* ---- list ------------------------------------------------------------------------------------------------ */

typedef struct {
	ex_mail_api_caller *caller;
	const char *folder_id;
	ex_mail_sort sort;
	bool descending;
	bool threads;
	bool has_cursor;
	ex_mail_cursor cursor;
	unsigned limit;
	bool folder_missing;
	json_t *result;
} list_work;

static int list_messages_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	list_work *work = opaque;
	char sql[2048];
	char limit_text[NUMBER_TEXT];

	json_decref(work->result);
	work->result = NULL;
	PGresult *folder = ex_mail_api_sql(connection, error, "SELECT 1 FROM mailboxes WHERE id = $1 AND user_id = $2", 2,
					   work->folder_id, work->caller->user_id);
	if (folder == NULL)
		return -1;
	work->folder_missing = PQntuples(folder) == 0;
	PQclear(folder);
	if (work->folder_missing)
		return 0;

	/* The SQL text is put together from constants only; every request value is a bound parameter. */
	const char *order = work->descending ? "DESC" : "ASC";
	const char *key = sort_keys[work->sort].expression;
	char condition[256] = "";
	if (work->has_cursor)
		snprintf(condition, sizeof(condition), "AND (%s, m.id) %s ($3::%s, $4::uuid) ", key,
			 work->descending ? "<" : ">", sort_keys[work->sort].parameter_type);
	snprintf(sql, sizeof(sql),
		 "SELECT %s, %s FROM messages AS m WHERE m.mailbox_id = $1 %s"
		 "ORDER BY %s %s, m.id %s LIMIT $2::integer",
		 summary_columns, sort_keys[work->sort].text, condition, key, order, order);
	snprintf(limit_text, sizeof(limit_text), "%u", work->limit + 1);
	PGresult *rows = work->has_cursor ? ex_mail_api_sql(connection, error, sql, 4, work->folder_id, limit_text,
							    work->cursor.key, work->cursor.id)
					  : ex_mail_api_sql(connection, error, sql, 2, work->folder_id, limit_text);
	if (rows == NULL)
		return -1;

	json_t *messages = json_array();
	int count = PQntuples(rows) > (int)work->limit ? (int)work->limit : PQntuples(rows);
	for (int row = 0; row < count; row++) {
		json_t *summary = summary_json(rows, row);
		if (work->threads)
			json_object_set_new(summary, "thread_id", thread_id(rows, row));
		json_array_append_new(messages, summary);
	}
	json_t *next = json_null();
	if (PQntuples(rows) > (int)work->limit && count > 0) {
		ex_mail_cursor cursor = { .sort = work->sort, .descending = work->descending };
		char text[EX_MAIL_CURSOR_MAX_TEXT + 1];
		snprintf(cursor.id, sizeof(cursor.id), "%s", PQgetvalue(rows, count - 1, COLUMN_ID));
		snprintf(cursor.key, sizeof(cursor.key), "%s", PQgetvalue(rows, count - 1, COLUMN_SORT_KEY));
		if (ex_mail_cursor_encode(&cursor, text, sizeof(text)) == 0) {
			json_decref(next);
			next = json_string(text);
		} else {
			ex_log(EX_LOG_ERROR, "mail_api_cursor_failed", "{s:s, s:s}", "message", cursor.id, "sort",
			       ex_mail_sort_name(work->sort));
		}
	}
	PQclear(rows);
	work->result = json_pack("{s:o, s:o, s:s, s:s}", "messages", messages, "next_cursor", next, "sort",
				 ex_mail_sort_name(work->sort), "order", work->descending ? "desc" : "asc");
	return 0;
}

/* Reads sort, order, limit, cursor and thread from the query into WORK, or sends 400 and returns false. */
static bool read_list_query(ex_mail_api *api, ex_http_request *request, list_work *work)
{
	char text[EX_MAIL_CURSOR_MAX_TEXT + 1];

	work->sort = EX_MAIL_SORT_DATE;
	work->descending = true;
	work->limit = PAGE_DEFAULT < api->max_page ? PAGE_DEFAULT : api->max_page;
	int found = ex_http_query(request, "sort", text, sizeof(text));
	if (found < 0 || (found == 0 && ex_mail_sort_parse(text, &work->sort) != 0)) {
		ex_http_respond_error(request, 400, "invalid_request", "sort must be date, from, subject or size");
		return false;
	}
	found = ex_http_query(request, "order", text, sizeof(text));
	if (found < 0 || (found == 0 && strcmp(text, "asc") != 0 && strcmp(text, "desc") != 0)) {
		ex_http_respond_error(request, 400, "invalid_request", "order must be asc or desc");
		return false;
	}
	if (found == 0)
		work->descending = strcmp(text, "desc") == 0;
	found = ex_http_query(request, "limit", text, sizeof(text));
	if (found == 0) {
		char *end = NULL;
		long limit = strtol(text, &end, 10);
		if (end == text || *end != '\0' || limit < 1 || limit > (long)api->max_page) {
			ex_http_respond_error(request, 400, "invalid_request", "limit must be a number from 1 to %u",
					      api->max_page);
			return false;
		}
		work->limit = (unsigned)limit;
	}
	found = ex_http_query(request, "thread", text, sizeof(text));
	work->threads = found == 0 && (strcmp(text, "true") == 0 || strcmp(text, "1") == 0);
	found = ex_http_query(request, "cursor", text, sizeof(text));
	if (found == 0) {
		if (ex_mail_cursor_decode(text, &work->cursor) != 0 || work->cursor.sort != work->sort ||
		    work->cursor.descending != work->descending) {
			ex_http_respond_error(request, 400, "invalid_request",
					      "cursor is not valid for this sort and order; start again without cursor");
			return false;
		}
		work->has_cursor = true;
	} else if (found < 0) {
		ex_http_respond_error(request, 400, "invalid_request", "cursor is too long or badly encoded");
		return false;
	}
	return true;
}

static void handle_list(ex_http_request *request, void *context)
{
	ex_mail_api *api = context;
	ex_mail_api_caller caller;
	ex_db_error error = { 0 };
	const char *folder_id = ex_http_param(request, "id");

	if (!ex_mail_api_authenticate(api, request, &caller))
		return;
	list_work work = { .caller = &caller, .folder_id = folder_id, .folder_missing = !ex_mail_is_uuid(folder_id) };
	if (!work.folder_missing) {
		if (!read_list_query(api, request, &work))
			goto done;
		if (ex_db_tenant_transaction(api->service->database, caller.tenant_id, EX_DB_REPEATABLE_READ,
					     list_messages_work, &work, &error) != 0) {
			ex_mail_api_respond_database_error(request, "list the messages", &error);
			goto done;
		}
	}
	if (work.folder_missing) {
		ex_http_respond_error(request, 404, "folder_not_found", "folder %s does not exist", folder_id);
	} else {
		ex_http_respond_json(request, 200, work.result);
		work.result = NULL;
	}
done:
	json_decref(work.result);
	ex_mail_api_caller_clear(&caller);
}

/* ---- one message ----------------------------------------------------------------------------------------- */

typedef struct {
	ex_mail_api_caller *caller;
	const char *message_id;
	PGresult *row; /* summary_columns of the message, or NULL when not found */
} message_lookup;

static int lookup_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	message_lookup *lookup = opaque;
	char sql[1024];

	PQclear(lookup->row);
	lookup->row = NULL;
	snprintf(sql, sizeof(sql),
		 "SELECT %s FROM messages AS m JOIN mailboxes AS b ON b.id = m.mailbox_id "
		 "WHERE m.id = $1 AND b.user_id = $2",
		 summary_columns);
	PGresult *result = ex_mail_api_sql(connection, error, sql, 2, lookup->message_id, lookup->caller->user_id);
	if (result == NULL)
		return -1;
	if (PQntuples(result) == 1)
		lookup->row = result;
	else
		PQclear(result);
	return 0;
}

/*
 * Finds the caller's message named by the path and reads its object.
 * Sends 404 or 503 and returns false when either fails.
 */
static bool load_message(ex_mail_api *api, ex_http_request *request, message_lookup *lookup, char **content,
			 size_t *length)
{
	ex_db_error error = { 0 };
	char err[EX_STORAGE_ERROR_MAX] = "";

	if (!ex_mail_is_uuid(lookup->message_id)) {
		ex_http_respond_error(request, 404, "message_not_found", "message %s does not exist", lookup->message_id);
		return false;
	}
	if (ex_db_tenant_transaction(api->service->database, lookup->caller->tenant_id, EX_DB_READ_COMMITTED, lookup_work,
				     lookup, &error) != 0) {
		ex_mail_api_respond_database_error(request, "read the message", &error);
		return false;
	}
	if (lookup->row == NULL) {
		ex_http_respond_error(request, 404, "message_not_found", "message %s does not exist", lookup->message_id);
		return false;
	}
	if (content == NULL)
		return true;
	size_t size = (size_t)number(lookup->row, 0, COLUMN_SIZE);
	ex_storage_status status = ex_storage_read_all(api->service->storage, lookup->caller->tenant_id,
						       PQgetvalue(lookup->row, 0, COLUMN_STORAGE_KEY), size + 1, content,
						       length, err, sizeof(err));
	if (status != EX_STORAGE_OK) {
		ex_log(EX_LOG_ERROR, "mail_api_object_unreadable", "{s:s, s:s, s:s}", "message", lookup->message_id, "key",
		       PQgetvalue(lookup->row, 0, COLUMN_STORAGE_KEY), "error", err);
		ex_http_respond_error(request, 503, "storage_unavailable",
				      "the message body cannot be read now; retry later");
		return false;
	}
	return true;
}

static void handle_detail(ex_http_request *request, void *context)
{
	ex_mail_api *api = context;
	ex_mail_api_caller caller;
	char *content = NULL;
	size_t length = 0;

	if (!ex_mail_api_authenticate(api, request, &caller))
		return;
	message_lookup lookup = { .caller = &caller, .message_id = ex_http_param(request, "id") };
	if (load_message(api, request, &lookup, &content, &length)) {
		json_t *detail = summary_json(lookup.row, 0);
		json_t *body = ex_mail_api_message_body_json(content, length);
		json_object_set_new(detail, "bcc", ex_mail_api_addresses_json(value_or_null(lookup.row, 0, COLUMN_BCC)));
		json_object_set_new(detail, "reply_to",
				    ex_mail_api_addresses_json(value_or_null(lookup.row, 0, COLUMN_REPLY_TO)));
		json_object_set_new(detail, "references", value_or_null(lookup.row, 0, COLUMN_REFERENCES) != NULL
								  ? json_string(PQgetvalue(lookup.row, 0, COLUMN_REFERENCES))
								  : json_null());
		json_object_set_new(detail, "thread_id", thread_id(lookup.row, 0));
		if (body != NULL)
			json_object_update(detail, body);
		else
			json_object_set_new(detail, "parse_error", json_true());
		json_decref(body);
		ex_http_respond_json(request, 200, detail);
	}
	free(content);
	PQclear(lookup.row);
	ex_mail_api_caller_clear(&caller);
}

static void add_download_headers(ex_http_request *request, const char *filename)
{
	char disposition[EX_MAIL_DISPOSITION_MAX];
	if (ex_mail_content_disposition(disposition, sizeof(disposition), filename) < 0)
		snprintf(disposition, sizeof(disposition), "attachment");
	ex_http_add_header(request, "Content-Disposition", disposition);
	ex_http_add_header(request, "X-Content-Type-Options", "nosniff");
	ex_http_add_header(request, "Content-Security-Policy", "sandbox; default-src 'none'");
	ex_http_add_header(request, "Cache-Control", "private, no-store");
}

static void handle_raw(ex_http_request *request, void *context)
{
	ex_mail_api *api = context;
	ex_mail_api_caller caller;
	char *content = NULL;
	size_t length = 0;
	char filename[64];

	if (!ex_mail_api_authenticate(api, request, &caller))
		return;
	message_lookup lookup = { .caller = &caller, .message_id = ex_http_param(request, "id") };
	if (load_message(api, request, &lookup, &content, &length)) {
		snprintf(filename, sizeof(filename), "%s.eml", lookup.message_id);
		ex_http_respond_bytes(request, 200, "message/rfc822", content, length);
		add_download_headers(request, filename);
	}
	free(content);
	PQclear(lookup.row);
	ex_mail_api_caller_clear(&caller);
}

static void handle_attachment(ex_http_request *request, void *context)
{
	ex_mail_api *api = context;
	ex_mail_api_caller caller;
	char *content = NULL;
	size_t length = 0;
	const char *part_id = ex_http_param(request, "part");

	if (!ex_mail_api_authenticate(api, request, &caller))
		return;
	message_lookup lookup = { .caller = &caller, .message_id = ex_http_param(request, "id") };
	if (load_message(api, request, &lookup, &content, &length)) {
		ex_mail_api_part part;
		int found = ex_mail_api_part_id_is_valid(part_id) ? ex_mail_api_find_part(content, length, part_id, &part) : 1;
		if (found == 0) {
			char content_type[256];
			ex_mail_safe_content_type(content_type, sizeof(content_type), part.content_type);
			ex_http_respond_bytes(request, 200, content_type, part.data, part.length);
			add_download_headers(request, part.filename != NULL ? part.filename : "attachment");
			ex_mail_api_part_clear(&part);
		} else if (found > 0) {
			ex_http_respond_error(request, 404, "attachment_not_found", "message %s has no part %s",
					      lookup.message_id, part_id);
		} else {
			ex_http_respond_error(request, 422, "message_unreadable", "part %s of message %s cannot be decoded",
					      part_id, lookup.message_id);
		}
	}
	free(content);
	PQclear(lookup.row);
	ex_mail_api_caller_clear(&caller);
}

/* ---- changes --------------------------------------------------------------------------------------------- */

typedef enum { CHANGE_FLAGS = 0, CHANGE_MOVE, CHANGE_TRASH, CHANGE_EXPUNGE } change_kind;

typedef struct {
	ex_mail_api_caller *caller;
	change_kind kind;
	const char *message_id;
	const ex_mail_flag_change *flags;
	const char *target_id; /* CHANGE_MOVE */
	bool message_missing;
	bool target_missing;
	bool flags_over_limit;
	bool changed;
	char source_id[EX_MAIL_CURSOR_UUID_TEXT + 1];
	char source_uid[NUMBER_TEXT];
	char target[EX_MAIL_CURSOR_UUID_TEXT + 1];
	json_t *result;
} change_work;

/* Locks the caller's message and copies its mailbox, UID and flags (JSON). */
static PGresult *lock_message(PGconn *connection, change_work *work, ex_db_error *error)
{
	PGresult *result = ex_mail_api_sql(connection, error,
					   "SELECT m.mailbox_id::text, m.uid::text, array_to_json(m.flags)::text, "
					   "coalesce(b.special_use, '') FROM messages AS m "
					   "JOIN mailboxes AS b ON b.id = m.mailbox_id "
					   "WHERE m.id = $1 AND b.user_id = $2 FOR UPDATE OF m",
					   2, work->message_id, work->caller->user_id);
	if (result == NULL)
		return NULL;
	work->message_missing = PQntuples(result) == 0;
	if (!work->message_missing) {
		snprintf(work->source_id, sizeof(work->source_id), "%s", PQgetvalue(result, 0, 0));
		snprintf(work->source_uid, sizeof(work->source_uid), "%s", PQgetvalue(result, 0, 1));
	}
	return result;
}

static int change_flags(PGconn *connection, change_work *work, PGresult *message, ex_db_error *error)
{
	json_t *current = json_loads(PQgetvalue(message, 0, 2), 0, NULL);
	json_t *flags = ex_mail_flags_apply(current != NULL ? current : json_array(), work->flags, &work->changed);
	json_decref(current);
	if (flags == NULL) {
		work->flags_over_limit = true;
		return 0;
	}
	char *flags_text = json_dumps(flags, JSON_COMPACT);
	PGresult *result =
		work->changed ? ex_mail_api_sql(connection, error,
						"UPDATE messages SET flags = ARRAY(SELECT t.flag FROM json_array_elements_text($2::json) "
						"WITH ORDINALITY AS t (flag, position) ORDER BY t.position) "
						"WHERE id = $1 RETURNING modseq::text, uid::text",
						2, work->message_id, flags_text)
			      : ex_mail_api_sql(connection, error, "SELECT modseq::text, uid::text FROM messages WHERE id = $1",
						1, work->message_id);
	free(flags_text);
	if (result == NULL) {
		json_decref(flags);
		return -1;
	}
	work->result = json_pack("{s:s, s:s, s:I, s:I, s:o}", "id", work->message_id, "folder_id", work->source_id,
				 "uid", number(result, 0, 1), "modseq", number(result, 0, 0), "flags",
				 ex_mail_flags_json(flags));
	json_decref(flags);
	PQclear(result);
	return 0;
}

static int move_to(PGconn *connection, change_work *work, const char *target_sql, const char *target_param,
		   ex_db_error *error)
{
	PGresult *target = ex_mail_api_sql(connection, error, target_sql, 2, target_param, work->caller->user_id);
	if (target == NULL)
		return -1;
	work->target_missing = PQntuples(target) == 0;
	if (!work->target_missing)
		snprintf(work->target, sizeof(work->target), "%s", PQgetvalue(target, 0, 0));
	PQclear(target);
	if (work->target_missing)
		return 0;
	work->changed = strcmp(work->target, work->source_id) != 0;

	/* Changing mailbox_id is a move for the triggers: a new UID in the target, an expunge in the source. */
	PGresult *result = work->changed ? ex_mail_api_sql(connection, error,
							   "UPDATE messages SET mailbox_id = $2 WHERE id = $1 "
							   "RETURNING uid::text, modseq::text",
							   2, work->message_id, work->target)
					 : ex_mail_api_sql(connection, error,
							   "SELECT uid::text, modseq::text FROM messages WHERE id = $1", 1,
							   work->message_id);
	if (result == NULL)
		return -1;
	work->result = json_pack("{s:s, s:s, s:I, s:I}", "id", work->message_id, "folder_id", work->target, "uid",
				 number(result, 0, 0), "modseq", number(result, 0, 1));
	PQclear(result);
	return 0;
}

static int change_work_run(PGconn *connection, void *opaque, ex_db_error *error)
{
	change_work *work = opaque;

	json_decref(work->result);
	work->result = NULL;
	work->changed = false;
	work->target_missing = false;
	work->flags_over_limit = false;
	PGresult *message = lock_message(connection, work, error);
	if (message == NULL)
		return -1;
	if (work->message_missing) {
		PQclear(message);
		return 0;
	}
	bool in_trash = strcmp(PQgetvalue(message, 0, 3), "\\Trash") == 0;
	int status = 0;
	change_kind kind = work->kind == CHANGE_TRASH && in_trash ? CHANGE_EXPUNGE : work->kind;

	switch (kind) {
	case CHANGE_FLAGS:
		status = change_flags(connection, work, message, error);
		break;
	case CHANGE_MOVE:
		status = move_to(connection, work, "SELECT id::text FROM mailboxes WHERE id = $1 AND user_id = $2",
				 work->target_id, error);
		break;
	case CHANGE_TRASH:
		if (ex_mail_api_create_standard_mailboxes(connection, work->caller->tenant_id, work->caller->user_id,
							  error) != 0) {
			status = -1;
			break;
		}
		status = move_to(connection, work,
				 "SELECT id::text FROM mailboxes WHERE special_use = $1 AND user_id = $2", "\\Trash", error);
		if (status == 0 && work->result != NULL)
			json_object_set_new(work->result, "deleted", json_string("moved_to_trash"));
		break;
	case CHANGE_EXPUNGE: {
		/* The delete trigger records the expunge and queues the object in mail_object_garbage. */
		PGresult *result = ex_mail_api_sql(connection, error, "DELETE FROM messages WHERE id = $1", 1,
						   work->message_id);
		status = result != NULL ? 0 : -1;
		PQclear(result);
		work->changed = true;
		work->result = json_pack("{s:s, s:s, s:s}", "id", work->message_id, "folder_id", work->source_id, "deleted",
					 "expunged");
		break;
	}
	}
	work->kind = kind == CHANGE_EXPUNGE ? CHANGE_EXPUNGE : work->kind;
	PQclear(message);
	return status;
}

static void publish_change(ex_mail_api *api, const ex_mail_api_caller *caller, const change_work *work)
{
	if (!work->changed)
		return;
	if (work->kind == CHANGE_FLAGS) {
		ex_mail_api_publish(api, caller, "flags_changed",
				    json_pack("{s:s, s:s, s:O, s:O}", "mailbox_id", work->source_id, "message_id",
					      work->message_id, "uid", json_object_get(work->result, "uid"), "modseq",
					      json_object_get(work->result, "modseq")));
		return;
	}
	ex_mail_api_publish(api, caller, "expunged",
			    json_pack("{s:s, s:s, s:I}", "mailbox_id", work->source_id, "message_id", work->message_id,
				      "uid", (json_int_t)strtoll(work->source_uid, NULL, 10)));
	if (work->kind != CHANGE_EXPUNGE)
		ex_mail_api_publish(api, caller, "mailbox_changed",
				    json_pack("{s:s, s:s, s:s, s:O}", "mailbox_id", work->target, "change",
					      "message_added", "message_id", work->message_id, "uid",
					      json_object_get(work->result, "uid")));
}

static void run_change(ex_mail_api *api, ex_http_request *request, ex_mail_api_caller *caller, change_work *work)
{
	ex_db_error error = { 0 };

	work->caller = caller;
	if (!ex_mail_is_uuid(work->message_id)) {
		ex_http_respond_error(request, 404, "message_not_found", "message %s does not exist", work->message_id);
		return;
	}
	if (ex_db_tenant_transaction(api->service->database, caller->tenant_id, EX_DB_READ_COMMITTED, change_work_run,
				     work, &error) != 0)
		ex_mail_api_respond_database_error(request, "change the message", &error);
	else if (work->message_missing)
		ex_http_respond_error(request, 404, "message_not_found", "message %s does not exist", work->message_id);
	else if (work->target_missing)
		ex_http_respond_error(request, 404, "folder_not_found", "folder %s does not exist",
				      work->target_id != NULL ? work->target_id : "Trash");
	else if (work->flags_over_limit)
		ex_http_respond_error(request, 400, "invalid_request", "a message may carry at most %d flags and keywords",
				      EX_MAIL_FLAGS_MAX_STORED);
	else {
		publish_change(api, caller, work);
		ex_http_respond_json(request, 200, work->result);
		work->result = NULL;
	}
	json_decref(work->result);
	work->result = NULL;
}

static void handle_flags(ex_http_request *request, void *context)
{
	ex_mail_api *api = context;
	ex_mail_api_caller caller;
	ex_mail_flag_change change;
	char err[256];

	if (!ex_mail_api_authenticate(api, request, &caller))
		return;
	json_t *body = ex_mail_api_read_object(request);
	if (body != NULL && ex_mail_flag_change_parse(body, &change, err, sizeof(err)) != 0)
		ex_http_respond_error(request, 400, "invalid_request", "%s", err);
	else if (body != NULL) {
		change_work work = { .kind = CHANGE_FLAGS, .message_id = ex_http_param(request, "id"), .flags = &change };
		run_change(api, request, &caller, &work);
	}
	json_decref(body);
	ex_mail_api_caller_clear(&caller);
}

static void handle_move(ex_http_request *request, void *context)
{
	ex_mail_api *api = context;
	ex_mail_api_caller caller;

	if (!ex_mail_api_authenticate(api, request, &caller))
		return;
	json_t *body = ex_mail_api_read_object(request);
	const char *target = body != NULL ? json_string_value(json_object_get(body, "folder_id")) : NULL;
	if (body != NULL && target == NULL)
		ex_http_respond_error(request, 400, "invalid_request", "send {\"folder_id\": \"<id of the target folder>\"}");
	else if (target != NULL && !ex_mail_is_uuid(target))
		ex_http_respond_error(request, 404, "folder_not_found", "folder %s does not exist", target);
	else if (target != NULL) {
		change_work work = { .kind = CHANGE_MOVE, .message_id = ex_http_param(request, "id"), .target_id = target };
		run_change(api, request, &caller, &work);
	}
	json_decref(body);
	ex_mail_api_caller_clear(&caller);
}

static void handle_delete(ex_http_request *request, void *context)
{
	ex_mail_api *api = context;
	ex_mail_api_caller caller;
	char permanent[8] = "";

	if (!ex_mail_api_authenticate(api, request, &caller))
		return;
	int found = ex_http_query(request, "permanent", permanent, sizeof(permanent));
	if (found < 0 || (found == 0 && strcmp(permanent, "true") != 0 && strcmp(permanent, "false") != 0)) {
		ex_http_respond_error(request, 400, "invalid_request", "permanent must be true or false");
	} else {
		change_work work = { .kind = found == 0 && strcmp(permanent, "true") == 0 ? CHANGE_EXPUNGE : CHANGE_TRASH,
				     .message_id = ex_http_param(request, "id") };
		run_change(api, request, &caller, &work);
	}
	ex_mail_api_caller_clear(&caller);
}

int ex_mail_api_add_message_routes(ex_mail_api *api, ex_http_server *http)
{
	int status = 0;
	status |= ex_http_route(http, "GET", "/api/v1/mail/folders/{id}/messages", handle_list, api);
	status |= ex_http_route(http, "GET", "/api/v1/mail/messages/{id}", handle_detail, api);
	status |= ex_http_route(http, "GET", "/api/v1/mail/messages/{id}/raw", handle_raw, api);
	status |= ex_http_route(http, "GET", "/api/v1/mail/messages/{id}/attachments/{part}", handle_attachment, api);
	status |= ex_http_route_limited(http, "PATCH", "/api/v1/mail/messages/{id}/flags", handle_flags, api,
					MESSAGE_BODY_MAX);
	status |= ex_http_route_limited(http, "POST", "/api/v1/mail/messages/{id}/move", handle_move, api,
					MESSAGE_BODY_MAX);
	status |= ex_http_route(http, "DELETE", "/api/v1/mail/messages/{id}", handle_delete, api);
	return status == 0 ? 0 : -1;
}
