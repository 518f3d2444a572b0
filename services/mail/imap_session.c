/*
 * The IMAP session: feeds client bytes to the parser, dispatches each
 * command by state (RFC 3501 section 3), and implements the commands of
 * any state and of the not-authenticated state: CAPABILITY, NOOP,
 * LOGOUT, ID, ENABLE, STARTTLS, LOGIN, AUTHENTICATE and IDLE. Mailbox
 * and message commands live in the other imap_*.c files.
 */
#include "imap_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expresso/log.h"
#include "smtp_sasl.h"

enum {
	/* Failed LOGIN or AUTHENTICATE attempts before the connection is closed. */
	MAX_AUTH_FAILURES = 3,
	/* A SASL message decoded from base64: an OAUTHBEARER token fits. */
	MAX_SASL_MESSAGE = EX_IMAP_DEFAULT_MAX_AUTH_LINE_SIZE,
	/* NOTE: 0 means the output buffer has no maximum, so a FETCH of many large bodies is held in memory
	 * whole before the server sends it. */
	OUTPUT_MAX = 0,
	ID_MAX_FIELDS = 30,
};

/* ---- responses ------------------------------------------------------------------ */

void imap_reply(imap_session *session, const char *tag, const char *status, const char *code, const char *text)
{
	ex_imap_write_status(&session->output, tag, status, code, text);
}

void imap_reply_ok(imap_session *session, const char *tag, const char *text)
{
	imap_reply(session, tag, "OK", NULL, text);
}

void imap_reply_bad(imap_session *session, const char *tag, const char *text)
{
	imap_reply(session, tag, "BAD", NULL, text);
}

void imap_reply_no(imap_session *session, const char *tag, const char *code, const char *text)
{
	imap_reply(session, tag, "NO", code, text);
}

void imap_reply_unavailable(imap_session *session, const char *tag)
{
	imap_reply_no(session, tag, "UNAVAILABLE", "The message store is unavailable; try again later");
}

static bool plaintext_login_allowed(const imap_session *session)
{
	return session->tls || session->options.allow_plaintext_login;
}

void imap_write_capabilities(imap_session *session)
{
	ex_imap_writer *out = &session->output;
	ex_imap_write_text(out, "IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE");
	/* RFC 9051: a client opts in to IMAP4rev2 with ENABLE; until then the session behaves as IMAP4rev1. */
	ex_imap_write_text(out, " IMAP4rev2");
	if (session->state == IMAP_STATE_NOT_AUTHENTICATED) {
		if (!session->tls && session->options.tls_available)
			ex_imap_write_text(out, " STARTTLS");
		if (!plaintext_login_allowed(session)) {
			ex_imap_write_text(out, " LOGINDISABLED");
		} else {
			ex_imap_write_text(out, " AUTH=PLAIN");
			if (session->options.auth->authenticate_token != NULL)
				ex_imap_write_text(out, " AUTH=OAUTHBEARER AUTH=XOAUTH2");
		}
		return;
	}
	ex_imap_write_text(out, " NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED "
				"LIST-STATUS STATUS=SIZE CONDSTORE QRESYNC ESEARCH SEARCHRES SORT UTF8=ACCEPT QUOTA "
				"QUOTA=RES-STORAGE APPENDLIMIT=");
	ex_imap_write_number(out, session->options.max_append_size);
	ex_imap_write_text(out, " THREAD=ORDEREDSUBJECT THREAD=REFERENCES");
	ex_imap_write_text(out, " MULTIAPPEND");
	ex_imap_write_text(out, " COMPRESS=DEFLATE");
}

/* ---- helpers ---------------------------------------------------------------------- */

void imap_format_number(char *out, size_t size, uint64_t number)
{
	snprintf(out, size, "%llu", (unsigned long long)number);
}

typedef struct {
	const char *sql;
	int param_count;
	const char *const *params;
	PGresult *result;
} single_query;

static int run_single(PGconn *connection, void *context, ex_db_error *error)
{
	single_query *query = context;
	if (query->result != NULL)
		PQclear(query->result);
	query->result = ex_db_exec(connection, query->sql, query->param_count, query->params, error);
	return query->result == NULL ? -1 : 0;
}

PGresult *imap_query(imap_session *session, const char *sql, int param_count, const char *const *params)
{
	single_query query = { .sql = sql, .param_count = param_count, .params = params };
	if (imap_transaction(session, run_single, &query) != 0) {
		if (query.result != NULL)
			PQclear(query.result);
		return NULL;
	}
	return query.result;
}

int imap_transaction(imap_session *session, ex_db_work work, void *context)
{
	ex_db_error error = { 0 };
	if (session->options.database == NULL)
		return -1;
	if (ex_db_tenant_transaction(session->options.database, session->tenant_id, EX_DB_READ_COMMITTED, work, context,
				     &error) != 0) {
		ex_log(EX_LOG_ERROR, "imap_database_failed", "{s:s, s:s, s:s, s:s}", "session", session->options.session_id,
		       "user", session->user_id, "sqlstate", error.sqlstate, "error", error.message);
		return -1;
	}
	return 0;
}

void imap_publish(imap_session *session, const char *event_name, void *event)
{
	json_t *object = event;
	char err[256] = "";
	if (object == NULL)
		return;
	if (session->options.bus != NULL &&
	    ex_bus_publish(session->options.bus, session->tenant_id, "mail", event_name, object, err, sizeof(err)) != 0)
		ex_log(EX_LOG_WARN, "event_publish_failed", "{s:s, s:s, s:s}", "event", event_name, "tenant",
		       session->tenant_id, "error", err);
	json_decref(object);
}

bool imap_mailbox_argument(imap_session *session, const char *tag, const ex_imap_arg *arg, char *out, size_t size)
{
	char message[256];
	if (arg == NULL || !ex_imap_arg_is_astring(arg)) {
		imap_reply_bad(session, tag, "Missing mailbox name");
		return false;
	}
	const char *problem = ex_imap_mailbox_from_wire(arg->str, arg->length, session->utf8_accept, out, size);
	if (problem != NULL) {
		snprintf(message, sizeof(message), "Invalid mailbox name: %s", problem);
		imap_reply_bad(session, tag, message);
		return false;
	}
	return true;
}

/* ---- session life ------------------------------------------------------------------ */

ex_imap_session *ex_imap_session_new(const ex_imap_session_options *options)
{
	imap_session *session = calloc(1, sizeof(*session));
	if (session == NULL)
		return NULL;
	session->options = *options;
	ex_imap_parser_limits limits;
	ex_imap_parser_limits_default(&limits);
	limits.max_literal_size = options->max_append_size;
	session->parser = ex_imap_parser_new(&limits);
	if (session->parser == NULL) {
		free(session);
		return NULL;
	}
	ex_imap_writer_init(&session->output, OUTPUT_MAX, false);
	session->tls = options->implicit_tls;
	return session;
}

void ex_imap_session_free(ex_imap_session *session)
{
	if (session == NULL)
		return;
	imap_view_clear(session);
	free(session->saved_uids);
	ex_imap_parser_free(session->parser);
	ex_imap_writer_free(&session->output);
	free(session);
}

void ex_imap_session_greet(ex_imap_session *session)
{
	ex_imap_write_text(&session->output, "* OK [CAPABILITY ");
	imap_write_capabilities(session);
	ex_imap_write_text(&session->output, "] Expresso IMAP ready\r\n");
}

void ex_imap_session_tls_started(ex_imap_session *session)
{
	session->tls = true;
}

bool ex_imap_session_idling(const ex_imap_session *session)
{
	return session->wait == IMAP_WAIT_IDLE;
}

const char *ex_imap_session_mailbox_id(const ex_imap_session *session)
{
	return session->view_open ? session->view.id : NULL;
}

bool ex_imap_session_authenticated(const ex_imap_session *session)
{
	return session->state == IMAP_STATE_AUTHENTICATED || session->state == IMAP_STATE_SELECTED;
}

void ex_imap_session_poll_changes(ex_imap_session *session)
{
	if (session->view_open)
		imap_view_update(session, true);
}

void ex_imap_session_keepalive(ex_imap_session *session)
{
	imap_reply(session, NULL, "OK", NULL, "Still here");
}

void ex_imap_session_bye(ex_imap_session *session, const char *text)
{
	imap_reply(session, NULL, "BYE", NULL, text);
	session->state = IMAP_STATE_LOGOUT;
}

const char *ex_imap_session_output(const ex_imap_session *session, size_t *length)
{
	*length = session->output.length;
	return session->output.data;
}

void ex_imap_session_clear_output(ex_imap_session *session)
{
	ex_imap_writer_reset(&session->output);
}

/* ---- authentication ------------------------------------------------------------------ */

static void login_succeeded(imap_session *session, const char *tag, const ex_smtp_identity *identity)
{
	snprintf(session->tenant_id, sizeof(session->tenant_id), "%s", identity->tenant_id);
	snprintf(session->user_id, sizeof(session->user_id), "%s", identity->user_id);
	snprintf(session->email, sizeof(session->email), "%s", identity->email);
	session->state = IMAP_STATE_AUTHENTICATED;
	ex_log(EX_LOG_INFO, "imap_login", "{s:s, s:s, s:s}", "session", session->options.session_id, "user",
	       session->user_id, "address", session->options.client_address);
	/* RFC 3501 6.2.3: the capabilities change after login, so they go with the OK. */
	ex_imap_write_text(&session->output, tag);
	ex_imap_write_text(&session->output, " OK [CAPABILITY ");
	imap_write_capabilities(session);
	ex_imap_write_text(&session->output, "] Logged in\r\n");
}

/* Replies to a finished authentication attempt; returns CLOSE after too many failures. */
static ex_imap_next finish_auth(imap_session *session, const char *tag, ex_smtp_auth_status status,
				const ex_smtp_identity *identity)
{
	switch (status) {
	case EX_SMTP_AUTH_ACCEPTED:
		login_succeeded(session, tag, identity);
		return EX_IMAP_NEXT_READ;
	case EX_SMTP_AUTH_RATE_LIMITED:
		imap_reply_no(session, tag, "UNAVAILABLE", "Too many failed logins; try again later");
		break;
	case EX_SMTP_AUTH_TEMPORARY_FAILURE:
		imap_reply_unavailable(session, tag);
		return EX_IMAP_NEXT_READ;
	default:
		imap_reply_no(session, tag, "AUTHENTICATIONFAILED", "Invalid login or app password");
		break;
	}
	if (++session->auth_failures >= MAX_AUTH_FAILURES) {
		ex_imap_session_bye(session, "Too many failed logins");
		return EX_IMAP_NEXT_CLOSE;
	}
	return EX_IMAP_NEXT_READ;
}

static ex_imap_next command_login(imap_session *session, const ex_imap_command *command)
{
	const ex_imap_arg *user = command->args;
	const ex_imap_arg *password = user != NULL ? user->next : NULL;
	if (command->arg_count != 2 || user == NULL || password == NULL || !ex_imap_arg_is_astring(user) ||
	    !ex_imap_arg_is_astring(password)) {
		imap_reply_bad(session, command->tag, "LOGIN takes a user name and a password");
		return EX_IMAP_NEXT_READ;
	}
	if (!plaintext_login_allowed(session)) {
		imap_reply_no(session, command->tag, "PRIVACYREQUIRED", "Run STARTTLS first");
		return EX_IMAP_NEXT_READ;
	}
	if (strlen(user->str) != user->length || strlen(password->str) != password->length) {
		imap_reply_bad(session, command->tag, "A NUL octet is not allowed in a login");
		return EX_IMAP_NEXT_READ;
	}
	ex_smtp_identity identity;
	ex_smtp_auth_status status = session->options.auth->authenticate(
		session->options.auth->context, user->str, password->str, session->options.client_address, &identity);
	return finish_auth(session, command->tag, status, &identity);
}

/* Checks a decoded SASL message of the pending mechanism. */
static ex_imap_next check_sasl(imap_session *session, const char *tag, const char *encoded, size_t encoded_length)
{
	char message[MAX_SASL_MESSAGE + 1];
	size_t length = 0;
	ex_smtp_identity identity;
	ex_smtp_auth_status status;

	if (encoded_length == 1 && encoded[0] == '=') {
		message[0] = '\0';
	} else if (ex_sasl_base64_decode(encoded, encoded_length, message, sizeof(message), &length) != 0) {
		imap_reply_bad(session, tag, "Invalid base64 in the SASL response");
		return EX_IMAP_NEXT_READ;
	}

	if (strcmp(session->pending_mechanism, "PLAIN") == 0) {
		const char *login = NULL;
		const char *password = NULL;
		if (ex_sasl_plain_split(message, length, &login, &password) != 0) {
			imap_reply_bad(session, tag, "Invalid PLAIN message: expected authzid NUL login NUL password");
			return EX_IMAP_NEXT_READ;
		}
		status = session->options.auth->authenticate(session->options.auth->context, login, password,
							     session->options.client_address, &identity);
	} else {
		const char *authzid = NULL;
		const char *token = NULL;
		bool xoauth2 = strcmp(session->pending_mechanism, "XOAUTH2") == 0;
		if (ex_sasl_oauth_parse(message, length, xoauth2, &authzid, &token) != 0) {
			imap_reply_bad(session, tag, "Invalid OAUTHBEARER or XOAUTH2 message");
			return EX_IMAP_NEXT_READ;
		}
		status = session->options.auth->authenticate_token(session->options.auth->context, authzid, token,
								   session->options.client_address, &identity);
	}
	explicit_bzero(message, sizeof(message));
	return finish_auth(session, tag, status, &identity);
}

static ex_imap_next command_authenticate(imap_session *session, const ex_imap_command *command)
{
	const ex_imap_arg *mechanism = command->args;
	if (mechanism == NULL || mechanism->type != EX_IMAP_ARG_ATOM || command->arg_count > 2) {
		imap_reply_bad(session, command->tag, "AUTHENTICATE takes a mechanism and an optional initial response");
		return EX_IMAP_NEXT_READ;
	}
	if (!plaintext_login_allowed(session)) {
		imap_reply_no(session, command->tag, "PRIVACYREQUIRED", "Run STARTTLS first");
		return EX_IMAP_NEXT_READ;
	}
	bool plain = strcasecmp(mechanism->str, "PLAIN") == 0;
	bool oauth = strcasecmp(mechanism->str, "OAUTHBEARER") == 0 || strcasecmp(mechanism->str, "XOAUTH2") == 0;
	if (!plain && !(oauth && session->options.auth->authenticate_token != NULL)) {
		imap_reply_no(session, command->tag, "CANNOT", "Unsupported mechanism; use PLAIN, OAUTHBEARER or XOAUTH2");
		return EX_IMAP_NEXT_READ;
	}
	snprintf(session->pending_mechanism, sizeof(session->pending_mechanism), "%s", mechanism->str);
	for (char *p = session->pending_mechanism; *p != '\0'; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);

	const ex_imap_arg *initial = mechanism->next;
	if (initial != NULL) {
		/* SASL-IR (RFC 4959). */
		if (!ex_imap_arg_is_astring(initial)) {
			imap_reply_bad(session, command->tag, "Invalid initial response");
			return EX_IMAP_NEXT_READ;
		}
		return check_sasl(session, command->tag, initial->str, initial->length);
	}
	snprintf(session->pending_tag, sizeof(session->pending_tag), "%s", command->tag);
	session->wait = IMAP_WAIT_AUTHENTICATE;
	ex_imap_parser_expect_raw_line(session->parser);
	ex_imap_write_text(&session->output, "+ \r\n");
	return EX_IMAP_NEXT_READ;
}

static ex_imap_next authenticate_response(imap_session *session, const char *line, size_t length)
{
	session->wait = IMAP_WAIT_NONE;
	if (length == 1 && line[0] == '*') {
		imap_reply_bad(session, session->pending_tag, "Authentication cancelled");
		return EX_IMAP_NEXT_READ;
	}
	return check_sasl(session, session->pending_tag, line, length);
}

/* ---- commands of any state ---------------------------------------------------------- */

static void command_id(imap_session *session, const ex_imap_command *command)
{
	const ex_imap_arg *fields = command->args;
	if (command->arg_count != 1 || (fields->type != EX_IMAP_ARG_NIL && fields->type != EX_IMAP_ARG_LIST) ||
	    (fields->type == EX_IMAP_ARG_LIST && (fields->list_count % 2 != 0 || fields->list_count > ID_MAX_FIELDS * 2))) {
		imap_reply_bad(session, command->tag, "ID takes NIL or a list of at most 30 field and value pairs");
		return;
	}
	ex_imap_write_text(&session->output, "* ID (\"name\" \"Expresso\" \"vendor\" \"Expresso\")\r\n");
	imap_reply_ok(session, command->tag, "ID completed");
}

static void command_enable(imap_session *session, const ex_imap_command *command)
{
	if (command->arg_count == 0) {
		imap_reply_bad(session, command->tag, "ENABLE takes at least one capability");
		return;
	}
	/* RFC 5161: exactly one ENABLED response, listing what this command newly enabled. */
	ex_imap_write_text(&session->output, "* ENABLED");
	for (const ex_imap_arg *arg = command->args; arg != NULL; arg = arg->next) {
		if (arg->type != EX_IMAP_ARG_ATOM)
			continue;
		if (strcasecmp(arg->str, "CONDSTORE") == 0 && !session->condstore) {
			session->condstore = true;
			ex_imap_write_text(&session->output, " CONDSTORE");
		} else if (strcasecmp(arg->str, "QRESYNC") == 0 && !session->qresync) {
			/* QRESYNC implies CONDSTORE (RFC 7162 3.2.3). */
			session->qresync = true;
			session->condstore = true;
			ex_imap_write_text(&session->output, " QRESYNC");
		} else if (strcasecmp(arg->str, "IMAP4rev2") == 0 && !session->imap4rev2) {
			session->imap4rev2 = true;
			ex_imap_write_text(&session->output, " IMAP4rev2");
		} else if (strcasecmp(arg->str, "UTF8=ACCEPT") == 0 && !session->utf8_accept) {
			session->utf8_accept = true;
			session->output.utf8 = true;
			ex_imap_write_text(&session->output, " UTF8=ACCEPT");
		}
	}
	ex_imap_write_text(&session->output, "\r\n");
	imap_reply_ok(session, command->tag, "ENABLE completed");
}

static void command_idle(imap_session *session, const ex_imap_command *command)
{
	snprintf(session->pending_tag, sizeof(session->pending_tag), "%s", command->tag);
	session->wait = IMAP_WAIT_IDLE;
	ex_imap_parser_expect_raw_line(session->parser);
	ex_imap_write_text(&session->output, "+ idling\r\n");
	if (session->view_open)
		imap_view_update(session, true);
}

static void idle_response(imap_session *session, const char *line, size_t length)
{
	session->wait = IMAP_WAIT_NONE;
	if (length == 4 && strncasecmp(line, "DONE", 4) == 0) {
		if (session->view_open)
			imap_view_update(session, true);
		imap_reply_ok(session, session->pending_tag, "IDLE terminated");
	} else {
		imap_reply_bad(session, session->pending_tag, "Expected DONE to end IDLE");
	}
}

/* ---- dispatch ------------------------------------------------------------------------- */

static ex_imap_next dispatch_any(imap_session *session, const ex_imap_command *command, bool *handled)
{
	const char *name = command->name;
	*handled = true;
	if (strcmp(name, "CAPABILITY") == 0) {
		ex_imap_write_text(&session->output, "* CAPABILITY ");
		imap_write_capabilities(session);
		ex_imap_write_text(&session->output, "\r\n");
		imap_reply_ok(session, command->tag, "CAPABILITY completed");
	} else if (strcmp(name, "NOOP") == 0) {
		if (session->view_open)
			imap_view_update(session, true);
		imap_reply_ok(session, command->tag, "NOOP completed");
	} else if (strcmp(name, "LOGOUT") == 0) {
		ex_imap_session_bye(session, "Logging out");
		imap_reply_ok(session, command->tag, "LOGOUT completed");
		return EX_IMAP_NEXT_CLOSE;
	} else if (strcmp(name, "ID") == 0) {
		command_id(session, command);
	} else {
		*handled = false;
	}
	return EX_IMAP_NEXT_READ;
}

static ex_imap_next dispatch_not_authenticated(imap_session *session, const ex_imap_command *command)
{
	const char *name = command->name;
	if (strcmp(name, "STARTTLS") == 0) {
		if (session->tls || !session->options.tls_available) {
			imap_reply_bad(session, command->tag, session->tls ? "TLS is already active" : "STARTTLS is not offered");
			return EX_IMAP_NEXT_READ;
		}
		imap_reply_ok(session, command->tag, "Begin TLS negotiation now");
		return EX_IMAP_NEXT_START_TLS;
	}
	if (strcmp(name, "LOGIN") == 0)
		return command_login(session, command);
	if (strcmp(name, "AUTHENTICATE") == 0)
		return command_authenticate(session, command);
	imap_reply_bad(session, command->tag, "Log in first with LOGIN or AUTHENTICATE");
	return EX_IMAP_NEXT_READ;
}

/* Commands that carry a message set and exist with a UID prefix. */
static bool dispatch_message_command(imap_session *session, const ex_imap_command *command, const char *name,
				     const ex_imap_arg *args, bool uid_mode)
{
	if (strcmp(name, "FETCH") == 0)
		imap_command_fetch(session, command, args, uid_mode);
	else if (strcmp(name, "STORE") == 0)
		imap_command_store(session, command, args, uid_mode);
	else if (strcmp(name, "COPY") == 0)
		imap_command_copy(session, command, args, uid_mode, false);
	else if (strcmp(name, "MOVE") == 0)
		imap_command_copy(session, command, args, uid_mode, true);
	else if (strcmp(name, "SEARCH") == 0)
		imap_command_search(session, command, args, uid_mode);
	else if (strcmp(name, "SORT") == 0)
		imap_command_sort(session, command, args, uid_mode);
	else if (strcmp(name, "THREAD") == 0)
		imap_command_thread(session, command, args, uid_mode);
	else if (uid_mode && strcmp(name, "EXPUNGE") == 0)
		imap_command_expunge(session, command, args);
	else
		return false;
	return true;
}

static void dispatch_selected(imap_session *session, const ex_imap_command *command)
{
	const char *name = command->name;
	if (strcmp(name, "CLOSE") == 0) {
		imap_command_close(session, command, true);
	} else if (strcmp(name, "UNSELECT") == 0) {
		imap_command_close(session, command, false);
	} else if (strcmp(name, "EXPUNGE") == 0) {
		imap_command_expunge(session, command, NULL);
	} else if (strcmp(name, "CHECK") == 0) {
		imap_view_update(session, true);
		imap_reply_ok(session, command->tag, "CHECK completed");
	} else if (strcmp(name, "UID") == 0) {
		const ex_imap_arg *sub = command->args;
		char upper[16] = "";
		if (sub != NULL && sub->type == EX_IMAP_ARG_ATOM && sub->length < sizeof(upper)) {
			for (size_t i = 0; i < sub->length; i++)
				upper[i] = (char)(sub->str[i] >= 'a' && sub->str[i] <= 'z' ? sub->str[i] - 'a' + 'A' : sub->str[i]);
		}
		if (!dispatch_message_command(session, command, upper, sub != NULL ? sub->next : NULL, true))
			imap_reply_bad(session, command->tag, "UID takes FETCH, STORE, COPY, MOVE, SEARCH, SORT, THREAD or EXPUNGE");
	} else if (!dispatch_message_command(session, command, name, command->args, false)) {
		imap_reply_bad(session, command->tag, "Unknown command");
	}
}

static bool selected_only(const char *name)
{
	static const char *const names[] = { "UID",	"FETCH", "STORE", "SEARCH",   "SORT",  "THREAD",
					     "COPY",	"MOVE",	 "EXPUNGE", "CLOSE", "UNSELECT", "CHECK" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

static bool authenticated_command(const char *name)
{
	static const char *const names[] = { "SELECT",	  "EXAMINE",	 "LIST",   "LSUB",	   "CREATE",
					     "DELETE",	  "RENAME",	 "SUBSCRIBE", "UNSUBSCRIBE", "STATUS",
					     "APPEND",	  "GETQUOTAROOT", "GETQUOTA" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return selected_only(name);
}

static void dispatch_authenticated(imap_session *session, const ex_imap_command *command)
{
	const char *name = command->name;

	if (strcmp(name, "ENABLE") == 0) {
		command_enable(session, command);
		return;
	}
	if (strcmp(name, "IDLE") == 0) {
		command_idle(session, command);
		return;
	}
	if (strcmp(name, "NAMESPACE") == 0) {
		imap_command_namespace(session, command);
		return;
	}
	if (!authenticated_command(name)) {
		imap_reply_bad(session, command->tag, "Unknown command");
		return;
	}
	if (session->state != IMAP_STATE_SELECTED && selected_only(name)) {
		imap_reply_bad(session, command->tag, "Select a mailbox first");
		return;
	}
	/* Every other command reads mailboxes, so the standard ones must exist first. */
	if (!session->mailboxes_checked && imap_ensure_standard_mailboxes(session) != 0) {
		imap_reply_unavailable(session, command->tag);
		return;
	}
	if (strcmp(name, "SELECT") == 0)
		imap_command_select(session, command, false);
	else if (strcmp(name, "EXAMINE") == 0)
		imap_command_select(session, command, true);
	else if (strcmp(name, "LIST") == 0)
		imap_command_list(session, command, false);
	else if (strcmp(name, "LSUB") == 0)
		imap_command_list(session, command, true);
	else if (strcmp(name, "CREATE") == 0)
		imap_command_create(session, command);
	else if (strcmp(name, "DELETE") == 0)
		imap_command_delete(session, command);
	else if (strcmp(name, "RENAME") == 0)
		imap_command_rename(session, command);
	else if (strcmp(name, "SUBSCRIBE") == 0)
		imap_command_subscribe(session, command, true);
	else if (strcmp(name, "UNSUBSCRIBE") == 0)
		imap_command_subscribe(session, command, false);
	else if (strcmp(name, "STATUS") == 0)
		imap_command_status(session, command);
	else if (strcmp(name, "APPEND") == 0)
		imap_command_append(session, command);
	else if (strcmp(name, "GETQUOTAROOT") == 0)
		imap_command_getquotaroot(session, command);
	else if (strcmp(name, "GETQUOTA") == 0)
		imap_command_getquota(session, command);
	else
		dispatch_selected(session, command);
}

static ex_imap_next dispatch(imap_session *session, const ex_imap_command *command)
{
	bool handled = false;
	ex_imap_next next = dispatch_any(session, command, &handled);
	if (handled)
		return next;
	if (session->state == IMAP_STATE_NOT_AUTHENTICATED)
		return dispatch_not_authenticated(session, command);
	if (strcmp(command->name, "STARTTLS") == 0 || strcmp(command->name, "LOGIN") == 0 ||
	    strcmp(command->name, "AUTHENTICATE") == 0) {
		imap_reply_bad(session, command->tag, "Already logged in");
		return EX_IMAP_NEXT_READ;
	}
	if (strcmp(command->name, "COMPRESS") == 0)
		return imap_command_compress(session, command);
	dispatch_authenticated(session, command);
	return EX_IMAP_NEXT_READ;
}

static ex_imap_next parse_error(imap_session *session)
{
	const ex_imap_parse_error *error = ex_imap_parser_error(session->parser);
	imap_reply(session, error->tag, error->status != NULL ? error->status : "BAD", error->code,
		   error->text != NULL ? error->text : "Invalid command");
	if (error->fatal) {
		ex_imap_session_bye(session, "Closing the connection after a protocol error");
		return EX_IMAP_NEXT_CLOSE;
	}
	return EX_IMAP_NEXT_READ;
}

ex_imap_next ex_imap_session_feed(ex_imap_session *session, const char *data, size_t length, size_t *consumed)
{
	*consumed = 0;
	while (*consumed < length) {
		if (session->state == IMAP_STATE_LOGOUT)
			return EX_IMAP_NEXT_CLOSE;
		size_t used = 0;
		ex_imap_parse_result result = ex_imap_parser_feed(session->parser, data + *consumed, length - *consumed, &used);
		*consumed += used;

		ex_imap_next next = EX_IMAP_NEXT_READ;
		if (result == EX_IMAP_PARSE_LITERAL) {
			ex_imap_write_text(&session->output, EX_IMAP_LITERAL_CONTINUATION);
		} else if (result == EX_IMAP_PARSE_ERROR) {
			next = parse_error(session);
		} else if (result == EX_IMAP_PARSE_DONE && session->wait != IMAP_WAIT_NONE) {
			size_t line_length = 0;
			const char *line = ex_imap_parser_raw_line(session->parser, &line_length);
			if (session->wait == IMAP_WAIT_IDLE)
				idle_response(session, line, line_length);
			else
				next = authenticate_response(session, line, line_length);
			ex_imap_parser_release(session->parser);
		} else if (result == EX_IMAP_PARSE_DONE) {
			next = dispatch(session, ex_imap_parser_command(session->parser));
			ex_imap_parser_release(session->parser);
		}
		if (next != EX_IMAP_NEXT_READ)
			return next;
		if (result == EX_IMAP_PARSE_NEED_MORE)
			break;
	}
	return session->state == IMAP_STATE_LOGOUT ? EX_IMAP_NEXT_CLOSE : EX_IMAP_NEXT_READ;
}
