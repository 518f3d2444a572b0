/*
 * The selected mailbox: SELECT and EXAMINE (with CONDSTORE and QRESYNC
 * parameters, RFC 7162), CLOSE and UNSELECT, the map between message
 * sequence numbers and UIDs, and the untagged updates that tell the client
 * what other sessions changed. Changes are read from the database by
 * modseq: every writer's triggers raise the mailbox's highestmodseq, store
 * each message's modseq and record expunges in message_expunges. SELECT
 * copies the UIDs from the shared mailbox cache (imap_view_cache.h) when
 * the cache can serve the mailbox, and reads them from the database
 * otherwise.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expresso/imap_arena.h"
#include "expresso/log.h"
#include "imap_internal.h"
#include "imap_view_cache.h"

void imap_view_clear(imap_session *session)
{
	free(session->view.uids);
	session->view = (imap_view){ 0 };
	session->view_open = false;
	free(session->saved_uids);
	session->saved_uids = NULL;
	session->saved_count = 0;
}

static int append_uid(imap_view *view, uint32_t uid)
{
	if (view->count == view->capacity) {
		size_t capacity = view->capacity == 0 ? 64 : view->capacity * 2;
		uint32_t *grown = realloc(view->uids, capacity * sizeof(*grown));
		if (grown == NULL)
			return -1;
		view->uids = grown;
		view->capacity = capacity;
	}
	view->uids[view->count++] = uid;
	return 0;
}

uint32_t imap_view_sequence(const imap_session *session, uint32_t uid)
{
	size_t low = 0;
	size_t high = session->view.count;
	while (low < high) {
		size_t middle = low + (high - low) / 2;
		if (session->view.uids[middle] < uid)
			low = middle + 1;
		else
			high = middle;
	}
	if (low < session->view.count && session->view.uids[low] == uid)
		return (uint32_t)(low + 1);
	return 0;
}

/* Appends the UIDs of PostgreSQL array text "{1,2,3}" to VIEW. */
static int parse_uid_array(const char *text, imap_view *view)
{
	if (text == NULL || *text != '{')
		return 0;
	for (const char *p = text + 1; *p != '\0' && *p != '}';) {
		char *end = NULL;
		unsigned long uid = strtoul(p, &end, 10);
		if (end == p)
			return -1;
		if (append_uid(view, (uint32_t)uid) != 0)
			return -1;
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

char *imap_uid_array(const uint32_t *uids, size_t count)
{
	char *text = malloc(count * 11 + 3);
	if (text == NULL)
		return NULL;
	size_t length = 0;
	text[length++] = '{';
	for (size_t i = 0; i < count; i++)
		length += (size_t)sprintf(text + length, i == 0 ? "%u" : ",%u", uids[i]);
	text[length++] = '}';
	text[length] = '\0';
	return text;
}

/* ---- updates ------------------------------------------------------------------------- */

static void write_flags_json(ex_imap_writer *out, json_t *flags)
{
	size_t index;
	json_t *flag;
	bool space = false;
	ex_imap_write_text(out, "(");
	json_array_foreach(flags, index, flag)
	{
		if (!json_is_string(flag))
			continue;
		if (space)
			ex_imap_write_text(out, " ");
		space = true;
		ex_imap_write_text(out, json_string_value(flag));
	}
	ex_imap_write_text(out, ")");
}

static void remove_expunged(imap_session *session, json_t *expunged)
{
	ex_imap_writer *out = &session->output;
	size_t index;
	json_t *value;
	bool first = true;
	json_array_foreach(expunged, index, value)
	{
		uint32_t uid = (uint32_t)json_integer_value(value);
		uint32_t sequence = imap_view_sequence(session, uid);
		if (sequence == 0)
			continue;
		imap_view *view = &session->view;
		memmove(&view->uids[sequence - 1], &view->uids[sequence], (view->count - sequence) * sizeof(uint32_t));
		view->count--;
		if (session->qresync) {
			/* RFC 7162 3.2.10: VANISHED replaces EXPUNGE once QRESYNC is enabled. */
			ex_imap_write_text(out, first ? "* VANISHED " : ",");
			ex_imap_write_number(out, uid);
		} else {
			ex_imap_write_text(out, "* ");
			ex_imap_write_number(out, sequence);
			ex_imap_write_text(out, " EXPUNGE\r\n");
		}
		first = false;
	}
	if (session->qresync && !first)
		ex_imap_write_text(out, "\r\n");
}

void imap_view_update(imap_session *session, bool allow_expunge)
{
	imap_view *view = &session->view;
	char modseq[IMAP_NUMBER_TEXT];
	imap_format_number(modseq, sizeof(modseq), view->highest_modseq);
	const char *params[] = { view->id, modseq };
	/* One statement, so that the counters, expunges and changes come from one snapshot. */
	PGresult *result = imap_query(
		session,
		"SELECT m.highestmodseq, m.uidnext, "
		"(SELECT COALESCE(json_agg(e.uid ORDER BY e.uid), '[]') FROM message_expunges AS e "
		" WHERE e.mailbox_id = m.id AND e.modseq > $2), "
		"(SELECT COALESCE(json_agg(json_build_array(x.uid, x.flags, x.modseq) ORDER BY x.uid), '[]') "
		" FROM messages AS x WHERE x.mailbox_id = m.id AND x.modseq > $2) "
		"FROM mailboxes AS m WHERE m.id = $1 AND m.highestmodseq > $2",
		2, params);
	if (result == NULL || PQntuples(result) != 1) {
		if (result != NULL)
			PQclear(result);
		return;
	}
	uint64_t highest = strtoull(PQgetvalue(result, 0, 0), NULL, 10);
	uint32_t uidnext = (uint32_t)strtoul(PQgetvalue(result, 0, 1), NULL, 10);
	json_t *expunged = json_loads(PQgetvalue(result, 0, 2), 0, NULL);
	json_t *changed = json_loads(PQgetvalue(result, 0, 3), 0, NULL);
	PQclear(result);
	if (!json_is_array(expunged) || !json_is_array(changed)) {
		json_decref(expunged);
		json_decref(changed);
		return;
	}

	bool expunges_pending = false;
	if (allow_expunge)
		remove_expunged(session, expunged);
	else
		for (size_t i = 0; i < json_array_size(expunged) && !expunges_pending; i++)
			expunges_pending = imap_view_sequence(session, (uint32_t)json_integer_value(json_array_get(expunged, i))) != 0;

	size_t before = view->count;
	uint32_t last_uid = view->count > 0 ? view->uids[view->count - 1] : 0;
	size_t index;
	json_t *row;
	json_array_foreach(changed, index, row)
	{
		uint32_t uid = (uint32_t)json_integer_value(json_array_get(row, 0));
		if (uid > last_uid) {
			append_uid(view, uid);
			last_uid = uid;
			continue;
		}
		uint32_t sequence = imap_view_sequence(session, uid);
		if (sequence == 0)
			continue;
		ex_imap_write_text(&session->output, "* ");
		ex_imap_write_number(&session->output, sequence);
		ex_imap_write_text(&session->output, " FETCH (UID ");
		ex_imap_write_number(&session->output, uid);
		ex_imap_write_text(&session->output, " FLAGS ");
		write_flags_json(&session->output, json_array_get(row, 1));
		if (session->condstore) {
			ex_imap_write_text(&session->output, " MODSEQ (");
			ex_imap_write_number(&session->output, (uint64_t)json_integer_value(json_array_get(row, 2)));
			ex_imap_write_text(&session->output, ")");
		}
		ex_imap_write_text(&session->output, ")\r\n");
	}
	if (view->count != before || (allow_expunge && json_array_size(expunged) > 0)) {
		ex_imap_write_text(&session->output, "* ");
		ex_imap_write_number(&session->output, view->count);
		ex_imap_write_text(&session->output, " EXISTS\r\n");
	}
	json_decref(expunged);
	json_decref(changed);
	view->uidnext = uidnext;
	/* Withheld expunges must be found again by the next update, so the modseq stays. */
	if (!expunges_pending)
		view->highest_modseq = highest;
}

/* ---- sets ------------------------------------------------------------------------------- */

static int compare_uids(const void *a, const void *b)
{
	uint32_t left = *(const uint32_t *)a;
	uint32_t right = *(const uint32_t *)b;
	return left < right ? -1 : left > right;
}

bool imap_view_resolve(imap_session *session, const char *tag, const ex_imap_arg *arg, bool uid_mode,
		       uint32_t **uids, size_t *count)
{
	imap_view *view = &session->view;
	ex_imap_seqset set;
	*uids = NULL;
	*count = 0;
	if (arg == NULL || arg->type != EX_IMAP_ARG_ATOM) {
		imap_reply_bad(session, tag, "Missing message set");
		return false;
	}
	const char *problem = ex_imap_seqset_parse(ex_imap_parser_arena(session->parser), arg->str, arg->length, &set);
	if (problem != NULL) {
		char message[256];
		snprintf(message, sizeof(message), "Invalid message set: %s", problem);
		imap_reply_bad(session, tag, message);
		return false;
	}
	uint32_t *result = malloc((view->count + 1) * sizeof(*result));
	if (result == NULL) {
		imap_reply_no(session, tag, "SERVERBUG", "Out of memory");
		return false;
	}
	size_t found = 0;
	if (set.searchres) {
		/* "$" (RFC 5182): the UIDs saved by SEARCH RETURN (SAVE) that are still in the mailbox. */
		for (size_t i = 0; i < session->saved_count; i++)
			if (imap_view_sequence(session, session->saved_uids[i]) != 0)
				result[found++] = session->saved_uids[i];
	} else if (uid_mode) {
		ex_imap_seqset_resolve(&set, view->count > 0 ? view->uids[view->count - 1] : 0);
		ex_imap_seqset_normalize(&set);
		for (size_t i = 0; i < view->count; i++)
			if (ex_imap_seqset_contains(&set, view->uids[i]))
				result[found++] = view->uids[i];
	} else {
		ex_imap_seqset_resolve(&set, (uint32_t)view->count);
		ex_imap_seqset_normalize(&set);
		for (size_t r = 0; r < set.count; r++) {
			if (set.ranges[r].last > view->count) {
				free(result);
				imap_reply_bad(session, tag, "Message sequence number is larger than the number of messages");
				return false;
			}
		}
		for (size_t i = 0; i < view->count; i++)
			if (ex_imap_seqset_contains(&set, (uint32_t)(i + 1)))
				result[found++] = view->uids[i];
	}
	qsort(result, found, sizeof(*result), compare_uids);
	*uids = result;
	*count = found;
	return true;
}

/* ---- SELECT ----------------------------------------------------------------------------- */

enum { LOAD_OK = 0, LOAD_DATABASE_FAILED = -1, LOAD_NO_MEMORY = -2 };

/* Copies the UIDs of SNAPSHOT into the view; sets *FIRST_UNSEEN to the UID of the first message without \Seen, or 0. */
static int load_from_snapshot(imap_view *view, const imap_view_snapshot *snapshot, uint32_t *first_unseen)
{
	if (snapshot->count > view->capacity) {
		uint32_t *grown = realloc(view->uids, snapshot->count * sizeof(*grown));
		if (grown == NULL)
			return LOAD_NO_MEMORY;
		view->uids = grown;
		view->capacity = snapshot->count;
	}
	for (size_t i = 0; i < snapshot->count; i++) {
		view->uids[i] = snapshot->messages[i].uid;
		if (*first_unseen == 0 && !snapshot->messages[i].seen)
			*first_unseen = snapshot->messages[i].uid;
	}
	view->count = snapshot->count;
	view->uidnext = snapshot->uidnext;
	view->highest_modseq = snapshot->highest_modseq;
	return LOAD_OK;
}

/*
 * Fills the view's UIDs, with the uidnext and highestmodseq they belong
 * to, from the shared cache, or from the database when the cache cannot
 * serve the mailbox. The view's highest_modseq is the value SELECT just
 * read, so a current cache entry costs no query.
 */
static int load_messages(imap_session *session, uint32_t *first_unseen)
{
	imap_view *view = &session->view;
	imap_view_snapshot snapshot;
	if (imap_view_cache_sync(session, view->id, view->highest_modseq, &snapshot)) {
		int status = load_from_snapshot(view, &snapshot, first_unseen);
		imap_view_cache_release(imap_view_cache_shared());
		return status;
	}
	const char *params[] = { view->id };
	PGresult *result = imap_query(
		session,
		"SELECT m.uidnext, m.highestmodseq, "
		"(SELECT array_agg(x.uid ORDER BY x.uid) FROM messages AS x WHERE x.mailbox_id = m.id)::text, "
		"(SELECT min(x.uid) FROM messages AS x WHERE x.mailbox_id = m.id AND NOT ('\\Seen' = ANY (x.flags))) "
		"FROM mailboxes AS m WHERE m.id = $1",
		1, params);
	if (result == NULL)
		return LOAD_DATABASE_FAILED;
	if (PQntuples(result) != 1) {
		PQclear(result);
		return LOAD_DATABASE_FAILED;
	}
	view->uidnext = (uint32_t)strtoul(PQgetvalue(result, 0, 0), NULL, 10);
	view->highest_modseq = strtoull(PQgetvalue(result, 0, 1), NULL, 10);
	if (!PQgetisnull(result, 0, 3))
		*first_unseen = (uint32_t)strtoul(PQgetvalue(result, 0, 3), NULL, 10);
	int status = parse_uid_array(PQgetisnull(result, 0, 2) ? NULL : PQgetvalue(result, 0, 2), view) == 0
			     ? LOAD_OK
			     : LOAD_NO_MEMORY;
	PQclear(result);
	return status;
}

typedef struct {
	bool condstore;
	bool qresync;
	uint32_t known_uidvalidity;
	uint64_t known_modseq;
	const ex_imap_arg *known_uids;  /* may be NULL */
} select_parameters;

static bool parse_select_parameters(imap_session *session, const ex_imap_arg *list, select_parameters *parameters)
{
	for (const ex_imap_arg *item = list->list; item != NULL; item = item->next) {
		if (ex_imap_arg_atom_equals(item, "CONDSTORE")) {
			parameters->condstore = true;
		} else if (ex_imap_arg_atom_equals(item, "QRESYNC") && session->qresync && item->next != NULL &&
			   item->next->type == EX_IMAP_ARG_LIST && item->next->list_count >= 2) {
			const ex_imap_arg *values = item->next->list;
			if (values->type != EX_IMAP_ARG_ATOM || values->next->type != EX_IMAP_ARG_ATOM)
				return false;
			parameters->qresync = true;
			parameters->known_uidvalidity = (uint32_t)strtoul(values->str, NULL, 10);
			parameters->known_modseq = strtoull(values->next->str, NULL, 10);
			parameters->known_uids = values->next->next;
			item = item->next;
		} else {
			return false;
		}
	}
	return true;
}

/* QRESYNC (RFC 7162 3.2.5.1): what changed since the client's modseq, as VANISHED (EARLIER) and FETCH. */
static void write_qresync(imap_session *session, const select_parameters *parameters)
{
	char modseq[IMAP_NUMBER_TEXT];
	imap_format_number(modseq, sizeof(modseq), parameters->known_modseq);
	const char *params[] = { session->view.id, modseq };
	PGresult *result = imap_query(session,
				      "SELECT (SELECT COALESCE(json_agg(e.uid ORDER BY e.uid), '[]') FROM message_expunges AS e "
				      " WHERE e.mailbox_id = $1 AND e.modseq > $2), "
				      "(SELECT COALESCE(json_agg(json_build_array(x.uid, x.flags, x.modseq) ORDER BY x.uid), '[]') "
				      " FROM messages AS x WHERE x.mailbox_id = $1 AND x.modseq > $2)",
				      2, params);
	if (result == NULL)
		return;
	json_t *expunged = json_loads(PQgetvalue(result, 0, 0), 0, NULL);
	json_t *changed = json_loads(PQgetvalue(result, 0, 1), 0, NULL);
	PQclear(result);
	ex_imap_writer *out = &session->output;
	if (json_array_size(expunged) > 0) {
		ex_imap_write_text(out, "* VANISHED (EARLIER) ");
		for (size_t i = 0; i < json_array_size(expunged); i++) {
			if (i > 0)
				ex_imap_write_text(out, ",");
			ex_imap_write_number(out, (uint64_t)json_integer_value(json_array_get(expunged, i)));
		}
		ex_imap_write_text(out, "\r\n");
	}
	for (size_t i = 0; i < json_array_size(changed); i++) {
		json_t *row = json_array_get(changed, i);
		uint32_t uid = (uint32_t)json_integer_value(json_array_get(row, 0));
		uint32_t sequence = imap_view_sequence(session, uid);
		if (sequence == 0)
			continue;
		ex_imap_write_text(out, "* ");
		ex_imap_write_number(out, sequence);
		ex_imap_write_text(out, " FETCH (UID ");
		ex_imap_write_number(out, uid);
		ex_imap_write_text(out, " FLAGS ");
		write_flags_json(out, json_array_get(row, 1));
		ex_imap_write_text(out, " MODSEQ (");
		ex_imap_write_number(out, (uint64_t)json_integer_value(json_array_get(row, 2)));
		ex_imap_write_text(out, "))\r\n");
	}
	json_decref(expunged);
	json_decref(changed);
}

void imap_command_select(imap_session *session, const ex_imap_command *command, bool read_only)
{
	char name[EX_IMAP_MAX_MAILBOX_NAME + 1];
	select_parameters parameters = { 0 };
	if (command->arg_count < 1 || command->arg_count > 2) {
		imap_reply_bad(session, command->tag, "SELECT takes a mailbox name and optional parameters");
		return;
	}
	if (!imap_mailbox_argument(session, command->tag, command->args, name, sizeof(name)))
		return;
	const ex_imap_arg *list = command->args->next;
	if (list != NULL && (list->type != EX_IMAP_ARG_LIST || !parse_select_parameters(session, list, &parameters))) {
		imap_reply_bad(session, command->tag, "Invalid SELECT parameters; use (CONDSTORE) or (QRESYNC (...))");
		return;
	}

	bool was_selected = session->view_open;
	imap_view_clear(session);
	session->state = IMAP_STATE_AUTHENTICATED;
	if (was_selected)
		ex_imap_write_text(&session->output, "* OK [CLOSED] Previous mailbox closed\r\n");

	const char *params[] = { session->user_id, name };
	PGresult *result = imap_query(
		session,
		"SELECT m.id, m.uidvalidity, m.uidnext, m.highestmodseq, m.special_use, "
		"EXISTS (SELECT 1 FROM mailboxes AS c WHERE c.user_id = m.user_id "
		" AND left(c.name, length(m.name) + 1) = m.name || '/') "
		"FROM mailboxes AS m WHERE m.user_id = $1 AND m.name = $2",
		2, params);
	if (result == NULL) {
		imap_reply_unavailable(session, command->tag);
		return;
	}
	if (PQntuples(result) != 1) {
		PQclear(result);
		imap_reply_no(session, command->tag, "NONEXISTENT", "No such mailbox");
		return;
	}
	imap_view *view = &session->view;
	snprintf(view->id, sizeof(view->id), "%s", PQgetvalue(result, 0, 0));
	snprintf(view->name, sizeof(view->name), "%s", name);
	view->uidvalidity = (uint32_t)strtoul(PQgetvalue(result, 0, 1), NULL, 10);
	view->uidnext = (uint32_t)strtoul(PQgetvalue(result, 0, 2), NULL, 10);
	view->highest_modseq = strtoull(PQgetvalue(result, 0, 3), NULL, 10);
	view->read_only = read_only;
	char special_use[16] = "";
	if (!PQgetisnull(result, 0, 4))
		snprintf(special_use, sizeof(special_use), "%s", PQgetvalue(result, 0, 4));
	bool has_children = strcmp(PQgetvalue(result, 0, 5), "t") == 0;
	PQclear(result);
	uint32_t first_unseen = 0;
	int loaded = load_messages(session, &first_unseen);
	if (loaded != 0) {
		imap_view_clear(session);
		if (loaded == LOAD_NO_MEMORY)
			imap_reply_no(session, command->tag, "SERVERBUG", "Out of memory");
		else
			imap_reply_unavailable(session, command->tag);
		return;
	}
	session->view_open = true;
	session->state = IMAP_STATE_SELECTED;
	if (parameters.condstore)
		session->condstore = true;

	ex_imap_writer *out = &session->output;
	ex_imap_write_text(out, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n");
	ex_imap_write_text(out, read_only ? "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n"
					  : "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] "
					    "Flags permitted\r\n");
	ex_imap_write_text(out, "* ");
	ex_imap_write_number(out, view->count);
	ex_imap_write_text(out, " EXISTS\r\n");
	if (session->imap4rev2) {
		/* RFC 9051 6.3.2: a LIST response with the mailbox's attributes replaces RECENT and UNSEEN. */
		ex_imap_write_text(out, has_children ? "* LIST (\\HasChildren" : "* LIST (\\HasNoChildren");
		if (special_use[0] != '\0') {
			ex_imap_write_text(out, " ");
			ex_imap_write_text(out, special_use);
		}
		ex_imap_write_text(out, ") \"/\" ");
		ex_imap_write_mailbox(out, view->name);
		ex_imap_write_text(out, "\r\n");
	} else {
		/* NOTE: \Recent is never set, so RECENT is always 0 (docs/imap.md says why). */
		ex_imap_write_text(out, "* 0 RECENT\r\n");
	}
	if (first_unseen != 0 && !session->imap4rev2) {
		ex_imap_write_text(out, "* OK [UNSEEN ");
		ex_imap_write_number(out, imap_view_sequence(session, first_unseen));
		ex_imap_write_text(out, "] First unseen\r\n");
	}
	ex_imap_write_text(out, "* OK [UIDVALIDITY ");
	ex_imap_write_number(out, view->uidvalidity);
	ex_imap_write_text(out, "] UIDs valid\r\n* OK [UIDNEXT ");
	ex_imap_write_number(out, view->uidnext);
	ex_imap_write_text(out, "] Predicted next UID\r\n* OK [HIGHESTMODSEQ ");
	ex_imap_write_number(out, view->highest_modseq);
	ex_imap_write_text(out, "] Highest\r\n");
	if (parameters.qresync && parameters.known_uidvalidity == view->uidvalidity)
		write_qresync(session, &parameters);
	imap_reply(session, command->tag, "OK", read_only ? "READ-ONLY" : "READ-WRITE",
		   read_only ? "EXAMINE completed" : "SELECT completed");
}

void imap_command_close(imap_session *session, const ex_imap_command *command, bool expunge)
{
	if (expunge && !session->view.read_only) {
		/* CLOSE expunges silently (RFC 3501 6.4.2). */
		const char *params[] = { session->view.id };
		PGresult *result = imap_query(session, "DELETE FROM messages WHERE mailbox_id = $1 AND '\\Deleted' = ANY (flags)",
					      1, params);
		if (result == NULL) {
			imap_reply_unavailable(session, command->tag);
			return;
		}
		PQclear(result);
	}
	imap_view_clear(session);
	session->state = IMAP_STATE_AUTHENTICATED;
	imap_reply_ok(session, command->tag, expunge ? "CLOSE completed" : "UNSELECT completed");
}
