/*
 * Mailbox commands: LIST (with LIST-EXTENDED, LIST-STATUS, SPECIAL-USE
 * and CHILDREN), LSUB, CREATE (with CREATE-SPECIAL-USE), DELETE, RENAME,
 * SUBSCRIBE, UNSUBSCRIBE, STATUS, NAMESPACE and the QUOTA commands of
 * RFC 9208. Every mailbox is a row of the mailboxes table of the logged-in
 * user; names are UTF-8 with '/' as the hierarchy delimiter.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expresso/log.h"
#include "imap_internal.h"

enum {
	STATUS_MESSAGES = 1 << 0,
	STATUS_UIDNEXT = 1 << 1,
	STATUS_UIDVALIDITY = 1 << 2,
	STATUS_UNSEEN = 1 << 3,
	STATUS_SIZE = 1 << 4,
	STATUS_HIGHESTMODSEQ = 1 << 5,
	STATUS_RECENT = 1 << 6,
	STATUS_DELETED = 1 << 7,
};

static const char status_columns[] =
	"SELECT m.uidnext, m.uidvalidity, m.highestmodseq, COALESCE(s.messages, 0), COALESCE(s.unseen, 0), "
	"COALESCE(s.bytes, 0), (SELECT count(*) FROM messages AS d WHERE d.mailbox_id = m.id "
	"AND '\\Deleted' = ANY (d.flags)) ";

int imap_ensure_standard_mailboxes(imap_session *session)
{
	const char *params[] = { session->tenant_id, session->user_id };
	PGresult *result = imap_query(
		session,
		"INSERT INTO mailboxes (tenant_id, user_id, name, special_use) "
		"SELECT $1, $2, standard.name, standard.special_use FROM (VALUES "
		"('INBOX', NULL), ('Sent', '\\Sent'), ('Drafts', '\\Drafts'), ('Trash', '\\Trash'), "
		"('Junk', '\\Junk'), ('Archive', '\\Archive')) AS standard (name, special_use) "
		"WHERE NOT EXISTS (SELECT 1 FROM mailboxes AS m WHERE m.user_id = $2 AND "
		"(m.name = standard.name OR m.special_use = standard.special_use)) "
		"ON CONFLICT DO NOTHING",
		2, params);
	if (result == NULL)
		return -1;
	PQclear(result);
	session->mailboxes_checked = true;
	return 0;
}

int imap_mailbox_lookup(imap_session *session, const char *name, char id[IMAP_UUID_TEXT])
{
	const char *params[] = { session->user_id, name };
	PGresult *result = imap_query(session, "SELECT id FROM mailboxes WHERE user_id = $1 AND name = $2", 2, params);
	if (result == NULL)
		return -1;
	int found = PQntuples(result) == 1;
	if (found)
		snprintf(id, IMAP_UUID_TEXT, "%s", PQgetvalue(result, 0, 0));
	PQclear(result);
	return found;
}

/* ---- STATUS ------------------------------------------------------------------------ */

/* Parses a STATUS item list into STATUS_* bits; 0 when invalid. */
static unsigned parse_status_items(const ex_imap_arg *list)
{
	unsigned items = 0;
	if (list == NULL || list->type != EX_IMAP_ARG_LIST || list->list_count == 0)
		return 0;
	for (const ex_imap_arg *item = list->list; item != NULL; item = item->next) {
		if (item->type != EX_IMAP_ARG_ATOM)
			return 0;
		if (strcasecmp(item->str, "MESSAGES") == 0)
			items |= STATUS_MESSAGES;
		else if (strcasecmp(item->str, "UIDNEXT") == 0)
			items |= STATUS_UIDNEXT;
		else if (strcasecmp(item->str, "UIDVALIDITY") == 0)
			items |= STATUS_UIDVALIDITY;
		else if (strcasecmp(item->str, "UNSEEN") == 0)
			items |= STATUS_UNSEEN;
		else if (strcasecmp(item->str, "SIZE") == 0)
			items |= STATUS_SIZE;
		else if (strcasecmp(item->str, "HIGHESTMODSEQ") == 0)
			items |= STATUS_HIGHESTMODSEQ;
		else if (strcasecmp(item->str, "RECENT") == 0)
			items |= STATUS_RECENT;
		else if (strcasecmp(item->str, "DELETED") == 0)
			items |= STATUS_DELETED;
		else
			return 0;
	}
	return items;
}

/* Writes "* STATUS name (...)" from a row of status_columns starting at column FIRST. */
static void write_status(imap_session *session, const char *name, unsigned items, PGresult *result, int row, int first)
{
	static const struct {
		unsigned bit;
		const char *label;
		int column;
	} fields[] = {
		{ STATUS_MESSAGES, "MESSAGES", 3 }, { STATUS_RECENT, "RECENT", -1 },
		{ STATUS_UIDNEXT, "UIDNEXT", 0 },   { STATUS_UIDVALIDITY, "UIDVALIDITY", 1 },
		{ STATUS_UNSEEN, "UNSEEN", 4 },     { STATUS_DELETED, "DELETED", 6 },
		{ STATUS_SIZE, "SIZE", 5 },         { STATUS_HIGHESTMODSEQ, "HIGHESTMODSEQ", 2 },
	};
	ex_imap_writer *out = &session->output;
	bool space = false;
	ex_imap_write_text(out, "* STATUS ");
	ex_imap_write_mailbox(out, name);
	ex_imap_write_text(out, " (");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if ((items & fields[i].bit) == 0)
			continue;
		if (space)
			ex_imap_write_text(out, " ");
		space = true;
		ex_imap_write_text(out, fields[i].label);
		ex_imap_write_text(out, " ");
		ex_imap_write_text(out, fields[i].column < 0 ? "0" : PQgetvalue(result, row, first + fields[i].column));
	}
	ex_imap_write_text(out, ")\r\n");
}

void imap_command_status(imap_session *session, const ex_imap_command *command)
{
	char name[EX_IMAP_MAX_MAILBOX_NAME + 1];
	if (command->arg_count != 2) {
		imap_reply_bad(session, command->tag, "STATUS takes a mailbox and a list of items");
		return;
	}
	if (!imap_mailbox_argument(session, command->tag, command->args, name, sizeof(name)))
		return;
	unsigned items = parse_status_items(command->args->next);
	if (items == 0) {
		imap_reply_bad(session, command->tag,
			       "Invalid STATUS items; use MESSAGES, UIDNEXT, UIDVALIDITY, UNSEEN, SIZE, HIGHESTMODSEQ");
		return;
	}
	char sql[1024];
	snprintf(sql, sizeof(sql),
		 "%sFROM mailboxes AS m LEFT JOIN mailbox_stats AS s ON s.mailbox_id = m.id "
		 "WHERE m.user_id = $1 AND m.name = $2",
		 status_columns);
	const char *params[] = { session->user_id, name };
	PGresult *result = imap_query(session, sql, 2, params);
	if (result == NULL) {
		imap_reply_unavailable(session, command->tag);
		return;
	}
	if (PQntuples(result) != 1) {
		PQclear(result);
		imap_reply_no(session, command->tag, "NONEXISTENT", "No such mailbox");
		return;
	}
	write_status(session, name, items, result, 0, 0);
	PQclear(result);
	imap_reply_ok(session, command->tag, "STATUS completed");
}

/* ---- LIST ------------------------------------------------------------------------------ */

/* Matches NAME against PATTERN: '*' matches anything, '%' anything but the delimiter. */
static bool pattern_matches(const char *pattern, const char *name)
{
	if (*pattern == '\0')
		return *name == '\0';
	if (*pattern == '*') {
		for (const char *rest = name;; rest++) {
			if (pattern_matches(pattern + 1, rest))
				return true;
			if (*rest == '\0')
				return false;
		}
	}
	if (*pattern == '%') {
		for (const char *rest = name;; rest++) {
			if (pattern_matches(pattern + 1, rest))
				return true;
			if (*rest == '\0' || *rest == EX_IMAP_HIERARCHY_DELIMITER)
				return false;
		}
	}
	return *pattern == *name && pattern_matches(pattern + 1, name + 1);
}

typedef struct {
	bool subscribed_only;     /* LSUB or LIST (SUBSCRIBED) */
	bool special_use_only;    /* LIST (SPECIAL-USE) */
	bool return_subscribed;
	bool return_special_use;
	bool return_children;
	unsigned status_items;    /* LIST-STATUS */
	bool lsub;
} list_options;

static bool parse_selection(const ex_imap_arg *list, list_options *options)
{
	for (const ex_imap_arg *item = list->list; item != NULL; item = item->next) {
		if (item->type != EX_IMAP_ARG_ATOM)
			return false;
		if (strcasecmp(item->str, "SUBSCRIBED") == 0) {
			options->subscribed_only = true;
			options->return_subscribed = true;
		} else if (strcasecmp(item->str, "SPECIAL-USE") == 0) {
			options->special_use_only = true;
			options->return_special_use = true;
		} else if (strcasecmp(item->str, "REMOTE") != 0 && strcasecmp(item->str, "RECURSIVEMATCH") != 0) {
			return false;
		}
	}
	return true;
}

static bool parse_return(const ex_imap_arg *list, list_options *options)
{
	for (const ex_imap_arg *item = list->list; item != NULL; item = item->next) {
		if (item->type != EX_IMAP_ARG_ATOM)
			return false;
		if (strcasecmp(item->str, "SUBSCRIBED") == 0) {
			options->return_subscribed = true;
		} else if (strcasecmp(item->str, "SPECIAL-USE") == 0) {
			options->return_special_use = true;
		} else if (strcasecmp(item->str, "CHILDREN") == 0) {
			options->return_children = true;
		} else if (strcasecmp(item->str, "STATUS") == 0) {
			options->status_items = parse_status_items(item->next);
			if (options->status_items == 0)
				return false;
			item = item->next;
		} else {
			return false;
		}
	}
	return true;
}

static bool has_children(PGresult *result, const char *name)
{
	size_t length = strlen(name);
	for (int row = 0; row < PQntuples(result); row++) {
		const char *other = PQgetvalue(result, row, 0);
		if (strncmp(other, name, length) == 0 && other[length] == EX_IMAP_HIERARCHY_DELIMITER)
			return true;
	}
	return false;
}

static void write_list_entry(imap_session *session, const list_options *options, PGresult *result, int row)
{
	ex_imap_writer *out = &session->output;
	const char *name = PQgetvalue(result, row, 0);
	bool subscribed = strcmp(PQgetvalue(result, row, 2), "t") == 0;

	ex_imap_write_text(out, options->lsub ? "* LSUB (" : "* LIST (");
	ex_imap_write_text(out, has_children(result, name) ? "\\HasChildren" : "\\HasNoChildren");
	if (!PQgetisnull(result, row, 1) && (!options->lsub)) {
		ex_imap_write_text(out, " ");
		ex_imap_write_text(out, PQgetvalue(result, row, 1));
	}
	if (subscribed && options->return_subscribed)
		ex_imap_write_text(out, " \\Subscribed");
	ex_imap_write_text(out, ") \"/\" ");
	ex_imap_write_mailbox(out, name);
	ex_imap_write_text(out, "\r\n");
	if (options->status_items != 0)
		write_status(session, name, options->status_items, result, row, 3);
}

/* The mailbox patterns of one LIST command, after its reference name. */
typedef struct {
	imap_session *session;
	const char *reference;
	const ex_imap_arg *patterns;
	size_t count;
} list_patterns;

static bool list_patterns_match(const list_patterns *matcher, const char *name)
{
	char pattern[EX_IMAP_MAX_MAILBOX_NAME * 2 + 2];
	size_t index = 0;
	for (const ex_imap_arg *p = matcher->patterns; p != NULL && index < matcher->count; p = p->next, index++) {
		char decoded[EX_IMAP_MAX_MAILBOX_NAME + 1];
		if (!ex_imap_arg_is_astring(p) || ex_imap_mailbox_from_wire(p->str, p->length, matcher->session->utf8_accept,
									   decoded, sizeof(decoded)) != NULL)
			continue;
		snprintf(pattern, sizeof(pattern), "%s%s", matcher->reference, decoded);
		/* INBOX is case-insensitive in patterns too. */
		if (pattern_matches(pattern, name) || (strcmp(name, "INBOX") == 0 && strcasecmp(pattern, "INBOX") == 0))
			return true;
	}
	return false;
}

/* True when a row before LAST has NAME (of LENGTH octets) as its name or as a parent. */
static bool name_seen(PGresult *result, int last, const char *name, size_t length, bool as_parent)
{
	for (int row = 0; row < last; row++) {
		const char *other = PQgetvalue(result, row, 0);
		if (strncmp(other, name, length) == 0 &&
		    (as_parent ? other[length] == EX_IMAP_HIERARCHY_DELIMITER : other[length] == '\0'))
			return true;
	}
	return false;
}

/*
 * Lists the parents that do not exist but have children, as "a" of
 * "a/b" when the mail API or Sieve created "a/b" alone. RFC 9051 marks
 * them \NonExistent, which implies \NoSelect; IMAP4rev1 has only
 * \Noselect. Without them a client walking the tree with "%" would never
 * reach "a/b".
 */
static void write_missing_parents(imap_session *session, const list_patterns *matcher, PGresult *result)
{
	int rows = PQntuples(result);
	for (int row = 0; row < rows; row++) {
		const char *name = PQgetvalue(result, row, 0);
		for (const char *slash = strchr(name, EX_IMAP_HIERARCHY_DELIMITER); slash != NULL;
		     slash = strchr(slash + 1, EX_IMAP_HIERARCHY_DELIMITER)) {
			size_t length = (size_t)(slash - name);
			if (name_seen(result, rows, name, length, false) || name_seen(result, row, name, length, true))
				continue;
			char parent[EX_IMAP_MAX_MAILBOX_NAME + 1];
			snprintf(parent, sizeof(parent), "%.*s", (int)length, name);
			if (!list_patterns_match(matcher, parent))
				continue;
			ex_imap_write_text(&session->output, session->imap4rev2 ? "* LIST (\\NonExistent \\HasChildren) \"/\" "
										 : "* LIST (\\Noselect \\HasChildren) \"/\" ");
			ex_imap_write_mailbox(&session->output, parent);
			ex_imap_write_text(&session->output, "\r\n");
		}
	}
}

void imap_command_list(imap_session *session, const ex_imap_command *command, bool lsub)
{
	list_options options = { .lsub = lsub, .subscribed_only = lsub };
	const ex_imap_arg *arg = command->args;
	char reference[EX_IMAP_MAX_MAILBOX_NAME + 1];

	if (!lsub && arg != NULL && arg->type == EX_IMAP_ARG_LIST) {
		if (!parse_selection(arg, &options)) {
			imap_reply_bad(session, command->tag, "Invalid LIST selection options");
			return;
		}
		arg = arg->next;
	}
	const ex_imap_arg *pattern_arg = arg != NULL ? arg->next : NULL;
	if (arg == NULL || pattern_arg == NULL || !ex_imap_arg_is_astring(arg)) {
		imap_reply_bad(session, command->tag, "LIST takes a reference and a mailbox pattern");
		return;
	}
	if (ex_imap_mailbox_from_wire(arg->str, arg->length, session->utf8_accept, reference, sizeof(reference)) != NULL &&
	    arg->length > 0) {
		imap_reply_bad(session, command->tag, "Invalid reference name");
		return;
	}
	if (arg->length == 0)
		reference[0] = '\0';
	const ex_imap_arg *return_arg = pattern_arg->next;
	if (return_arg != NULL) {
		if (lsub || !ex_imap_arg_atom_equals(return_arg, "RETURN") || return_arg->next == NULL ||
		    return_arg->next->type != EX_IMAP_ARG_LIST || !parse_return(return_arg->next, &options)) {
			imap_reply_bad(session, command->tag, "Invalid LIST return options");
			return;
		}
	}

	/* A list of patterns (LIST-EXTENDED) is matched pattern by pattern. */
	const ex_imap_arg *patterns = pattern_arg->type == EX_IMAP_ARG_LIST ? pattern_arg->list : pattern_arg;
	size_t pattern_count = pattern_arg->type == EX_IMAP_ARG_LIST ? pattern_arg->list_count : 1;
	if (pattern_count == 1 && ex_imap_arg_is_astring(patterns) && patterns->length == 0) {
		/* RFC 3501 6.3.8: an empty pattern requests the hierarchy delimiter. */
		ex_imap_write_text(&session->output, lsub ? "* LSUB (\\Noselect) \"/\" \"\"\r\n"
							  : "* LIST (\\Noselect) \"/\" \"\"\r\n");
		imap_reply_ok(session, command->tag, lsub ? "LSUB completed" : "LIST completed");
		return;
	}

	char sql[1024];
	snprintf(sql, sizeof(sql),
		 "SELECT m.name, m.special_use, m.subscribed, %sFROM mailboxes AS m "
		 "LEFT JOIN mailbox_stats AS s ON s.mailbox_id = m.id WHERE m.user_id = $1 "
		 "ORDER BY m.name <> 'INBOX', m.name",
		 status_columns + strlen("SELECT "));
	const char *params[] = { session->user_id };
	PGresult *result = imap_query(session, sql, 1, params);
	if (result == NULL) {
		imap_reply_unavailable(session, command->tag);
		return;
	}
	list_patterns matcher = { .session = session, .reference = reference, .patterns = patterns,
				  .count = pattern_count };
	for (int row = 0; row < PQntuples(result); row++) {
		if (!list_patterns_match(&matcher, PQgetvalue(result, row, 0)))
			continue;
		if (options.subscribed_only && strcmp(PQgetvalue(result, row, 2), "t") != 0)
			continue;
		if (options.special_use_only && PQgetisnull(result, row, 1))
			continue;
		write_list_entry(session, &options, result, row);
	}
	if (!options.subscribed_only && !options.special_use_only)
		write_missing_parents(session, &matcher, result);
	PQclear(result);
	imap_reply_ok(session, command->tag, lsub ? "LSUB completed" : "LIST completed");
}

/* ---- CREATE, DELETE, RENAME, SUBSCRIBE ----------------------------------------------- */

static bool known_special_use(const char *use)
{
	static const char *const known[] = { "\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash" };
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcasecmp(use, known[i]) == 0)
			return true;
	return false;
}

typedef struct {
	const char *tenant_id;
	const char *user_id;
	const char *name;
	const char *special_use;
	bool exists;
	bool use_taken;
} create_work;

/* Creates NAME and every missing parent (RFC 3501 6.3.3). */
static int create_mailbox(PGconn *connection, void *context, ex_db_error *error)
{
	create_work *work = context;
	char parent[EX_IMAP_MAX_MAILBOX_NAME + 1];
	work->exists = false;
	work->use_taken = false;

	const char *lookup_params[] = { work->user_id, work->name };
	PGresult *result = ex_db_exec(connection, "SELECT 1 FROM mailboxes WHERE user_id = $1 AND name = $2", 2,
				      lookup_params, error);
	if (result == NULL)
		return -1;
	work->exists = PQntuples(result) > 0;
	PQclear(result);
	if (work->exists)
		return 0;
	if (work->special_use != NULL) {
		const char *use_params[] = { work->user_id, work->special_use };
		result = ex_db_exec(connection, "SELECT 1 FROM mailboxes WHERE user_id = $1 AND special_use = $2", 2,
				    use_params, error);
		if (result == NULL)
			return -1;
		work->use_taken = PQntuples(result) > 0;
		PQclear(result);
		if (work->use_taken)
			return 0;
	}

	snprintf(parent, sizeof(parent), "%s", work->name);
	for (char *slash = strchr(parent, EX_IMAP_HIERARCHY_DELIMITER); slash != NULL;
	     slash = strchr(slash + 1, EX_IMAP_HIERARCHY_DELIMITER)) {
		*slash = '\0';
		const char *params[] = { work->tenant_id, work->user_id, parent };
		result = ex_db_exec(connection,
				    "INSERT INTO mailboxes (tenant_id, user_id, name) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
				    3, params, error);
		*slash = EX_IMAP_HIERARCHY_DELIMITER;
		if (result == NULL)
			return -1;
		PQclear(result);
	}
	const char *params[] = { work->tenant_id, work->user_id, work->name, work->special_use };
	result = ex_db_exec(connection, "INSERT INTO mailboxes (tenant_id, user_id, name, special_use) VALUES ($1, $2, $3, $4)",
			    4, params, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

static void publish_mailbox_changed(imap_session *session, const char *name, const char *change)
{
	imap_publish(session, "mailbox_changed", json_pack("{s:s, s:s, s:s}", "user_id", session->user_id, "change",
							   change, "name", name));
}

void imap_command_create(imap_session *session, const ex_imap_command *command)
{
	char name[EX_IMAP_MAX_MAILBOX_NAME + 1];
	char special_use[16] = "";
	if (command->arg_count < 1 || command->arg_count > 2) {
		imap_reply_bad(session, command->tag, "CREATE takes a mailbox name and optional (USE (...))");
		return;
	}
	if (!imap_mailbox_argument(session, command->tag, command->args, name, sizeof(name)))
		return;
	/* A trailing delimiter only announces that inferiors will be created (RFC 3501 6.3.3). */
	size_t length = strlen(name);
	if (length > 1 && name[length - 1] == EX_IMAP_HIERARCHY_DELIMITER)
		name[length - 1] = '\0';
	const char *problem = ex_imap_mailbox_name_check(name);
	if (problem != NULL) {
		imap_reply_no(session, command->tag, "CANNOT", problem);
		return;
	}
	if (ex_imap_mailbox_is_inbox(name)) {
		imap_reply_no(session, command->tag, "ALREADYEXISTS", "INBOX always exists");
		return;
	}
	const ex_imap_arg *params = command->args->next;
	if (params != NULL) {
		/* CREATE-SPECIAL-USE (RFC 6154 3): (USE (\Sent)). */
		const ex_imap_arg *use = params->type == EX_IMAP_ARG_LIST ? params->list : NULL;
		const ex_imap_arg *values = use != NULL ? use->next : NULL;
		if (use == NULL || !ex_imap_arg_atom_equals(use, "USE") || values == NULL || values->type != EX_IMAP_ARG_LIST ||
		    values->list_count > 1) {
			imap_reply_bad(session, command->tag, "CREATE takes (USE (attribute)) as its only parameter");
			return;
		}
		if (values->list_count == 1) {
			if (values->list->type != EX_IMAP_ARG_ATOM || !known_special_use(values->list->str)) {
				imap_reply_no(session, command->tag, "USEATTR", "Unknown special-use attribute");
				return;
			}
			snprintf(special_use, sizeof(special_use), "\\%c%s", values->list->str[1] & ~0x20,
				 values->list->str + 2);
			for (char *p = special_use + 2; *p != '\0'; p++)
				*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
		}
	}
	create_work work = { .tenant_id = session->tenant_id, .user_id = session->user_id, .name = name,
			     .special_use = special_use[0] != '\0' ? special_use : NULL };
	if (imap_transaction(session, create_mailbox, &work) != 0) {
		imap_reply_unavailable(session, command->tag);
		return;
	}
	if (work.exists) {
		imap_reply_no(session, command->tag, "ALREADYEXISTS", "Mailbox already exists");
		return;
	}
	if (work.use_taken) {
		imap_reply_no(session, command->tag, "USEATTR", "Another mailbox already has this special-use attribute");
		return;
	}
	publish_mailbox_changed(session, name, "created");
	imap_reply_ok(session, command->tag, "CREATE completed");
}

void imap_command_delete(imap_session *session, const ex_imap_command *command)
{
	char name[EX_IMAP_MAX_MAILBOX_NAME + 1];
	if (command->arg_count != 1) {
		imap_reply_bad(session, command->tag, "DELETE takes a mailbox name");
		return;
	}
	if (!imap_mailbox_argument(session, command->tag, command->args, name, sizeof(name)))
		return;
	if (strcmp(name, "INBOX") == 0) {
		imap_reply_no(session, command->tag, "CANNOT", "INBOX cannot be deleted");
		return;
	}
	const char *params[] = { session->user_id, name };
	PGresult *result = imap_query(session,
				      "SELECT EXISTS (SELECT 1 FROM mailboxes WHERE user_id = $1 AND name = $2), "
				      "EXISTS (SELECT 1 FROM mailboxes WHERE user_id = $1 AND left(name, length($2) + 1) = $2 || '/')",
				      2, params);
	if (result == NULL) {
		imap_reply_unavailable(session, command->tag);
		return;
	}
	bool exists = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
	bool children = strcmp(PQgetvalue(result, 0, 1), "t") == 0;
	PQclear(result);
	if (!exists) {
		imap_reply_no(session, command->tag, "NONEXISTENT", "No such mailbox");
		return;
	}
	if (children) {
		imap_reply_no(session, command->tag, "INUSE", "Mailbox has children; delete them first");
		return;
	}
	/* The messages go with the mailbox (ON DELETE CASCADE); their objects are queued by the delete trigger. */
	result = imap_query(session, "DELETE FROM mailboxes WHERE user_id = $1 AND name = $2", 2, params);
	if (result == NULL) {
		imap_reply_unavailable(session, command->tag);
		return;
	}
	PQclear(result);
	if (session->view_open && strcmp(session->view.name, name) == 0) {
		imap_view_clear(session);
		session->state = IMAP_STATE_AUTHENTICATED;
	}
	publish_mailbox_changed(session, name, "deleted");
	imap_reply_ok(session, command->tag, "DELETE completed");
}

typedef struct {
	const char *tenant_id;
	const char *user_id;
	const char *from;
	const char *to;
	bool missing;
	bool exists;
} rename_work;

static int rename_mailbox(PGconn *connection, void *context, ex_db_error *error)
{
	rename_work *work = context;
	const char *params[] = { work->user_id, work->from, work->to };
	PGresult *result = ex_db_exec(connection,
				      "SELECT EXISTS (SELECT 1 FROM mailboxes WHERE user_id = $1 AND name = $2), "
				      "EXISTS (SELECT 1 FROM mailboxes WHERE user_id = $1 AND name = $3)",
				      3, params, error);
	if (result == NULL)
		return -1;
	work->missing = strcmp(PQgetvalue(result, 0, 0), "t") != 0;
	work->exists = strcmp(PQgetvalue(result, 0, 1), "t") == 0;
	PQclear(result);
	if (work->missing || work->exists)
		return 0;

	create_work parent = { .tenant_id = work->tenant_id, .user_id = work->user_id, .name = work->to };
	if (strcmp(work->from, "INBOX") == 0) {
		/* RFC 3501 6.3.5: renaming INBOX moves its messages to the new mailbox; INBOX stays, empty. */
		if (create_mailbox(connection, &parent, error) != 0)
			return -1;
		result = ex_db_exec(connection,
				    "UPDATE messages SET mailbox_id = (SELECT id FROM mailboxes WHERE user_id = $1 AND name = $3) "
				    "WHERE mailbox_id = (SELECT id FROM mailboxes WHERE user_id = $1 AND name = $2)",
				    3, params, error);
	} else {
		char to_parent[EX_IMAP_MAX_MAILBOX_NAME + 1];
		snprintf(to_parent, sizeof(to_parent), "%s", work->to);
		char *slash = strrchr(to_parent, EX_IMAP_HIERARCHY_DELIMITER);
		if (slash != NULL) {
			*slash = '\0';
			parent.name = to_parent;
			if (create_mailbox(connection, &parent, error) != 0)
				return -1;
		}
		result = ex_db_exec(connection,
				    "UPDATE mailboxes SET name = $3 || substr(name, length($2) + 1) "
				    "WHERE user_id = $1 AND (name = $2 OR left(name, length($2) + 1) = $2 || '/')",
				    3, params, error);
	}
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

void imap_command_rename(imap_session *session, const ex_imap_command *command)
{
	char from[EX_IMAP_MAX_MAILBOX_NAME + 1];
	char to[EX_IMAP_MAX_MAILBOX_NAME + 1];
	if (command->arg_count != 2) {
		imap_reply_bad(session, command->tag, "RENAME takes two mailbox names");
		return;
	}
	if (!imap_mailbox_argument(session, command->tag, command->args, from, sizeof(from)) ||
	    !imap_mailbox_argument(session, command->tag, command->args->next, to, sizeof(to)))
		return;
	const char *problem = ex_imap_mailbox_name_check(to);
	if (problem != NULL) {
		imap_reply_no(session, command->tag, "CANNOT", problem);
		return;
	}
	size_t from_length = strlen(from);
	if (strcmp(to, "INBOX") == 0 ||
	    (strncmp(to, from, from_length) == 0 && to[from_length] == EX_IMAP_HIERARCHY_DELIMITER)) {
		imap_reply_no(session, command->tag, "CANNOT", "Cannot rename a mailbox to INBOX or below itself");
		return;
	}
	rename_work work = { .tenant_id = session->tenant_id, .user_id = session->user_id, .from = from, .to = to };
	if (imap_transaction(session, rename_mailbox, &work) != 0) {
		imap_reply_unavailable(session, command->tag);
		return;
	}
	if (work.missing) {
		imap_reply_no(session, command->tag, "NONEXISTENT", "No such mailbox");
		return;
	}
	if (work.exists) {
		imap_reply_no(session, command->tag, "ALREADYEXISTS", "The new name already exists");
		return;
	}
	if (session->view_open && strcmp(session->view.name, from) == 0 && strcmp(from, "INBOX") != 0)
		snprintf(session->view.name, sizeof(session->view.name), "%s", to);
	publish_mailbox_changed(session, to, "renamed");
	imap_reply_ok(session, command->tag, "RENAME completed");
}

void imap_command_subscribe(imap_session *session, const ex_imap_command *command, bool subscribe)
{
	char name[EX_IMAP_MAX_MAILBOX_NAME + 1];
	if (command->arg_count != 1) {
		imap_reply_bad(session, command->tag, "SUBSCRIBE and UNSUBSCRIBE take a mailbox name");
		return;
	}
	if (!imap_mailbox_argument(session, command->tag, command->args, name, sizeof(name)))
		return;
	const char *params[] = { session->user_id, name, subscribe ? "t" : "f" };
	PGresult *result = imap_query(session, "UPDATE mailboxes SET subscribed = $3 WHERE user_id = $1 AND name = $2",
				      3, params);
	if (result == NULL) {
		imap_reply_unavailable(session, command->tag);
		return;
	}
	bool found = strcmp(PQcmdTuples(result), "1") == 0;
	PQclear(result);
	if (!found) {
		imap_reply_no(session, command->tag, "NONEXISTENT", "No such mailbox");
		return;
	}
	imap_reply_ok(session, command->tag, subscribe ? "SUBSCRIBE completed" : "UNSUBSCRIBE completed");
}

void imap_command_namespace(imap_session *session, const ex_imap_command *command)
{
	ex_imap_write_text(&session->output, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	imap_reply_ok(session, command->tag, "NAMESPACE completed");
}

/* ---- QUOTA (RFC 9208) ------------------------------------------------------------------ */

/* Writes "* QUOTA "" (STORAGE used limit)" when the user has a quota; returns false on failure. */
static bool write_quota(imap_session *session)
{
	const char *params[] = { session->user_id };
	PGresult *result = imap_query(session,
				      "SELECT u.quota_bytes, COALESCE((SELECT sum(s.bytes) FROM mailbox_stats AS s "
				      "JOIN mailboxes AS m ON m.id = s.mailbox_id WHERE m.user_id = u.id), 0) "
				      "FROM users AS u WHERE u.id = $1",
				      1, params);
	if (result == NULL)
		return false;
	if (PQntuples(result) == 1 && !PQgetisnull(result, 0, 0)) {
		/* RFC 9208 5.1: STORAGE is counted in units of 1024 octets. */
		unsigned long long limit = strtoull(PQgetvalue(result, 0, 0), NULL, 10) / 1024;
		unsigned long long used = (strtoull(PQgetvalue(result, 0, 1), NULL, 10) + 1023) / 1024;
		char line[128];
		snprintf(line, sizeof(line), "* QUOTA \"\" (STORAGE %llu %llu)\r\n", used, limit);
		ex_imap_write_text(&session->output, line);
	}
	PQclear(result);
	return true;
}

void imap_command_getquotaroot(imap_session *session, const ex_imap_command *command)
{
	char name[EX_IMAP_MAX_MAILBOX_NAME + 1];
	char id[IMAP_UUID_TEXT];
	if (command->arg_count != 1) {
		imap_reply_bad(session, command->tag, "GETQUOTAROOT takes a mailbox name");
		return;
	}
	if (!imap_mailbox_argument(session, command->tag, command->args, name, sizeof(name)))
		return;
	int found = imap_mailbox_lookup(session, name, id);
	if (found < 0) {
		imap_reply_unavailable(session, command->tag);
		return;
	}
	if (found == 0) {
		imap_reply_no(session, command->tag, "NONEXISTENT", "No such mailbox");
		return;
	}
	ex_imap_write_text(&session->output, "* QUOTAROOT ");
	ex_imap_write_mailbox(&session->output, name);
	ex_imap_write_text(&session->output, " \"\"\r\n");
	if (!write_quota(session)) {
		imap_reply_unavailable(session, command->tag);
		return;
	}
	imap_reply_ok(session, command->tag, "GETQUOTAROOT completed");
}

void imap_command_getquota(imap_session *session, const ex_imap_command *command)
{
	if (command->arg_count != 1 || !ex_imap_arg_is_astring(command->args)) {
		imap_reply_bad(session, command->tag, "GETQUOTA takes a quota root");
		return;
	}
	if (command->args->length != 0) {
		imap_reply_no(session, command->tag, "NONEXISTENT", "The only quota root is \"\"");
		return;
	}
	if (!write_quota(session)) {
		imap_reply_unavailable(session, command->tag);
		return;
	}
	imap_reply_ok(session, command->tag, "GETQUOTA completed");
}
