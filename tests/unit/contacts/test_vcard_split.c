/*
 * The vCard splitter of the import API: which byte ranges a file of
 * several vCards gives, and which files it rejects with which line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "vcard_split.h"

#define CARD(uid) "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:" uid "\r\nFN:" uid "\r\nEND:VCARD\r\n"

typedef struct {
	const char *name;
	const char *text;
	ex_vcard_split_status expected;
	size_t count;
	const char *error; /* part of the error message, or NULL */
} split_case;

static const split_case cases[] = {
	{ "one vCard", CARD("a"), EX_VCARD_SPLIT_OK, 1, NULL },
	{ "three vCards with blank lines", CARD("a") "\r\n" CARD("b") "  \n" CARD("c"), EX_VCARD_SPLIT_OK, 3, NULL },
	{ "bare LF and lower case", "begin:vcard\nVERSION:3.0\nFN:x\nend:vcard\n", EX_VCARD_SPLIT_OK, 1, NULL },
	{ "no final line break", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\nEND:VCARD", EX_VCARD_SPLIT_OK, 1, NULL },
	{ "BOM", "\xEF\xBB\xBF" CARD("a"), EX_VCARD_SPLIT_OK, 1, NULL },
	{ "nested AGENT vCard", "BEGIN:VCARD\r\nVERSION:2.1\r\nAGENT:\r\nBEGIN:VCARD\r\nFN:agent\r\nEND:VCARD\r\nFN:x\r\nEND:VCARD\r\n",
	  EX_VCARD_SPLIT_OK, 1, NULL },
	{ "empty file", "", EX_VCARD_SPLIT_INVALID, 0, "has no vCard" },
	{ "only blank lines", "\r\n\r\n", EX_VCARD_SPLIT_INVALID, 0, "has no vCard" },
	{ "text between vCards", CARD("a") "hello\r\n" CARD("b"), EX_VCARD_SPLIT_INVALID, 1, "line 6 is outside" },
	{ "missing END", CARD("a") "BEGIN:VCARD\r\nFN:b\r\n", EX_VCARD_SPLIT_INVALID, 1, "begins on line 6 has no END:VCARD" },
	{ "END without BEGIN", "END:VCARD\r\n", EX_VCARD_SPLIT_INVALID, 0, "line 1 is outside" },
};

static void test_split_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const split_case *c = &cases[i];
		ex_vcard_span spans[8];
		size_t count = 99;
		char err[256] = "";
		ex_vcard_split_status status = ex_vcard_split(c->text, strlen(c->text), spans, 8, &count, err, sizeof(err));
		if (status != c->expected)
			fail_msg("%s: status %d, expected %d (%s)", c->name, status, c->expected, err);
		if (status == EX_VCARD_SPLIT_OK && count != c->count)
			fail_msg("%s: %zu vCards, expected %zu", c->name, count, c->count);
		if (c->error != NULL && strstr(err, c->error) == NULL)
			fail_msg("%s: error \"%s\" does not contain \"%s\"", c->name, err, c->error);
	}
}

static void test_split_ranges(void **state)
{
	static const char text[] = CARD("a") "\r\n" CARD("b");
	ex_vcard_span spans[4];
	size_t count;
	char err[256];
	(void)state;

	assert_int_equal(ex_vcard_split(text, strlen(text), spans, 4, &count, err, sizeof(err)), EX_VCARD_SPLIT_OK);
	assert_int_equal(count, 2);
	assert_int_equal(spans[0].offset, 0);
	assert_int_equal(spans[0].length, strlen(CARD("a")));
	assert_int_equal(spans[0].line, 1);
	assert_int_equal(spans[1].offset, strlen(CARD("a")) + 2);
	assert_int_equal(spans[1].length, strlen(CARD("b")));
	assert_int_equal(spans[1].line, 7);
	assert_memory_equal(text + spans[1].offset, CARD("b"), spans[1].length);
}

static void test_split_count_limit(void **state)
{
	static const char text[] = CARD("a") CARD("b") CARD("c");
	ex_vcard_span spans[3];
	size_t count;
	char err[256];
	(void)state;

	/* Three vCards fit a limit of three and pass a limit of two. */
	assert_int_equal(ex_vcard_split(text, strlen(text), spans, 3, &count, err, sizeof(err)), EX_VCARD_SPLIT_OK);
	assert_int_equal(count, 3);
	assert_int_equal(ex_vcard_split(text, strlen(text), spans, 2, &count, err, sizeof(err)), EX_VCARD_SPLIT_TOO_MANY);
	assert_non_null(strstr(err, "more than 2 vCards"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_table),
		cmocka_unit_test(test_split_ranges),
		cmocka_unit_test(test_split_count_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
