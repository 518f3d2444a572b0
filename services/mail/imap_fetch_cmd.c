/*
 * FETCH and UID FETCH (RFC 3501 6.4.5) with the CHANGEDSINCE and VANISHED
 * modifiers (RFC 7162). A FETCH of FLAGS, UID and MODSEQ only reads the
 * shared mailbox cache (imap_view_cache.h) once it is brought up
 * to date. Other items read the messages rows, in binary form and only
 * the columns the items need: flags, dates, sizes and modseqs, and
 * ENVELOPE, BODY and BODYSTRUCTURE, cached in the row when the message
 * was stored (imap_structure.h). Body sections read the stored object,
 * which is parsed once per message and only when an item needs it. A row
 * stored before the structure cache existed is built from its object at
 * its first FETCH, and the row is filled. A BODY[...] fetch without .PEEK
 * sets \Seen first, so the FLAGS the client gets back are current.
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
#include "imap_view_cache.h"

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
	/*
	 * A UID set that contains at least 1 / RANGE_DENSITY of the view's
	 * messages between its first and last UID is read as that range, and
	 * the rows in between that were not requested are skipped here. A
	 * sparser set is sent as an array of UIDs.
	 */
	RANGE_DENSITY = 2,
};

typedef struct {
	bool needs_structure;
	bool needs_object;
	bool sets_seen;
	bool wants_flags;
	bool wants_uid;
	bool wants_modseq;
	bool wants_date_and_size;  /* INTERNALDATE or RFC822.SIZE */
	bool only_flags;        /* every item is FLAGS, UID or MODSEQ, so the shared cache has them */
} fetch_needs;

/* One messages row of the binary result; the pointers point into the PGresult. */
typedef struct {
	uint32_t uid;
	uint64_t modseq;
	int64_t internal_date;  /* seconds since the epoch */
	uint64_t size;
	const char *flags;      /* flag names separated by spaces */
	size_t flags_length;
	const char *storage_key;
	const char *envelope;   /* the cached values (imap_structure.h), NULL when missing */
	size_t envelope_length;
	const char *bodystructure;
	size_t bodystructure_length;
} fetch_row;

/* ENVELOPE and BODYSTRUCTURE values of one message, either in the PGresult or built now. */
typedef struct {
	const char *envelope;
	size_t envelope_length;
	const char *bodystructure;
	size_t bodystructure_length;
} structure_values;

static void analyse(const ex_imap_fetch_list *list, bool uid_mode, bool changed_since, fetch_needs *needs)
{
	*needs = (fetch_needs){ .wants_uid = uid_mode, .wants_modseq = changed_since, .only_flags = true };
	for (const ex_imap_fetch_item *item = list->items; item != NULL; item = item->next) {
		if (item->kind != EX_IMAP_FETCH_FLAGS && item->kind != EX_IMAP_FETCH_UID && item->kind != EX_IMAP_FETCH_MODSEQ)
			needs->only_flags = false;
		switch (item->kind) {
		case EX_IMAP_FETCH_FLAGS:
			needs->wants_flags = true;
			break;
		case EX_IMAP_FETCH_INTERNALDATE:
		case EX_IMAP_FETCH_RFC822_SIZE:
			needs->wants_date_and_size = true;
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

/* Writes NUMBER in decimal into OUT, which has room for 20 digits; returns the digits written. */
static size_t format_decimal(char *out, uint64_t number)
{
	char digits[20];
	size_t count = 0;
	do {
		digits[count++] = (char)('0' + number % 10);
		number /= 10;
	} while (number != 0);
	for (size_t i = 0; i < count; i++)
		out[i] = digits[count - 1 - i];
	return count;
}

static void write_decimal(ex_imap_writer *out, uint64_t number)
{
	char digits[20];
	ex_imap_write_raw(out, digits, format_decimal(digits, number));
}

/* Writes flag names separated by spaces (array_to_string(flags, ' ')) as an IMAP flag list. */
static void write_flag_list(ex_imap_writer *out, const char *flags, size_t length)
{
	ex_imap_write_raw(out, "(", 1);
	ex_imap_write_raw(out, flags, length);
	ex_imap_write_raw(out, ")", 1);
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

static void write_item(imap_session *session, const ex_imap_fetch_item *item, const fetch_row *row,
		       const imap_mime *mime, const structure_values *structure)
{
	ex_imap_writer *out = &session->output;
	switch (item->kind) {
	case EX_IMAP_FETCH_FLAGS:
		ex_imap_write_text(out, "FLAGS ");
		write_flag_list(out, row->flags, row->flags_length);
		break;
	case EX_IMAP_FETCH_UID:
		ex_imap_write_text(out, "UID ");
		write_decimal(out, row->uid);
		break;
	case EX_IMAP_FETCH_MODSEQ:
		ex_imap_write_text(out, "MODSEQ (");
		write_decimal(out, row->modseq);
		ex_imap_write_text(out, ")");
		break;
	case EX_IMAP_FETCH_INTERNALDATE: {
		char date[EX_IMAP_DATETIME_LENGTH + 1];
		ex_imap_datetime_format(row->internal_date, 0, date);
		ex_imap_write_text(out, "INTERNALDATE \"");
		ex_imap_write_text(out, date);
		ex_imap_write_text(out, "\"");
		break;
	}
	case EX_IMAP_FETCH_RFC822_SIZE:
		ex_imap_write_text(out, "RFC822.SIZE ");
		write_decimal(out, row->size);
		break;
	case EX_IMAP_FETCH_ENVELOPE:
		ex_imap_write_text(out, "ENVELOPE ");
		if (structure->envelope == NULL ||
		    !imap_structure_render(out, structure->envelope, structure->envelope_length, true))
			ex_imap_write_text(out, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
		break;
	case EX_IMAP_FETCH_BODYSTRUCTURE:
	case EX_IMAP_FETCH_BODY:
		ex_imap_write_text(out, item->kind == EX_IMAP_FETCH_BODY ? "BODY " : "BODYSTRUCTURE ");
		if (structure->bodystructure == NULL ||
		    !imap_structure_render(out, structure->bodystructure, structure->bodystructure_length,
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
static bool read_object(imap_session *session, const fetch_row *row, char **data, size_t *length)
{
	char err[EX_STORAGE_ERROR_MAX] = "";
	*data = NULL;
	*length = 0;
	if (session->options.storage == NULL)
		return false;
	const char *key = row->storage_key;
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
static void fill_add(imap_session *session, cache_fill *fill, uint32_t uid, const imap_structure *structure)
{
	bool first = fill->count == 0;
	ex_imap_write_text(&fill->uids, first ? "{" : ",");
	write_decimal(&fill->uids, uid);
	fill_add_value(&fill->envelopes, first, structure->envelope, structure->envelope_length);
	fill_add_value(&fill->bodystructures, first, structure->bodystructure, structure->bodystructure_length);
	if (++fill->count >= FILL_BATCH)
		fill_flush(session, fill);
}

/*
 * Loads what ROW's items need: the cached structure, and the object when
 * a section needs it or the cache is missing. Returns the parsed object
 * or NULL, and *DATA contains its octets. A structure built now is kept
 * in *BUILT, which the caller clears.
 */
static imap_mime *load_row(imap_session *session, const fetch_needs *needs, const fetch_row *row, char **data,
			   structure_values *structure, imap_structure *built, cache_fill *fill)
{
	size_t length = 0;
	*data = NULL;
	*built = (imap_structure){ 0 };
	*structure = (structure_values){ .envelope = row->envelope,
					 .envelope_length = row->envelope_length,
					 .bodystructure = row->bodystructure,
					 .bodystructure_length = row->bodystructure_length };
	bool cached = !needs->needs_structure || (row->envelope != NULL && row->bodystructure != NULL);
	if (cached && !needs->needs_object)
		return NULL;
	if (!read_object(session, row, data, &length))
		return NULL;
	if (!cached) {
		if (imap_structure_build(*data, length, built) == 0) {
			fill_add(session, fill, row->uid, built);
			*structure = (structure_values){ .envelope = built->envelope,
							 .envelope_length = built->envelope_length,
							 .bodystructure = built->bodystructure,
							 .bodystructure_length = built->bodystructure_length };
		} else {
			*structure = (structure_values){ 0 };
			ex_log(EX_LOG_WARN, "imap_structure_build_failed", "{s:s, s:s, s:I}", "session",
			       session->options.session_id, "key", row->storage_key, "size", (json_int_t)length);
		}
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

/* ---- the database read --------------------------------------------------------------- */

typedef struct {
	const char *sql;
	const char *const *params;
	int param_count;
	PGresult *result;
} fetch_query;

/* Runs the SELECT with binary results, so that numbers and bytea values need no text conversion. */
static int run_fetch_query(PGconn *connection, void *context, ex_db_error *error)
{
	fetch_query *query = context;
	PGresult *result = PQexecParams(connection, query->sql, query->param_count, NULL, query->params, NULL, NULL, 1);
	if (PQresultStatus(result) != PGRES_TUPLES_OK) {
		ex_db_error_from_result(connection, result, error);
		PQclear(result);
		return -1;
	}
	query->result = result;
	return 0;
}

static uint64_t column_int8(const PGresult *result, int row, int column)
{
	if (PQgetisnull(result, row, column) || PQgetlength(result, row, column) != 8)
		return 0;
	const unsigned char *bytes = (const unsigned char *)PQgetvalue(result, row, column);
	uint64_t value = 0;
	for (int i = 0; i < 8; i++)
		value = value << 8 | bytes[i];
	return value;
}

/* Points *VALUE at a cached structure value; NULL when missing or of another version, so it is built again. */
static void column_structure(const PGresult *result, int row, int column, const char **value, size_t *length)
{
	*value = NULL;
	*length = 0;
	if (PQgetisnull(result, row, column) || PQgetlength(result, row, column) == 0)
		return;
	const char *bytes = PQgetvalue(result, row, column);
	if (bytes[0] != IMAP_STRUCTURE_VERSION)
		return;
	*value = bytes;
	*length = (size_t)PQgetlength(result, row, column);
}

static void decode_row(const PGresult *result, int row, fetch_row *out)
{
	*out = (fetch_row){
		.uid = (uint32_t)column_int8(result, row, COLUMN_UID),
		.internal_date = (int64_t)column_int8(result, row, COLUMN_INTERNAL_DATE),
		.size = column_int8(result, row, COLUMN_SIZE),
		.modseq = column_int8(result, row, COLUMN_MODSEQ),
		.flags = PQgetvalue(result, row, COLUMN_FLAGS),
		.flags_length = (size_t)PQgetlength(result, row, COLUMN_FLAGS),
		.storage_key = PQgetvalue(result, row, COLUMN_STORAGE_KEY),
	};
	column_structure(result, row, COLUMN_IMAP_ENVELOPE, &out->envelope, &out->envelope_length);
	column_structure(result, row, COLUMN_IMAP_BODYSTRUCTURE, &out->bodystructure, &out->bodystructure_length);
}

/* True when the sorted UIDS are dense enough in the view to be read as the range from the first to the last. */
static bool read_as_range(const imap_session *session, const uint32_t *uids, size_t count)
{
	if (count == 0)
		return false;
	uint32_t first = imap_view_sequence(session, uids[0]);
	uint32_t last = imap_view_sequence(session, uids[count - 1]);
	return first != 0 && last >= first && (size_t)last - first + 1 <= count * RANGE_DENSITY;
}

/*
 * Reads the messages rows of UIDS with a modseq above CHANGED_SINCE, in
 * no particular order, because fetch_rows() sorts them itself and a
 * sort in PostgreSQL cost a fifth of the statement's time. Only the
 * columns NEEDS requires are read; the others are NULL of the same type.
 */
static PGresult *read_rows(imap_session *session, const fetch_needs *needs, const uint32_t *uids, size_t count,
			   uint64_t changed_since)
{
	bool range = read_as_range(session, uids, count);
	bool flags = needs->wants_flags || needs->sets_seen;
	/*
	 * The object is read for a section, or to build a structure that is
	 * missing or of another version (column_structure() rejects those).
	 */
	char structure_key[256];
	snprintf(structure_key, sizeof(structure_key),
		 "CASE WHEN substring(imap_envelope FROM 1 FOR 1) = '\\x%02x'::bytea "
		 "AND substring(imap_bodystructure FROM 1 FOR 1) = '\\x%02x'::bytea THEN NULL ELSE storage_key END",
		 (unsigned)IMAP_STRUCTURE_VERSION, (unsigned)IMAP_STRUCTURE_VERSION);
	const char *storage_key = needs->needs_object ? "storage_key"
				  : needs->needs_structure ? structure_key
							   : "NULL::text";
	char sql[1024];
	snprintf(sql, sizeof(sql),
		 "SELECT uid, %s, %s, %s, modseq, %s FROM messages WHERE mailbox_id = $1 AND %s AND modseq > $3::bigint",
		 flags ? "array_to_string(flags, ' ')" : "NULL::text",
		 needs->wants_date_and_size ? "extract(epoch FROM internal_date)::bigint, size" : "NULL::bigint, NULL::bigint",
		 storage_key, needs->needs_structure ? "imap_envelope, imap_bodystructure" : "NULL::bytea, NULL::bytea",
		 range ? "uid BETWEEN $2::bigint AND $4::bigint" : "uid = ANY ($2::bigint[])");

	char first[IMAP_NUMBER_TEXT];
	char last[IMAP_NUMBER_TEXT];
	char since[IMAP_NUMBER_TEXT];
	char *uid_text = NULL;
	imap_format_number(since, sizeof(since), changed_since);
	if (range) {
		imap_format_number(first, sizeof(first), uids[0]);
		imap_format_number(last, sizeof(last), uids[count - 1]);
	} else if ((uid_text = imap_uid_array(uids, count)) == NULL) {
		return NULL;
	}
	const char *params[] = { session->view.id, range ? first : uid_text, since, last };
	fetch_query query = { .sql = sql, .params = params, .param_count = range ? 4 : 3 };
	int status = imap_transaction(session, run_fetch_query, &query);
	free(uid_text);
	return status == 0 ? query.result : NULL;
}

/* Sets \Seen on UIDS before a BODY[...] fetch without .PEEK reads them. */
static void set_seen(imap_session *session, const uint32_t *uids, size_t count)
{
	char *uid_text = imap_uid_array(uids, count);
	if (uid_text == NULL)
		return;
	const char *params[] = { session->view.id, uid_text };
	PGresult *seen = imap_query(session,
				    "UPDATE messages SET flags = flags || '{\"\\\\Seen\"}'::text[] WHERE mailbox_id = $1 "
				    "AND uid = ANY ($2::bigint[]) AND NOT ('\\Seen' = ANY (flags))",
				    2, params);
	if (seen != NULL)
		PQclear(seen);
	free(uid_text);
}

/* ---- the response ------------------------------------------------------------------- */

/* Writes the items of one message, then UID, MODSEQ and FLAGS where the command implies them. */
static void write_message(imap_session *session, const ex_imap_fetch_list *list, const fetch_needs *needs,
			  uint32_t sequence, const fetch_row *row, const imap_mime *mime, const structure_values *structure)
{
	/* UID FETCH always returns UID; CHANGEDSINCE returns MODSEQ; setting \Seen returns FLAGS. */
	static const ex_imap_fetch_item uid_item = { .kind = EX_IMAP_FETCH_UID };
	static const ex_imap_fetch_item modseq_item = { .kind = EX_IMAP_FETCH_MODSEQ };
	static const ex_imap_fetch_item flags_item = { .kind = EX_IMAP_FETCH_FLAGS };
	ex_imap_writer *out = &session->output;
	bool has_uid = false;
	bool has_modseq = false;
	bool has_flags = false;

	ex_imap_write_raw(out, "* ", 2);
	write_decimal(out, sequence);
	ex_imap_write_raw(out, " FETCH (", 8);
	for (const ex_imap_fetch_item *item = list->items; item != NULL; item = item->next) {
		if (item != list->items)
			ex_imap_write_raw(out, " ", 1);
		write_item(session, item, row, mime, structure);
		has_uid = has_uid || item->kind == EX_IMAP_FETCH_UID;
		has_modseq = has_modseq || item->kind == EX_IMAP_FETCH_MODSEQ;
		has_flags = has_flags || item->kind == EX_IMAP_FETCH_FLAGS;
	}
	if (needs->wants_uid && !has_uid) {
		ex_imap_write_raw(out, " ", 1);
		write_item(session, &uid_item, row, mime, structure);
	}
	if (needs->wants_modseq && !has_modseq) {
		ex_imap_write_raw(out, " ", 1);
		write_item(session, &modseq_item, row, mime, structure);
	}
	if (needs->sets_seen && !has_flags) {
		ex_imap_write_raw(out, " ", 1);
		write_item(session, &flags_item, row, mime, structure);
	}
	ex_imap_write_raw(out, ")\r\n", 3);
}

/* One message copied out of the cache for a FETCH: its flags are FLAGS_LENGTH octets at FLAGS_OFFSET. */
typedef struct {
	uint32_t uid;
	uint32_t sequence;
	uint64_t modseq;
	size_t flags_offset;
	size_t flags_length;
} cached_copy;

/*
 * Copies from SNAPSHOT the messages of UIDS that are in the view and changed
 * after CHANGED_SINCE into *COPIES, and their flags into *FLAGS (both freed
 * by the caller). Returns their number, or -1 when memory ran out.
 */
static long copy_from_snapshot(const imap_session *session, const imap_view_snapshot *snapshot, const uint32_t *uids,
			       size_t count, uint64_t changed_since, cached_copy **copies, char **flags)
{
	const imap_view *view = &session->view;
	size_t capacity = count < snapshot->count ? count : snapshot->count;
	size_t flags_capacity = 4096;
	size_t found = 0;
	size_t flags_used = 0;
	size_t cached = 0;
	size_t sequence = 0;

	*copies = malloc((capacity + 1) * sizeof(**copies));
	*flags = malloc(flags_capacity);
	if (*copies == NULL || *flags == NULL)
		return -1;
	for (size_t i = 0; i < count; i++) {
		/* UIDS, the view and the snapshot are all in ascending UID order, so one pass walks all three. */
		while (sequence < view->count && view->uids[sequence] < uids[i])
			sequence++;
		while (cached < snapshot->count && snapshot->messages[cached].uid < uids[i])
			cached++;
		if (sequence == view->count || cached == snapshot->count)
			break;
		const imap_view_cached_message *message = &snapshot->messages[cached];
		if (view->uids[sequence] != uids[i] || message->uid != uids[i] || message->modseq <= changed_since)
			continue;
		if (flags_used + message->flags_length > flags_capacity) {
			size_t grown = 2 * flags_capacity + message->flags_length;
			char *bigger = realloc(*flags, grown);
			if (bigger == NULL)
				return -1;
			*flags = bigger;
			flags_capacity = grown;
		}
		memcpy(*flags + flags_used, snapshot->flag_text + message->flags_offset, message->flags_length);
		(*copies)[found++] = (cached_copy){ .uid = message->uid,
						       .sequence = (uint32_t)(sequence + 1),
						       .modseq = message->modseq,
						       .flags_offset = flags_used,
						       .flags_length = message->flags_length };
		flags_used += message->flags_length;
	}
	return (long)found;
}

/*
 * Writes the responses to a FETCH of FLAGS, UID and MODSEQ only from the
 * shared mailbox cache, brought up to date first. The messages are copied
 * out while the cache is locked and formatted after it is released, so
 * other sessions wait for the copy only. Returns false, having written
 * nothing, when the cache cannot serve this mailbox.
 */
static bool fetch_from_cache(imap_session *session, const ex_imap_fetch_list *list, const fetch_needs *needs,
			     const uint32_t *uids, size_t count, uint64_t changed_since)
{
	imap_view_snapshot snapshot;
	if (!imap_view_cache_sync(session, session->view.id, 0, &snapshot))
		return false;
	cached_copy *copies = NULL;
	char *flags = NULL;
	long found = copy_from_snapshot(session, &snapshot, uids, count, changed_since, &copies, &flags);
	imap_view_cache_release(imap_view_cache_shared());
	for (long i = 0; i < found; i++) {
		const cached_copy *copy = &copies[i];
		fetch_row row = { .uid = copy->uid,
				  .modseq = copy->modseq,
				  .flags = flags + copy->flags_offset,
				  .flags_length = copy->flags_length };
		write_message(session, list, needs, copy->sequence, &row, NULL, &(structure_values){ 0 });
	}
	free(copies);
	free(flags);
	return found >= 0;
}

/* Returns true when UID is in the COUNT sorted UIDS. */
static bool uid_requested(const uint32_t *uids, size_t count, uint32_t uid)
{
	size_t low = 0;
	size_t high = count;
	while (low < high) {
		size_t middle = low + (high - low) / 2;
		if (uids[middle] < uid)
			low = middle + 1;
		else
			high = middle;
	}
	return low < count && uids[low] == uid;
}

/* A row of the result to write in the response, with its message sequence number. */
typedef struct {
	uint32_t uid;
	uint32_t sequence;
	int row;
} fetch_order;

static int compare_order(const void *a, const void *b)
{
	uint32_t left = ((const fetch_order *)a)->uid;
	uint32_t right = ((const fetch_order *)b)->uid;
	return left < right ? -1 : left > right;
}

/*
 * Lists the rows of RESULT that are in UIDS and in the view, in ascending
 * UID order, into *ORDER (freed by the caller). Returns their number, or
 * -1 when memory ran out.
 */
static long order_rows(const imap_session *session, PGresult *result, const uint32_t *uids, size_t count,
		       fetch_order **order)
{
	int rows = PQntuples(result);
	size_t found = 0;
	bool sorted = true;
	*order = malloc((size_t)(rows + 1) * sizeof(**order));
	if (*order == NULL)
		return -1;
	for (int row = 0; row < rows; row++) {
		uint32_t uid = (uint32_t)column_int8(result, row, COLUMN_UID);
		uint32_t sequence = imap_view_sequence(session, uid);
		/* A range read returns the rows between the UIDs requested too. */
		if (sequence == 0 || !uid_requested(uids, count, uid))
			continue;
		if (found > 0 && (*order)[found - 1].uid > uid)
			sorted = false;
		(*order)[found++] = (fetch_order){ .uid = uid, .sequence = sequence, .row = row };
	}
	if (!sorted)
		qsort(*order, found, sizeof(**order), compare_order);
	return (long)found;
}

/* Writes the FETCH responses of the rows in RESULT that are in UIDS and in the view. */
static bool fetch_rows(imap_session *session, const ex_imap_fetch_list *list, const fetch_needs *needs,
		       PGresult *result, const uint32_t *uids, size_t count)
{
	fetch_order *order = NULL;
	long found = order_rows(session, result, uids, count, &order);
	if (found < 0)
		return false;
	cache_fill fill = { .count = 0 };
	ex_imap_writer_init(&fill.uids, 0, false);
	ex_imap_writer_init(&fill.envelopes, 0, false);
	ex_imap_writer_init(&fill.bodystructures, 0, false);
	for (long i = 0; i < found; i++) {
		fetch_row row;
		decode_row(result, order[i].row, &row);
		char *data = NULL;
		structure_values structure;
		imap_structure built;
		imap_mime *mime = load_row(session, needs, &row, &data, &structure, &built, &fill);
		write_message(session, list, needs, order[i].sequence, &row, mime, &structure);
		imap_mime_free(mime);
		imap_structure_clear(&built);
		free(data);
	}
	fill_flush(session, &fill);
	ex_imap_writer_free(&fill.uids);
	ex_imap_writer_free(&fill.envelopes);
	ex_imap_writer_free(&fill.bodystructures);
	free(order);
	return true;
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
	if (count == 0) {
		free(uids);
		imap_reply_ok(session, command->tag, "FETCH completed");
		return;
	}

	if (needs.only_flags && fetch_from_cache(session, &list, &needs, uids, count, changed_since)) {
		free(uids);
		imap_reply_ok(session, command->tag, "FETCH completed");
		return;
	}
	if (needs.sets_seen)
		set_seen(session, uids, count);
	PGresult *result = read_rows(session, &needs, uids, count, changed_since);
	if (result == NULL) {
		free(uids);
		imap_reply_unavailable(session, command->tag);
		return;
	}
	bool written = fetch_rows(session, &list, &needs, result, uids, count);
	PQclear(result);
	free(uids);
	if (written)
		imap_reply_ok(session, command->tag, "FETCH completed");
	else
		imap_reply_no(session, command->tag, "SERVERBUG", "Out of memory");
}
