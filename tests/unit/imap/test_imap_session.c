/*
 * Unit tests of expresso-mail's IMAP session (services/mail/imap_session.c)
 * without a network or a database: greeting and capabilities, STARTTLS and
 * LOGINDISABLED, LOGIN, AUTHENTICATE PLAIN with and without an initial
 * response, the failure limit, ID, ENABLE, IDLE, literals and errors.
 * Commands that need the message store get NO [UNAVAILABLE] here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "imap_session.h"

static int logins;

static ex_smtp_auth_status check_login(void *context, const char *login, const char *password,
				       const char *client_address, ex_smtp_identity *identity)
{
	(void)context;
	(void)client_address;
	logins++;
	memset(identity, 0, sizeof(*identity));
	if (strcmp(login, "alice@example.org") != 0 || strcmp(password, "app-password") != 0)
		return EX_SMTP_AUTH_REJECTED;
	strcpy(identity->tenant_id, "00000000-0000-0000-0000-000000000001");
	strcpy(identity->user_id, "00000000-0000-0000-0000-000000000002");
	strcpy(identity->email, login);
	return EX_SMTP_AUTH_ACCEPTED;
}

static const ex_imap_auth_backend auth = { .authenticate = check_login };

typedef struct {
	ex_imap_session *session;
	char output[16384];
	ex_imap_next next;
} fixture;

static void start(fixture *f, bool implicit_tls, bool allow_plaintext)
{
	const ex_imap_session_options options = {
		.session_id = "test",
		.client_address = "127.0.0.1",
		.hostname = "imap.example.org",
		.tls_available = true,
		.implicit_tls = implicit_tls,
		.allow_plaintext_login = allow_plaintext,
		.max_append_size = 1000,
		.auth = &auth,
	};
	logins = 0;
	f->session = ex_imap_session_new(&options);
	assert_non_null(f->session);
	ex_imap_session_greet(f->session);
	size_t length = 0;
	const char *greeting = ex_imap_session_output(f->session, &length);
	assert_true(length < sizeof(f->output));
	memcpy(f->output, greeting, length);
	f->output[length] = '\0';
	ex_imap_session_clear_output(f->session);
}

/* Feeds TEXT and copies the whole output, NUL-terminated, into f->output. */
static const char *feed(fixture *f, const char *text)
{
	size_t consumed = 0;
	f->next = ex_imap_session_feed(f->session, text, strlen(text), &consumed);
	size_t length = 0;
	const char *output = ex_imap_session_output(f->session, &length);
	assert_true(length < sizeof(f->output));
	memcpy(f->output, output, length);
	f->output[length] = '\0';
	ex_imap_session_clear_output(f->session);
	return f->output;
}

static void finish(fixture *f)
{
	ex_imap_session_free(f->session);
}

static void greeting_without_tls_disables_login(void **state)
{
	(void)state;
	fixture f;
	start(&f, false, false);
	const char *greeting = f.output;
	assert_non_null(strstr(greeting, "* OK [CAPABILITY IMAP4rev1"));
	assert_non_null(strstr(greeting, "STARTTLS"));
	assert_non_null(strstr(greeting, "LOGINDISABLED"));
	assert_null(strstr(greeting, "AUTH=PLAIN"));

	assert_non_null(strstr(feed(&f, "a1 LOGIN alice@example.org app-password\r\n"), "a1 NO [PRIVACYREQUIRED]"));
	assert_int_equal(logins, 0);
	assert_non_null(strstr(feed(&f, "a2 AUTHENTICATE PLAIN\r\n"), "a2 NO [PRIVACYREQUIRED]"));
	finish(&f);
}

static void starttls_then_login(void **state)
{
	(void)state;
	fixture f;
	start(&f, false, false);
	/* The LOGIN in the same packet must not be read: it came before the handshake. */
	size_t consumed = 0;
	const char *input = "a1 STARTTLS\r\na2 LOGIN alice@example.org app-password\r\n";
	f.next = ex_imap_session_feed(f.session, input, strlen(input), &consumed);
	assert_int_equal(f.next, EX_IMAP_NEXT_START_TLS);
	assert_int_equal(consumed, strlen("a1 STARTTLS\r\n"));
	ex_imap_session_clear_output(f.session);
	ex_imap_session_tls_started(f.session);

	const char *capability = feed(&f, "a3 CAPABILITY\r\n");
	assert_null(strstr(capability, "STARTTLS"));
	assert_null(strstr(capability, "LOGINDISABLED"));
	assert_non_null(strstr(capability, "AUTH=PLAIN"));
	assert_non_null(strstr(feed(&f, "a4 STARTTLS\r\n"), "a4 BAD"));
	const char *login = feed(&f, "a5 LOGIN alice@example.org app-password\r\n");
	assert_non_null(strstr(login, "a5 OK [CAPABILITY IMAP4rev1"));
	assert_non_null(strstr(login, "APPENDLIMIT=1000"));
	assert_non_null(strstr(login, " IMAP4rev2"));
	assert_non_null(strstr(login, " THREAD=ORDEREDSUBJECT THREAD=REFERENCES"));
	assert_true(ex_imap_session_authenticated(f.session));
	assert_non_null(strstr(feed(&f, "a6 LOGIN x y\r\n"), "a6 BAD"));
	finish(&f);
}

static void failed_logins_close_the_session(void **state)
{
	(void)state;
	fixture f;
	start(&f, true, false);
	assert_non_null(strstr(feed(&f, "a1 LOGIN alice@example.org wrong\r\n"), "a1 NO [AUTHENTICATIONFAILED]"));
	assert_int_equal(f.next, EX_IMAP_NEXT_READ);
	assert_non_null(strstr(feed(&f, "a2 LOGIN alice@example.org wrong\r\n"), "a2 NO [AUTHENTICATIONFAILED]"));
	const char *third = feed(&f, "a3 LOGIN alice@example.org wrong\r\n");
	assert_non_null(strstr(third, "a3 NO [AUTHENTICATIONFAILED]"));
	assert_non_null(strstr(third, "* BYE"));
	assert_int_equal(f.next, EX_IMAP_NEXT_CLOSE);
	finish(&f);
}

static void authenticate_plain_forms(void **state)
{
	(void)state;
	fixture f;
	/* "\0alice@example.org\0app-password" in base64. */
	static const char plain[] = "AGFsaWNlQGV4YW1wbGUub3JnAGFwcC1wYXNzd29yZA==";
	char line[256];

	start(&f, true, false);
	assert_string_equal(feed(&f, "a1 AUTHENTICATE PLAIN\r\n"), "+ \r\n");
	snprintf(line, sizeof(line), "%s\r\n", plain);
	assert_non_null(strstr(feed(&f, line), "a1 OK [CAPABILITY"));
	finish(&f);

	start(&f, true, false);
	snprintf(line, sizeof(line), "a1 AUTHENTICATE PLAIN %s\r\n", plain);
	assert_non_null(strstr(feed(&f, line), "a1 OK"));
	finish(&f);

	start(&f, true, false);
	feed(&f, "a1 AUTHENTICATE PLAIN\r\n");
	assert_non_null(strstr(feed(&f, "*\r\n"), "a1 BAD"));
	assert_non_null(strstr(feed(&f, "a2 AUTHENTICATE PLAIN !!!\r\n"), "a2 BAD"));
	assert_non_null(strstr(feed(&f, "a3 AUTHENTICATE CRAM-MD5\r\n"), "a3 NO [CANNOT]"));
	/* Without a token verifier OAUTHBEARER is neither offered nor accepted. */
	assert_non_null(strstr(feed(&f, "a4 AUTHENTICATE OAUTHBEARER\r\n"), "a4 NO [CANNOT]"));
	finish(&f);
}

static void loopback_plaintext_when_allowed(void **state)
{
	(void)state;
	fixture f;
	start(&f, false, true);
	assert_null(strstr(f.output, "LOGINDISABLED"));
	assert_non_null(strstr(feed(&f, "a1 LOGIN alice@example.org app-password\r\n"), "a1 OK"));
	finish(&f);
}

static void id_enable_and_idle(void **state)
{
	(void)state;
	fixture f;
	start(&f, true, false);
	assert_non_null(strstr(feed(&f, "a0 ID (\"name\" \"test\")\r\n"), "* ID (\"name\" \"Expresso\""));
	assert_non_null(strstr(feed(&f, "a0 ID (\"odd\")\r\n"), "a0 BAD"));
	feed(&f, "a1 LOGIN alice@example.org app-password\r\n");
	assert_string_equal(feed(&f, "a2 ENABLE CONDSTORE X-UNKNOWN UTF8=ACCEPT\r\n"),
			    "* ENABLED CONDSTORE UTF8=ACCEPT\r\na2 OK ENABLE completed\r\n");
	/* A second ENABLE of the same extension lists nothing new. */
	assert_string_equal(feed(&f, "a3 ENABLE CONDSTORE\r\n"), "* ENABLED\r\na3 OK ENABLE completed\r\n");
	assert_string_equal(feed(&f, "a3 ENABLE imap4rev2\r\n"), "* ENABLED IMAP4rev2\r\na3 OK ENABLE completed\r\n");
	/* THREAD needs a selected mailbox, like SEARCH. */
	assert_non_null(strstr(feed(&f, "a3 THREAD REFERENCES UTF-8 ALL\r\n"), "a3 BAD Select a mailbox first"));
	assert_string_equal(feed(&f, "a4 IDLE\r\n"), "+ idling\r\n");
	assert_true(ex_imap_session_idling(f.session));
	ex_imap_session_keepalive(f.session);
	assert_string_equal(feed(&f, "DONE\r\n"), "* OK Still here\r\na4 OK IDLE terminated\r\n");
	assert_false(ex_imap_session_idling(f.session));
	assert_string_equal(feed(&f, "a5 NAMESPACE\r\n"), "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\na5 OK NAMESPACE completed\r\n");
	finish(&f);
}

static void store_commands_without_database(void **state)
{
	(void)state;
	fixture f;
	start(&f, true, false);
	feed(&f, "a1 LOGIN alice@example.org app-password\r\n");
	assert_non_null(strstr(feed(&f, "a2 LIST \"\" *\r\n"), "a2 NO [UNAVAILABLE]"));
	assert_non_null(strstr(feed(&f, "a3 SELECT INBOX\r\n"), "a3 NO [UNAVAILABLE]"));
	finish(&f);
}

static void literals_and_errors(void **state)
{
	(void)state;
	fixture f;
	start(&f, true, false);
	/* A synchronising literal gets a continuation; LITERAL+ does not. */
	assert_string_equal(feed(&f, "a1 LOGIN {17}\r\n"), "+ Ready for literal data\r\n");
	assert_non_null(strstr(feed(&f, "alice@example.org {12+}\r\napp-password\r\n"), "a1 OK"));
	assert_non_null(strstr(feed(&f, "a2 FETCH 1 FLAGS\r\n"), "a2 BAD Select a mailbox first"));
	assert_non_null(strstr(feed(&f, "a3 FROB\r\n"), "a3 BAD"));
	/* An APPEND literal over APPENDLIMIT is refused before the data. */
	assert_non_null(strstr(feed(&f, "a4 APPEND INBOX {1001}\r\n"), "a4 NO [TOOBIG]"));
	const char *logout = feed(&f, "a5 LOGOUT\r\n");
	assert_non_null(strstr(logout, "* BYE"));
	assert_non_null(strstr(logout, "a5 OK LOGOUT completed"));
	assert_int_equal(f.next, EX_IMAP_NEXT_CLOSE);
	finish(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(greeting_without_tls_disables_login),
		cmocka_unit_test(starttls_then_login),
		cmocka_unit_test(failed_logins_close_the_session),
		cmocka_unit_test(authenticate_plain_forms),
		cmocka_unit_test(loopback_plaintext_when_allowed),
		cmocka_unit_test(id_enable_and_idle),
		cmocka_unit_test(store_commands_without_database),
		cmocka_unit_test(literals_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
