/*
 * Tests of the parser of remote SMTP replies: single and multi-line
 * replies, enhanced status codes, EHLO extensions and malformed input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "smtp_reply.h"

/* Feeds LINES (NULL-terminated) and returns the status of the last one. */
static ex_smtp_reply_status feed(ex_smtp_reply *reply, const char *const *lines)
{
	ex_smtp_reply_status status = EX_SMTP_REPLY_MALFORMED;
	ex_smtp_reply_init(reply);
	for (size_t i = 0; lines[i] != NULL; i++) {
		status = ex_smtp_reply_line(reply, lines[i], strlen(lines[i]));
		if (status != EX_SMTP_REPLY_MORE)
			break;
	}
	return status;
}

static void test_single_line_with_enhanced_code(void **state)
{
	(void)state;
	ex_smtp_reply reply;
	const char *lines[] = { "550 5.1.1 <x@example.org>: no such user", NULL };
	assert_int_equal(feed(&reply, lines), EX_SMTP_REPLY_COMPLETE);
	assert_int_equal(reply.code, 550);
	assert_int_equal(ex_smtp_reply_class(&reply), 5);
	assert_string_equal(reply.enhanced, "5.1.1");
	assert_string_equal(reply.text, "<x@example.org>: no such user");
}

static void test_reply_without_enhanced_code(void **state)
{
	(void)state;
	ex_smtp_reply reply;
	const char *lines[] = { "220 mx.example.org ESMTP", NULL };
	assert_int_equal(feed(&reply, lines), EX_SMTP_REPLY_COMPLETE);
	assert_int_equal(reply.code, 220);
	assert_string_equal(reply.enhanced, "");
	assert_string_equal(reply.text, "mx.example.org ESMTP");
}

static void test_bare_code(void **state)
{
	(void)state;
	ex_smtp_reply reply;
	const char *lines[] = { "250", NULL };
	assert_int_equal(feed(&reply, lines), EX_SMTP_REPLY_COMPLETE);
	assert_int_equal(reply.code, 250);
	assert_string_equal(reply.text, "");
}

static void test_ehlo_extensions(void **state)
{
	(void)state;
	ex_smtp_reply reply;
	const char *lines[] = { "250-mx.example.org greets you", "250-PIPELINING", "250-SIZE 10240000",
				"250-starttls", "250-AUTH LOGIN PLAIN", "250-DSN", "250-SMTPUTF8", "250 8BITMIME", NULL };
	assert_int_equal(feed(&reply, lines), EX_SMTP_REPLY_COMPLETE);
	assert_int_equal(reply.lines, 8);
	assert_true(reply.extensions.pipelining);
	assert_true(reply.extensions.size);
	assert_true(reply.extensions.starttls);
	assert_true(reply.extensions.auth_plain);
	assert_true(reply.extensions.dsn);
	assert_true(reply.extensions.smtputf8);
	assert_true(reply.extensions.eightbitmime);
	assert_false(reply.extensions.requiretls);
}

static void test_greeting_line_is_not_an_extension(void **state)
{
	(void)state;
	ex_smtp_reply reply;
	const char *lines[] = { "250-STARTTLS", "250 AUTH LOGIN", NULL };
	assert_int_equal(feed(&reply, lines), EX_SMTP_REPLY_COMPLETE);
	assert_false(reply.extensions.starttls);
	assert_false(reply.extensions.auth_plain);
}

static void test_keyword_prefix_not_matched(void **state)
{
	(void)state;
	ex_smtp_reply reply;
	const char *lines[] = { "250-mx", "250-STARTTLSX", "250 DSNX", NULL };
	assert_int_equal(feed(&reply, lines), EX_SMTP_REPLY_COMPLETE);
	assert_false(reply.extensions.starttls);
	assert_false(reply.extensions.dsn);
}

static void test_code_change_is_malformed(void **state)
{
	(void)state;
	ex_smtp_reply reply;
	const char *lines[] = { "250-first", "251 second", NULL };
	assert_int_equal(feed(&reply, lines), EX_SMTP_REPLY_MALFORMED);
}

static void test_malformed_lines(void **state)
{
	(void)state;
	const char *bad[] = { "", "25", "abc hello", "150 too low", "650 too high", "250xtext", "2a0 x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ex_smtp_reply reply;
		ex_smtp_reply_init(&reply);
		assert_int_equal(ex_smtp_reply_line(&reply, bad[i], strlen(bad[i])), EX_SMTP_REPLY_MALFORMED);
	}
}

static void test_line_limit(void **state)
{
	(void)state;
	ex_smtp_reply reply;
	ex_smtp_reply_init(&reply);
	for (size_t i = 0; i < EX_SMTP_REPLY_MAX_LINES; i++)
		assert_int_equal(ex_smtp_reply_line(&reply, "250-x", 5), EX_SMTP_REPLY_MORE);
	assert_int_equal(ex_smtp_reply_line(&reply, "250-x", 5), EX_SMTP_REPLY_MALFORMED);
}

static void test_control_characters_replaced(void **state)
{
	(void)state;
	ex_smtp_reply reply;
	const char line[] = "550 5.7.1 bad\x01text\x1b";
	ex_smtp_reply_init(&reply);
	assert_int_equal(ex_smtp_reply_line(&reply, line, sizeof(line) - 1), EX_SMTP_REPLY_COMPLETE);
	assert_string_equal(reply.text, "bad?text?");
}

static void test_long_text_cut(void **state)
{
	(void)state;
	char line[EX_SMTP_REPLY_MAX_LINE + 100];
	memset(line, 'a', sizeof(line));
	line[0] = '4';
	line[1] = '5';
	line[2] = '1';
	line[3] = '-';
	ex_smtp_reply reply;
	ex_smtp_reply_init(&reply);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ex_smtp_reply_line(&reply, line, sizeof(line)), EX_SMTP_REPLY_MORE);
	assert_int_equal(strlen(reply.text), EX_SMTP_REPLY_MAX_TEXT - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_line_with_enhanced_code),
		cmocka_unit_test(test_reply_without_enhanced_code),
		cmocka_unit_test(test_bare_code),
		cmocka_unit_test(test_ehlo_extensions),
		cmocka_unit_test(test_greeting_line_is_not_an_extension),
		cmocka_unit_test(test_keyword_prefix_not_matched),
		cmocka_unit_test(test_code_change_is_malformed),
		cmocka_unit_test(test_malformed_lines),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_control_characters_replaced),
		cmocka_unit_test(test_long_text_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
