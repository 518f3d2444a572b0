/*
 * Conditional request evaluation with strong ETags, the Depth header,
 * href segment encoding and HTTP Basic credential decoding: table-driven.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "expresso/dav_auth.h"
#include "expresso/dav_http.h"
#include "expresso/dav_request.h"

typedef struct {
	const char *if_match;
	const char *if_none_match;
	const char *current;
	bool read_only;
	ex_dav_condition expected;
} condition_case;

static const condition_case condition_cases[] = {
	{ NULL, NULL, NULL, false, EX_DAV_CONDITION_PASSED },
	{ NULL, "*", NULL, false, EX_DAV_CONDITION_PASSED },
	{ NULL, "*", "\"a\"", false, EX_DAV_CONDITION_FAILED },
	{ "*", NULL, NULL, false, EX_DAV_CONDITION_FAILED },
	{ "*", NULL, "\"a\"", false, EX_DAV_CONDITION_PASSED },
	{ "\"a\"", NULL, "\"a\"", false, EX_DAV_CONDITION_PASSED },
	{ "\"b\", \"a\"", NULL, "\"a\"", false, EX_DAV_CONDITION_PASSED },
	{ "\"b\"", NULL, "\"a\"", false, EX_DAV_CONDITION_FAILED },
	{ "W/\"a\"", NULL, "\"a\"", false, EX_DAV_CONDITION_FAILED },
	{ "\"a\"", NULL, NULL, false, EX_DAV_CONDITION_FAILED },
	{ NULL, "\"a\"", "\"a\"", true, EX_DAV_CONDITION_NOT_MODIFIED },
	{ NULL, "\"a\"", "\"a\"", false, EX_DAV_CONDITION_FAILED },
	{ NULL, "\"b\"", "\"a\"", true, EX_DAV_CONDITION_PASSED },
	{ "\"a,b\"", NULL, "\"a,b\"", false, EX_DAV_CONDITION_PASSED },
	{ "\"a", NULL, "\"a\"", false, EX_DAV_CONDITION_FAILED },
};

static void test_conditions(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(condition_cases) / sizeof(condition_cases[0]); i++) {
		const condition_case *c = &condition_cases[i];
		ex_dav_condition got = ex_dav_evaluate_conditions(c->if_match, c->if_none_match, c->current, c->read_only);
		if (got != c->expected)
			fail_msg("case %zu (If-Match %s, If-None-Match %s, current %s): got %d, expected %d", i,
				 c->if_match ? c->if_match : "-", c->if_none_match ? c->if_none_match : "-",
				 c->current ? c->current : "-", got, c->expected);
	}
}

static void test_depth(void **state)
{
	(void)state;
	assert_int_equal(ex_dav_parse_depth(NULL, EX_DAV_DEPTH_INFINITY), EX_DAV_DEPTH_INFINITY);
	assert_int_equal(ex_dav_parse_depth("0", EX_DAV_DEPTH_INFINITY), EX_DAV_DEPTH_0);
	assert_int_equal(ex_dav_parse_depth("1", EX_DAV_DEPTH_0), EX_DAV_DEPTH_1);
	assert_int_equal(ex_dav_parse_depth("Infinity", EX_DAV_DEPTH_0), EX_DAV_DEPTH_INFINITY);
	assert_int_equal(ex_dav_parse_depth("2", EX_DAV_DEPTH_0), EX_DAV_DEPTH_INVALID);
	assert_int_equal(ex_dav_parse_depth("", EX_DAV_DEPTH_0), EX_DAV_DEPTH_INVALID);
}

static void test_encode_segment(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(ex_dav_encode_segment("a b/c?d#e%f", out, sizeof(out)), 0);
	assert_string_equal(out, "a%20b%2Fc%3Fd%23e%25f");
	assert_int_equal(ex_dav_encode_segment("Conceição.vcf", out, sizeof(out)), 0);
	assert_string_equal(out, "Concei%C3%A7%C3%A3o.vcf");
	assert_int_equal(ex_dav_encode_segment("{4F2A}@x.vcf", out, sizeof(out)), 0);
	assert_string_equal(out, "%7B4F2A%7D@x.vcf");
	assert_int_equal(ex_dav_encode_segment("abcdef", out, 6), -1);
	assert_int_equal(ex_dav_encode_segment("abcde", out, 6), 0);
}

typedef struct {
	const char *header;
	int expected;
	const char *login;
	const char *password;
} basic_case;

static const basic_case basic_cases[] = {
	{ "Basic YWxpY2VAZXhhbXBsZS5vcmc6c2VjcmV0", 0, "alice@example.org", "secret" },
	{ "basic YTpi", 0, "a", "b" },
	{ "Basic YTo=", 0, "a", "" },
	{ "Basic YTpiOmM=", 0, "a", "b:c" },
	{ "Basic Og==", -1, NULL, NULL },          /* empty login */
	{ "Basic YWJj", -1, NULL, NULL },          /* no colon */
	{ "Basic YTpi*", -1, NULL, NULL },         /* not base64 */
	{ "Basic YQBiOmM=", -1, NULL, NULL },      /* NUL inside */
	{ "Bearer abc", -1, NULL, NULL },
	{ "Basic ", -1, NULL, NULL },
};

static void test_basic(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(basic_cases) / sizeof(basic_cases[0]); i++) {
		char login[64] = "";
		char password[64] = "";
		int status = ex_dav_parse_basic(basic_cases[i].header, login, sizeof(login), password, sizeof(password));
		if (status != basic_cases[i].expected)
			fail_msg("case %s: status %d, expected %d", basic_cases[i].header, status, basic_cases[i].expected);
		if (status == 0) {
			assert_string_equal(login, basic_cases[i].login);
			assert_string_equal(password, basic_cases[i].password);
		}
	}
	char small[2];
	char password[64];
	assert_int_equal(ex_dav_parse_basic("Basic YWJjOmQ=", small, sizeof(small), password, sizeof(password)), -1);
}

static void test_check_conditions(void **state)
{
	(void)state;
	char message[160] = "";

	assert_int_equal(ex_dav_check_conditions(NULL, NULL, "\"a\"", false, "vCard", message, sizeof(message)), 0);
	assert_int_equal(ex_dav_check_conditions(NULL, "\"a\"", "\"a\"", true, "vCard", message, sizeof(message)), 304);
	assert_int_equal(ex_dav_check_conditions("\"b\"", NULL, "\"a\"", false, "vCard", message, sizeof(message)), 412);
	assert_string_equal(message, "the vCard has changed (its ETag is \"a\"); fetch it again before writing");
	assert_int_equal(ex_dav_check_conditions("*", NULL, NULL, false, "calendar object", message, sizeof(message)),
			 412);
	assert_string_equal(message, "the calendar object does not exist");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conditions),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_encode_segment),
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_check_conditions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
