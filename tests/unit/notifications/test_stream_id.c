/*
 * Tests of the stream id parser, which reads the Last-Event-ID header:
 * a table of accepted and rejected texts, ordering and printing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stream_id.h"

static void parse_accepts_valid_ids(void **state)
{
	static const struct {
		const char *text;
		uint64_t ms, seq;
	} cases[] = {
		{ "0-0", 0, 0 },
		{ "1796422479430-0", 1796422479430u, 0 },
		{ "1796422479430-17", 1796422479430u, 17 },
		{ "18446744073709551615-18446744073709551615", UINT64_MAX, UINT64_MAX },
		{ "007-1", 7, 1 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ex_notify_stream_id id;
		assert_int_equal(ex_notify_stream_id_parse(cases[i].text, strlen(cases[i].text), &id), 0);
		assert_true(id.ms == cases[i].ms);
		assert_true(id.seq == cases[i].seq);
	}
}

static void parse_rejects_invalid_ids(void **state)
{
	static const char *const cases[] = {
		"", "-", "1", "1-", "-1", "1--1", "1-1-1", " 1-1", "1-1 ", "+1-1", "1-+1", "a-1", "1-a",
		"18446744073709551616-0", "0-18446744073709551616", "99999999999999999999-0",
		"000000000000000000001-0", "1-1\n", "1.5-1",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ex_notify_stream_id id;
		if (ex_notify_stream_id_parse(cases[i], strlen(cases[i]), &id) != 0)
			continue;
		fail_msg("accepted invalid id \"%s\"", cases[i]);
	}
}

static void parse_respects_length(void **state)
{
	ex_notify_stream_id id;
	(void)state;
	assert_int_equal(ex_notify_stream_id_parse("12-34xyz", 5, &id), 0);
	assert_true(id.ms == 12 && id.seq == 34);
	assert_int_equal(ex_notify_stream_id_parse("12-34", 3, &id), -1);
	assert_int_equal(ex_notify_stream_id_parse(NULL, 0, &id), -1);
}

static void compare_orders_by_ms_then_seq(void **state)
{
	ex_notify_stream_id a = { 5, 9 }, b = { 6, 0 }, c = { 6, 1 }, same = { 6, 1 };
	(void)state;
	assert_true(ex_notify_stream_id_compare(&a, &b) < 0);
	assert_true(ex_notify_stream_id_compare(&b, &c) < 0);
	assert_true(ex_notify_stream_id_compare(&c, &a) > 0);
	assert_int_equal(ex_notify_stream_id_compare(&c, &same), 0);
}

static void format_round_trips(void **state)
{
	ex_notify_stream_id id = { UINT64_MAX, 42 }, parsed;
	char text[EX_NOTIFY_STREAM_ID_MAX];
	char small[4];
	(void)state;
	assert_int_equal(ex_notify_stream_id_format(text, sizeof(text), &id), 0);
	assert_string_equal(text, "18446744073709551615-42");
	assert_int_equal(ex_notify_stream_id_parse(text, strlen(text), &parsed), 0);
	assert_int_equal(ex_notify_stream_id_compare(&id, &parsed), 0);
	assert_int_equal(ex_notify_stream_id_format(small, sizeof(small), &id), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_accepts_valid_ids),
		cmocka_unit_test(parse_rejects_invalid_ids),
		cmocka_unit_test(parse_respects_length),
		cmocka_unit_test(compare_orders_by_ms_then_seq),
		cmocka_unit_test(format_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
