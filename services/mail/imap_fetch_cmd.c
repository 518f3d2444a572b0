/*
 * FETCH and UID FETCH (RFC 3501 6.4.5) with the CHANGEDSINCE and VANISHED
 * modifiers (RFC 7162). Flags, dates, sizes and modseqs come from the
 * messages rows, and so do ENVELOPE, BODY and BODYSTRUCTURE, cached in
 * the row when the message was stored (imap_structure.h). Body sections
 * read the stored object, which is parsed once per message and only when
 * an item needs it. A row stored before the cache existed is built from
 * its object at its first FETCH, and the row is filled. A BODY[...] fetch without .PEEK sets \Seen first, so the
 * FLAGS the client gets back are current.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expresso/imap_date.h"
#include "expresso/imap_fetch.h"
#include "expresso/log.h"
#include "imap_internal.h"
#include "imap_mime.h"
#include "imap_structure.h"

enum {
	/* Largest stored object FETCH reads into memory: APPEND's limit plus the trace fields SMTP adds. */
	EXTRA_OBJECT_BYTES = 64 * 1024,
	COLUMN_UID = 0,
	COLUMN_FLAGS,
	COLUMN_INTERNAL_DATE,
	COLUMN_SIZE,
	COLUMN_STORAGE_KEY,
	COLUMN_MODSEQ,
	COLUMN_IMAP_ENVELOPE,
	COLUMN_IMAP_BODYSTRUCTURE,
};

typedef struct {
	bool needs_structure;
	bool needs_object;
	bool sets_seen;
	bool wants_flags;
	bool wants_uid;
	bool wants_modseq;
} fetch_needs;

static void analyse(const ex_imap_fetch_list *list, bool uid_mode, bool changed_since, fetch_needs *needs)
{
	*needs = (fetch_needs){ .wants_uid = uid_mode, .wants_modseq = changed_since };
	for (const ex_imap_fetch_item *item = list->items; item != NULL; item = item->next) {
		switch (item->kind) {
		case EX_IMAP_FETCH_FLAGS:
			needs->wants_flags = true;
			break;
		case EX_IMAP_FETCH_UID:
			needs->wants_uid = true;
			break;
		case EX_IMAP_FETCH_MODSEQ:
			needs->wants_modseq = true;
			break;
		case EX_IMAP_FETCH_ENVELOPE:
		case EX_IMAP_FETCH_BODYSTRUCTURE:
		case EX_IMAP_FETCH_BODY:
			needs->needs_structure = true;
			break;
		case EX_IMAP_FETCH_BINARY_SIZE:
		case EX_IMAP_FETCH_RFC822_HEADER:
			needs->needs_object = true;
			break;
		case EX_IMAP_FETCH_BODY_SECTION:
		case EX_IMAP_FETCH_BINARY:
		case EX_IMAP_FETCH_RFC822:
		case EX_IMAP_FETCH_RFC822_TEXT:
			needs->needs_object = true;
			if (!item->peek)
				needs->sets_seen = true;
			break;
		default:
			break;
		}
	}
}

/* Writes the flags column (PostgreSQL text[] output) as an IMAP flag list. */
static void write_flag_array(ex_imap_writer *out, const char *value)
{
	ex_imap_write_text(out, "(");
	for (const char *p = value + 1; *p != '\0' && *p != '}'; p++) {
		if (*p == ',')
			ex_imap_write_raw(out, " ", 1);
		else if (*p != '"' && !(p[0] == '\\' && p[1] == '\\'))
			ex_imap_write_raw(out, p, 1);
	}
	ex_imap_write_text(out, ")");
}

static void write_section_name(ex_imap_writer *out, const ex_imap_fetch_item *item)
{
	static const char *const texts[] = {
		[EX_IMAP_SECTION_ALL] = "",
		[EX_IMAP_SECTION_HEADER] = "HEADER",
		[EX_IMAP_SECTION_HEADER_FIELDS] = "HEADER.FIELDS",
		[EX_IMAP_SECTION_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
		[EX_IMAP_SECTION_TEXT] = "TEXT",
		[EX_IMAP_SECTION_MIME] = "MIME",
	};
	const ex_imap_section *section = &item->section;
	ex_imap_write_text(out, item->kind == EX_IMAP_FETCH_BINARY ? "BINARY[" : "BODY[");
	for (size_t i = 0; i < section->part_count; i++) {
		if (i > 0)
			ex_imap_write_text(out, ".");
		ex_imap_write_number(out, section->parts[i]);
	}
	if (section->text != EX_IMAP_SECTION_ALL) {
		if (section->part_count > 0)
			ex_imap_write_text(out, ".");
		ex_imap_write_text(out, texts[section->text]);
	}
	if (section->text == EX_IMAP_SECTION_HEADER_FIELDS || section->text == EX_IMAP_SECTION_HEADER_FIELDS_NOT) {
		ex_imap_write_text(out, " (");
		for (size_t i = 0; i < section->field_count; i++) {
			if (i > 0)
				ex_imap_write_text(out, " ");
			ex_imap_write_astring(out, section->fields[i], strlen(section->fields[i]));
		}
		ex_imap_write_text(out, ")");
	}
	ex_imap_write_text(out, "]");
	if (item->partial) {
		ex_imap_write_text(out, "<");
		ex_imap_write_number(out, item->partial_offset);
		ex_imap_write_text(out, ">");
	}
}

static void write_section(ex_imap_writer *out, const ex_imap_fetch_item *item, const imap_mime *mime)
{
	char *data = NULL;
	size_t length = 0;
	bool binary = item->kind == EX_IMAP_FETCH_BINARY;
	write_section_name(out, item);
	ex_imap_write_text(out, " ");
	if (mime == NULL || imap_mime_section(mime, &item->section, binary, &data, &length) != 0) {
		ex_imap_write_text(out, "NIL");
		return;
	}
	const char *start = data;
	if (item->partial) {
		size_t offset = item->partial_offset < length ? item->partial_offset : length;
		start += offset;
		length -= offset;
		if (length > item->partial_length)
			length = item->partial_length;
	}
	if (binary && memchr(start, '\0', length) != NULL)
		ex_imap_write_literal8(out, start, length);
	else
		ex_imap_write_literal(out, start, length);
	free(data);
}

static void write_binary_size(ex_imap_writer *out, const ex_imap_fetch_item *item, const imap_mime *mime)
{
	char *data = NULL;
	size_t length = 0;
	ex_imap_write_text(out, "BINARY.SIZE[");
	for (size_t i = 0; i < item->section.part_count; i++) {
		if (i > 0)
			ex_imap_write_text(out, ".");
		ex_imap_write_number(out, item->section.parts[i]);
	}
	ex_imap_write_text(out, "] ");
	if (mime != NULL && imap_mime_section(mime, &item->section, true, &data, &length) == 0)
		ex_imap_write_number(out, length);
	else
		ex_imap_write_text(out, "0");
	free(data);
}

/* Writes the item for an RFC822, RFC822.HEADER or RFC822.TEXT request. */
static void write_rfc822(ex_imap_writer *out, const ex_imap_fetch_item *item, const imap_mime *mime)
{
	ex_imap_section section = { .text = EX_IMAP_SECTION_ALL };
	const char *label = "RFC822 ";
	if (item->kind == EX_IMAP_FETCH_RFC822_HEADER) {
		section.text = EX_IMAP_SECTION_HEADER;
		label = "RFC822.HEADER ";
	} else if (item->kind == EX_IMAP_FETCH_RFC822_TEXT) {
		section.text = EX_IMAP_SECTION_TEXT;
		label = "RFC822.TEXT ";
	}
	char *data = NULL;
	size_t length = 0;
	ex_imap_write_text(out, label);
	if (mime == NULL || imap_mime_section(mime, &section, false, &data, &length) != 0) {
		ex_imap_write_text(out, "NIL");
		return;
	}
	ex_imap_write_literal(out, data, length);
	free(data);
}

static void write_item(imap_session *session, const ex_imap_fetch_item *item, PGresult *result, int row,
		       const imap_mime *mime, const imap_structure *structure)
{
	ex_imap_writer *out = &session->output;
	switch (item->kind) {
	case EX_IMAP_FETCH_FLAGS:
		ex_imap_write_text(out, "FLAGS ");
		write_flag_array(out, PQgetvalue(result, row, COLUMN_FLAGS));
		break;
	case EX_IMAP_FETCH_UID:
		ex_imap_write_text(out, "UID ");
		ex_imap_write_text(out, PQgetvalue(result, row, COLUMN_UID));
		break;
	case EX_IMAP_FETCH_MODSEQ:
		ex_imap_write_text(out, "MODSEQ (");
		ex_imap_write_text(out, PQgetvalue(result, row, COLUMN_MODSEQ));
		ex_imap_write_text(out, ")");
		break;
	case EX_IMAP_FETCH_INTERNALDATE: {
		char date[EX_IMAP_DATETIME_LENGTH + 1];
		ex_imap_datetime_format(strtoll(PQgetvalue(result, row, COLUMN_INTERNAL_DATE), NULL, 10), 0, date);
		ex_imap_write_text(out, "INTERNALDATE \"");
		ex_imap_write_text(out, date);
		ex_imap_write_text(out, "\"");
		break;
	}
	case EX_IMAP_FETCH_RFC822_SIZE:
		ex_imap_write_text(out, "RFC822.SIZE ");
		ex_imap_write_text(out, PQgetvalue(result, row, COLUMN_SIZE));
		break;
	case EX_IMAP_FETCH_ENVELOPE:
		ex_imap_write_text(out, "ENVELOPE ");
		if (!imap_structure_render(out, structure->envelope, structure->envelope_length, true))
			ex_imap_write_text(out, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
		break;
	case EX_IMAP_FETCH_BODYSTRUCTURE:
	case EX_IMAP_FETCH_BODY:
		ex_imap_write_text(out, item->kind == EX_IMAP_FETCH_BODY ? "BODY " : "BODYSTRUCTURE ");
		if (!imap_structure_render(out, structure->bodystructure, structure->bodystructure_length,
					   item->kind == EX_IMAP_FETCH_BODYSTRUCTURE))
			ex_imap_write_text(out, "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
		break;
	case EX_IMAP_FETCH_BODY_SECTION:
	case EX_IMAP_FETCH_BINARY:
		write_section(out, item, mime);
		break;
	case EX_IMAP_FETCH_BINARY_SIZE:
		write_binary_size(out, item, mime);
		break;
	case EX_IMAP_FETCH_RFC822:
	case EX_IMAP_FETCH_RFC822_HEADER:
	case EX_IMAP_FETCH_RFC822_TEXT:
		write_rfc822(out, item, mime);
		break;
	}
}

/* Reads the stored message of ROW into *DATA (freed by the caller). Returns false when it cannot be read. */
static bool read_object(imap_session *session, PGresult *result, int row, char **data, size_t *length)
{
	char err[EX_STORAGE_ERROR_MAX] = "";
	*data = NULL;
	*length = 0;
	if (session->options.storage == NULL)
		return false;
	const char *key = PQgetvalue(result, row, COLUMN_STORAGE_KEY);
	ex_storage_status status = ex_storage_read_all(session->options.storage, session->tenant_id, key,
						       session->options.max_append_size + EXTRA_OBJECT_BYTES, data, length,
						       err, sizeof(err));
	if (status != EX_STORAGE_OK) {
		ex_log(EX_LOG_ERROR, "imap_object_read_failed", "{s:s, s:s, s:s}", "session", session->options.session_id,
		       "key", key, "error", err);
		return false;
	}
	return true;
}

/* Copies the cached bytea column COLUMN of ROW into *VALUE (freed by the caller); false when NULL or invalid. */
static bool cached_value(PGresult *result, int row, int column, char **value, size_t *length)
{
	*value = NULL;
	*length = 0;
	if (PQgetisnull(result, row, column))
		return false;
	size_t unescaped_length = 0;
	unsigned char *unescaped = PQunescapeBytea((const unsigned char *)PQgetvalue(result, row, column), &unescaped_length);
	if (unescaped == NULL)
		return false;
	if (unescaped_length == 0 || unescaped[0] != IMAP_STRUCTURE_VERSION) {
		PQfreemem(unescaped);
		return false;
	}
	*value = malloc(unescaped_length);
	if (*value != NULL) {
		memcpy(*value, unescaped, unescaped_length);
		*length = unescaped_length;
	}
	PQfreemem(unescaped);
	return *value != NULL;
}

/*
 * Structures built during one FETCH for rows that had none, stored with
 * one UPDATE per FILL_BATCH rows rather than one per row, because each
 * statement is a commit of its own. Each list is a PostgreSQL array
 * literal: UIDs, and the two values in hex.
 */
typedef struct {
	ex_imap_writer uids;
	ex_imap_writer envelopes;
	ex_imap_writer bodystructures;
	size_t count;
} cache_fill;

enum { FILL_BATCH = 500 };

static void fill_flush(imap_session *session, cache_fill *fill)
{
	if (fill->count == 0)
		return;
	ex_imap_write_text(&fill->uids, "}");
	ex_imap_write_text(&fill->envelopes, "}");
	ex_imap_write_text(&fill->bodystructures, "}");
	if (!fill->uids.overflow && !fill->envelopes.overflow && !fill->bodystructures.overflow) {
		const char *params[] = { session->view.id, fill->uids.data, fill->envelopes.data, fill->bodystructures.data };
		PGresult *result = imap_query(session,
					      "UPDATE messages AS m SET imap_envelope = decode(v.envelope, 'hex'), "
					      "imap_bodystructure = decode(v.bodystructure, 'hex') "
					      "FROM unnest($2::bigint[], $3::text[], $4::text[]) AS v(uid, envelope, bodystructure) "
					      "WHERE m.mailbox_id = $1 AND m.uid = v.uid AND m.imap_bodystructure IS NULL",
					      4, params);
		if (result != NULL)
			PQclear(result);
	}
	ex_imap_writer_reset(&fill->uids);
	ex_imap_writer_reset(&fill->envelopes);
	ex_imap_writer_reset(&fill->bodystructures);
	fill->count = 0;
}

static void fill_add_value(ex_imap_writer *list, bool first, const char *value, size_t length)
{
	char *text = imap_structure_bytea_text(value, length);
	ex_imap_write_text(list, first ? "{" : ",");
	if (text != NULL)
		ex_imap_write_text(list, text + 2);
	else
		list->overflow = true;
	free(text);
}

/* Adds the structure built for row UID; the rows are stored at the end of FETCH or when the batch is full. */
static void fill_add(imap_session *session, cache_fill *fill, const char *uid, const imap_structure *structure)
{
	bool first = fill->count == 0;
	ex_imap_write_text(&fill->uids, first ? "{" : ",");
	ex_imap_write_text(&fill->uids, uid);
	fill_add_value(&fill->envelopes, first, structure->envelope, structure->envelope_length);
	fill_add_value(&fill->bodystructures, first, structure->bodystructure, structure->bodystructure_length);
	if (++fill->count >= FILL_BATCH)
		fill_flush(session, fill);
}

/*
 * Loads what ROW's items need: the cached structure, and the object when
 * a section needs it or the cache is missing. Returns the parsed object
 * or NULL, and *DATA contains its octets.
 */
static imap_mime *load_row(imap_session *session, const fetch_needs *needs, PGresult *result, int row, char **data,
			   imap_structure *structure, cache_fill *fill)
{
	size_t length = 0;
	*data = NULL;
	*structure = (imap_structure){ 0 };
	bool cached = !needs->needs_structure ||
		      (cached_value(result, row, COLUMN_IMAP_ENVELOPE, &structure->envelope, &structure->envelope_length) &&
		       cached_value(result, row, COLUMN_IMAP_BODYSTRUCTURE, &structure->bodystructure,
				    &structure->bodystructure_length));
	if (cached && !needs->needs_object)
		return NULL;
	if (!read_object(session, result, row, data, &length))
		return NULL;
	if (!cached) {
		imap_structure_clear(structure);
		if (imap_structure_build(*data, length, structure) == 0)
			fill_add(session, fill, PQgetvalue(result, row, COLUMN_UID), structure);
		else
			ex_log(EX_LOG_WARN, "imap_structure_build_failed", "{s:s, s:s, s:I}", "session",
			       session->options.session_id, "key", PQgetvalue(result, row, COLUMN_STORAGE_KEY), "size",
			       (json_int_t)length);
	}
	return needs->needs_object ? imap_mime_open(*data, length) : NULL;
}

/* Parses the FETCH modifiers (CHANGEDSINCE n) and VANISHED. Returns false when invalid. */
static bool parse_modifiers(const ex_imap_arg *list, uint64_t *changed_since, bool *vanished)
{
	for (const ex_imap_arg *item = list->list; item != NULL; item = item->next) {
		if (ex_imap_arg_atom_equals(item, "CHANGEDSINCE") && item->next != NULL &&
		    item->next->type == EX_IMAP_ARG_ATOM) {
			*changed_since = strtoull(item->next->str, NULL, 10);
			item = item->next;
		} else if (ex_imap_arg_atom_equals(item, "VANISHED")) {
			*vanished = true;
		} else {
			return false;
		}
	}
	return true;
}

/* UID FETCH ... (CHANGEDSINCE n VANISHED), RFC 7162 3.2.6: the UIDs expunged since N. */
static void write_vanished(imap_session *session, uint64_t changed_since)
{
	char since[IMAP_NUMBER_TEXT];
	imap_format_number(since, sizeof(since), changed_since);
	const char *params[] = { session->view.id, since };
	PGresult *result = imap_query(session,
				      "SELECT uid FROM message_expunges WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid", 2,
				      params);
	if (result == NULL || PQntuples(result) == 0) {
		if (result != NULL)
			PQclear(result);
		return;
	}
	ex_imap_write_text(&session->output, "* VANISHED (EARLIER) ");
	for (int row = 0; row < PQntuples(result); row++) {
		if (row > 0)
			ex_imap_write_text(&session->output, ",");
		ex_imap_write_text(&session->output, PQgetvalue(result, row, 0));
	}
	ex_imap_write_text(&session->output, "\r\n");
	PQclear(result);
}

void imap_command_fetch(imap_session *session, const ex_imap_command *command, const ex_imap_arg *args, bool uid_mode)
{
	ex_imap_fetch_list list;
	uint32_t *uids = NULL;
	size_t count = 0;
	uint64_t changed_since = 0;
	bool vanished = false;

	const ex_imap_arg *items = args != NULL ? args->next : NULL;
	if (items == NULL) {
		imap_reply_bad(session, command->tag, "FETCH takes a message set and data items");
		return;
	}
	if (items->next != NULL &&
	    (items->next->type != EX_IMAP_ARG_LIST || !parse_modifiers(items->next, &changed_since, &vanished) ||
	     items->next->next != NULL || (vanished && (!uid_mode || !session->qresync || changed_since == 0)))) {
		imap_reply_bad(session, command->tag, "Invalid FETCH modifiers");
		return;
	}
	const char *problem = ex_imap_fetch_parse(ex_imap_parser_arena(session->parser), items, &list);
	if (problem != NULL) {
		imap_reply_bad(session, command->tag, problem);
		return;
	}
	if (changed_since > 0)
		session->condstore = true;
	if (!imap_view_resolve(session, command->tag, args, uid_mode, &uids, &count))
		return;

	fetch_needs needs;
	analyse(&list, uid_mode, changed_since > 0, &needs);
	needs.sets_seen = needs.sets_seen && !session->view.read_only;
	if (vanished)
		write_vanished(session, changed_since);

	char *uid_text = imap_uid_array(uids, count);
	char since[IMAP_NUMBER_TEXT];
	imap_format_number(since, sizeof(since), changed_since);
	const char *params[] = { session->view.id, uid_text, since };
	if (needs.sets_seen && uid_text != NULL) {
		PGresult *seen = imap_query(session,
					    "UPDATE messages SET flags = flags || '{\"\\\\Seen\"}'::text[] WHERE mailbox_id = $1 "
					    "AND uid = ANY ($2::bigint[]) AND NOT ('\\Seen' = ANY (flags))",
					    2, params);
		if (seen != NULL)
			PQclear(seen);
	}
	PGresult *result = uid_text == NULL ? NULL
					    : imap_query(session,
							 "SELECT uid, flags, extract(epoch FROM internal_date)::bigint, size, storage_key, "
							 "modseq, imap_envelope, imap_bodystructure FROM messages WHERE mailbox_id = $1 AND uid = ANY ($2::bigint[]) "
							 "AND modseq > $3::bigint ORDER BY uid",
							 3, params);
	free(uid_text);
	free(uids);
	if (result == NULL) {
		imap_reply_unavailable(session, command->tag);
		return;
	}
	cache_fill fill = { .count = 0 };
	ex_imap_writer_init(&fill.uids, 0, false);
	ex_imap_writer_init(&fill.envelopes, 0, false);
	ex_imap_writer_init(&fill.bodystructures, 0, false);
	for (int row = 0; row < PQntuples(result); row++) {
		uint32_t uid = (uint32_t)strtoul(PQgetvalue(result, row, COLUMN_UID), NULL, 10);
		uint32_t sequence = imap_view_sequence(session, uid);
		if (sequence == 0)
			continue;
		char *data = NULL;
		imap_structure structure;
		imap_mime *mime = load_row(session, &needs, result, row, &data, &structure, &fill);
		ex_imap_writer *out = &session->output;
		ex_imap_write_text(out, "* ");
		ex_imap_write_number(out, sequence);
		ex_imap_write_text(out, " FETCH (");
		bool first = true;
		for (const ex_imap_fetch_item *item = list.items; item != NULL; item = item->next) {
			if (!first)
				ex_imap_write_text(out, " ");
			first = false;
			write_item(session, item, result, row, mime, &structure);
		}
		/* UID FETCH always returns UID; CHANGEDSINCE returns MODSEQ; setting \Seen returns FLAGS. */
		static const ex_imap_fetch_item uid_item = { .kind = EX_IMAP_FETCH_UID };
		static const ex_imap_fetch_item modseq_item = { .kind = EX_IMAP_FETCH_MODSEQ };
		static const ex_imap_fetch_item flags_item = { .kind = EX_IMAP_FETCH_FLAGS };
		bool has_uid = false;
		bool has_modseq = false;
		bool has_flags = false;
		for (const ex_imap_fetch_item *item = list.items; item != NULL; item = item->next) {
			has_uid = has_uid || item->kind == EX_IMAP_FETCH_UID;
			has_modseq = has_modseq || item->kind == EX_IMAP_FETCH_MODSEQ;
			has_flags = has_flags || item->kind == EX_IMAP_FETCH_FLAGS;
		}
		if (needs.wants_uid && !has_uid) {
			ex_imap_write_text(out, " ");
			write_item(session, &uid_item, result, row, mime, &structure);
		}
		if (needs.wants_modseq && !has_modseq) {
			ex_imap_write_text(out, " ");
			write_item(session, &modseq_item, result, row, mime, &structure);
		}
		if (needs.sets_seen && !has_flags) {
			ex_imap_write_text(out, " ");
			write_item(session, &flags_item, result, row, mime, &structure);
		}
		ex_imap_write_text(out, ")\r\n");
		imap_mime_free(mime);
		imap_structure_clear(&structure);
		free(data);
	}
	PQclear(result);
	fill_flush(session, &fill);
	ex_imap_writer_free(&fill.uids);
	ex_imap_writer_free(&fill.envelopes);
	ex_imap_writer_free(&fill.bodystructures);
	imap_reply_ok(session, command->tag, "FETCH completed");
}
