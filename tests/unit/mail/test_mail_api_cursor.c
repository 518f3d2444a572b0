/*
 * Tests of the message list's keyset cursor: round trips for every sort,
 * and rejection of anything this code did not write.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "mail_api_cursor.h"

static const char id[] = "0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21";

static void cursor_round_trip(void **state)
{
	static const struct {
		ex_mail_sort sort;
		bool descending;
		const char *key;
	} cases[] = {
		{ EX_MAIL_SORT_DATE, true, "2026-12-05 10:00:00+00" },
		{ EX_MAIL_SORT_DATE, false, "2026-12-05 10:00:00.123456+00" },
		{ EX_MAIL_SORT_DATE, true, "1999-01-31 23:59:59-03:00" },
		{ EX_MAIL_SORT_FROM, true, "maria jos\xc3\xa9 <maria@example.org>" },
		{ EX_MAIL_SORT_FROM, false, "" },
		{ EX_MAIL_SORT_SUBJECT, true, "=?utf-8?q?reuni=c3=a3o?= | a\"b'c" },
		{ EX_MAIL_SORT_SIZE, false, "0" },
		{ EX_MAIL_SORT_SIZE, true, "123456789012345678" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ex_mail_cursor cursor = { .sort = cases[i].sort, .descending = cases[i].descending };
		ex_mail_cursor decoded;
		char text[EX_MAIL_CURSOR_MAX_TEXT + 1];
		snprintf(cursor.id, sizeof(cursor.id), "%s", id);
		snprintf(cursor.key, sizeof(cursor.key), "%s", cases[i].key);
		print_message("case %zu: %s\n", i, cases[i].key);

		assert_int_equal(ex_mail_cursor_encode(&cursor, text, sizeof(text)), 0);
		assert_null(strpbrk(text, "+/="));
		assert_int_equal(ex_mail_cursor_decode(text, &decoded), 0);
		assert_int_equal(decoded.sort, cases[i].sort);
		assert_int_equal(decoded.descending, cases[i].descending);
		assert_string_equal(decoded.id, id);
		assert_string_equal(decoded.key, cases[i].key);
	}
}

static void cursor_longest_key(void **state)
{
	ex_mail_cursor cursor = { .sort = EX_MAIL_SORT_SUBJECT };
	ex_mail_cursor decoded;
	char text[EX_MAIL_CURSOR_MAX_TEXT + 1];
	(void)state;
	snprintf(cursor.id, sizeof(cursor.id), "%s", id);
	memset(cursor.key, 'x', EX_MAIL_CURSOR_MAX_KEY);
	cursor.key[EX_MAIL_CURSOR_MAX_KEY] = '\0';

	assert_int_equal(ex_mail_cursor_encode(&cursor, text, sizeof(text)), 0);
	assert_int_equal(ex_mail_cursor_decode(text, &decoded), 0);
	assert_int_equal(strlen(decoded.key), EX_MAIL_CURSOR_MAX_KEY);
	assert_int_equal(ex_mail_cursor_encode(&cursor, text, 16), -1);
}

static void cursor_invalid_fields(void **state)
{
	ex_mail_cursor cursor = { .sort = EX_MAIL_SORT_SIZE };
	char text[EX_MAIL_CURSOR_MAX_TEXT + 1];
	(void)state;
	snprintf(cursor.id, sizeof(cursor.id), "%s", "not-a-uuid");
	snprintf(cursor.key, sizeof(cursor.key), "%s", "12");
	assert_int_equal(ex_mail_cursor_encode(&cursor, text, sizeof(text)), -1);

	snprintf(cursor.id, sizeof(cursor.id), "%s", id);
	snprintf(cursor.key, sizeof(cursor.key), "%s", "12a");
	assert_int_equal(ex_mail_cursor_encode(&cursor, text, sizeof(text)), -1);

	cursor.sort = EX_MAIL_SORT_DATE;
	snprintf(cursor.key, sizeof(cursor.key), "%s", "yesterday");
	assert_int_equal(ex_mail_cursor_encode(&cursor, text, sizeof(text)), -1);

	cursor.sort = EX_MAIL_SORT_SUBJECT;
	snprintf(cursor.key, sizeof(cursor.key), "%s", "line\nbreak");
	assert_int_equal(ex_mail_cursor_encode(&cursor, text, sizeof(text)), -1);
}

/* Base64url of PLAIN, to forge cursors with chosen content. */
static void forge(const char *plain, char *out)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t length = strlen(plain);
	size_t written = 0;
	for (size_t i = 0; i < length; i += 3) {
		unsigned value = (unsigned char)plain[i] << 16;
		if (i + 1 < length)
			value |= (unsigned char)plain[i + 1] << 8;
		if (i + 2 < length)
			value |= (unsigned char)plain[i + 2];
		out[written++] = alphabet[(value >> 18) & 63];
		out[written++] = alphabet[(value >> 12) & 63];
		if (i + 1 < length)
			out[written++] = alphabet[(value >> 6) & 63];
		if (i + 2 < length)
			out[written++] = alphabet[value & 63];
	}
	out[written] = '\0';
}

static void cursor_rejects_forged(void **state)
{
	static const char *const plains[] = {
		"2\ndate\nd\n0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21\n2026-12-05 10:00:00+00",
		"1\nname\nd\n0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21\nx",
		"1\ndate\nx\n0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21\n2026-12-05 10:00:00+00",
		"1\ndate\nd\n0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e2\n2026-12-05 10:00:00+00",
		"1\ndate\nd\n0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21\n2026-12-05 10:00:00",
		"1\ndate\nd\n0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21\n2026-12-05 10:00:00+00'; DROP TABLE messages",
		"1\nsize\nd\n0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21\n-1",
		"1\nsize\nd\n0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21\n1234567890123456789",
		"1\nsubject\na\n0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21\nbad \xc3 utf-8",
		"1\nsubject\na\n0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21",
		"1\nsubject\na\n0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21\nx\ny",
	};
	char text[EX_MAIL_CURSOR_MAX_TEXT * 2];
	ex_mail_cursor cursor;
	(void)state;
	for (size_t i = 0; i < sizeof(plains) / sizeof(plains[0]); i++) {
		forge(plains[i], text);
		print_message("forged %zu\n", i);
		assert_int_equal(ex_mail_cursor_decode(text, &cursor), -1);
	}
	assert_int_equal(ex_mail_cursor_decode("", &cursor), -1);
	assert_int_equal(ex_mail_cursor_decode("a", &cursor), -1);
	assert_int_equal(ex_mail_cursor_decode("abc+def/", &cursor), -1);
	assert_int_equal(ex_mail_cursor_decode("abcd====", &cursor), -1);
}

static void sort_names(void **state)
{
	ex_mail_sort sort;
	(void)state;
	assert_int_equal(ex_mail_sort_parse("date", &sort), 0);
	assert_int_equal(sort, EX_MAIL_SORT_DATE);
	assert_int_equal(ex_mail_sort_parse("size", &sort), 0);
	assert_int_equal(sort, EX_MAIL_SORT_SIZE);
	assert_int_equal(ex_mail_sort_parse("Date", &sort), -1);
	assert_int_equal(ex_mail_sort_parse("", &sort), -1);
	assert_string_equal(ex_mail_sort_name(EX_MAIL_SORT_SUBJECT), "subject");
}

static void uuid_check(void **state)
{
	(void)state;
	assert_true(ex_mail_is_uuid(id));
	assert_true(ex_mail_is_uuid("0B7C3C1E-5F7A-4C55-9D63-2F0F6C1B8E21"));
	assert_false(ex_mail_is_uuid("0b7c3c1e5f7a4c559d632f0f6c1b8e21"));
	assert_false(ex_mail_is_uuid("0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e211"));
	assert_false(ex_mail_is_uuid("0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e2g"));
	assert_false(ex_mail_is_uuid(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cursor_round_trip),    cmocka_unit_test(cursor_longest_key),
		cmocka_unit_test(cursor_invalid_fields), cmocka_unit_test(cursor_rejects_forged),
		cmocka_unit_test(sort_names),           cmocka_unit_test(uuid_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
