/*
 * Table-driven tests of the SMTP command line reader: every input is fed
 * whole and split at every offset, and must give the same lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "smtp_line.h"

typedef struct {
	const char *name;
	const char *input;
	size_t input_length; /* 0: strlen(input) */
	size_t max_length;
	ex_smtp_line_status expected[4];
	const char *lines[4]; /* text expected for each DONE */
	size_t count;
} line_case;

static const line_case cases[] = {
	{ "one line", "EHLO a.example\r\n", 0, 64, { EX_SMTP_LINE_DONE }, { "EHLO a.example" }, 1 },
	{ "two pipelined lines", "MAIL FROM:<>\r\nRCPT TO:<b@c.d>\r\n", 0, 64,
	  { EX_SMTP_LINE_DONE, EX_SMTP_LINE_DONE }, { "MAIL FROM:<>", "RCPT TO:<b@c.d>" }, 2 },
	{ "empty line", "\r\n", 0, 64, { EX_SMTP_LINE_DONE }, { "" }, 1 },
	{ "at the maximum", "12345678\r\n", 0, 8, { EX_SMTP_LINE_DONE }, { "12345678" }, 1 },
	{ "one past the maximum", "123456789\r\nNOOP\r\n", 0, 8, { EX_SMTP_LINE_TOO_LONG, EX_SMTP_LINE_DONE },
	  { NULL, "NOOP" }, 2 },
	{ "bare LF", "NOOP\nQUIT\r\n", 0, 64, { EX_SMTP_LINE_BARE_LF, EX_SMTP_LINE_DONE }, { NULL, "QUIT" }, 2 },
	{ "NUL octet", "NO\0OP\r\nQUIT\r\n", 13, 64, { EX_SMTP_LINE_NUL, EX_SMTP_LINE_DONE }, { NULL, "QUIT" }, 2 },
	{ "lone CR kept", "A\rB\r\n", 0, 64, { EX_SMTP_LINE_DONE }, { "A\rB" }, 1 },
	{ "too long wins over NUL", "1234567890\0\r\n", 13, 4, { EX_SMTP_LINE_TOO_LONG }, { NULL }, 1 },
};

/* Feeds INPUT in two parts split at SPLIT and checks every line. */
static void run_case(const line_case *test, size_t split)
{
	ex_smtp_line_reader reader;
	size_t length = test->input_length != 0 ? test->input_length : strlen(test->input);
	size_t offset = 0;
	size_t found = 0;

	assert_int_equal(ex_smtp_line_init(&reader, test->max_length), 0);
	while (offset < length) {
		size_t end = offset < split ? split : length;
		size_t consumed = 0;
		ex_smtp_line_status status = ex_smtp_line_feed(&reader, test->input + offset, end - offset, &consumed);
		assert_true(consumed > 0);
		offset += consumed;
		if (status == EX_SMTP_LINE_NEED_MORE)
			continue;
		assert_true(found < test->count);
		assert_int_equal(status, test->expected[found]);
		if (status == EX_SMTP_LINE_DONE)
			assert_string_equal(ex_smtp_line_text(&reader), test->lines[found]);
		found++;
	}
	assert_int_equal(found, test->count);
	ex_smtp_line_free(&reader);
}

static void line_reader_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t length = cases[i].input_length != 0 ? cases[i].input_length : strlen(cases[i].input);
		for (size_t split = 0; split <= length; split++) {
			print_message("case: %s, split at %zu\n", cases[i].name, split);
			run_case(&cases[i], split);
		}
	}
}

static void line_reader_auth_length(void **state)
{
	(void)state;
	ex_smtp_line_reader reader;
	char line[12288 + 2];
	size_t consumed = 0;

	memset(line, 'A', 12288);
	line[12288] = '\r';
	line[12289] = '\n';
	assert_int_equal(ex_smtp_line_init(&reader, 12288), 0);
	assert_int_equal(ex_smtp_line_feed(&reader, line, sizeof(line), &consumed), EX_SMTP_LINE_DONE);
	assert_int_equal(consumed, sizeof(line));
	assert_int_equal(ex_smtp_line_length(&reader), 12288);
	ex_smtp_line_free(&reader);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(line_reader_cases),
		cmocka_unit_test(line_reader_auth_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
