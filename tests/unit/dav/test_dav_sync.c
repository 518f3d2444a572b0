/* sync-tokens of sync-collection: written and parsed back, with the tokens a server must reject. Table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "expresso/dav_sync.h"

#define ID "6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11"

typedef struct {
	const char *token;
	long long expected;
} token_case;

/* The collection is at sync_seq 40 and its tombstones below 10 are pruned. */
static const token_case token_cases[] = {
	{ "", EX_DAV_SYNC_INITIAL },
	{ EX_DAV_SYNC_TOKEN_PREFIX ID ":10", 10 },
	{ EX_DAV_SYNC_TOKEN_PREFIX ID ":25", 25 },
	{ EX_DAV_SYNC_TOKEN_PREFIX ID ":40", 40 },
	{ EX_DAV_SYNC_TOKEN_PREFIX ID ":9", EX_DAV_SYNC_INVALID },
	{ EX_DAV_SYNC_TOKEN_PREFIX ID ":41", EX_DAV_SYNC_INVALID },
	{ EX_DAV_SYNC_TOKEN_PREFIX ID ":", EX_DAV_SYNC_INVALID },
	{ EX_DAV_SYNC_TOKEN_PREFIX ID ":-5", EX_DAV_SYNC_INVALID },
	{ EX_DAV_SYNC_TOKEN_PREFIX ID ":+20", EX_DAV_SYNC_INVALID },
	{ EX_DAV_SYNC_TOKEN_PREFIX ID ":20x", EX_DAV_SYNC_INVALID },
	{ EX_DAV_SYNC_TOKEN_PREFIX ID ":99999999999999999999999", EX_DAV_SYNC_INVALID },
	{ EX_DAV_SYNC_TOKEN_PREFIX ID "20", EX_DAV_SYNC_INVALID },
	{ EX_DAV_SYNC_TOKEN_PREFIX "7f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11:20", EX_DAV_SYNC_INVALID },
	{ EX_DAV_SYNC_TOKEN_PREFIX ID "0:20", EX_DAV_SYNC_INVALID },
	{ "urn:other:" ID ":20", EX_DAV_SYNC_INVALID },
	{ "http://example.com/sync/20", EX_DAV_SYNC_INVALID },
};

static void test_parse_sync_token(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(token_cases) / sizeof(token_cases[0]); i++) {
		long long sequence = ex_dav_parse_sync_token(token_cases[i].token, ID, 40, 10);
		if (sequence != token_cases[i].expected)
			fail_msg("token \"%s\": %lld, expected %lld", token_cases[i].token, sequence,
				 token_cases[i].expected);
	}
}

static void test_format_sync_token(void **state)
{
	(void)state;
	char token[256];

	ex_dav_format_sync_token(token, sizeof(token), ID, "17");
	assert_string_equal(token, "urn:x-expresso:sync:" ID ":17");
	assert_int_equal(ex_dav_parse_sync_token(token, ID, 17, 0), 17);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_sync_token),
		cmocka_unit_test(test_format_sync_token),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
