/*
 * Commands that change messages: STORE (with UNCHANGEDSINCE, RFC 7162),
 * COPY and MOVE (RFC 6851) with COPYUID, EXPUNGE and UID EXPUNGE (RFC
 * 4315), and APPEND with APPENDUID and MULTIAPPEND (RFC 3502). The
 * triggers of the messages table assign UIDs and modseqs, record expunges
 * and queue unreferenced objects for deletion.
 *
 * APPEND writes each message to object storage and makes it durable
 * before the transaction that inserts the rows, and replies OK only
 * after the commit.
 */
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "expresso/imap_date.h"
#include "expresso/imap_flags.h"
#include "expresso/log.h"
#include "imap_internal.h"
#include "imap_structure.h"
#include "imap_search_index.h"
#include "mail_envelope.h"

enum { KEY_SIZE = 128, MAX_APPEND_MESSAGES = 1000 };

/* Builds the PostgreSQL text[] literal of FLAGS, quoting each element. */
static char *flags_array(const ex_imap_flags *flags)
{
	size_t size = 64;
	for (size_t i = 0; i < flags->keyword_count; i++)
		size += strlen(flags->keywords[i]) * 2 + 4;
	char *text = malloc(size);
	if (text == NULL)
		return NULL;
	size_t length = 0;
	text[length++] = '{';
	for (unsigned bit = EX_IMAP_FLAG_SEEN; bit <= EX_IMAP_FLAG_DRAFT; bit <<= 1) {
		if ((flags->system & bit) == 0)
			continue;
		length += (size_t)snprintf(text + length, size - length, "%s\"\\\\%s\"", length > 1 ? "," : "",
					   ex_imap_flag_name(bit) + 1);
	}
	for (size_t i = 0; i < flags->keyword_count; i++) {
		/* Keywords are atoms, so they contain no quote or backslash. */
		length += (size_t)snprintf(text + length, size - length, "%s\"%s\"", length > 1 ? "," : "",
					   flags->keywords[i]);
	}
	text[length++] = '}';
	text[length] = '\0';
	return text;
}

/* Writes a UID list compressed into ranges where the UIDs are consecutive. */
static void write_uid_list(ex_imap_writer *out, const uint32_t *uids, size_t count)
{
	for (size_t i = 0; i < count;) {
		size_t j = i;
		while (j + 1 < count && uids[j + 1] == uids[j] + 1)
			j++;
		if (i > 0)
			ex_imap_write_text(out, ",");
		ex_imap_write_number(out, uids[i]);
		if (j > i) {
			ex_imap_write_text(out, ":");
			ex_imap_write_number(out, uids[j]);
		}
		i = j + 1;
	}
}

static json_t *uid_json(const uint32_t *uids, size_t count)
{
	json_t *array = json_array();
	for (size_t i = 0; i < count && array != NULL; i++)
		json_array_append_new(array, json_integer(uids[i]));
	return array;
}

/* ---- STORE ------------------------------------------------------------------------------ */

typedef enum { STORE_REPLACE, STORE_ADD, STORE_REMOVE } store_mode;

void imap_command_store(imap_session *session, const ex_imap_command *command, const ex_imap_arg *args, bool uid_mode)
{
	uint32_t *uids = NULL;
	size_t count = 0;
	uint64_t unchanged_since = 0;
	bool conditional = false;

	if (session->view.read_only) {
		imap_reply_no(session, command->tag, "READ-ONLY", "Mailbox is read-only");
		return;
	}
	const ex_imap_arg *item = args != NULL ? args->next : NULL;
	if (item != NULL && item->type == EX_IMAP_ARG_LIST) {
		const ex_imap_arg *modifier = item->list;
		if (item->list_count != 2 || !ex_imap_arg_atom_equals(modifier, "UNCHANGEDSINCE") ||
		    modifier->next->type != EX_IMAP_ARG_ATOM) {
			imap_reply_bad(session, command->tag, "STORE takes only the UNCHANGEDSINCE modifier");
			return;
		}
		unchanged_since = strtoull(modifier->next->str, NULL, 10);
		conditional = true;
		session->condstore = true;
		item = item->next;
	}
	if (item == NULL || item->type != EX_IMAP_ARG_ATOM || item->next == NULL) {
		imap_reply_bad(session, command->tag, "STORE takes a message set, an item and flags");
		return;
	}
	const char *name = item->str;
	store_mode mode = STORE_REPLACE;
	if (name[0] == '+' || name[0] == '-') {
		mode = name[0] == '+' ? STORE_ADD : STORE_REMOVE;
		name++;
	}
	bool silent = strcasecmp(name, "FLAGS.SILENT") == 0;
	if (!silent && strcasecmp(name, "FLAGS") != 0) {
		imap_reply_bad(session, command->tag, "STORE item must be FLAGS, +FLAGS or -FLAGS, optionally .SILENT");
		return;
	}
	const ex_imap_arg *flag_args = item->next;
	ex_imap_flags flags;
	const char *problem = flag_args->type == EX_IMAP_ARG_LIST
				      ? ex_imap_flags_parse(ex_imap_parser_arena(session->parser), flag_args->list,
							    flag_args->list_count, 0, &flags)
				      : ex_imap_flags_parse(ex_imap_parser_arena(session->parser), flag_args,
							    command->arg_count - (uid_mode ? 3 : 2) - (conditional ? 1 : 0), 0,
							    &flags);
	if (problem != NULL) {
		imap_reply_bad(session, command->tag, problem);
		return;
	}
	if (!imap_view_resolve(session, command->tag, args, uid_mode, &uids, &count))
		return;

	char *uid_text = imap_uid_array(uids, count);
	char *flag_text = flags_array(&flags);
	char since_text[IMAP_NUMBER_TEXT];
	imap_format_number(since_text, sizeof(since_text), conditional ? unchanged_since : UINT64_MAX >> 1);
	static const char *const updates[] = {
		[STORE_REPLACE] = "UPDATE messages SET flags = $3::text[] WHERE mailbox_id = $1 AND uid = ANY ($2::bigint[]) "
				  "AND modseq <= $4::bigint AND NOT (flags @> $3::text[] AND flags <@ $3::text[])",
		[STORE_ADD] = "UPDATE messages SET flags = flags || ARRAY(SELECT f FROM unnest($3::text[]) AS f "
			      "WHERE NOT f = ANY (flags)) WHERE mailbox_id = $1 AND uid = ANY ($2::bigint[]) "
			      "AND modseq <= $4::bigint AND NOT flags @> $3::text[]",
		[STORE_REMOVE] = "UPDATE messages SET flags = ARRAY(SELECT f FROM unnest(flags) AS f "
				 "WHERE NOT f = ANY ($3::text[])) WHERE mailbox_id = $1 AND uid = ANY ($2::bigint[]) "
				 "AND modseq <= $4::bigint AND flags && $3::text[]",
	};
	const char *params[] = { session->view.id, uid_text, flag_text, since_text };
	PGresult *result = uid_text == NULL || flag_text == NULL ? NULL : imap_query(session, updates[mode], 4, params);
	if (result == NULL) {
		free(uid_text);
		free(flag_text);
		free(uids);
		imap_reply_unavailable(session, command->tag);
		return;
	}
	PQclear(result);

	/* Read back every message of the set: the flags for the FETCH responses, the modseqs for MODIFIED. */
	const char *read_params[] = { session->view.id, uid_text };
	result = imap_query(session,
			    "SELECT uid, flags, modseq FROM messages WHERE mailbox_id = $1 AND uid = ANY ($2::bigint[]) "
			    "ORDER BY uid",
			    2, read_params);
	free(uid_text);
	free(flag_text);
	if (result == NULL) {
		free(uids);
		imap_reply_unavailable(session, command->tag);
		return;
	}
	uint32_t *modified = malloc((count + 1) * sizeof(*modified));
	size_t modified_count = 0;
	for (int row = 0; row < PQntuples(result); row++) {
		uint32_t uid = (uint32_t)strtoul(PQgetvalue(result, row, 0), NULL, 10);
		uint64_t modseq = strtoull(PQgetvalue(result, row, 2), NULL, 10);
		if (conditional && modseq > unchanged_since && modified != NULL) {
			modified[modified_count++] = uid;
			continue;
		}
		if (silent && !session->condstore)
			continue;
		uint32_t sequence = imap_view_sequence(session, uid);
		ex_imap_write_text(&session->output, "* ");
		ex_imap_write_number(&session->output, sequence);
		ex_imap_write_text(&session->output, " FETCH (");
		if (!silent) {
			ex_imap_write_text(&session->output, "FLAGS ");
			/* The text[] output "{a,b}" becomes "(a b)"; flags contain no comma, quote or brace. */
			const char *value = PQgetvalue(result, row, 1);
			ex_imap_write_text(&session->output, "(");
			for (const char *p = value + 1; *p != '\0' && *p != '}'; p++) {
				if (*p == ',')
					ex_imap_write_raw(&session->output, " ", 1);
				else if (*p != '"' && !(p[0] == '\\' && p[1] == '\\'))
					ex_imap_write_raw(&session->output, p, 1);
			}
			ex_imap_write_text(&session->output, ") ");
		}
		if (uid_mode) {
			ex_imap_write_text(&session->output, "UID ");
			ex_imap_write_number(&session->output, uid);
			ex_imap_write_text(&session->output, " ");
		}
		if (session->condstore) {
			ex_imap_write_text(&session->output, "MODSEQ (");
			ex_imap_write_number(&session->output, modseq);
			ex_imap_write_text(&session->output, ")");
		}
		if (session->output.length > 0 && session->output.data[session->output.length - 1] == ' ')
			session->output.length--;
		ex_imap_write_text(&session->output, ")\r\n");
	}
	PQclear(result);
	imap_publish(session, "flags_changed",
		     json_pack("{s:s, s:s, s:o}", "user_id", session->user_id, "mailbox_id", session->view.id, "uids",
			       uid_json(uids, count)));
	free(uids);
	if (modified_count > 0) {
		ex_imap_writer code;
		ex_imap_writer_init(&code, 0, false);
		ex_imap_write_text(&code, "MODIFIED ");
		write_uid_list(&code, modified, modified_count);
		ex_imap_write_raw(&code, "", 1);
		imap_reply(session, command->tag, "OK", code.data, "Conditional STORE failed for some messages");
		ex_imap_writer_free(&code);
	} else {
		imap_reply_ok(session, command->tag, "STORE completed");
	}
	free(modified);
}

/* ---- COPY and MOVE ------------------------------------------------------------------------ */

typedef struct {
	const char *source_id;
	const char *target_id;
	const char *user_id;
	const uint32_t *uids;
	size_t count;
	bool move;
	uint32_t *copied_from;
	uint32_t *copied_to;
	size_t copied;
	uint32_t target_uidvalidity;
	bool over_quota;
} copy_work;

/* The copy also takes the SEARCH index row of its source, when the source has one. */
static const char copy_sql[] =
	"WITH source AS (SELECT * FROM messages WHERE mailbox_id = $1 AND uid = $2), "
	"copied AS (INSERT INTO messages (tenant_id, mailbox_id, flags, internal_date, size, storage_key, date, subject, "
	"\"from\", sender, reply_to, \"to\", cc, bcc, in_reply_to, message_id, \"references\", imap_envelope, "
	"imap_bodystructure) "
	"SELECT tenant_id, $3, flags, internal_date, size, storage_key, date, subject, \"from\", sender, reply_to, \"to\", "
	"cc, bcc, in_reply_to, message_id, \"references\", imap_envelope, imap_bodystructure FROM source "
	"RETURNING id, tenant_id, uid), "
	"indexed AS (INSERT INTO message_search_text (message_id, tenant_id, headers, body) "
	"SELECT copied.id, copied.tenant_id, t.headers, t.body FROM copied, source "
	"JOIN message_search_text AS t ON t.message_id = source.id) "
	"SELECT uid FROM copied";

static int copy_messages(PGconn *connection, void *context, ex_db_error *error)
{
	copy_work *work = context;
	char uid_text[IMAP_NUMBER_TEXT];
	work->copied = 0;
	work->over_quota = false;

	const char *target_params[] = { work->target_id };
	PGresult *result = ex_db_exec(connection, "SELECT uidvalidity FROM mailboxes WHERE id = $1", 1, target_params, error);
	if (result == NULL)
		return -1;
	work->target_uidvalidity = PQntuples(result) == 1 ? (uint32_t)strtoul(PQgetvalue(result, 0, 0), NULL, 10) : 0;
	PQclear(result);

	if (!work->move) {
		char *uid_array = imap_uid_array(work->uids, work->count);
		const char *quota_params[] = { work->user_id, work->source_id, uid_array };
		result = uid_array == NULL ? NULL
					   : ex_db_exec(connection,
							"SELECT u.quota_bytes IS NOT NULL AND COALESCE((SELECT sum(s.bytes) FROM "
							"mailbox_stats AS s JOIN mailboxes AS m ON m.id = s.mailbox_id WHERE "
							"m.user_id = u.id), 0) + (SELECT COALESCE(sum(size), 0) FROM messages WHERE "
							"mailbox_id = $2 AND uid = ANY ($3::bigint[])) > u.quota_bytes "
							"FROM users AS u WHERE u.id = $1",
							3, quota_params, error);
		free(uid_array);
		if (result == NULL)
			return -1;
		work->over_quota = PQntuples(result) == 1 && strcmp(PQgetvalue(result, 0, 0), "t") == 0;
		PQclear(result);
		if (work->over_quota)
			return 0;
	}

	for (size_t i = 0; i < work->count; i++) {
		imap_format_number(uid_text, sizeof(uid_text), work->uids[i]);
		const char *params[] = { work->source_id, uid_text, work->target_id };
		/* A move keeps the row; the trigger gives it the target's next UID and records the expunge. */
		result = work->move ? ex_db_exec(connection,
						 "UPDATE messages SET mailbox_id = $3 WHERE mailbox_id = $1 AND uid = $2 "
						 "RETURNING uid",
						 3, params, error)
				    : ex_db_exec(connection, copy_sql, 3, params, error);
		if (result == NULL)
			return -1;
		if (PQntuples(result) == 1) {
			work->copied_from[work->copied] = work->uids[i];
			work->copied_to[work->copied] = (uint32_t)strtoul(PQgetvalue(result, 0, 0), NULL, 10);
			work->copied++;
		}
		PQclear(result);
	}
	return 0;
}

void imap_command_copy(imap_session *session, const ex_imap_command *command, const ex_imap_arg *args, bool uid_mode,
		       bool move)
{
	char name[EX_IMAP_MAX_MAILBOX_NAME + 1];
	char target_id[IMAP_UUID_TEXT];
	uint32_t *uids = NULL;
	size_t count = 0;

	if (args == NULL || args->next == NULL || args->next->next != NULL) {
		imap_reply_bad(session, command->tag, "COPY and MOVE take a message set and a mailbox");
		return;
	}
	if (move && session->view.read_only) {
		imap_reply_no(session, command->tag, "READ-ONLY", "Mailbox is read-only");
		return;
	}
	if (!imap_mailbox_argument(session, command->tag, args->next, name, sizeof(name)))
		return;
	int found = imap_mailbox_lookup(session, name, target_id);
	if (found < 0) {
		imap_reply_unavailable(session, command->tag);
		return;
	}
	if (found == 0) {
		imap_reply_no(session, command->tag, "TRYCREATE", "No such mailbox");
		return;
	}
	if (!imap_view_resolve(session, command->tag, args, uid_mode, &uids, &count))
		return;
	if (move && strcmp(target_id, session->view.id) == 0) {
		free(uids);
		imap_reply_no(session, command->tag, "CANNOT", "Cannot move messages into the mailbox they are in");
		return;
	}
	copy_work work = { .source_id = session->view.id, .target_id = target_id, .user_id = session->user_id,
			   .uids = uids, .count = count, .move = move,
			   .copied_from = malloc((count + 1) * sizeof(uint32_t)),
			   .copied_to = malloc((count + 1) * sizeof(uint32_t)) };
	int status = work.copied_from == NULL || work.copied_to == NULL ? -1 : imap_transaction(session, copy_messages, &work);
	if (status != 0) {
		imap_reply_unavailable(session, command->tag);
	} else if (work.over_quota) {
		imap_reply_no(session, command->tag, "OVERQUOTA", "The copy would exceed your quota");
	} else {
		ex_imap_writer code;
		ex_imap_writer_init(&code, 0, false);
		if (work.copied > 0) {
			ex_imap_write_text(&code, "COPYUID ");
			ex_imap_write_number(&code, work.target_uidvalidity);
			ex_imap_write_text(&code, " ");
			write_uid_list(&code, work.copied_from, work.copied);
			ex_imap_write_text(&code, " ");
			write_uid_list(&code, work.copied_to, work.copied);
		}
		ex_imap_write_raw(&code, "", 1);
		if (move) {
			/* RFC 6851 3.3: COPYUID goes in an untagged OK before the expunges. */
			if (work.copied > 0)
				imap_reply(session, NULL, "OK", code.data, "Moved");
			imap_view_update(session, true);
			imap_publish(session, "expunged",
				     json_pack("{s:s, s:s, s:o}", "user_id", session->user_id, "mailbox_id", session->view.id,
					       "uids", uid_json(work.copied_from, work.copied)));
			imap_reply_ok(session, command->tag, "MOVE completed");
		} else {
			imap_reply(session, command->tag, "OK", work.copied > 0 ? code.data : NULL, "COPY completed");
		}
		ex_imap_writer_free(&code);
	}
	free(work.copied_from);
	free(work.copied_to);
	free(uids);
}

/* ---- EXPUNGE --------------------------------------------------------------------------------- */

void imap_command_expunge(imap_session *session, const ex_imap_command *command, const ex_imap_arg *uid_set)
{
	uint32_t *uids = NULL;
	size_t count = 0;
	if (session->view.read_only) {
		imap_reply_no(session, command->tag, "READ-ONLY", "Mailbox is read-only");
		return;
	}
	if (uid_set != NULL && !imap_view_resolve(session, command->tag, uid_set, true, &uids, &count))
		return;
	if (uid_set == NULL && command->arg_count != 0) {
		imap_reply_bad(session, command->tag, "EXPUNGE takes no arguments");
		return;
	}
	char *uid_text = uid_set != NULL ? imap_uid_array(uids, count) : NULL;
	const char *params[] = { session->view.id, uid_text };
	PGresult *result = imap_query(session,
				      uid_set != NULL ? "DELETE FROM messages WHERE mailbox_id = $1 AND '\\Deleted' = ANY (flags) "
							"AND uid = ANY ($2::bigint[]) RETURNING uid"
						      : "DELETE FROM messages WHERE mailbox_id = $1 AND '\\Deleted' = ANY (flags) "
							"RETURNING uid",
				      uid_set != NULL ? 2 : 1, params);
	free(uid_text);
	free(uids);
	if (result == NULL) {
		imap_reply_unavailable(session, command->tag);
		return;
	}
	json_t *expunged = json_array();
	for (int row = 0; row < PQntuples(result) && expunged != NULL; row++)
		json_array_append_new(expunged, json_integer(strtoll(PQgetvalue(result, row, 0), NULL, 10)));
	bool any = PQntuples(result) > 0;
	PQclear(result);
	imap_view_update(session, true);
	if (any)
		imap_publish(session, "expunged",
			     json_pack("{s:s, s:s, s:o}", "user_id", session->user_id, "mailbox_id", session->view.id, "uids",
				       expunged));
	else
		json_decref(expunged);
	imap_reply_ok(session, command->tag, "EXPUNGE completed");
}

/* ---- APPEND ------------------------------------------------------------------------------------ */

typedef struct {
	const char *data;
	size_t length;
	char *flags;                      /* text[] literal */
	char internal_date[40];           /* ISO 8601 or empty for now() */
	char storage_key[KEY_SIZE];
	bool stored;
	ex_mail_envelope fields;
	bool parsed;
	uint32_t uid;
} append_message;

typedef struct {
	const char *tenant_id;
	const char *user_id;
	const char *mailbox_id;
	append_message *messages;
	size_t count;
	uint32_t uidvalidity;
	bool over_quota;
	uint64_t search_index_max_text;
} append_work;

static int random_key(const char *user_id, char *out, size_t size)
{
	unsigned char bytes[16];
	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		return -1;
	bytes[6] = (unsigned char)((bytes[6] & 0x0f) | 0x40);
	bytes[8] = (unsigned char)((bytes[8] & 0x3f) | 0x80);
	snprintf(out, size, "mail/%s/%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", user_id,
		 bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
		 bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
	return 0;
}

static int insert_appended(PGconn *connection, void *context, ex_db_error *error)
{
	append_work *work = context;
	uint64_t total = 0;
	char total_text[IMAP_NUMBER_TEXT];
	work->over_quota = false;
	for (size_t i = 0; i < work->count; i++)
		total += work->messages[i].length;
	imap_format_number(total_text, sizeof(total_text), total);

	const char *quota_params[] = { work->user_id, total_text, work->mailbox_id };
	PGresult *result = ex_db_exec(connection,
				      "SELECT u.quota_bytes IS NOT NULL AND COALESCE((SELECT sum(s.bytes) FROM mailbox_stats AS s "
				      "JOIN mailboxes AS m ON m.id = s.mailbox_id WHERE m.user_id = u.id), 0) + $2::bigint "
				      "> u.quota_bytes, (SELECT uidvalidity FROM mailboxes WHERE id = $3) "
				      "FROM users AS u WHERE u.id = $1",
				      3, quota_params, error);
	if (result == NULL)
		return -1;
	work->over_quota = PQntuples(result) == 1 && strcmp(PQgetvalue(result, 0, 0), "t") == 0;
	work->uidvalidity = PQntuples(result) == 1 ? (uint32_t)strtoul(PQgetvalue(result, 0, 1), NULL, 10) : 0;
	PQclear(result);
	if (work->over_quota)
		return 0;

	for (size_t i = 0; i < work->count; i++) {
		append_message *message = &work->messages[i];
		char size_text[IMAP_NUMBER_TEXT];
		imap_format_number(size_text, sizeof(size_text), message->length);
		const char *const *fields = (const char *const *)message->fields.values;
		const char *params[] = {
			work->tenant_id, work->mailbox_id, message->flags,
			message->internal_date[0] != '\0' ? message->internal_date : NULL, size_text, message->storage_key,
			fields[EX_MAIL_ENVELOPE_DATE], fields[EX_MAIL_ENVELOPE_SUBJECT], fields[EX_MAIL_ENVELOPE_FROM],
			fields[EX_MAIL_ENVELOPE_SENDER], fields[EX_MAIL_ENVELOPE_REPLY_TO], fields[EX_MAIL_ENVELOPE_TO],
			fields[EX_MAIL_ENVELOPE_CC], fields[EX_MAIL_ENVELOPE_BCC], fields[EX_MAIL_ENVELOPE_IN_REPLY_TO],
			fields[EX_MAIL_ENVELOPE_MESSAGE_ID], fields[EX_MAIL_ENVELOPE_REFERENCES], NULL, NULL,
		};
		/* The cached ENVELOPE and BODYSTRUCTURE; NULL when building them failed, and FETCH builds them later. */
		imap_structure structure;
		char *envelope = NULL;
		char *bodystructure = NULL;
		if (imap_structure_build(message->data, message->length, &structure) == 0) {
			envelope = imap_structure_bytea_text(structure.envelope, structure.envelope_length);
			bodystructure = imap_structure_bytea_text(structure.bodystructure, structure.bodystructure_length);
			imap_structure_clear(&structure);
		}
		params[17] = envelope;
		params[18] = bodystructure;
		result = ex_db_exec(connection,
				    "INSERT INTO messages (tenant_id, mailbox_id, flags, internal_date, size, storage_key, date, "
				    "subject, \"from\", sender, reply_to, \"to\", cc, bcc, in_reply_to, message_id, \"references\", "
				    "imap_envelope, imap_bodystructure) "
				    "VALUES ($1, $2, $3::text[], COALESCE($4::timestamptz, now()), $5, $6, $7, $8, $9, $10, $11, "
				    "$12, $13, $14, $15, $16, $17, $18::bytea, $19::bytea) RETURNING uid",
				    19, params, error);
		free(envelope);
		free(bodystructure);
		if (result == NULL)
			return -1;
		message->uid = (uint32_t)strtoul(PQgetvalue(result, 0, 0), NULL, 10);
		PQclear(result);
		if (imap_search_index_write(connection, work->mailbox_id, message->uid, message->data, message->length,
					    work->search_index_max_text, error) != 0)
			return -1;
	}
	return 0;
}

/* Writes MESSAGE to storage and makes it durable. */
static int store_message(imap_session *session, append_message *message)
{
	char err[EX_STORAGE_ERROR_MAX] = "";
	ex_storage_writer *writer = NULL;
	if (random_key(session->user_id, message->storage_key, sizeof(message->storage_key)) != 0)
		return -1;
	ex_storage_status status = ex_storage_writer_begin(session->options.storage, session->tenant_id,
							   message->storage_key, &writer, err, sizeof(err));
	if (status == EX_STORAGE_OK)
		status = ex_storage_writer_write(writer, message->data, message->length, err, sizeof(err));
	if (status != EX_STORAGE_OK) {
		ex_storage_writer_abort(writer);
	} else {
		status = ex_storage_writer_commit(writer, err, sizeof(err));
	}
	if (status != EX_STORAGE_OK) {
		ex_log(EX_LOG_ERROR, "imap_store_failed", "{s:s, s:s, s:s}", "session", session->options.session_id, "key",
		       message->storage_key, "error", err);
		return -1;
	}
	message->stored = true;
	return 0;
}

/* Reads the groups "[flags] [date-time] literal" of APPEND into MESSAGES; returns the count or -1 (replied). */
static long parse_append_groups(imap_session *session, const ex_imap_command *command, const ex_imap_arg *arg,
				append_message *messages)
{
	long count = 0;
	while (arg != NULL) {
		append_message *message = &messages[count];
		ex_imap_flags flags = { 0 };
		if (count >= MAX_APPEND_MESSAGES) {
			imap_reply_no(session, command->tag, "LIMIT", "Too many messages in one APPEND");
			return -1;
		}
		if (arg->type == EX_IMAP_ARG_LIST) {
			const char *problem = ex_imap_flags_parse(ex_imap_parser_arena(session->parser), arg->list,
								  arg->list_count, 0, &flags);
			if (problem != NULL) {
				imap_reply_bad(session, command->tag, problem);
				return -1;
			}
			arg = arg->next;
		}
		if (arg != NULL && arg->type == EX_IMAP_ARG_QUOTED) {
			ex_imap_datetime datetime;
			if (ex_imap_datetime_parse(arg->str, arg->length, &datetime) != NULL) {
				imap_reply_bad(session, command->tag, "Invalid date-time; expected \"dd-Mon-yyyy hh:mm:ss +zzzz\"");
				return -1;
			}
			time_t seconds = (time_t)datetime.time;
			struct tm utc;
			gmtime_r(&seconds, &utc);
			strftime(message->internal_date, sizeof(message->internal_date), "%Y-%m-%dT%H:%M:%SZ", &utc);
			arg = arg->next;
		}
		if (arg == NULL || (arg->type != EX_IMAP_ARG_LITERAL && arg->type != EX_IMAP_ARG_LITERAL8)) {
			imap_reply_bad(session, command->tag, "APPEND takes a mailbox, optional flags and date, and a literal");
			return -1;
		}
		if (arg->length == 0) {
			imap_reply_no(session, command->tag, "CANNOT", "Empty message");
			return -1;
		}
		message->data = arg->str;
		message->length = arg->length;
		message->flags = flags_array(&flags);
		if (message->flags == NULL) {
			imap_reply_no(session, command->tag, "SERVERBUG", "Out of memory");
			return -1;
		}
		count++;
		arg = arg->next;
	}
	return count;
}

static void append_free(imap_session *session, append_message *messages, long count)
{
	char err[EX_STORAGE_ERROR_MAX];
	for (long i = 0; i < count; i++) {
		if (messages[i].stored &&
		    ex_storage_delete(session->options.storage, session->tenant_id, messages[i].storage_key, err,
				      sizeof(err)) != EX_STORAGE_OK)
			ex_log(EX_LOG_WARN, "imap_orphan_left", "{s:s, s:s}", "key", messages[i].storage_key, "error", err);
		if (messages[i].parsed)
			ex_mail_envelope_clear(&messages[i].fields);
		free(messages[i].flags);
	}
	free(messages);
}

void imap_command_append(imap_session *session, const ex_imap_command *command)
{
	char name[EX_IMAP_MAX_MAILBOX_NAME + 1];
	char mailbox_id[IMAP_UUID_TEXT];
	if (command->arg_count < 2) {
		imap_reply_bad(session, command->tag, "APPEND takes a mailbox, optional flags and date, and a literal");
		return;
	}
	if (!imap_mailbox_argument(session, command->tag, command->args, name, sizeof(name)))
		return;
	if (session->options.storage == NULL) {
		imap_reply_unavailable(session, command->tag);
		return;
	}
	append_message *messages = calloc(command->arg_count, sizeof(*messages));
	if (messages == NULL) {
		imap_reply_no(session, command->tag, "SERVERBUG", "Out of memory");
		return;
	}
	long count = parse_append_groups(session, command, command->args->next, messages);
	if (count < 0) {
		append_free(session, messages, (long)command->arg_count);
		return;
	}
	int found = imap_mailbox_lookup(session, name, mailbox_id);
	if (found <= 0) {
		if (found < 0)
			imap_reply_unavailable(session, command->tag);
		else
			imap_reply_no(session, command->tag, "TRYCREATE", "No such mailbox");
		append_free(session, messages, count);
		return;
	}
	for (long i = 0; i < count; i++) {
		if (ex_mail_envelope_parse(messages[i].data, messages[i].length, NULL, &messages[i].fields) != 0 ||
		    store_message(session, &messages[i]) != 0) {
			imap_reply_unavailable(session, command->tag);
			append_free(session, messages, count);
			return;
		}
		messages[i].parsed = true;
	}
	append_work work = { .tenant_id = session->tenant_id, .user_id = session->user_id, .mailbox_id = mailbox_id,
			     .messages = messages, .count = (size_t)count };
	work.search_index_max_text = session->options.search_index_max_text;
	if (imap_transaction(session, insert_appended, &work) != 0) {
		imap_reply_unavailable(session, command->tag);
		append_free(session, messages, count);
		return;
	}
	if (work.over_quota) {
		imap_reply_no(session, command->tag, "OVERQUOTA", "The message would exceed your quota");
		append_free(session, messages, count);
		return;
	}
	ex_imap_writer code;
	ex_imap_writer_init(&code, 0, false);
	ex_imap_write_text(&code, "APPENDUID ");
	ex_imap_write_number(&code, work.uidvalidity);
	ex_imap_write_text(&code, " ");
	for (long i = 0; i < count; i++) {
		if (i > 0)
			ex_imap_write_text(&code, ",");
		ex_imap_write_number(&code, messages[i].uid);
		messages[i].stored = false; /* committed: the rows name the objects now */
	}
	ex_imap_write_raw(&code, "", 1);
	if (session->view_open && strcmp(session->view.id, mailbox_id) == 0)
		imap_view_update(session, true);
	imap_reply(session, command->tag, "OK", code.data, "APPEND completed");
	ex_imap_writer_free(&code);
	append_free(session, messages, count);
}
