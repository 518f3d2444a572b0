/*
 * Range parsing, table-driven against a 1000-byte file: satisfiable
 * forms with the ranges they resolve to, unsatisfiable forms (416) and
 * malformed forms that are ignored (200 with the whole file).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "drive_parse.h"

typedef struct {
	const char *header;
	uint64_t size;
	ex_http_range_status status;
	size_t count;
	uint64_t first; /* of the first range */
	uint64_t last;
} range_case;

static const range_case cases[] = {
	{ "bytes=0-499", 1000, EX_HTTP_RANGE_SATISFIABLE, 1, 0, 499 },
	{ "bytes=500-999", 1000, EX_HTTP_RANGE_SATISFIABLE, 1, 500, 999 },
	{ "bytes=500-", 1000, EX_HTTP_RANGE_SATISFIABLE, 1, 500, 999 },
	{ "bytes=-500", 1000, EX_HTTP_RANGE_SATISFIABLE, 1, 500, 999 },
	{ "bytes=-5000", 1000, EX_HTTP_RANGE_SATISFIABLE, 1, 0, 999 },
	{ "bytes=0-0", 1000, EX_HTTP_RANGE_SATISFIABLE, 1, 0, 0 },
	{ "bytes=999-999", 1000, EX_HTTP_RANGE_SATISFIABLE, 1, 999, 999 },
	{ "bytes=900-2000", 1000, EX_HTTP_RANGE_SATISFIABLE, 1, 900, 999 },
	{ "bytes=0-18446744073709551615", 1000, EX_HTTP_RANGE_SATISFIABLE, 1, 0, 999 },
	{ "Bytes=1-2", 1000, EX_HTTP_RANGE_SATISFIABLE, 1, 1, 2 },
	{ "bytes=0-1, 5-6", 1000, EX_HTTP_RANGE_SATISFIABLE, 2, 0, 1 },
	{ "bytes=0-1,,5-6", 1000, EX_HTTP_RANGE_SATISFIABLE, 2, 0, 1 },
	{ "bytes=2000-3000, 0-1", 1000, EX_HTTP_RANGE_SATISFIABLE, 1, 0, 1 },
	/* unsatisfiable */
	{ "bytes=1000-", 1000, EX_HTTP_RANGE_UNSATISFIABLE, 0, 0, 0 },
	{ "bytes=1000-1001", 1000, EX_HTTP_RANGE_UNSATISFIABLE, 0, 0, 0 },
	{ "bytes=-0", 1000, EX_HTTP_RANGE_UNSATISFIABLE, 0, 0, 0 },
	{ "bytes=0-", 0, EX_HTTP_RANGE_UNSATISFIABLE, 0, 0, 0 },
	{ "bytes=-1", 0, EX_HTTP_RANGE_UNSATISFIABLE, 0, 0, 0 },
	/* malformed: ignored */
	{ "bytes=500-400", 1000, EX_HTTP_RANGE_IGNORED, 0, 0, 0 },
	{ "bytes=", 1000, EX_HTTP_RANGE_IGNORED, 0, 0, 0 },
	{ "bytes=,", 1000, EX_HTTP_RANGE_IGNORED, 0, 0, 0 },
	{ "bytes=-", 1000, EX_HTTP_RANGE_IGNORED, 0, 0, 0 },
	{ "bytes=a-b", 1000, EX_HTTP_RANGE_IGNORED, 0, 0, 0 },
	{ "bytes=1-2-3", 1000, EX_HTTP_RANGE_IGNORED, 0, 0, 0 },
	{ "bytes=+1-2", 1000, EX_HTTP_RANGE_IGNORED, 0, 0, 0 },
	{ "bytes=1 -2", 1000, EX_HTTP_RANGE_IGNORED, 0, 0, 0 },
	{ "bytes=0-18446744073709551616", 1000, EX_HTTP_RANGE_IGNORED, 0, 0, 0 },
	{ "items=0-1", 1000, EX_HTTP_RANGE_IGNORED, 0, 0, 0 },
	{ "bytes 0-1", 1000, EX_HTTP_RANGE_IGNORED, 0, 0, 0 },
	{ "0-1", 1000, EX_HTTP_RANGE_IGNORED, 0, 0, 0 },
	{ "", 1000, EX_HTTP_RANGE_IGNORED, 0, 0, 0 },
};

static void range_table(void **state)
{
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const range_case *c = &cases[i];
		ex_http_range_set set;
		ex_http_range_status status = ex_http_range_parse(c->header, c->size, &set);
		if (status != c->status)
			fail_msg("case %zu \"%s\": status %d, expected %d", i, c->header, (int)status, (int)c->status);
		assert_int_equal(set.count, c->count);
		if (c->count == 0)
			continue;
		assert_int_equal(set.ranges[0].first, c->first);
		assert_int_equal(set.ranges[0].last, c->last);
	}
}

static void range_absent_header(void **state)
{
	(void)state;
	ex_http_range_set set;

	assert_int_equal(ex_http_range_parse(NULL, 10, &set), EX_HTTP_RANGE_IGNORED);
	assert_int_equal(set.count, 0);
}

static void range_count_limit(void **state)
{
	(void)state;
	char header[512] = "bytes=";
	ex_http_range_set set;

	for (int i = 0; i < EX_HTTP_RANGE_MAX; i++) {
		char spec[16];
		snprintf(spec, sizeof(spec), "%s%d-%d", i ? "," : "", i * 10, i * 10 + 1);
		strcat(header, spec);
	}
	assert_int_equal(ex_http_range_parse(header, 1000, &set), EX_HTTP_RANGE_SATISFIABLE);
	assert_int_equal(set.count, EX_HTTP_RANGE_MAX);
	strcat(header, ",900-901");
	assert_int_equal(ex_http_range_parse(header, 1000, &set), EX_HTTP_RANGE_IGNORED);
	assert_int_equal(set.count, 0);
}

static void range_sequential_check(void **state)
{
	(void)state;
	ex_http_range_set set;

	assert_int_equal(ex_http_range_parse("bytes=0-1,2-3,10-", 100, &set), EX_HTTP_RANGE_SATISFIABLE);
	assert_true(ex_http_ranges_are_sequential(&set));
	assert_int_equal(ex_http_range_parse("bytes=0-1", 100, &set), EX_HTTP_RANGE_SATISFIABLE);
	assert_true(ex_http_ranges_are_sequential(&set));
	assert_int_equal(ex_http_range_parse("bytes=2-3,0-1", 100, &set), EX_HTTP_RANGE_SATISFIABLE);
	assert_false(ex_http_ranges_are_sequential(&set));
	assert_int_equal(ex_http_range_parse("bytes=0-5,5-9", 100, &set), EX_HTTP_RANGE_SATISFIABLE);
	assert_false(ex_http_ranges_are_sequential(&set));
	assert_int_equal(ex_http_range_parse("bytes=90-,-5", 100, &set), EX_HTTP_RANGE_SATISFIABLE);
	assert_false(ex_http_ranges_are_sequential(&set));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(range_table),
		cmocka_unit_test(range_absent_header),
		cmocka_unit_test(range_count_limit),
		cmocka_unit_test(range_sequential_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
