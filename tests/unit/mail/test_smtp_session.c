/*
 * Table-driven tests of the SMTP session's command checks and state
 * changes. Each script is a list of command lines with the reply code
 * expected for each. The backend here has two local mailboxes, one user
 * over quota and one login, and it stores nothing; the database-backed backend
 * is covered by tests/e2e/smtp.test.mjs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp_session.h"

static unsigned deliveries;

static ex_smtp_lookup_status lookup(void *context, const ex_smtp_path *path, ex_smtp_recipient *recipient)
{
	(void)context;
	/* The local part is used as the user id. */
	snprintf(recipient->user_id, sizeof(recipient->user_id), "%.*s", (int)path->local_length, path->mailbox);
	if (strcasecmp(ex_smtp_path_domain(path), "demo.test") != 0)
		return EX_SMTP_LOOKUP_NOT_LOCAL;
	if (strcasecmp(path->mailbox, "full@demo.test") == 0)
		return EX_SMTP_LOOKUP_OVER_QUOTA;
	if (strcasecmp(path->mailbox, "alice@demo.test") == 0 || strcasecmp(path->mailbox, "bob@demo.test") == 0)
		return EX_SMTP_LOOKUP_LOCAL;
	return EX_SMTP_LOOKUP_NO_MAILBOX;
}

static ex_smtp_auth_status authenticate(void *context, const char *login, const char *password, const char *address,
					ex_smtp_identity *identity)
{
	(void)context;
	(void)address;
	if (strcmp(login, "alice@demo.test") != 0 || strcmp(password, "app-password") != 0)
		return EX_SMTP_AUTH_REJECTED;
	snprintf(identity->email, sizeof(identity->email), "%s", login);
	return EX_SMTP_AUTH_ACCEPTED;
}

/* Accepts the token "good-token" for alice, with or without her address as authzid. */
static ex_smtp_auth_status authenticate_token(void *context, const char *authzid, const char *token,
					      const char *address, ex_smtp_identity *identity)
{
	(void)context;
	(void)address;
	if (strcmp(token, "good-token") != 0 || (authzid[0] != '\0' && strcmp(authzid, "alice@demo.test") != 0))
		return EX_SMTP_AUTH_REJECTED;
	snprintf(identity->email, sizeof(identity->email), "alice@demo.test");
	return EX_SMTP_AUTH_ACCEPTED;
}

static ex_smtp_delivery_status deliver(void *context, const ex_smtp_envelope *envelope, char *queue_id, size_t size)
{
	(void)context;
	(void)envelope;
	deliveries++;
	snprintf(queue_id, size, "test%u", deliveries);
	return EX_SMTP_DELIVERY_STORED;
}

static const ex_smtp_backend backend = {
	.lookup_recipient = lookup,
	.authenticate = authenticate,
	.authenticate_token = authenticate_token,
	.deliver = deliver,
};

/*
 * A line and the code of its last reply line; "TLS" marks the handshake
 * finishing. In a BDAT line the chunk's octets follow a '|' ('~' stands
 * for NUL); without '|' the chunk is all 'x'.
 */
typedef struct {
	const char *line;
	const char *code;
} step;

typedef struct {
	const char *name;
	ex_smtp_listener_kind listener;
	unsigned max_errors; /* 0: 10 */
	step steps[14];
} script;

/* "AGFsaWNlQGRlbW8udGVzdABhcHAtcGFzc3dvcmQ=" is "\0alice@demo.test\0app-password". */
#define PLAIN_ALICE "AUTH PLAIN AGFsaWNlQGRlbW8udGVzdABhcHAtcGFzc3dvcmQ="

static const script scripts[] = {
	{ "MX delivery", EX_SMTP_LISTENER_MX, 0,
	  { { "EHLO client.example", "250" }, { "MAIL FROM:<x@remote.example>", "250" },
	    { "RCPT TO:<alice@demo.test>", "250" }, { "DATA", "354" }, { ".", "250" }, { "QUIT", "221" } } },
	{ "MAIL before EHLO", EX_SMTP_LISTENER_MX, 0, { { "MAIL FROM:<x@r.example>", "503" }, { "HELO c", "250" } } },
	{ "RCPT before MAIL", EX_SMTP_LISTENER_MX, 0, { { "EHLO c", "250" }, { "RCPT TO:<alice@demo.test>", "503" } } },
	{ "DATA without recipients", EX_SMTP_LISTENER_MX, 0,
	  { { "EHLO c", "250" }, { "DATA", "503" }, { "MAIL FROM:<>", "250" }, { "DATA", "554" } } },
	{ "nested MAIL", EX_SMTP_LISTENER_MX, 0,
	  { { "EHLO c", "250" }, { "MAIL FROM:<>", "250" }, { "MAIL FROM:<>", "503" }, { "RSET", "250" },
	    { "MAIL FROM:<>", "250" } } },
	{ "unknown mailbox", EX_SMTP_LISTENER_MX, 0,
	  { { "EHLO c", "250" }, { "MAIL FROM:<>", "250" }, { "RCPT TO:<nobody@demo.test>", "550" } } },
	{ "open relay refused", EX_SMTP_LISTENER_MX, 0,
	  { { "EHLO c", "250" }, { "MAIL FROM:<a@b.example>", "250" }, { "RCPT TO:<x@elsewhere.example>", "554" } } },
	{ "over quota on MX", EX_SMTP_LISTENER_MX, 0,
	  { { "EHLO c", "250" }, { "MAIL FROM:<>", "250" }, { "RCPT TO:<full@demo.test>", "452" } } },
	{ "AUTH never on MX", EX_SMTP_LISTENER_MX, 0, { { "EHLO c", "250" }, { PLAIN_ALICE, "503" } } },
	{ "submission needs STARTTLS", EX_SMTP_LISTENER_SUBMISSION, 0,
	  { { "EHLO c", "250" }, { PLAIN_ALICE, "538" }, { "MAIL FROM:<alice@demo.test>", "530" } } },
	{ "submission needs AUTH", EX_SMTP_LISTENER_SUBMISSION, 0,
	  { { "EHLO c", "250" }, { "STARTTLS", "220" }, { "TLS", "" }, { "AUTH PLAIN", "503" }, { "EHLO c", "250" },
	    { "MAIL FROM:<alice@demo.test>", "530" } } },
	{ "submission as alice", EX_SMTP_LISTENER_SUBMISSION, 0,
	  { { "EHLO c", "250" }, { "STARTTLS", "220" }, { "TLS", "" }, { "EHLO c", "250" }, { PLAIN_ALICE, "235" },
	    { PLAIN_ALICE, "503" }, { "MAIL FROM:<bob@demo.test>", "553" }, { "MAIL FROM:<alice@demo.test>", "250" },
	    { "RCPT TO:<x@elsewhere.example>", "250" }, { "RCPT TO:<X@elsewhere.example>", "250" },
	    { "RCPT TO:<full@demo.test>", "552" }, { "RCPT TO:<bob@demo.test>", "250" } } },
	{ "AUTH LOGIN wrong password", EX_SMTP_LISTENER_SUBMISSION, 0,
	  { { "EHLO c", "250" }, { "STARTTLS", "220" }, { "TLS", "" }, { "EHLO c", "250" }, { "AUTH LOGIN", "334" },
	    { "YWxpY2VAZGVtby50ZXN0", "334" }, { "d3Jvbmc=", "535" }, { "AUTH CRAM-MD5", "504" },
	    { "AUTH PLAIN", "334" }, { "*", "501" }, { "AUTH PLAIN !!!!", "501" } } },
	{ "OAUTHBEARER and XOAUTH2", EX_SMTP_LISTENER_SUBMISSION, 0,
	  { { "EHLO c", "250" }, { "STARTTLS", "220" }, { "TLS", "" }, { "EHLO c", "250" },
	    { "AUTH OAUTHBEARER biwsAWF1dGg9QmVhcmVyIGJhZC10b2tlbgEB", "334" }, { "AQ==", "535" },
	    { "AUTH XOAUTH2", "334" }, { "bm90IG9hdXRo", "501" },
	    { "AUTH XOAUTH2 dXNlcj1hbGljZUBkZW1vLnRlc3QBYXV0aD1CZWFyZXIgZ29vZC10b2tlbgEB", "235" },
	    { "MAIL FROM:<alice@demo.test>", "250" } } },
	{ "OAUTHBEARER with authzid", EX_SMTP_LISTENER_SUBMISSION, 0,
	  { { "EHLO c", "250" }, { "STARTTLS", "220" }, { "TLS", "" }, { "EHLO c", "250" },
	    { "AUTH OAUTHBEARER", "334" }, { "bixhPWFsaWNlQGRlbW8udGVzdCwBYXV0aD1CZWFyZXIgZ29vZC10b2tlbgEB", "235" } } },
	{ "STARTTLS twice", EX_SMTP_LISTENER_SUBMISSION, 0,
	  { { "EHLO c", "250" }, { "STARTTLS", "220" }, { "TLS", "" }, { "STARTTLS", "503" } } },
	{ "other commands", EX_SMTP_LISTENER_MX, 0,
	  { { "NOOP", "250" }, { "VRFY alice", "252" }, { "HELP", "214" }, { "RSET x", "501" }, { "FOO", "500" },
	    { "EHLO", "501" }, { "QUIT now", "501" } } },
	{ "too many recipients", EX_SMTP_LISTENER_MX, 0,
	  { { "EHLO c", "250" }, { "MAIL FROM:<>", "250" }, { "RCPT TO:<alice@demo.test>", "250" },
	    { "RCPT TO:<bob@demo.test>", "250" }, { "RCPT TO:<alice@demo.test>", "452" } } },
	{ "recipient named twice", EX_SMTP_LISTENER_MX, 0,
	  { { "EHLO c", "250" }, { "MAIL FROM:<>", "250" }, { "RCPT TO:<alice@demo.test>", "250" },
	    { "RCPT TO:<alice@DEMO.test>", "250" }, { "RCPT TO:<bob@demo.test>", "250" } } },
	{ "BDAT in two chunks", EX_SMTP_LISTENER_MX, 0,
	  { { "EHLO c", "250" }, { "MAIL FROM:<>", "250" }, { "RCPT TO:<alice@demo.test>", "250" },
	    { "BDAT 5|Subje", "250" }, { "RCPT TO:<bob@demo.test>", "503" }, { "DATA", "503" },
	    { "bdat 6 last|ct: x\n", "250" }, { "NOOP", "250" } } },
	{ "BDAT refused before MAIL", EX_SMTP_LISTENER_MX, 0,
	  { { "BDAT 3|xyz", "503" }, { "MAIL FROM:<>", "503" }, { "EHLO c", "250" }, { "BDAT 0 LAST", "503" },
	    { "MAIL FROM:<>", "250" }, { "BDAT 4 LAST|abcd", "554" }, { "RSET", "250" } } },
	{ "BDAT over the size", EX_SMTP_LISTENER_MX, 0,
	  { { "EHLO c", "250" }, { "MAIL FROM:<>", "250" }, { "RCPT TO:<alice@demo.test>", "250" },
	    { "BDAT 1025", "552" }, { "BDAT 1 LAST|x", "503" }, { "NOOP", "250" } } },
	{ "BDAT syntax closes", EX_SMTP_LISTENER_MX, 0, { { "EHLO c", "250" }, { "BDAT many", "501" } } },
	{ "BINARYMIME needs BDAT", EX_SMTP_LISTENER_MX, 0,
	  { { "EHLO c", "250" }, { "MAIL FROM:<> BODY=BINARYMIME", "250" }, { "RCPT TO:<alice@demo.test>", "250" },
	    { "DATA", "503" }, { "BDAT 3 LAST|a~b", "250" } } },
	{ "too many errors", EX_SMTP_LISTENER_MX, 3,
	  { { "FOO", "500" }, { "FOO", "500" }, { "FOO", "421" }, { "NOOP", "" } } },
};

static ex_smtp_session *new_session(ex_smtp_listener_kind listener, unsigned max_errors)
{
	const ex_smtp_session_options options = {
		.hostname = "mx.demo.test",
		.session_id = "test",
		.client_address = "192.0.2.1",
		.listener = listener,
		.tls_available = true,
		.limits = { .max_message_bytes = 1024, .max_recipients = 2, .max_errors = max_errors == 0 ? 10 : max_errors },
		.backend = &backend,
	};
	ex_smtp_session *session = ex_smtp_session_new(&options);
	assert_non_null(session);
	return session;
}

/* Returns the code of the last reply line in the session's output ("" when none). */
static void last_code(ex_smtp_session *session, char code[4])
{
	size_t length = 0;
	const char *output = ex_smtp_session_output(session, &length);
	code[0] = '\0';
	if (length < 5)
		return;
	size_t start = length - 2;
	while (start > 0 && output[start - 1] != '\n')
		start--;
	memcpy(code, output + start, 3);
	code[3] = '\0';
	ex_smtp_session_clear_output(session);
}

static void run_script(const script *test)
{
	ex_smtp_session *session = new_session(test->listener, test->max_errors);
	char code[4];

	ex_smtp_session_greet(session);
	last_code(session, code);
	assert_string_equal(code, "220");
	for (size_t i = 0; i < sizeof(test->steps) / sizeof(test->steps[0]) && test->steps[i].line != NULL; i++) {
		const step *current = &test->steps[i];
		print_message("%s: %s\n", test->name, current->line);
		if (strcmp(current->line, "TLS") == 0) {
			ex_smtp_session_tls_started(session);
			continue;
		}
		const char *bar = strchr(current->line, '|');
		size_t line_length = bar == NULL ? strlen(current->line) : (size_t)(bar - current->line);
		char line[256];
		assert_true(line_length < sizeof(line));
		snprintf(line, sizeof(line), "%.*s", (int)line_length, current->line);
		ex_smtp_next next = ex_smtp_session_line(session, line, line_length);
		if (next == EX_SMTP_NEXT_CHUNK) {
			size_t size = strtoul(line + 5, NULL, 10);
			char *octets = calloc(size + 1, 1);
			assert_non_null(octets);
			memset(octets, 'x', size);
			if (bar != NULL) {
				assert_int_equal(strlen(bar + 1), size);
				for (size_t k = 0; k < size; k++)
					octets[k] = bar[1 + k] == '~' ? '\0' : bar[1 + k];
			}
			size_t consumed = 0;
			for (size_t offset = 0; offset < size; offset += consumed)
				next = ex_smtp_session_chunk(session, octets + offset, size - offset > 7 ? 7 : size - offset,
							     &consumed);
			free(octets);
			assert_int_not_equal(next, EX_SMTP_NEXT_CHUNK);
		}
		if (ex_smtp_session_state(session) == EX_SMTP_STATE_DATA && next == EX_SMTP_NEXT_DATA) {
			last_code(session, code);
			assert_string_equal(code, current->code);
			/* The next step's line is the content's end. */
			size_t consumed = 0;
			ex_smtp_data_feed(ex_smtp_session_data(session), "Subject: t\r\n\r\nx\r\n.\r\n", 20, &consumed);
			ex_smtp_session_data_end(session);
			i++;
			last_code(session, code);
			assert_string_equal(code, test->steps[i].code);
			continue;
		}
		last_code(session, code);
		assert_string_equal(code, current->code);
	}
	ex_smtp_session_free(session);
}

static void session_scripts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++)
		run_script(&scripts[i]);
}

static void ehlo_extensions(void **state)
{
	(void)state;
	size_t length = 0;
	ex_smtp_session *session = new_session(EX_SMTP_LISTENER_SUBMISSION, 0);

	ex_smtp_session_line(session, "EHLO c", 6);
	const char *output = ex_smtp_session_output(session, &length);
	char text[1024];
	snprintf(text, sizeof(text), "%.*s", (int)length, output);
	assert_non_null(strstr(text, "250-STARTTLS\r\n"));
	assert_null(strstr(text, "AUTH"));
	assert_non_null(strstr(text, "250-SIZE 1024\r\n"));
	assert_non_null(strstr(text, "250-PIPELINING\r\n"));
	assert_non_null(strstr(text, "250 ENHANCEDSTATUSCODES\r\n"));
	ex_smtp_session_clear_output(session);

	ex_smtp_session_line(session, "STARTTLS", 8);
	ex_smtp_session_tls_started(session);
	ex_smtp_session_clear_output(session);
	ex_smtp_session_line(session, "EHLO c", 6);
	output = ex_smtp_session_output(session, &length);
	snprintf(text, sizeof(text), "%.*s", (int)length, output);
	assert_null(strstr(text, "STARTTLS"));
	assert_non_null(strstr(text, "250-AUTH PLAIN LOGIN OAUTHBEARER XOAUTH2\r\n"));
	ex_smtp_session_free(session);
}

static void size_parameter_limit(void **state)
{
	(void)state;
	char code[4];
	ex_smtp_session *session = new_session(EX_SMTP_LISTENER_MX, 0);

	ex_smtp_session_line(session, "EHLO c", 6);
	ex_smtp_session_clear_output(session);
	ex_smtp_session_line(session, "MAIL FROM:<> SIZE=1025", 22);
	last_code(session, code);
	assert_string_equal(code, "552");
	ex_smtp_session_line(session, "MAIL FROM:<> SIZE=1024", 22);
	last_code(session, code);
	assert_string_equal(code, "250");
	ex_smtp_session_free(session);
}

static void command_line_length(void **state)
{
	(void)state;
	char line[EX_SMTP_MAX_COMMAND_LINE + 2];
	char code[4];
	ex_smtp_session *session = new_session(EX_SMTP_LISTENER_MX, 0);

	memset(line, 'x', sizeof(line));
	memcpy(line, "NOOP ", 5);
	line[EX_SMTP_MAX_COMMAND_LINE] = '\0';
	ex_smtp_session_line(session, line, EX_SMTP_MAX_COMMAND_LINE);
	last_code(session, code);
	assert_string_equal(code, "250");
	line[EX_SMTP_MAX_COMMAND_LINE] = 'x';
	line[EX_SMTP_MAX_COMMAND_LINE + 1] = '\0';
	ex_smtp_session_line(session, line, EX_SMTP_MAX_COMMAND_LINE + 1);
	last_code(session, code);
	assert_string_equal(code, "500");
	ex_smtp_session_free(session);
}

/* At the command rate limit every command is answered; one past it gets 421 4.7.0 and closes. */
static void command_rate_limit(void **state)
{
	(void)state;
	const ex_smtp_session_options options = {
		.hostname = "mx.demo.test",
		.session_id = "test",
		.client_address = "192.0.2.1",
		.listener = EX_SMTP_LISTENER_MX,
		.limits = { .max_message_bytes = 1024, .max_recipients = 2, .max_errors = 10, .max_commands_per_minute = 3 },
		.backend = &backend,
	};
	ex_smtp_session *session = ex_smtp_session_new(&options);
	char code[4];
	assert_non_null(session);
	ex_smtp_session_greet(session);
	ex_smtp_session_clear_output(session);

	assert_int_equal(ex_smtp_session_line(session, "EHLO c", 6), EX_SMTP_NEXT_LINE);
	last_code(session, code);
	assert_string_equal(code, "250");
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ex_smtp_session_line(session, "NOOP", 4), EX_SMTP_NEXT_LINE);
		last_code(session, code);
		assert_string_equal(code, "250");
	}
	assert_int_equal(ex_smtp_session_line(session, "NOOP", 4), EX_SMTP_NEXT_CLOSE);
	size_t length = 0;
	const char *output = ex_smtp_session_output(session, &length);
	assert_true(length > 10);
	assert_memory_equal(output, "421 4.7.0 Too many commands", 27);
	assert_int_equal(ex_smtp_session_state(session), EX_SMTP_STATE_CLOSED);
	ex_smtp_session_free(session);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(session_scripts),
		cmocka_unit_test(ehlo_extensions),
		cmocka_unit_test(size_parameter_limit),
		cmocka_unit_test(command_line_length),
		cmocka_unit_test(command_rate_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
