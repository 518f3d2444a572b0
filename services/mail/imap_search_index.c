/*
 * The search index of SEARCH BODY and TEXT (imap_search_index.h). The
 * index returns what the scan in imap_search_cmd.c would find. A key
 * whose needle the index cannot match, and every message without a row,
 * go to the scan, so both paths return the same UIDs.
 */
#include "imap_search_index.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"
#include "mail_mime_parse.h"
#include "mail_search_text.h"

enum {
	/* Rows queued before they are written in one transaction. */
	MAX_PENDING_ROWS = 100,
	MAX_PENDING_OCTETS = 4 * 1024 * 1024,
	/*
	 * Rows one command writes for messages stored before the index
	 * existed. Each row cost between one and two milliseconds of trigram
	 * indexing in tests/bench/imap on a loaded 2-core machine, so the
	 * first search of a large old mailbox costs at most a few seconds
	 * more than a scan, and the rest of its rows come with the next
	 * searches.
	 */
	MAX_ROWS_PER_COMMAND = 1000,
};

static bool is_text_key(const ex_imap_search_key *key)
{
	return key->kind == EX_IMAP_SEARCH_BODY || key->kind == EX_IMAP_SEARCH_TEXT;
}

static size_t count_text_keys(const ex_imap_search_key *key)
{
	size_t count = 0;
	for (; key != NULL; key = key->next)
		count += (is_text_key(key) ? 1 : 0) + count_text_keys(key->children);
	return count;
}

/* Runs the index query of one key; false after a database failure. */
static bool answer_key(imap_session *session, imap_search_index_answer *answer, const ex_imap_search_key *key)
{
	char *folded = ex_mail_search_fold(key->value);
	bool indexable = ex_mail_search_needle_indexable(folded);
	char *pattern = indexable ? ex_mail_search_like_pattern(folded) : NULL;
	g_free(folded);
	answer->key = key;
	if (!indexable)
		return true;

	const char *params[] = { session->view.id, pattern };
	const char *sql = key->kind == EX_IMAP_SEARCH_BODY
				  ? "SELECT m.uid FROM messages AS m JOIN message_search_text AS t ON t.message_id = m.id "
				    "WHERE m.mailbox_id = $1 AND t.body LIKE $2 ORDER BY m.uid"
				  : "SELECT m.uid FROM messages AS m JOIN message_search_text AS t ON t.message_id = m.id "
				    "WHERE m.mailbox_id = $1 AND (t.headers LIKE $2 OR t.body LIKE $2) ORDER BY m.uid";
	PGresult *result = imap_query(session, sql, 2, params);
	g_free(pattern);
	if (result == NULL)
		return false;
	size_t rows = (size_t)PQntuples(result);
	answer->uids = malloc((rows + 1) * sizeof(*answer->uids));
	if (answer->uids == NULL) {
		PQclear(result);
		return false;
	}
	for (size_t row = 0; row < rows; row++)
		answer->uids[row] = (uint32_t)strtoul(PQgetvalue(result, (int)row, 0), NULL, 10);
	answer->count = rows;
	PQclear(result);
	return true;
}

static bool answer_keys(imap_session *session, imap_search_index *index, const ex_imap_search_key *key)
{
	for (; key != NULL; key = key->next) {
		if (is_text_key(key) && !answer_key(session, &index->answers[index->answer_count++], key))
			return false;
		if (!answer_keys(session, index, key->children))
			return false;
	}
	return true;
}

static void free_answers(imap_search_index *index)
{
	for (size_t i = 0; i < index->answer_count; i++)
		free(index->answers[i].uids);
	free(index->answers);
	index->answers = NULL;
	index->answer_count = 0;
}

void imap_search_index_prepare(imap_session *session, imap_search_index *index, const ex_imap_search_key *root)
{
	*index = (imap_search_index){ .max_text = (size_t)session->options.search_index_max_text };
	size_t keys = count_text_keys(root);
	if (index->max_text == 0 || keys == 0)
		return;
	index->answers = calloc(keys, sizeof(*index->answers));
	index->enabled = index->answers != NULL;
}

void imap_search_index_query(imap_session *session, imap_search_index *index, const ex_imap_search_key *root)
{
	if (!index->enabled)
		return;
	if (!answer_keys(session, index, root)) {
		ex_log(EX_LOG_WARN, "imap_search_index_unavailable", "{s:s, s:s}", "session", session->options.session_id,
		       "mailbox", session->view.id);
		free_answers(index);
		index->enabled = false;
	}
}

static int compare_uids(const void *a, const void *b)
{
	uint32_t left = *(const uint32_t *)a;
	uint32_t right = *(const uint32_t *)b;
	return left < right ? -1 : left > right;
}

int imap_search_index_lookup(const imap_search_index *index, const ex_imap_search_key *key, uint32_t uid)
{
	if (!index->enabled)
		return -1;
	for (size_t i = 0; i < index->answer_count; i++) {
		const imap_search_index_answer *answer = &index->answers[i];
		if (answer->key != key)
			continue;
		if (answer->uids == NULL)
			return -1;
		return bsearch(&uid, answer->uids, answer->count, sizeof(uid), compare_uids) != NULL;
	}
	return -1;
}

/* Transaction body: inserts the queued rows; a row another session wrote first is kept. */
static int write_rows(PGconn *connection, void *context, ex_db_error *error)
{
	const imap_search_index *index = context;
	for (size_t i = 0; i < index->pending_count; i++) {
		const imap_search_index_row *row = &index->pending[i];
		const char *params[] = { row->message_id, row->headers, row->body };
		/* The row takes its tenant from the message, which the tenant's policy lets this transaction see. */
		PGresult *result = ex_db_exec(connection,
					      "INSERT INTO message_search_text (message_id, tenant_id, headers, body) "
					      "SELECT id, tenant_id, $2, $3 FROM messages WHERE id = $1 "
					      "ON CONFLICT (message_id) DO NOTHING",
					      3, params, error);
		if (result == NULL)
			return -1;
		PQclear(result);
	}
	return 0;
}

static void flush(imap_session *session, imap_search_index *index)
{
	if (index->pending_count > 0 && imap_transaction(session, write_rows, index) != 0)
		ex_log(EX_LOG_WARN, "imap_search_index_write_failed", "{s:s, s:I}", "session", session->options.session_id,
		       "rows", (json_int_t)index->pending_count);
	for (size_t i = 0; i < index->pending_count; i++) {
		g_free(index->pending[i].headers);
		g_free(index->pending[i].body);
	}
	index->pending_count = 0;
	index->pending_octets = 0;
}

void imap_search_index_add(imap_session *session, imap_search_index *index, const char *message_id,
			   GMimeMessage *message, const char *body)
{
	if (index->max_text == 0 || index->queued == MAX_ROWS_PER_COMMAND)
		return;
	if (index->pending == NULL) {
		index->pending = calloc(MAX_PENDING_ROWS, sizeof(*index->pending));
		if (index->pending == NULL)
			return;
	}
	imap_search_index_row *row = &index->pending[index->pending_count];
	*row = (imap_search_index_row){ 0 };
	snprintf(row->message_id, sizeof(row->message_id), "%s", message_id);
	char *headers = ex_mail_search_header_text(message);
	size_t header_length = strlen(headers);
	size_t body_length = strlen(body);
	if (ex_mail_search_text_fits(header_length, body_length, index->max_text)) {
		row->headers = headers;
		row->body = g_strdup(body);
		index->pending_octets += header_length + body_length;
	} else {
		g_free(headers);
	}
	index->pending_count++;
	index->queued++;
	if (index->pending_count == MAX_PENDING_ROWS || index->pending_octets >= MAX_PENDING_OCTETS)
		flush(session, index);
}

void imap_search_index_finish(imap_session *session, imap_search_index *index)
{
	flush(session, index);
	free(index->pending);
	free_answers(index);
	*index = (imap_search_index){ 0 };
}

bool imap_search_index_text_build(const char *data, size_t length, uint64_t max_text, imap_search_index_text *text)
{
	*text = (imap_search_index_text){ 0 };
	if (max_text == 0)
		return false;
	GMimeMessage *message = ex_mail_mime_parse(data, length);
	if (message == NULL)
		return false;

	char *headers = ex_mail_search_header_text(message);
	char *body = ex_mail_search_body_text(message);
	g_object_unref(message);
	if (ex_mail_search_text_fits(strlen(headers), strlen(body), (size_t)max_text)) {
		text->headers = headers;
		text->body = body;
	} else {
		g_free(headers);
		g_free(body);
	}
	return true;
}

void imap_search_index_text_clear(imap_search_index_text *text)
{
	g_free(text->headers);
	g_free(text->body);
	*text = (imap_search_index_text){ 0 };
}

int imap_search_index_write(PGconn *connection, const char *mailbox_id, uint32_t uid, const char *data, size_t length,
			    uint64_t max_text, ex_db_error *error)
{
	imap_search_index_text text;
	if (!imap_search_index_text_build(data, length, max_text, &text))
		return 0;

	char uid_text[IMAP_NUMBER_TEXT];
	snprintf(uid_text, sizeof(uid_text), "%u", (unsigned)uid);
	const char *params[] = { mailbox_id, uid_text, text.headers, text.body };
	PGresult *result = ex_db_exec(connection,
				      "INSERT INTO message_search_text (message_id, tenant_id, headers, body) "
				      "SELECT id, tenant_id, $3, $4 FROM messages WHERE mailbox_id = $1 AND uid = $2 "
				      "ON CONFLICT (message_id) DO NOTHING",
				      4, params, error);
	imap_search_index_text_clear(&text);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

int imap_search_index_write_object(PGconn *connection, const char *tenant_id, const char *storage_key,
				   const imap_search_index_text *text, ex_db_error *error)
{
	const char *params[] = { tenant_id, storage_key, text->headers, text->body };
	/* messages_storage_key_idx covers (tenant_id, storage_key). */
	PGresult *result = ex_db_exec(connection,
				      "INSERT INTO message_search_text (message_id, tenant_id, headers, body) "
				      "SELECT id, tenant_id, $3, $4 FROM messages WHERE tenant_id = $1 AND storage_key = $2 "
				      "ON CONFLICT (message_id) DO NOTHING",
				      4, params, error);
	if (result == NULL)
		return -1;
	int rows = (int)strtol(PQcmdTuples(result), NULL, 10);
	PQclear(result);
	return rows;
}
