/*
 * SEARCH and UID SEARCH (RFC 3501 6.4.4) with ESEARCH RETURN options (RFC
 * 4731), SAVE (RFC 5182) and MODSEQ (RFC 7162), and SORT (RFC 5256). The
 * matching rows also feed THREAD (imap_thread_cmd.c). The program is evaluated
 * here over the messages rows of the selected mailbox. String keys
 * compare case- and accent-insensitively: both sides are decomposed
 * (Unicode NFD), combining marks are dropped and the rest is case-folded,
 * so "acao" finds "Ação". Header keys decode RFC 2047 encoded-words
 * first; BODY and TEXT search the decoded text of the text parts (and
 * for TEXT the header values). They ask the search index first
 * (imap_search_index.h) and read the stored message only for messages
 * the index has no row for, or a needle it cannot match.
 */
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expresso/imap_search.h"
#include "expresso/imap_thread.h"
#include "expresso/log.h"
#include "imap_internal.h"
#include "imap_search_index.h"
#include "mail_mime_parse.h"
#include "mail_search_text.h"

enum {
	COLUMN_UID = 0,
	COLUMN_FLAGS,
	COLUMN_INTERNAL_DATE,
	COLUMN_SIZE,
	COLUMN_SENT_DATE,
	COLUMN_MODSEQ,
	COLUMN_STORAGE_KEY,
	COLUMN_SUBJECT,
	COLUMN_FROM,
	COLUMN_TO,
	COLUMN_CC,
	COLUMN_BCC,
	COLUMN_MESSAGE_ID,
	COLUMN_IN_REPLY_TO,
	COLUMN_REFERENCES,
	/* Only in the query with the search index (SEARCH_WITH_INDEX_SQL). */
	COLUMN_ID,
	COLUMN_INDEX_ROW,
	COLUMN_INDEXED,
	SECONDS_PER_DAY = 86400,
	EXTRA_OBJECT_BYTES = 64 * 1024,
};

/* The message being tested, with its object loaded on first need. */
typedef struct {
	imap_session *session;
	PGresult *result;
	int row;
	uint32_t sequence;
	GMimeMessage *message;
	char *data;
	char *text;             /* folded decoded text of the body parts */
	bool loaded;
	imap_search_index *index;
} candidate;

/* Whether the row came from the query with the search index and the message has indexed text. */
static bool is_indexed(const candidate *message)
{
	return message->index->enabled && PQgetvalue(message->result, message->row, COLUMN_INDEXED)[0] == 't';
}

/* Whether the search index has no row for the message yet, so the scan should write one. */
static bool needs_index_row(const candidate *message)
{
	return message->index->enabled && PQgetvalue(message->result, message->row, COLUMN_INDEX_ROW)[0] != 't';
}

static bool folded_contains(const char *haystack, const char *needle)
{
	if (haystack == NULL)
		return false;
	char *folded = ex_mail_search_fold(haystack);
	char *folded_needle = ex_mail_search_fold(needle);
	bool found = strstr(folded, folded_needle) != NULL;
	g_free(folded);
	g_free(folded_needle);
	return found;
}

/* Matches a header column: encoded-words are decoded before comparing. */
static bool column_contains(const candidate *message, int column, const char *needle)
{
	if (PQgetisnull(message->result, message->row, column))
		return false;
	char *decoded = g_mime_utils_header_decode_text(NULL, PQgetvalue(message->result, message->row, column));
	bool found = folded_contains(decoded, needle);
	g_free(decoded);
	return found;
}

static bool has_flag(const candidate *message, const char *flag)
{
	const char *flags = PQgetvalue(message->result, message->row, COLUMN_FLAGS);
	size_t length = strlen(flag);
	/* flags is the text[] output: {"\\Seen",keyword}; compare element by element. */
	for (const char *p = flags + 1; *p != '\0' && *p != '}';) {
		char element[EX_IMAP_MAX_MAILBOX_COMPONENT + 1];
		size_t used = 0;
		bool quoted = *p == '"';
		if (quoted)
			p++;
		while (*p != '\0' && (quoted ? *p != '"' : (*p != ',' && *p != '}'))) {
			if (quoted && *p == '\\' && p[1] != '\0')
				p++;
			if (used < sizeof(element) - 1)
				element[used++] = *p;
			p++;
		}
		element[used] = '\0';
		if (quoted && *p == '"')
			p++;
		if (*p == ',')
			p++;
		if (used == length && strncasecmp(element, flag, length) == 0)
			return true;
	}
	return false;
}

/* Loads and parses the stored message on first need. */
static void load(candidate *message)
{
	if (message->loaded)
		return;
	message->loaded = true;
	imap_session *session = message->session;
	size_t length = 0;
	char err[EX_STORAGE_ERROR_MAX] = "";
	if (session->options.storage == NULL)
		return;
	const char *key = PQgetvalue(message->result, message->row, COLUMN_STORAGE_KEY);
	if (ex_storage_read_all(session->options.storage, session->tenant_id, key,
				session->options.max_append_size + EXTRA_OBJECT_BYTES, &message->data, &length, err,
				sizeof(err)) != EX_STORAGE_OK) {
		ex_log(EX_LOG_ERROR, "imap_object_read_failed", "{s:s, s:s}", "key", key, "error", err);
		return;
	}
	message->message = ex_mail_mime_parse(message->data, length);
	if (message->message == NULL)
		return;
	message->text = ex_mail_search_body_text(message->message);
	if (needs_index_row(message))
		imap_search_index_add(session, message->index, PQgetvalue(message->result, message->row, COLUMN_ID),
				      message->message, message->text);
}

static void unload(candidate *message)
{
	if (message->message != NULL)
		g_object_unref(message->message);
	g_free(message->text);
	free(message->data);
	message->message = NULL;
	message->text = NULL;
	message->data = NULL;
	message->loaded = false;
}

static bool body_contains(candidate *message, const char *needle)
{
	load(message);
	if (message->text == NULL)
		return false;
	char *folded_needle = ex_mail_search_fold(needle);
	bool found = strstr(message->text, folded_needle) != NULL;
	g_free(folded_needle);
	return found;
}

static bool header_contains(candidate *message, const char *name, const char *needle)
{
	load(message);
	if (message->message == NULL)
		return false;
	const char *value = g_mime_object_get_header(GMIME_OBJECT(message->message), name);
	if (value == NULL)
		return false;
	return *needle == '\0' || folded_contains(value, needle);
}

static bool headers_contain(candidate *message, const char *needle)
{
	load(message);
	if (message->message == NULL)
		return false;
	GMimeHeaderList *headers = g_mime_object_get_header_list(GMIME_OBJECT(message->message));
	for (int i = 0; i < g_mime_header_list_get_count(headers); i++) {
		GMimeHeader *header = g_mime_header_list_get_header_at(headers, i);
		if (folded_contains(g_mime_header_get_value(header), needle))
			return true;
	}
	return false;
}

static int64_t days_of(const candidate *message, int column)
{
	int64_t seconds = strtoll(PQgetvalue(message->result, message->row, column), NULL, 10);
	return seconds >= 0 ? seconds / SECONDS_PER_DAY : (seconds - SECONDS_PER_DAY + 1) / SECONDS_PER_DAY;
}

static bool matches(candidate *message, const ex_imap_search_key *key);

static bool matches_all(candidate *message, const ex_imap_search_key *first)
{
	for (const ex_imap_search_key *key = first; key != NULL; key = key->next)
		if (!matches(message, key))
			return false;
	return true;
}

static bool in_saved(const imap_session *session, uint32_t uid)
{
	for (size_t i = 0; i < session->saved_count; i++)
		if (session->saved_uids[i] == uid)
			return true;
	return false;
}

static bool matches_date(const candidate *message, const ex_imap_search_key *key)
{
	bool sent = key->kind == EX_IMAP_SEARCH_SENTBEFORE || key->kind == EX_IMAP_SEARCH_SENTON ||
		    key->kind == EX_IMAP_SEARCH_SENTSINCE;
	int column = sent ? COLUMN_SENT_DATE : COLUMN_INTERNAL_DATE;
	if (PQgetisnull(message->result, message->row, column))
		return false;
	int64_t day = days_of(message, column);
	int64_t key_day = ex_imap_date_to_days(&key->date);
	switch (key->kind) {
	case EX_IMAP_SEARCH_BEFORE:
	case EX_IMAP_SEARCH_SENTBEFORE:
		return day < key_day;
	case EX_IMAP_SEARCH_ON:
	case EX_IMAP_SEARCH_SENTON:
		return day == key_day;
	default:
		return day >= key_day;
	}
}

/* BODY and TEXT: the search index decides for an indexed message, the stored message for the others. */
static bool text_matches(candidate *message, const ex_imap_search_key *key)
{
	if (is_indexed(message)) {
		uint32_t uid = (uint32_t)strtoul(PQgetvalue(message->result, message->row, COLUMN_UID), NULL, 10);
		int answer = imap_search_index_lookup(message->index, key, uid);
		if (answer >= 0)
			return answer == 1;
	}
	if (key->kind == EX_IMAP_SEARCH_TEXT && headers_contain(message, key->value))
		return true;
	return body_contains(message, key->value);
}

static bool matches(candidate *message, const ex_imap_search_key *key)
{
	uint32_t uid = (uint32_t)strtoul(PQgetvalue(message->result, message->row, COLUMN_UID), NULL, 10);
	switch (key->kind) {
	case EX_IMAP_SEARCH_AND:
		return matches_all(message, key->children);
	case EX_IMAP_SEARCH_OR:
		return matches(message, key->children) || matches(message, key->children->next);
	case EX_IMAP_SEARCH_NOT:
		return !matches(message, key->children);
	case EX_IMAP_SEARCH_ALL:
	case EX_IMAP_SEARCH_OLD:
		return true;
	case EX_IMAP_SEARCH_NEW:
	case EX_IMAP_SEARCH_RECENT:
		/* No session keeps \Recent here, so no message is recent. */
		return false;
	case EX_IMAP_SEARCH_SEQSET:
		return key->set.searchres ? in_saved(message->session, uid)
					  : ex_imap_seqset_contains(&key->set, message->sequence);
	case EX_IMAP_SEARCH_UID:
		return key->set.searchres ? in_saved(message->session, uid) : ex_imap_seqset_contains(&key->set, uid);
	case EX_IMAP_SEARCH_ANSWERED:
		return has_flag(message, "\\Answered");
	case EX_IMAP_SEARCH_DELETED:
		return has_flag(message, "\\Deleted");
	case EX_IMAP_SEARCH_DRAFT:
		return has_flag(message, "\\Draft");
	case EX_IMAP_SEARCH_FLAGGED:
		return has_flag(message, "\\Flagged");
	case EX_IMAP_SEARCH_SEEN:
		return has_flag(message, "\\Seen");
	case EX_IMAP_SEARCH_UNANSWERED:
		return !has_flag(message, "\\Answered");
	case EX_IMAP_SEARCH_UNDELETED:
		return !has_flag(message, "\\Deleted");
	case EX_IMAP_SEARCH_UNDRAFT:
		return !has_flag(message, "\\Draft");
	case EX_IMAP_SEARCH_UNFLAGGED:
		return !has_flag(message, "\\Flagged");
	case EX_IMAP_SEARCH_UNSEEN:
		return !has_flag(message, "\\Seen");
	case EX_IMAP_SEARCH_KEYWORD:
		return has_flag(message, key->value);
	case EX_IMAP_SEARCH_UNKEYWORD:
		return !has_flag(message, key->value);
	case EX_IMAP_SEARCH_SUBJECT:
		return column_contains(message, COLUMN_SUBJECT, key->value);
	case EX_IMAP_SEARCH_FROM:
		return column_contains(message, COLUMN_FROM, key->value);
	case EX_IMAP_SEARCH_TO:
		return column_contains(message, COLUMN_TO, key->value);
	case EX_IMAP_SEARCH_CC:
		return column_contains(message, COLUMN_CC, key->value);
	case EX_IMAP_SEARCH_BCC:
		return column_contains(message, COLUMN_BCC, key->value);
	case EX_IMAP_SEARCH_HEADER:
		return header_contains(message, key->header_name, key->value);
	case EX_IMAP_SEARCH_BODY:
	case EX_IMAP_SEARCH_TEXT:
		return text_matches(message, key);
	case EX_IMAP_SEARCH_LARGER:
		return strtoull(PQgetvalue(message->result, message->row, COLUMN_SIZE), NULL, 10) > key->number;
	case EX_IMAP_SEARCH_SMALLER:
		return strtoull(PQgetvalue(message->result, message->row, COLUMN_SIZE), NULL, 10) < key->number;
	case EX_IMAP_SEARCH_MODSEQ:
		return strtoull(PQgetvalue(message->result, message->row, COLUMN_MODSEQ), NULL, 10) >= key->number;
	default:
		return matches_date(message, key);
	}
}

/* Replaces '*' in the sets of the program and notes whether MODSEQ appears. */
static void prepare(imap_session *session, ex_imap_search_key *key, bool *uses_modseq)
{
	for (; key != NULL; key = key->next) {
		if (key->kind == EX_IMAP_SEARCH_SEQSET && !key->set.searchres) {
			ex_imap_seqset_resolve(&key->set, (uint32_t)session->view.count);
			ex_imap_seqset_normalize(&key->set);
		} else if (key->kind == EX_IMAP_SEARCH_UID && !key->set.searchres) {
			ex_imap_seqset_resolve(&key->set,
					       session->view.count > 0 ? session->view.uids[session->view.count - 1] : 0);
			ex_imap_seqset_normalize(&key->set);
		} else if (key->kind == EX_IMAP_SEARCH_MODSEQ) {
			*uses_modseq = true;
		}
		prepare(session, key->children, uses_modseq);
	}
}

static void write_number_set(ex_imap_writer *out, const uint32_t *numbers, size_t count)
{
	for (size_t i = 0; i < count;) {
		size_t j = i;
		while (j + 1 < count && numbers[j + 1] == numbers[j] + 1)
			j++;
		if (i > 0)
			ex_imap_write_text(out, ",");
		ex_imap_write_number(out, numbers[i]);
		if (j > i) {
			ex_imap_write_text(out, ":");
			ex_imap_write_number(out, numbers[j]);
		}
		i = j + 1;
	}
}

static void write_esearch(imap_session *session, const char *tag, const ex_imap_search *search, bool uid_mode,
			  const uint32_t *numbers, size_t count, uint64_t highest_modseq)
{
	ex_imap_writer *out = &session->output;
	unsigned options = search->return_options == 0 ? EX_IMAP_SEARCH_RETURN_ALL : search->return_options;
	if (options == EX_IMAP_SEARCH_RETURN_SAVE)
		return;
	ex_imap_write_text(out, "* ESEARCH (TAG ");
	ex_imap_write_string(out, tag, strlen(tag));
	ex_imap_write_text(out, ")");
	if (uid_mode)
		ex_imap_write_text(out, " UID");
	if ((options & EX_IMAP_SEARCH_RETURN_MIN) && count > 0) {
		ex_imap_write_text(out, " MIN ");
		ex_imap_write_number(out, numbers[0]);
	}
	if ((options & EX_IMAP_SEARCH_RETURN_MAX) && count > 0) {
		ex_imap_write_text(out, " MAX ");
		ex_imap_write_number(out, numbers[count - 1]);
	}
	if (options & EX_IMAP_SEARCH_RETURN_COUNT) {
		ex_imap_write_text(out, " COUNT ");
		ex_imap_write_number(out, count);
	}
	if ((options & EX_IMAP_SEARCH_RETURN_ALL) && count > 0) {
		ex_imap_write_text(out, " ALL ");
		write_number_set(out, numbers, count);
	}
	if (highest_modseq > 0 && count > 0) {
		ex_imap_write_text(out, " MODSEQ ");
		ex_imap_write_number(out, highest_modseq);
	}
	ex_imap_write_text(out, "\r\n");
}

#define SEARCH_COLUMNS                                                                                          \
	"m.uid, m.flags, extract(epoch FROM m.internal_date)::bigint, m.size, extract(epoch FROM m.date)::bigint, " \
	"m.modseq, m.storage_key, m.subject, m.\"from\", m.\"to\", m.cc, m.bcc, m.message_id, m.in_reply_to, "     \
	"m.\"references\""

static const char SEARCH_SQL[] = "SELECT " SEARCH_COLUMNS " FROM messages AS m WHERE m.mailbox_id = $1 ORDER BY m.uid";

/* The same rows with the message id and whether the search index has a row, and text, for each. */
static const char SEARCH_WITH_INDEX_SQL[] =
	"SELECT " SEARCH_COLUMNS ", m.id, t.message_id IS NOT NULL, t.body IS NOT NULL FROM messages AS m "
	"LEFT JOIN message_search_text AS t ON t.message_id = m.id WHERE m.mailbox_id = $1 ORDER BY m.uid";

/*
 * Parses the program at FIRST and evaluates it over the selected mailbox.
 * Returns the rows (uid order) with *MATCHED set to the indices of the
 * matching ones, or NULL after replying to TAG.
 */
static PGresult *search_rows(imap_session *session, const char *tag, const ex_imap_arg *first, ex_imap_search *search,
			     bool *uses_modseq, int **matched, size_t *count)
{
	ex_imap_search_error error = { 0 };
	*matched = NULL;
	*count = 0;
	*uses_modseq = false;
	if (!ex_imap_search_parse(ex_imap_parser_arena(session->parser), first, 0, search, &error)) {
		if (error.code != NULL)
			imap_reply_no(session, tag, error.code, error.text);
		else
			imap_reply_bad(session, tag, error.text != NULL ? error.text : "Invalid SEARCH program");
		return NULL;
	}
	prepare(session, search->root, uses_modseq);
	if (*uses_modseq)
		session->condstore = true;

	imap_search_index index;
	imap_search_index_prepare(session, &index, search->root);
	const char *params[] = { session->view.id };
	PGresult *result = imap_query(session, index.enabled ? SEARCH_WITH_INDEX_SQL : SEARCH_SQL, 1, params);
	if (result == NULL) {
		imap_search_index_finish(session, &index);
		imap_reply_unavailable(session, tag);
		return NULL;
	}
	imap_search_index_query(session, &index, search->root);
	size_t rows = (size_t)PQntuples(result);
	*matched = malloc((rows + 1) * sizeof(**matched));
	if (*matched == NULL) {
		imap_search_index_finish(session, &index);
		PQclear(result);
		imap_reply_no(session, tag, "SERVERBUG", "Out of memory");
		return NULL;
	}
	for (size_t row = 0; row < rows; row++) {
		uint32_t uid = (uint32_t)strtoul(PQgetvalue(result, (int)row, COLUMN_UID), NULL, 10);
		candidate message = { .session = session, .result = result, .row = (int)row,
				      .sequence = imap_view_sequence(session, uid), .index = &index };
		/* A message another session added after our last update has no sequence number yet. */
		if (message.sequence == 0)
			continue;
		if (matches_all(&message, search->root))
			(*matched)[(*count)++] = (int)row;
		unload(&message);
	}
	imap_search_index_finish(session, &index);
	return result;
}

void imap_command_search(imap_session *session, const ex_imap_command *command, const ex_imap_arg *args, bool uid_mode)
{
	ex_imap_search search;
	bool uses_modseq = false;
	int *matched = NULL;
	size_t count = 0;
	PGresult *result = search_rows(session, command->tag, args, &search, &uses_modseq, &matched, &count);
	if (result == NULL)
		return;

	uint32_t *numbers = malloc((count + 1) * sizeof(*numbers));
	uint32_t *found_uids = malloc((count + 1) * sizeof(*found_uids));
	uint64_t highest_modseq = 0;
	for (size_t i = 0; i < count && numbers != NULL && found_uids != NULL; i++) {
		uint32_t uid = (uint32_t)strtoul(PQgetvalue(result, matched[i], COLUMN_UID), NULL, 10);
		numbers[i] = uid_mode ? uid : imap_view_sequence(session, uid);
		found_uids[i] = uid;
		uint64_t modseq = strtoull(PQgetvalue(result, matched[i], COLUMN_MODSEQ), NULL, 10);
		if (modseq > highest_modseq)
			highest_modseq = modseq;
	}
	PQclear(result);
	free(matched);
	if (numbers == NULL || found_uids == NULL) {
		free(numbers);
		free(found_uids);
		imap_reply_no(session, command->tag, "SERVERBUG", "Out of memory");
		return;
	}

	if (search.has_return && (search.return_options & EX_IMAP_SEARCH_RETURN_SAVE)) {
		free(session->saved_uids);
		session->saved_uids = found_uids;
		session->saved_count = count;
		found_uids = NULL;
	}
	/* IMAP4rev2 (RFC 9051 6.4.4) answers every SEARCH with ESEARCH, as RETURN (ALL) would. */
	if (search.has_return || session->imap4rev2) {
		write_esearch(session, command->tag, &search, uid_mode, numbers, count, uses_modseq ? highest_modseq : 0);
	} else {
		ex_imap_writer *out = &session->output;
		ex_imap_write_text(out, "* SEARCH");
		for (size_t i = 0; i < count; i++) {
			ex_imap_write_text(out, " ");
			ex_imap_write_number(out, numbers[i]);
		}
		if (uses_modseq && count > 0) {
			ex_imap_write_text(out, " (MODSEQ ");
			ex_imap_write_number(out, highest_modseq);
			ex_imap_write_text(out, ")");
		}
		ex_imap_write_text(out, "\r\n");
	}
	free(numbers);
	free(found_uids);
	imap_reply_ok(session, command->tag, "SEARCH completed");
}

/* ---- SORT (RFC 5256) ------------------------------------------------------------------------ */

typedef enum { SORT_ARRIVAL, SORT_CC, SORT_DATE, SORT_FROM, SORT_SIZE, SORT_SUBJECT, SORT_TO } sort_key_kind;

typedef struct {
	sort_key_kind kind;
	bool reverse;
} sort_key;

enum { MAX_SORT_KEYS = 16 };

/* The values one message is sorted by, computed once. */
typedef struct {
	int row;
	uint32_t sequence;
	int64_t arrival;
	int64_t date;
	uint64_t size;
	char *subject;
	char *from;
	char *to;
	char *cc;
} sort_entry;

typedef struct {
	const sort_key *keys;
	size_t key_count;
} sort_order;

/* Returns the folded local part of the first address in header column COLUMN, or "" (g_free). */
static char *first_mailbox(PGresult *result, int row, int column)
{
	if (PQgetisnull(result, row, column))
		return g_strdup("");
	InternetAddressList *list = internet_address_list_parse(NULL, PQgetvalue(result, row, column));
	char *value = NULL;
	for (int i = 0; list != NULL && i < internet_address_list_length(list) && value == NULL; i++) {
		InternetAddress *address = internet_address_list_get_address(list, i);
		if (!INTERNET_ADDRESS_IS_MAILBOX(address))
			continue;
		const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(address));
		const char *at = addr != NULL ? strrchr(addr, '@') : NULL;
		char *local = addr == NULL ? g_strdup("") : g_strndup(addr, at != NULL ? (size_t)(at - addr) : strlen(addr));
		value = g_ascii_strdown(local, -1);
		g_free(local);
	}
	if (list != NULL)
		g_object_unref(list);
	return value != NULL ? value : g_strdup("");
}

/* Returns the base subject of RFC 5256 2.1 of ROW: decoded, folded, without reply and forward markers (g_free). */
static char *base_subject(PGresult *result, int row, bool *reply_or_forward)
{
	*reply_or_forward = false;
	if (PQgetisnull(result, row, COLUMN_SUBJECT))
		return g_strdup("");
	char *decoded = g_mime_utils_header_decode_text(NULL, PQgetvalue(result, row, COLUMN_SUBJECT));
	char *folded = ex_mail_search_fold(decoded);
	g_free(decoded);
	char *base = g_strdup(ex_imap_base_subject(folded, reply_or_forward));
	g_free(folded);
	return base;
}

/* RFC 5256 2.2: a message without a valid Date sorts by its arrival time. */
static int64_t sent_date(PGresult *result, int row)
{
	int column = PQgetisnull(result, row, COLUMN_SENT_DATE) ? COLUMN_INTERNAL_DATE : COLUMN_SENT_DATE;
	return strtoll(PQgetvalue(result, row, column), NULL, 10);
}

static int compare_numbers(int64_t left, int64_t right)
{
	return left < right ? -1 : left > right;
}

static int compare_entries(const void *a, const void *b, void *context)
{
	const sort_entry *left = a;
	const sort_entry *right = b;
	const sort_order *order = context;
	for (size_t i = 0; i < order->key_count; i++) {
		int difference = 0;
		switch (order->keys[i].kind) {
		case SORT_ARRIVAL:
			difference = compare_numbers(left->arrival, right->arrival);
			break;
		case SORT_DATE:
			difference = compare_numbers(left->date, right->date);
			break;
		case SORT_SIZE:
			difference = compare_numbers((int64_t)left->size, (int64_t)right->size);
			break;
		case SORT_SUBJECT:
			difference = strcmp(left->subject, right->subject);
			break;
		case SORT_FROM:
			difference = strcmp(left->from, right->from);
			break;
		case SORT_TO:
			difference = strcmp(left->to, right->to);
			break;
		case SORT_CC:
			difference = strcmp(left->cc, right->cc);
			break;
		}
		if (difference != 0)
			return order->keys[i].reverse ? -difference : difference;
	}
	/* RFC 5256 3: ties are broken by sequence number. */
	return compare_numbers(left->sequence, right->sequence);
}

static bool parse_sort_keys(const ex_imap_arg *list, sort_key *keys, size_t *count)
{
	static const struct {
		const char *name;
		sort_key_kind kind;
	} names[] = { { "ARRIVAL", SORT_ARRIVAL }, { "CC", SORT_CC },	    { "DATE", SORT_DATE }, { "FROM", SORT_FROM },
		      { "SIZE", SORT_SIZE },	   { "SUBJECT", SORT_SUBJECT }, { "TO", SORT_TO } };
	bool reverse = false;
	*count = 0;
	if (list == NULL || list->type != EX_IMAP_ARG_LIST || list->list_count == 0)
		return false;
	for (const ex_imap_arg *item = list->list; item != NULL; item = item->next) {
		if (item->type != EX_IMAP_ARG_ATOM)
			return false;
		if (strcasecmp(item->str, "REVERSE") == 0) {
			reverse = true;
			continue;
		}
		size_t i = 0;
		while (i < sizeof(names) / sizeof(names[0]) && strcasecmp(item->str, names[i].name) != 0)
			i++;
		if (i == sizeof(names) / sizeof(names[0]) || *count == MAX_SORT_KEYS)
			return false;
		keys[(*count)++] = (sort_key){ .kind = names[i].kind, .reverse = reverse };
		reverse = false;
	}
	return !reverse;
}

void imap_command_sort(imap_session *session, const ex_imap_command *command, const ex_imap_arg *args, bool uid_mode)
{
	sort_key keys[MAX_SORT_KEYS];
	size_t key_count = 0;
	if (!parse_sort_keys(args, keys, &key_count)) {
		imap_reply_bad(session, command->tag,
			       "SORT takes a list of ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO, each optionally after REVERSE");
		return;
	}
	const ex_imap_arg *charset = args->next;
	if (charset == NULL || !ex_imap_arg_is_astring(charset)) {
		imap_reply_bad(session, command->tag, "SORT takes a charset after the sort keys");
		return;
	}
	if (!imap_search_charset_supported(session, command->tag, charset))
		return;
	ex_imap_search search;
	bool uses_modseq = false;
	int *matched = NULL;
	size_t count = 0;
	PGresult *result = search_rows(session, command->tag, charset->next, &search, &uses_modseq, &matched, &count);
	if (result == NULL)
		return;
	sort_entry *entries = calloc(count + 1, sizeof(*entries));
	for (size_t i = 0; i < count && entries != NULL; i++) {
		int row = matched[i];
		sort_entry *entry = &entries[i];
		entry->row = row;
		entry->sequence = imap_view_sequence(session, (uint32_t)strtoul(PQgetvalue(result, row, COLUMN_UID), NULL, 10));
		entry->arrival = strtoll(PQgetvalue(result, row, COLUMN_INTERNAL_DATE), NULL, 10);
		entry->date = sent_date(result, row);
		entry->size = strtoull(PQgetvalue(result, row, COLUMN_SIZE), NULL, 10);
		bool reply_or_forward = false;
		entry->subject = base_subject(result, row, &reply_or_forward);
		entry->from = first_mailbox(result, row, COLUMN_FROM);
		entry->to = first_mailbox(result, row, COLUMN_TO);
		entry->cc = first_mailbox(result, row, COLUMN_CC);
	}
	if (entries == NULL) {
		PQclear(result);
		free(matched);
		imap_reply_no(session, command->tag, "SERVERBUG", "Out of memory");
		return;
	}
	sort_order order = { .keys = keys, .key_count = key_count };
	qsort_r(entries, count, sizeof(*entries), compare_entries, &order);

	ex_imap_writer *out = &session->output;
	ex_imap_write_text(out, "* SORT");
	for (size_t i = 0; i < count; i++) {
		ex_imap_write_text(out, " ");
		if (uid_mode)
			ex_imap_write_text(out, PQgetvalue(result, entries[i].row, COLUMN_UID));
		else
			ex_imap_write_number(out, entries[i].sequence);
		g_free(entries[i].subject);
		g_free(entries[i].from);
		g_free(entries[i].to);
		g_free(entries[i].cc);
	}
	ex_imap_write_text(out, "\r\n");
	free(entries);
	free(matched);
	PQclear(result);
	imap_reply_ok(session, command->tag, "SORT completed");
}

/* ---- THREAD input ------------------------------------------------------------------------ */

bool imap_search_charset_supported(imap_session *session, const char *tag, const ex_imap_arg *charset)
{
	if (strcasecmp(charset->str, "UTF-8") == 0 || strcasecmp(charset->str, "US-ASCII") == 0)
		return true;
	imap_reply_no(session, tag, "BADCHARSET (US-ASCII UTF-8)", "Unsupported charset: use UTF-8 or US-ASCII");
	return false;
}

static const char *value_or_null(PGresult *result, int row, int column)
{
	return PQgetisnull(result, row, column) ? NULL : PQgetvalue(result, row, column);
}

bool imap_search_thread_input(imap_session *session, const char *tag, const ex_imap_arg *program, bool uid_mode,
			      imap_thread_input *input)
{
	ex_imap_search search;
	bool uses_modseq = false;
	int *matched = NULL;
	size_t count = 0;
	*input = (imap_thread_input){ 0 };
	PGresult *result = search_rows(session, tag, program, &search, &uses_modseq, &matched, &count);
	if (result == NULL)
		return false;
	input->result = result;
	input->messages = calloc(count + 1, sizeof(*input->messages));
	input->subjects = calloc(count + 1, sizeof(*input->subjects));
	if (input->messages == NULL || input->subjects == NULL) {
		free(matched);
		imap_thread_input_clear(input);
		imap_reply_no(session, tag, "SERVERBUG", "Out of memory");
		return false;
	}
	/* The rows are in UID order, which is mailbox order, as the thread builder expects. */
	for (size_t i = 0; i < count; i++) {
		int row = matched[i];
		ex_imap_thread_message *message = &input->messages[i];
		uint32_t uid = (uint32_t)strtoul(PQgetvalue(result, row, COLUMN_UID), NULL, 10);
		message->number = uid_mode ? uid : imap_view_sequence(session, uid);
		message->sent_date = sent_date(result, row);
		input->subjects[i] = base_subject(result, row, &message->reply_or_forward);
		message->base_subject = input->subjects[i];
		message->message_id = value_or_null(result, row, COLUMN_MESSAGE_ID);
		message->in_reply_to = value_or_null(result, row, COLUMN_IN_REPLY_TO);
		message->references = value_or_null(result, row, COLUMN_REFERENCES);
		input->count++;
	}
	free(matched);
	return true;
}

void imap_thread_input_clear(imap_thread_input *input)
{
	for (size_t i = 0; input->subjects != NULL && i < input->count; i++)
		g_free(input->subjects[i]);
	free(input->subjects);
	free(input->messages);
	if (input->result != NULL)
		PQclear(input->result);
	*input = (imap_thread_input){ 0 };
}
