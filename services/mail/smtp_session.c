/*
 * SMTP session: the command table, each command's check and proceed, and
 * the replies. Reply codes and enhanced status codes follow RFC 5321 4.2
 * and RFC 3463, and each reply text names the client's next step.
 */
#include "smtp_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "smtp_sasl.h"

enum {
	OUTPUT_CAPACITY = 16 * 1024,
	SASL_BUFFER = EX_SMTP_MAX_AUTH_LINE,
	QUEUE_ID_SIZE = 64,
};

typedef enum {
	SASL_NONE,
	SASL_PLAIN,          /* waiting for the PLAIN response */
	SASL_LOGIN_USERNAME, /* waiting for the LOGIN user name */
	SASL_LOGIN_PASSWORD, /* waiting for the LOGIN password */
	SASL_OAUTHBEARER,    /* waiting for the OAUTHBEARER response */
	SASL_XOAUTH2,        /* waiting for the XOAUTH2 response */
	SASL_OAUTH_FAILED,   /* error challenge sent; the client's dummy response ends the exchange */
} sasl_step;

struct ex_smtp_session {
	ex_smtp_session_options options;
	ex_smtp_state state;
	bool tls;
	bool esmtp;
	bool authenticated;
	ex_smtp_identity identity;
	char helo[EX_SMTP_MAX_HELO + 1];
	unsigned errors;
	uint64_t rate_window_start_ms; /* monotonic time the current one-minute command window began */
	unsigned rate_commands;        /* command lines read in that window */

	/* The mail transaction. */
	ex_smtp_path reverse_path;
	ex_smtp_mail_parameters mail_parameters;
	ex_smtp_recipient *recipients;
	size_t recipient_count;
	ex_smtp_data_decoder data;

	/* BDAT (RFC 3030) */
	bool bdat_used;            /* this transaction sends its content with BDAT */
	uint64_t chunk_remaining;  /* octets of the current chunk still to read */
	bool chunk_last;
	char chunk_error[256];     /* reply for a refused chunk, sent once its octets are read */
	ex_smtp_state state_before_chunk;

	sasl_step sasl;
	char sasl_username[EX_SMTP_MAX_PATH + 1];

	char output[OUTPUT_CAPACITY];
	size_t output_length;
};

/* A command's preconditions: returns true to proceed, or queues one reply and returns false. */
typedef bool (*command_check)(ex_smtp_session *session, const char *arguments);
typedef ex_smtp_next (*command_proceed)(ex_smtp_session *session, const char *arguments);

typedef struct {
	const char *verb;
	command_check check;
	command_proceed proceed;
} command;

static void reply(ex_smtp_session *session, const char *format, ...) __attribute__((format(printf, 2, 3)));
static ex_smtp_next after_reply(ex_smtp_session *session, ex_smtp_next next);
static ex_smtp_next finish_message(ex_smtp_session *session);

static void reply(ex_smtp_session *session, const char *format, ...)
{
	size_t room = sizeof(session->output) - session->output_length;
	va_list arguments;

	if (room < 3)
		return;
	va_start(arguments, format);
	int written = vsnprintf(session->output + session->output_length, room - 2, format, arguments);
	va_end(arguments);
	if (written < 0)
		return;
	size_t length = (size_t)written < room - 2 ? (size_t)written : room - 3;
	session->output_length += length;
	memcpy(session->output + session->output_length, "\r\n", 2);
	session->output_length += 2;

	/* A 4xx or 5xx reply counts as an error of the client's. */
	if (format[0] == '4' || format[0] == '5')
		session->errors++;
}

static void reset_transaction(ex_smtp_session *session)
{
	session->reverse_path = (ex_smtp_path){ 0 };
	session->mail_parameters = (ex_smtp_mail_parameters){ 0 };
	session->recipient_count = 0;
	session->bdat_used = false;
	ex_smtp_data_reset(&session->data);
	if (session->state == EX_SMTP_STATE_MAIL || session->state == EX_SMTP_STATE_RCPT ||
	    session->state == EX_SMTP_STATE_DATA || session->state == EX_SMTP_STATE_BDAT)
		session->state = EX_SMTP_STATE_READY;
}

ex_smtp_session *ex_smtp_session_new(const ex_smtp_session_options *options)
{
	ex_smtp_session *session = calloc(1, sizeof(*session));
	if (session == NULL)
		return NULL;
	session->options = *options;
	session->recipients = calloc(options->limits.max_recipients == 0 ? 1 : options->limits.max_recipients,
				     sizeof(*session->recipients));
	if (session->recipients == NULL) {
		free(session);
		return NULL;
	}
	ex_smtp_data_init(&session->data, options->limits.max_message_bytes);
	session->state = EX_SMTP_STATE_GREETED;
	session->tls = options->implicit_tls;
	return session;
}

void ex_smtp_session_free(ex_smtp_session *session)
{
	if (session == NULL)
		return;
	ex_smtp_data_free(&session->data);
	free(session->recipients);
	/* The session held a SASL user name; the password never stays here. */
	memset(session, 0, sizeof(*session));
	free(session);
}

void ex_smtp_session_greet(ex_smtp_session *session)
{
	reply(session, "220 %s ESMTP expresso-mail", session->options.hostname);
}

/* ---- checks ---------------------------------------------------------------- */

static bool check_no_arguments(ex_smtp_session *session, const char *arguments)
{
	if (arguments[0] != '\0') {
		reply(session, "501 5.5.4 This command takes no arguments");
		return false;
	}
	return true;
}

static bool check_helo(ex_smtp_session *session, const char *arguments)
{
	if (arguments[0] == '\0') {
		reply(session, "501 5.5.4 EHLO and HELO need the client's domain or address literal");
		return false;
	}
	if (strlen(arguments) > EX_SMTP_MAX_HELO) {
		reply(session, "501 5.5.4 The domain after EHLO is longer than %d octets", EX_SMTP_MAX_HELO);
		return false;
	}
	return true;
}

/* Requires STARTTLS and AUTH before mail on the submission port. */
static bool check_submission_ready(ex_smtp_session *session)
{
	if (session->options.listener != EX_SMTP_LISTENER_SUBMISSION)
		return true;
	if (!session->tls) {
		reply(session, "530 5.7.0 Must issue a STARTTLS command first");
		return false;
	}
	if (!session->authenticated) {
		reply(session, "530 5.7.0 Authentication required: use AUTH before MAIL");
		return false;
	}
	return true;
}

static bool check_mail(ex_smtp_session *session, const char *arguments)
{
	(void)arguments;
	if (session->state == EX_SMTP_STATE_GREETED) {
		reply(session, "503 5.5.1 Send EHLO or HELO first");
		return false;
	}
	if (session->state == EX_SMTP_STATE_MAIL || session->state == EX_SMTP_STATE_RCPT) {
		reply(session, "503 5.5.1 A mail transaction is already open; send RSET to start another");
		return false;
	}
	return check_submission_ready(session);
}

static bool check_rcpt(ex_smtp_session *session, const char *arguments)
{
	(void)arguments;
	if (session->state != EX_SMTP_STATE_MAIL && session->state != EX_SMTP_STATE_RCPT) {
		reply(session, "503 5.5.1 Send MAIL before RCPT");
		return false;
	}
	if (session->bdat_used) {
		reply(session, "503 5.5.1 RCPT is not allowed after BDAT in the same transaction");
		return false;
	}
	if (session->recipient_count >= session->options.limits.max_recipients) {
		reply(session, "452 4.5.3 Too many recipients: at most %u per message; send the rest in another "
		      "message", session->options.limits.max_recipients);
		return false;
	}
	return true;
}

static bool check_data(ex_smtp_session *session, const char *arguments)
{
	if (session->state == EX_SMTP_STATE_MAIL) {
		reply(session, "554 5.5.1 No valid recipients");
		return false;
	}
	if (session->state != EX_SMTP_STATE_RCPT) {
		reply(session, "503 5.5.1 Send MAIL and RCPT before DATA");
		return false;
	}
	if (session->bdat_used) {
		reply(session, "503 5.5.1 DATA is not allowed after BDAT in the same transaction");
		return false;
	}
	if (session->mail_parameters.body == EX_SMTP_BODY_BINARYMIME) {
		reply(session, "503 5.5.1 BODY=BINARYMIME content must be sent with BDAT");
		return false;
	}
	return check_no_arguments(session, arguments);
}

static bool check_starttls(ex_smtp_session *session, const char *arguments)
{
	if (session->tls) {
		reply(session, "503 5.5.1 TLS is already active");
		return false;
	}
	if (!session->options.tls_available) {
		reply(session, "454 4.7.0 TLS is not available: the server has no certificate");
		return false;
	}
	if (session->state != EX_SMTP_STATE_READY && session->state != EX_SMTP_STATE_GREETED) {
		reply(session, "503 5.5.1 STARTTLS is not allowed inside a mail transaction; send RSET first");
		return false;
	}
	return check_no_arguments(session, arguments);
}

static bool check_auth(ex_smtp_session *session, const char *arguments)
{
	if (session->options.listener != EX_SMTP_LISTENER_SUBMISSION) {
		reply(session, "503 5.5.1 AUTH is not offered on this port; submit mail on the submission port");
		return false;
	}
	if (!session->tls) {
		reply(session, "538 5.7.11 Encryption required: issue STARTTLS before AUTH");
		return false;
	}
	if (session->state == EX_SMTP_STATE_GREETED) {
		reply(session, "503 5.5.1 Send EHLO first");
		return false;
	}
	if (session->authenticated) {
		reply(session, "503 5.5.1 Already authenticated");
		return false;
	}
	if (session->state != EX_SMTP_STATE_READY) {
		reply(session, "503 5.5.1 AUTH is not allowed inside a mail transaction");
		return false;
	}
	if (arguments[0] == '\0') {
		reply(session, "501 5.5.4 AUTH needs a mechanism: PLAIN or LOGIN");
		return false;
	}
	return true;
}

static bool check_always(ex_smtp_session *session, const char *arguments)
{
	(void)session;
	(void)arguments;
	return true;
}

/* ---- proceeds -------------------------------------------------------------- */

static ex_smtp_next proceed_helo(ex_smtp_session *session, const char *arguments)
{
	reset_transaction(session);
	snprintf(session->helo, sizeof(session->helo), "%s", arguments);
	session->esmtp = false;
	session->state = EX_SMTP_STATE_READY;
	reply(session, "250 %s", session->options.hostname);
	return EX_SMTP_NEXT_LINE;
}

static ex_smtp_next proceed_ehlo(ex_smtp_session *session, const char *arguments)
{
	reset_transaction(session);
	snprintf(session->helo, sizeof(session->helo), "%s", arguments);
	session->esmtp = true;
	session->state = EX_SMTP_STATE_READY;

	reply(session, "250-%s", session->options.hostname);
	reply(session, "250-PIPELINING");
	reply(session, "250-SIZE %llu", (unsigned long long)session->options.limits.max_message_bytes);
	reply(session, "250-8BITMIME");
	reply(session, "250-SMTPUTF8");
	reply(session, "250-CHUNKING");
	reply(session, "250-BINARYMIME");
	reply(session, "250-DSN");
	if (session->options.tls_available && !session->tls)
		reply(session, "250-STARTTLS");
	if (session->options.listener == EX_SMTP_LISTENER_SUBMISSION && session->tls && !session->authenticated)
		reply(session, "250-AUTH PLAIN LOGIN%s",
		      session->options.backend->authenticate_token != NULL ? " OAUTHBEARER XOAUTH2" : "");
	reply(session, "250 ENHANCEDSTATUSCODES");
	return EX_SMTP_NEXT_LINE;
}

/* Replies to a path that did not parse; ROLE is "sender" or "recipient". */
static void reply_path_error(ex_smtp_session *session, ex_smtp_path_status status, bool sender)
{
	const char *detail = sender ? "5.1.7" : "5.1.3";
	const char *role = sender ? "sender" : "recipient";

	switch (status) {
	case EX_SMTP_PATH_TOO_LONG:
		reply(session, "501 %s The %s address is too long (path at most %d octets, local part %d, domain %d)",
		      detail, role, EX_SMTP_MAX_PATH, EX_SMTP_MAX_LOCAL_PART, EX_SMTP_MAX_DOMAIN);
		break;
	case EX_SMTP_PATH_NON_ASCII:
		reply(session, "553 5.6.7 The %s address is not ASCII; declare SMTPUTF8 in MAIL to use it", role);
		break;
	case EX_SMTP_PATH_BAD_PARAMETER:
		if (sender)
			reply(session, "501 5.5.4 Invalid value of a MAIL parameter (SIZE=digits, BODY=7BIT or 8BITMIME, "
			      "SMTPUTF8 without value, RET=FULL or HDRS, ENVID=xtext of at most %d characters)",
			      EX_SMTP_DSN_MAX_ENVID);
		else
			reply(session, "501 5.5.4 Invalid value of a RCPT parameter (NOTIFY=NEVER or a list of SUCCESS, "
			      "FAILURE, DELAY; ORCPT=type;xtext of at most %d characters)", EX_SMTP_DSN_MAX_ORCPT);
		break;
	case EX_SMTP_PATH_UNKNOWN_PARAMETER:
		reply(session, "555 5.5.4 Unsupported parameter on %s", sender ? "MAIL" : "RCPT");
		break;
	default:
		reply(session, "501 %s Invalid %s address syntax: expected %s:<local-part@domain>", detail, role,
		      sender ? "FROM" : "TO");
		break;
	}
}

static bool sender_is_identity(const ex_smtp_session *session)
{
	return session->reverse_path.mailbox[0] != '\0' &&
	       strcasecmp(session->reverse_path.mailbox, session->identity.email) == 0;
}

static ex_smtp_next proceed_mail(ex_smtp_session *session, const char *arguments)
{
	ex_smtp_path_status status = ex_smtp_parse_mail_from(arguments, &session->reverse_path,
							     &session->mail_parameters);
	if (status != EX_SMTP_PATH_OK) {
		reply_path_error(session, status, true);
		return EX_SMTP_NEXT_LINE;
	}
	if (session->mail_parameters.has_size &&
	    session->mail_parameters.size > session->options.limits.max_message_bytes) {
		reply(session, "552 5.3.4 Message size %llu exceeds the maximum of %llu octets",
		      (unsigned long long)session->mail_parameters.size,
		      (unsigned long long)session->options.limits.max_message_bytes);
		return EX_SMTP_NEXT_LINE;
	}
	if (session->authenticated && !sender_is_identity(session)) {
		const ex_smtp_backend *backend = session->options.backend;
		ex_smtp_sender_status sender = EX_SMTP_SENDER_REJECTED;
		if (backend->check_sender != NULL && session->reverse_path.mailbox[0] != '\0')
			sender = backend->check_sender(backend->context, &session->identity, session->reverse_path.mailbox);
		if (sender == EX_SMTP_SENDER_TEMPORARY_FAILURE) {
			reply(session, "451 4.3.0 Sender address check failed; try again later");
			return EX_SMTP_NEXT_LINE;
		}
		if (sender != EX_SMTP_SENDER_ALLOWED) {
			reply(session, "553 5.7.1 Sender address rejected: you may send only as %s or one of your aliases",
			      session->identity.email);
			return EX_SMTP_NEXT_LINE;
		}
	}

	session->state = EX_SMTP_STATE_MAIL;
	ex_smtp_data_reset(&session->data);
	reply(session, "250 2.1.0 Sender ok");
	return EX_SMTP_NEXT_LINE;
}

/* Accepts a recipient in a domain we do not host, for the outbound queue (authenticated sessions only). */
static void accept_remote(ex_smtp_session *session, ex_smtp_recipient *recipient, const ex_smtp_path *path,
			  const ex_smtp_rcpt_parameters *parameters)
{
	for (size_t i = 0; i < session->recipient_count; i++) {
		if (session->recipients[i].remote && strcasecmp(session->recipients[i].address, path->mailbox) == 0) {
			reply(session, "250 2.1.5 Recipient ok (already listed)");
			return;
		}
	}
	*recipient = (ex_smtp_recipient){ .remote = true };
	snprintf(recipient->address, sizeof(recipient->address), "%s", path->mailbox);
	memcpy(recipient->notify, parameters->notify, sizeof(recipient->notify));
	memcpy(recipient->original_recipient, parameters->orcpt, sizeof(recipient->original_recipient));
	session->recipient_count++;
	session->state = EX_SMTP_STATE_RCPT;
	reply(session, "250 2.1.5 Recipient ok; queued for relay");
}

static ex_smtp_next proceed_rcpt(ex_smtp_session *session, const char *arguments)
{
	ex_smtp_path path;
	ex_smtp_rcpt_parameters parameters;
	ex_smtp_path_status status =
		ex_smtp_parse_rcpt_to_dsn(arguments, session->mail_parameters.smtputf8, &path, &parameters);
	if (status != EX_SMTP_PATH_OK) {
		reply_path_error(session, status, false);
		return EX_SMTP_NEXT_LINE;
	}

	const ex_smtp_backend *backend = session->options.backend;
	ex_smtp_recipient *recipient = &session->recipients[session->recipient_count];
	*recipient = (ex_smtp_recipient){ 0 };
	bool submission = session->options.listener == EX_SMTP_LISTENER_SUBMISSION;

	switch (backend->lookup_recipient(backend->context, &path, recipient)) {
	case EX_SMTP_LOOKUP_LOCAL:
		/* A user named twice (even in different spellings) gets the message once. */
		for (size_t i = 0; i < session->recipient_count; i++) {
			if (strcmp(session->recipients[i].user_id, recipient->user_id) == 0 &&
			    strcmp(session->recipients[i].tenant_id, recipient->tenant_id) == 0) {
				reply(session, "250 2.1.5 Recipient ok (already listed)");
				return EX_SMTP_NEXT_LINE;
			}
		}
		snprintf(recipient->address, sizeof(recipient->address), "%s", path.mailbox);
		memcpy(recipient->notify, parameters.notify, sizeof(recipient->notify));
		memcpy(recipient->original_recipient, parameters.orcpt, sizeof(recipient->original_recipient));
		session->recipient_count++;
		session->state = EX_SMTP_STATE_RCPT;
		reply(session, "250 2.1.5 Recipient ok");
		break;
	case EX_SMTP_LOOKUP_NO_MAILBOX:
		reply(session, "550 5.1.1 <%s>: no such mailbox here", path.mailbox);
		break;
	case EX_SMTP_LOOKUP_OVER_QUOTA:
		if (submission)
			reply(session, "552 5.2.2 <%s>: mailbox is over its quota", path.mailbox);
		else
			reply(session, "452 4.2.2 <%s>: mailbox is over its quota; try again later", path.mailbox);
		break;
	case EX_SMTP_LOOKUP_NOT_LOCAL:
		if (session->authenticated)
			accept_remote(session, recipient, &path, &parameters);
		else
			reply(session, "554 5.7.1 <%s>: relay access denied; this server accepts mail only for its own "
			      "domains", path.mailbox);
		break;
	default:
		reply(session, "451 4.3.0 <%s>: recipient lookup failed; try again later", path.mailbox);
		break;
	}
	return EX_SMTP_NEXT_LINE;
}

static ex_smtp_next proceed_data(ex_smtp_session *session, const char *arguments)
{
	(void)arguments;
	ex_smtp_data_reset(&session->data);
	session->state = EX_SMTP_STATE_DATA;
	reply(session, "354 End data with <CR><LF>.<CR><LF>");
	return EX_SMTP_NEXT_DATA;
}

/* Parses "<size> [LAST]"; returns 0 or -1. */
static int parse_bdat_arguments(const char *arguments, uint64_t *size, bool *last)
{
	uint64_t value = 0;
	size_t digits = 0;

	while (arguments[digits] >= '0' && arguments[digits] <= '9') {
		uint64_t digit = (uint64_t)(arguments[digits] - '0');
		if (digits >= 20 || value > (UINT64_MAX - digit) / 10)
			return -1;
		value = value * 10 + digit;
		digits++;
	}
	if (digits == 0)
		return -1;
	const char *rest = arguments + digits;
	*last = strcasecmp(rest, " LAST") == 0;
	if (!*last && rest[0] != '\0')
		return -1;
	*size = value;
	return 0;
}

/* Writes into chunk_error why this BDAT cannot be taken, or leaves it empty. */
static void bdat_precondition(ex_smtp_session *session)
{
	char *error = session->chunk_error;
	size_t size = sizeof(session->chunk_error);

	error[0] = '\0';
	if (session->state == EX_SMTP_STATE_MAIL)
		snprintf(error, size, "554 5.5.1 No valid recipients");
	else if (session->state != EX_SMTP_STATE_RCPT)
		snprintf(error, size, "503 5.5.1 Send MAIL and RCPT before BDAT");
}

/* Replies to a chunk whose octets have all been read. */
static ex_smtp_next finish_chunk(ex_smtp_session *session)
{
	if (session->chunk_error[0] != '\0') {
		reply(session, "%s", session->chunk_error);
		session->state = session->state_before_chunk;
		return EX_SMTP_NEXT_LINE;
	}
	session->state = EX_SMTP_STATE_RCPT;
	if (session->chunk_last)
		return finish_message(session);
	if (session->data.too_large) {
		reply(session, "552 5.3.4 Message size exceeds the maximum of %llu octets",
		      (unsigned long long)session->data.max_length);
		reset_transaction(session);
		return EX_SMTP_NEXT_LINE;
	}
	reply(session, "250 2.0.0 %llu octets received", (unsigned long long)session->data.total_length);
	return EX_SMTP_NEXT_LINE;
}

/*
 * BDAT has no check of its own: the chunk's octets follow the command
 * whatever the reply, so they are read (and dropped) before the reply to a
 * refused chunk is sent, as RFC 3030 2 requires.
 */
static ex_smtp_next proceed_bdat(ex_smtp_session *session, const char *arguments)
{
	uint64_t size = 0;
	bool last = false;

	if (parse_bdat_arguments(arguments, &size, &last) != 0) {
		/* Without a size the chunk cannot be skipped, so the session cannot go on. */
		reply(session, "501 5.5.4 Invalid BDAT arguments: expected BDAT <size> [LAST]; closing the connection");
		session->state = EX_SMTP_STATE_CLOSED;
		return EX_SMTP_NEXT_CLOSE;
	}
	bdat_precondition(session);
	if (session->chunk_error[0] == '\0' && !session->bdat_used) {
		ex_smtp_data_reset(&session->data);
		session->bdat_used = true;
	}
	session->chunk_remaining = size;
	session->chunk_last = last;
	session->state_before_chunk = session->state;
	session->state = EX_SMTP_STATE_BDAT;
	if (size == 0)
		return finish_chunk(session);
	return EX_SMTP_NEXT_CHUNK;
}

ex_smtp_next ex_smtp_session_chunk(ex_smtp_session *session, const char *data, size_t length, size_t *consumed)
{
	size_t take = length < session->chunk_remaining ? length : (size_t)session->chunk_remaining;

	*consumed = take;
	if (session->chunk_error[0] == '\0')
		ex_smtp_data_append(&session->data, data, take);
	session->chunk_remaining -= take;
	if (session->chunk_remaining > 0)
		return EX_SMTP_NEXT_CHUNK;
	return after_reply(session, finish_chunk(session));
}

static ex_smtp_next proceed_rset(ex_smtp_session *session, const char *arguments)
{
	(void)arguments;
	reset_transaction(session);
	reply(session, "250 2.0.0 Reset");
	return EX_SMTP_NEXT_LINE;
}

static ex_smtp_next proceed_noop(ex_smtp_session *session, const char *arguments)
{
	(void)arguments;
	reply(session, "250 2.0.0 Ok");
	return EX_SMTP_NEXT_LINE;
}

static ex_smtp_next proceed_quit(ex_smtp_session *session, const char *arguments)
{
	(void)arguments;
	session->state = EX_SMTP_STATE_CLOSED;
	reply(session, "221 2.0.0 Bye");
	return EX_SMTP_NEXT_CLOSE;
}

static ex_smtp_next proceed_vrfy(ex_smtp_session *session, const char *arguments)
{
	(void)arguments;
	/* RFC 5321 3.5.3: 252 neither confirms nor denies, so a client cannot probe for users. */
	reply(session, "252 2.5.0 Cannot verify the user, but will accept the message and attempt delivery");
	return EX_SMTP_NEXT_LINE;
}

static ex_smtp_next proceed_help(ex_smtp_session *session, const char *arguments)
{
	(void)arguments;
	reply(session, "214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
	reply(session, "214 2.0.0 See RFC 5321 for their syntax");
	return EX_SMTP_NEXT_LINE;
}

static ex_smtp_next proceed_starttls(ex_smtp_session *session, const char *arguments)
{
	(void)arguments;
	reply(session, "220 2.0.0 Ready to start TLS");
	return EX_SMTP_NEXT_START_TLS;
}

/* Checks a login and password and replies. */
static void finish_auth(ex_smtp_session *session, const char *login, const char *password)
{
	const ex_smtp_backend *backend = session->options.backend;
	ex_smtp_identity identity = { 0 };

	session->sasl = SASL_NONE;
	session->state = EX_SMTP_STATE_READY;
	switch (backend->authenticate(backend->context, login, password, session->options.client_address, &identity)) {
	case EX_SMTP_AUTH_ACCEPTED:
		session->identity = identity;
		session->authenticated = true;
		reply(session, "235 2.7.0 Authentication successful");
		break;
	case EX_SMTP_AUTH_REJECTED:
		reply(session, "535 5.7.8 Authentication credentials invalid: use your address and an app password");
		break;
	case EX_SMTP_AUTH_RATE_LIMITED:
		reply(session, "454 4.7.0 Too many failed authentication attempts from your address or for this "
		      "account; try again later");
		break;
	default:
		reply(session, "454 4.7.0 Temporary authentication failure; try again later");
		break;
	}
}

/*
 * Checks an OAUTHBEARER or XOAUTH2 response. A rejected token gets the
 * RFC 7628 3.2.2 error challenge; the client's next line ends the exchange
 * with 535.
 */
static void auth_oauth_response(ex_smtp_session *session, const char *text);

/* Decodes a base64 SASL response into BUFFER; replies and returns -1 when it is not valid. */
static int decode_response(ex_smtp_session *session, const char *text, char *buffer, size_t size, size_t *length)
{
	if (strcmp(text, "=") == 0) {
		buffer[0] = '\0';
		*length = 0;
		return 0;
	}
	if (ex_sasl_base64_decode(text, strlen(text), buffer, size, length) != 0) {
		session->sasl = SASL_NONE;
		session->state = EX_SMTP_STATE_READY;
		reply(session, "501 5.5.2 Invalid base64 in the authentication response");
		return -1;
	}
	return 0;
}

static void auth_plain_response(ex_smtp_session *session, const char *text)
{
	char *buffer = malloc(SASL_BUFFER);
	size_t length = 0;
	const char *login = NULL;
	const char *password = NULL;

	if (buffer == NULL) {
		session->sasl = SASL_NONE;
		session->state = EX_SMTP_STATE_READY;
		reply(session, "454 4.7.0 Temporary authentication failure: out of memory");
		return;
	}
	if (decode_response(session, text, buffer, SASL_BUFFER, &length) == 0) {
		if (ex_sasl_plain_split(buffer, length, &login, &password) != 0) {
			session->sasl = SASL_NONE;
			session->state = EX_SMTP_STATE_READY;
			reply(session, "501 5.5.2 Invalid PLAIN response: expected authzid NUL login NUL password");
		} else {
			finish_auth(session, login, password);
		}
	}
	memset(buffer, 0, SASL_BUFFER);
	free(buffer);
}

static void auth_login_response(ex_smtp_session *session, const char *text)
{
	char buffer[EX_SMTP_MAX_COMMAND_LINE];
	size_t length = 0;

	if (decode_response(session, text, buffer, sizeof(buffer), &length) != 0)
		return;
	if (memchr(buffer, '\0', length) != NULL || length == 0) {
		session->sasl = SASL_NONE;
		session->state = EX_SMTP_STATE_READY;
		reply(session, "501 5.5.2 Invalid LOGIN response: empty or containing NUL");
		return;
	}
	if (session->sasl == SASL_LOGIN_USERNAME) {
		if (length >= sizeof(session->sasl_username)) {
			session->sasl = SASL_NONE;
			session->state = EX_SMTP_STATE_READY;
			reply(session, "501 5.5.2 Invalid LOGIN response: the user name is longer than %d octets",
			      EX_SMTP_MAX_PATH);
			return;
		}
		memcpy(session->sasl_username, buffer, length + 1);
		session->sasl = SASL_LOGIN_PASSWORD;
		reply(session, "334 UGFzc3dvcmQ6"); /* "Password:" */
	} else {
		finish_auth(session, session->sasl_username, buffer);
		memset(session->sasl_username, 0, sizeof(session->sasl_username));
	}
	memset(buffer, 0, sizeof(buffer));
}

static void auth_oauth_response(ex_smtp_session *session, const char *text)
{
	/* {"status":"invalid_token","schemes":"bearer","scope":"openid email"} */
	static const char error_challenge[] =
		"eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NoZW1lcyI6ImJlYXJlciIsInNjb3BlIjoib3BlbmlkIGVtYWlsIn0=";
	const ex_smtp_backend *backend = session->options.backend;
	char *buffer = malloc(SASL_BUFFER);
	size_t length = 0;
	const char *authzid = NULL;
	const char *token = NULL;
	ex_smtp_identity identity = { 0 };

	if (buffer == NULL) {
		session->sasl = SASL_NONE;
		session->state = EX_SMTP_STATE_READY;
		reply(session, "454 4.7.0 Temporary authentication failure: out of memory");
		return;
	}
	if (decode_response(session, text, buffer, SASL_BUFFER, &length) != 0) {
		free(buffer);
		return;
	}
	bool xoauth2 = session->sasl == SASL_XOAUTH2;
	if (ex_sasl_oauth_parse(buffer, length, xoauth2, &authzid, &token) != 0) {
		session->sasl = SASL_NONE;
		session->state = EX_SMTP_STATE_READY;
		reply(session, "501 5.5.2 Invalid %s response: expected auth=Bearer <token>",
		      xoauth2 ? "XOAUTH2" : "OAUTHBEARER");
	} else {
		switch (backend->authenticate_token(backend->context, authzid, token, session->options.client_address,
						    &identity)) {
		case EX_SMTP_AUTH_ACCEPTED:
			session->sasl = SASL_NONE;
			session->state = EX_SMTP_STATE_READY;
			session->identity = identity;
			session->authenticated = true;
			reply(session, "235 2.7.0 Authentication successful");
			break;
		case EX_SMTP_AUTH_REJECTED:
			session->sasl = SASL_OAUTH_FAILED;
			reply(session, "334 %s", error_challenge);
			break;
		case EX_SMTP_AUTH_RATE_LIMITED:
			session->sasl = SASL_NONE;
			session->state = EX_SMTP_STATE_READY;
			reply(session, "454 4.7.0 Too many failed authentication attempts from your address or for this "
			      "account; try again later");
			break;
		default:
			session->sasl = SASL_NONE;
			session->state = EX_SMTP_STATE_READY;
			reply(session, "454 4.7.0 Temporary authentication failure; try again later");
			break;
		}
	}
	memset(buffer, 0, SASL_BUFFER);
	free(buffer);
}

static ex_smtp_next proceed_auth(ex_smtp_session *session, const char *arguments)
{
	size_t mechanism_length = strcspn(arguments, " ");
	const char *initial = arguments[mechanism_length] == ' ' ? arguments + mechanism_length + 1 : NULL;

	if (mechanism_length == 5 && strncasecmp(arguments, "PLAIN", 5) == 0) {
		session->state = EX_SMTP_STATE_AUTH;
		session->sasl = SASL_PLAIN;
		if (initial != NULL)
			auth_plain_response(session, initial);
		else
			reply(session, "334 ");
		return EX_SMTP_NEXT_LINE;
	}
	if (mechanism_length == 5 && strncasecmp(arguments, "LOGIN", 5) == 0) {
		session->state = EX_SMTP_STATE_AUTH;
		session->sasl = SASL_LOGIN_USERNAME;
		if (initial != NULL)
			auth_login_response(session, initial);
		else
			reply(session, "334 VXNlcm5hbWU6"); /* "Username:" */
		return EX_SMTP_NEXT_LINE;
	}
	bool oauthbearer = mechanism_length == 11 && strncasecmp(arguments, "OAUTHBEARER", 11) == 0;
	bool xoauth2 = mechanism_length == 7 && strncasecmp(arguments, "XOAUTH2", 7) == 0;
	if ((oauthbearer || xoauth2) && session->options.backend->authenticate_token != NULL) {
		session->state = EX_SMTP_STATE_AUTH;
		session->sasl = oauthbearer ? SASL_OAUTHBEARER : SASL_XOAUTH2;
		if (initial != NULL)
			auth_oauth_response(session, initial);
		else
			reply(session, "334 ");
		return EX_SMTP_NEXT_LINE;
	}
	reply(session, "504 5.5.4 Unrecognized authentication mechanism; use PLAIN or LOGIN");
	return EX_SMTP_NEXT_LINE;
}

static const command commands[] = {
	{ "EHLO", check_helo, proceed_ehlo },
	{ "HELO", check_helo, proceed_helo },
	{ "MAIL", check_mail, proceed_mail },
	{ "RCPT", check_rcpt, proceed_rcpt },
	{ "DATA", check_data, proceed_data },
	{ "BDAT", check_always, proceed_bdat },
	{ "RSET", check_no_arguments, proceed_rset },
	{ "NOOP", check_always, proceed_noop },
	{ "QUIT", check_no_arguments, proceed_quit },
	{ "VRFY", check_always, proceed_vrfy },
	{ "HELP", check_always, proceed_help },
	{ "STARTTLS", check_starttls, proceed_starttls },
	{ "AUTH", check_auth, proceed_auth },
};

/* Closes the session once the client has made too many errors. */
static ex_smtp_next after_reply(ex_smtp_session *session, ex_smtp_next next)
{
	if (next != EX_SMTP_NEXT_CLOSE && session->errors >= session->options.limits.max_errors) {
		reply(session, "421 4.7.0 Too many errors (%u); closing the connection", session->errors);
		session->state = EX_SMTP_STATE_CLOSED;
		return EX_SMTP_NEXT_CLOSE;
	}
	return next;
}

static ex_smtp_next sasl_line(ex_smtp_session *session, const char *line)
{
	if (strcmp(line, "*") == 0) {
		session->sasl = SASL_NONE;
		session->state = EX_SMTP_STATE_READY;
		memset(session->sasl_username, 0, sizeof(session->sasl_username));
		reply(session, "501 5.0.0 Authentication canceled");
	} else if (session->sasl == SASL_OAUTH_FAILED) {
		session->sasl = SASL_NONE;
		session->state = EX_SMTP_STATE_READY;
		reply(session, "535 5.7.8 Authentication credentials invalid: the access token was not accepted");
	} else if (session->sasl == SASL_OAUTHBEARER || session->sasl == SASL_XOAUTH2) {
		auth_oauth_response(session, line);
	} else if (session->sasl == SASL_PLAIN) {
		auth_plain_response(session, line);
	} else {
		auth_login_response(session, line);
	}
	return after_reply(session, EX_SMTP_NEXT_LINE);
}

static uint64_t monotonic_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

/* Counts a command line; returns false (with a 421 queued) once the session is over its rate. */
static bool within_command_rate(ex_smtp_session *session)
{
	unsigned limit = session->options.limits.max_commands_per_minute;
	if (limit == 0)
		return true;
	uint64_t now = monotonic_ms();
	if (session->rate_commands == 0 || now - session->rate_window_start_ms >= 60000) {
		session->rate_window_start_ms = now;
		session->rate_commands = 0;
	}
	session->rate_commands++;
	if (session->rate_commands <= limit)
		return true;
	reply(session, "421 4.7.0 Too many commands: more than %u in one minute; closing the connection", limit);
	session->state = EX_SMTP_STATE_CLOSED;
	return false;
}

ex_smtp_next ex_smtp_session_line(ex_smtp_session *session, const char *line, size_t length)
{
	if (session->state == EX_SMTP_STATE_CLOSED)
		return EX_SMTP_NEXT_CLOSE;
	if (!within_command_rate(session))
		return EX_SMTP_NEXT_CLOSE;
	if (session->state == EX_SMTP_STATE_AUTH)
		return sasl_line(session, line);

	size_t verb_length = strcspn(line, " ");
	const char *arguments = line[verb_length] == ' ' ? line + verb_length + 1 : line + verb_length;
	bool is_auth = verb_length == 4 && strncasecmp(line, "AUTH", 4) == 0;

	if (length > EX_SMTP_MAX_COMMAND_LINE && !is_auth) {
		reply(session, "500 5.5.2 Line too long: commands are at most %d octets", EX_SMTP_MAX_COMMAND_LINE);
		return after_reply(session, EX_SMTP_NEXT_LINE);
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const command *entry = &commands[i];
		if (strlen(entry->verb) != verb_length || strncasecmp(entry->verb, line, verb_length) != 0)
			continue;
		if (!entry->check(session, arguments))
			return after_reply(session, EX_SMTP_NEXT_LINE);
		return after_reply(session, entry->proceed(session, arguments));
	}
	reply(session, "500 5.5.2 Command not recognized");
	return after_reply(session, EX_SMTP_NEXT_LINE);
}

ex_smtp_next ex_smtp_session_line_error(ex_smtp_session *session, const char *reason)
{
	if (session->state == EX_SMTP_STATE_AUTH) {
		session->sasl = SASL_NONE;
		session->state = EX_SMTP_STATE_READY;
	}
	reply(session, "500 5.5.2 %s", reason);
	return after_reply(session, EX_SMTP_NEXT_LINE);
}

ex_smtp_data_decoder *ex_smtp_session_data(ex_smtp_session *session)
{
	return &session->data;
}

/* Delivers the content of the transaction and replies; shared by DATA and BDAT LAST. */
static ex_smtp_next finish_message(ex_smtp_session *session)
{
	ex_smtp_data_decoder *data = &session->data;
	const ex_smtp_backend *backend = session->options.backend;
	bool submission = session->options.listener == EX_SMTP_LISTENER_SUBMISSION;
	char queue_id[QUEUE_ID_SIZE] = "";

	if (data->too_large) {
		reply(session, "552 5.3.4 Message size exceeds the maximum of %llu octets",
		      (unsigned long long)data->max_length);
	} else if (data->saw_nul && session->mail_parameters.body != EX_SMTP_BODY_BINARYMIME) {
		reply(session, "554 5.6.0 Message content contains a NUL octet, which SMTP does not carry");
	} else if (data->allocation_failed) {
		reply(session, "452 4.3.1 Insufficient system storage; try again later");
	} else {
		const ex_smtp_envelope envelope = {
			.session_id = session->options.session_id,
			.helo = session->helo,
			.client_address = session->options.client_address,
			.listener = session->options.listener,
			.tls = session->tls,
			.esmtp = session->esmtp,
			.identity = session->authenticated ? &session->identity : NULL,
			.reverse_path = session->reverse_path.mailbox,
			.smtputf8 = session->mail_parameters.smtputf8,
			.recipients = session->recipients,
			.recipient_count = session->recipient_count,
			.content = data->content == NULL ? "" : data->content,
			.length = data->length,
			.envelope_id = session->mail_parameters.envid[0] != '\0' ? session->mail_parameters.envid : NULL,
			.return_content = session->mail_parameters.ret[0] != '\0' ? session->mail_parameters.ret : NULL,
		};
		switch (backend->deliver(backend->context, &envelope, queue_id, sizeof(queue_id))) {
		case EX_SMTP_DELIVERY_STORED:
			reply(session, "250 2.0.0 Ok: stored as %s", queue_id);
			break;
		case EX_SMTP_DELIVERY_FROM_REJECTED:
			reply(session, "553 5.7.1 The From header field must name only your address %s or your aliases",
			      session->identity.email);
			break;
		case EX_SMTP_DELIVERY_REJECTED:
			reply(session, "550 5.7.1 Message rejected by the recipient's mail filter");
			break;
		case EX_SMTP_DELIVERY_OVER_QUOTA:
			if (submission)
				reply(session, "552 5.2.2 Mailbox is over its quota");
			else
				reply(session, "452 4.2.2 Mailbox is over its quota; try again later");
			break;
		default:
			reply(session, "451 4.3.0 Local delivery failed; try again later");
			break;
		}
	}
	session->state = EX_SMTP_STATE_READY;
	reset_transaction(session);
	return after_reply(session, EX_SMTP_NEXT_LINE);
}

ex_smtp_next ex_smtp_session_data_end(ex_smtp_session *session)
{
	return finish_message(session);
}

void ex_smtp_session_tls_started(ex_smtp_session *session)
{
	reset_transaction(session);
	session->tls = true;
	session->esmtp = false;
	session->helo[0] = '\0';
	session->state = EX_SMTP_STATE_GREETED;
}

void ex_smtp_session_abort(ex_smtp_session *session, const char *text)
{
	size_t errors = session->errors;
	reply(session, "%s", text);
	session->errors = (unsigned)errors;
	session->state = EX_SMTP_STATE_CLOSED;
}

const char *ex_smtp_session_output(const ex_smtp_session *session, size_t *length)
{
	*length = session->output_length;
	return session->output;
}

void ex_smtp_session_clear_output(ex_smtp_session *session)
{
	session->output_length = 0;
}

ex_smtp_state ex_smtp_session_state(const ex_smtp_session *session)
{
	return session->state;
}

bool ex_smtp_session_tls(const ex_smtp_session *session)
{
	return session->tls;
}

bool ex_smtp_session_authenticated(const ex_smtp_session *session)
{
	return session->authenticated;
}
