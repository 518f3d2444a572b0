/*
 * Table-driven tests of ENVELOPE and BODYSTRUCTURE built from raw octets
 * (services/mail/imap_structure.c, imap_address.c): each case is a message
 * and the response text expected for a client without UTF8=ACCEPT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_address.h"
#include "imap_structure.h"

typedef struct {
	const char *message;
	const char *envelope;      /* NULL: not checked */
	const char *bodystructure; /* NULL: not checked */
	const char *body;          /* NULL: not checked */
} structure_case;

static const structure_case cases[] = {
	/* No Content-Type: text/plain; charset=us-ascii; lines are LF octets, a last line without one is not counted. */
	{ "Subject: hi\r\n\r\nline one\r\nline two",
	  "(NIL \"hi\" NIL NIL NIL NIL NIL NIL NIL NIL)",
	  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 18 1 NIL NIL NIL NIL)",
	  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 18 1)" },
	/* Folded fields keep the white space after the fold (a tab makes the writer use a literal); the subject's runs become one space. */
	{ "Date:\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\nSubject: a\r\n  b\r\nMessage-ID:\r\n <x@y>\r\n\r\n",
	  "({31}\r\n\tMon, 1 Jan 2024 00:00:00 +0000 \"a b\" NIL NIL NIL NIL NIL NIL NIL \" <x@y>\")", NULL, NULL },
	/* Phrases keep their encoded-words; Sender and Reply-To default to From; groups. */
	{ "From: \"Doe, John\" <john@example.org>\r\nTo: =?UTF-8?B?w6k=?= <e@example.org>, team: a@b.c, d@e.f;\r\n"
	  "Cc: <only@example.org>, bare@example.org (Comment Name)\r\n\r\n",
	  "(NIL NIL ((\"Doe, John\" NIL \"john\" \"example.org\")) ((\"Doe, John\" NIL \"john\" \"example.org\")) "
	  "((\"Doe, John\" NIL \"john\" \"example.org\")) ((\"=?UTF-8?B?w6k=?=\" NIL \"e\" \"example.org\")"
	  "(NIL NIL \"team\" NIL)(NIL NIL \"a\" \"b.c\")(NIL NIL \"d\" \"e.f\")(NIL NIL NIL NIL)) "
	  "((NIL NIL \"only\" \"example.org\")(\"Comment Name\" NIL \"bare\" \"example.org\")) NIL NIL NIL)",
	  NULL, NULL },
	/* Missing parts get Dovecot's placeholders; a route is kept. */
	{ "From: nobody\r\nTo: <@relay.example:x@y.z>\r\nBcc: Broken <x@\r\n\r\n",
	  "(NIL NIL ((NIL NIL \"nobody\" \"MISSING_DOMAIN\")) ((NIL NIL \"nobody\" \"MISSING_DOMAIN\")) "
	  "((NIL NIL \"nobody\" \"MISSING_DOMAIN\")) ((NIL \"@relay.example\" \"x\" \"y.z\")) NIL "
	  "((\"Broken\" NIL \"x\" \"SYNTAX_ERROR\")) NIL NIL)",
	  NULL, NULL },
	/* A multipart: the CRLF before a delimiter belongs to it; the preamble and epilogue are not parts. */
	{ "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\n\r\nfirst\r\n--b1\r\n"
	  "Content-Type: application/pdf; name=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n"
	  "Content-Disposition: attachment; filename*0=\"a b\"; filename*1=\".pdf\"\r\nContent-Language: pt-BR, en\r\n"
	  "\r\nAAAA\r\n--b1--\r\nepilogue\r\n",
	  NULL,
	  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 5 0 NIL NIL NIL NIL)"
	  "(\"APPLICATION\" \"PDF\" (\"NAME\" \"r.pdf\") NIL NIL \"BASE64\" 4 NIL (\"ATTACHMENT\" (\"FILENAME\" \"a b.pdf\")) "
	  "(\"pt-BR\" \"en\") NIL) \"MIXED\" (\"BOUNDARY\" \"b1\") NIL NIL NIL)",
	  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 5 0)(\"APPLICATION\" \"PDF\" (\"NAME\" \"r.pdf\") "
	  "NIL NIL \"BASE64\" 4) \"MIXED\")" },
	/* RFC 2231: an extended value stays encoded under "name*", after the plain parameters. */
	{ "Content-Type: text/plain; name*=UTF-8''a%20b; charset=utf-8; title*0*=us-ascii'en'x; title*1=%y\r\n\r\n",
	  NULL,
	  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\" \"NAME*\" \"UTF-8''a%20b\" \"TITLE*\" \"us-ascii'en'x%25y\") NIL NIL "
	  "\"7BIT\" 0 0 NIL NIL NIL NIL)",
	  NULL },
	/* A boundary that is the prefix of a longer one does not end the part early. */
	{ "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b_alt\r\ny\r\n--b--\r\n",
	  NULL, NULL, "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 13 2) \"MIXED\")" },
	/* An embedded message has its own envelope and structure. */
	{ "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nFrom: a@b.c\r\n\r\nbody\r\n",
	  NULL, NULL,
	  "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 37 (NIL \"inner\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) "
	  "((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 6 1) 4)" },
	/* A multipart without any delimiter line shows one empty text part. */
	{ "Content-Type: multipart/alternative; boundary=zz\r\n\r\nno parts here\r\n", NULL, NULL,
	  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0) \"ALTERNATIVE\")" },
	/* No header at all, and no empty line. */
	{ "", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
	  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)", NULL },
};

static char *render(const char *value, size_t length, bool extended)
{
	ex_imap_writer out;
	ex_imap_writer_init(&out, 0, false);
	bool valid = imap_structure_render(&out, value, length, extended);
	assert_true(valid);
	char *text = strndup(out.data != NULL ? out.data : "", out.length);
	ex_imap_writer_free(&out);
	return text;
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		imap_structure structure;
		assert_int_equal(imap_structure_build(cases[i].message, strlen(cases[i].message), &structure), 0);
		char *envelope = render(structure.envelope, structure.envelope_length, true);
		char *bodystructure = render(structure.bodystructure, structure.bodystructure_length, true);
		char *body = render(structure.bodystructure, structure.bodystructure_length, false);
		print_message("case %zu\n", i);
		if (cases[i].envelope != NULL)
			assert_string_equal(envelope, cases[i].envelope);
		if (cases[i].bodystructure != NULL)
			assert_string_equal(bodystructure, cases[i].bodystructure);
		if (cases[i].body != NULL)
			assert_string_equal(body, cases[i].body);
		free(envelope);
		free(bodystructure);
		free(body);
		imap_structure_clear(&structure);
	}
}

/* 8-bit text goes out as a literal without UTF8=ACCEPT and quoted with it. */
static void test_render_utf8(void **state)
{
	(void)state;
	const char *message = "Subject: Ol\xc3\xa1\r\n\r\n";
	imap_structure structure;
	assert_int_equal(imap_structure_build(message, strlen(message), &structure), 0);
	ex_imap_writer out;
	ex_imap_writer_init(&out, 0, false);
	assert_true(imap_structure_render(&out, structure.envelope, structure.envelope_length, true));
	assert_non_null(strstr(out.data, "{4}\r\nOl\xc3\xa1"));
	ex_imap_writer_free(&out);
	ex_imap_writer_init(&out, 0, true);
	assert_true(imap_structure_render(&out, structure.envelope, structure.envelope_length, true));
	assert_non_null(strstr(out.data, "\"Ol\xc3\xa1\""));
	ex_imap_writer_free(&out);
	imap_structure_clear(&structure);
}

/* Renders the ENVELOPE of a message with SUBJECT, for a client without UTF8=ACCEPT. */
static char *envelope_with_subject(const char *subject)
{
	size_t size = strlen(subject) + 32;
	char *message = malloc(size);
	assert_non_null(message);
	snprintf(message, size, "Subject: %s\r\n\r\n", subject);
	imap_structure structure;
	assert_int_equal(imap_structure_build(message, strlen(message), &structure), 0);
	char *text = render(structure.envelope, structure.envelope_length, true);
	imap_structure_clear(&structure);
	free(message);
	return text;
}

/* Quotes and backslashes are escaped; 1024 octets are quoted and 1025 go as a literal. */
static void test_render_quoting(void **state)
{
	(void)state;
	char *escaped = envelope_with_subject("say \"hi\" \\ there");
	assert_string_equal(escaped, "(NIL \"say \\\"hi\\\" \\\\ there\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	free(escaped);

	char subject[1026];
	memset(subject, 'a', 1025);
	subject[1024] = '\0';
	char *at_limit = envelope_with_subject(subject);
	assert_int_equal(strncmp(at_limit, "(NIL \"aaaa", 10), 0);
	assert_int_equal(strlen(at_limit), 1024 + strlen("(NIL \"\" NIL NIL NIL NIL NIL NIL NIL NIL)"));
	free(at_limit);

	subject[1024] = 'a';
	subject[1025] = '\0';
	char *past_limit = envelope_with_subject(subject);
	assert_int_equal(strncmp(past_limit, "(NIL {1025}\r\naaaa", 17), 0);
	free(past_limit);
}

/* A value longer than the render's staging buffer comes out whole. */
static void test_render_long_value(void **state)
{
	(void)state;
	enum { ADDRESSES = 400 };
	size_t size = ADDRESSES * 40 + 64;
	char *message = malloc(size);
	assert_non_null(message);
	size_t length = (size_t)snprintf(message, size, "To: ");
	for (int i = 0; i < ADDRESSES; i++)
		length += (size_t)snprintf(message + length, size - length, "%suser%03d@example.org", i > 0 ? ", " : "", i);
	snprintf(message + length, size - length, "\r\n\r\n");
	imap_structure structure;
	assert_int_equal(imap_structure_build(message, strlen(message), &structure), 0);
	char *text = render(structure.envelope, structure.envelope_length, true);
	assert_true(strlen(text) > 8192);
	char expected[64];
	for (int i = 0; i < ADDRESSES; i++) {
		snprintf(expected, sizeof(expected), "(NIL NIL \"user%03d\" \"example.org\")", i);
		assert_non_null(strstr(text, expected));
	}
	const char *end = "\"example.org\")) NIL NIL NIL NIL)";
	assert_string_equal(text + strlen(text) - strlen(end), end);
	free(text);
	imap_structure_clear(&structure);
	free(message);
}

/* A value of another version, or a damaged one, is rejected so FETCH builds it again. */
static void test_render_rejects_invalid(void **state)
{
	(void)state;
	ex_imap_writer out;
	ex_imap_writer_init(&out, 0, false);
	assert_false(imap_structure_render(&out, "", 0, true));
	assert_false(imap_structure_render(&out, "0(NIL)", 6, true));
	assert_false(imap_structure_render(&out, "1({9}\r\nab)", 10, true));
	assert_false(imap_structure_render(&out, "1((NIL)", 7, true));
	ex_imap_writer_free(&out);
}

/* Nesting past the maximum depth is shown as empty text parts instead of being followed. */
static void test_depth_limit(void **state)
{
	(void)state;
	size_t levels = IMAP_STRUCTURE_MAX_DEPTH + 10;
	size_t capacity = levels * 64 + 64;
	char *message = malloc(capacity);
	assert_non_null(message);
	size_t length = 0;
	for (size_t i = 0; i < levels; i++)
		length += (size_t)snprintf(message + length, capacity - length,
					   "Content-Type: multipart/mixed; boundary=l%zu\r\n\r\n--l%zu\r\n", i, i);
	imap_structure structure;
	assert_int_equal(imap_structure_build(message, length, &structure), 0);
	char *body = render(structure.bodystructure, structure.bodystructure_length, false);
	size_t depth = 0;
	size_t deepest = 0;
	for (const char *p = body; *p != '\0'; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')')
			depth--;
		if (depth > deepest)
			deepest = depth;
	}
	assert_true(deepest <= IMAP_STRUCTURE_MAX_DEPTH + 3);
	free(body);
	free(message);
	imap_structure_clear(&structure);
}

/* The bytea text form is "\x" and two hex digits per octet. */
static void test_bytea_text(void **state)
{
	(void)state;
	char *text = imap_structure_bytea_text("1\x01\xff", 3);
	assert_string_equal(text, "\\x3101ff");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_render_utf8),
		cmocka_unit_test(test_render_quoting),
		cmocka_unit_test(test_render_long_value),
		cmocka_unit_test(test_render_rejects_invalid),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_bytea_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
