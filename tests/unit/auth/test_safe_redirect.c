/*
 * The post-login redirect check, table-driven: every open-redirect form
 * must fall back to "/", and ordinary local paths must pass unchanged
 * (or with only non-ASCII bytes and spaces percent-encoded).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "safe_redirect.h"

typedef struct {
	const char *candidate;
	const char *location; /* expected Location; "/" for a rejected candidate */
} redirect_case;

static const redirect_case cases[] = {
	/* accepted */
	{ "/", "/" },
	{ "/inbox", "/inbox" },
	{ "/ok/path?x=1", "/ok/path?x=1" },
	{ "/mail/folder/INBOX#message-12", "/mail/folder/INBOX#message-12" },
	{ "/files/a%2Fb", "/files/a%2Fb" },
	{ "/search?q=a%20b&page=2", "/search?q=a%20b&page=2" },
	{ "/a:b", "/a:b" },
	{ "/pastas/Concei\xc3\xa7\xc3\xa3o", "/pastas/Concei%C3%A7%C3%A3o" },
	{ "/with space", "/with%20space" },
	{ "/..//evil.example", "/..//evil.example" },
	{ "/%7Euser", "/%7Euser" },
	/* other origins */
	{ "//evil.example", "/" },
	{ "///evil.example", "/" },
	{ "/\\evil.example", "/" },
	{ "\\\\evil.example", "/" },
	{ "\\/evil.example", "/" },
	{ "https://evil.example", "/" },
	{ "http:evil.example", "/" },
	{ "javascript:alert(1)", "/" },
	{ "JavaScript:alert(1)", "/" },
	{ "data:text/html,x", "/" },
	{ "evil.example", "/" },
	{ "inbox", "/" },
	{ "", "/" },
	{ " /inbox", "/" },
	/* backslashes anywhere */
	{ "/ok\\evil", "/" },
	/* encoded slash or backslash right after the first slash */
	{ "/%2F%2Fevil.example", "/" },
	{ "/%2fevil.example", "/" },
	{ "/%5Cevil.example", "/" },
	{ "/%5cevil.example", "/" },
	{ "/%252F%252Fevil.example", "/" },
	{ "/%25252Fevil.example", "/" },
	{ "/%255Cevil.example", "/" },
	/* control characters, raw or encoded */
	{ "/%0d%0aSet-Cookie:x", "/" },
	{ "/%0D%0ASet-Cookie:x", "/" },
	{ "/ok%0aSet-Cookie:x", "/" },
	{ "/ok%250aSet-Cookie:x", "/" },
	{ "/ok%00", "/" },
	{ "/ok%7f", "/" },
	{ "/\t/evil.example", "/" },
	{ "/ok\r\nSet-Cookie: x", "/" },
	{ "/ok\x7f", "/" },
	{ "/%09/evil.example", "/" },
	/* malformed escapes */
	{ "/ok%", "/" },
	{ "/ok%2", "/" },
	{ "/ok%zz", "/" },
	{ "/ok%%41", "/" },
};

static void redirect_table(void **state)
{
	char location[EX_RP_REDIRECT_LOCATION_MAX];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *candidate = cases[i].candidate;
		bool kept = ex_rp_redirect_location(candidate, strlen(candidate), location, sizeof(location));
		if (strcmp(location, cases[i].location) != 0)
			fail_msg("candidate \"%s\": Location is \"%s\", expected \"%s\"", candidate, location,
				 cases[i].location);
		bool expect_kept = strcmp(cases[i].location, "/") != 0 || strcmp(candidate, "/") == 0;
		if (kept != expect_kept)
			fail_msg("candidate \"%s\": kept=%d, expected %d", candidate, kept, expect_kept);
	}
}

static void redirect_rejects_embedded_nul(void **state)
{
	static const char candidate[] = { '/', 'o', 'k', '\0', '/', '/', 'x' };
	(void)state;
	assert_false(ex_rp_redirect_is_safe(candidate, sizeof(candidate)));
}

static void redirect_rejects_null(void **state)
{
	char location[EX_RP_REDIRECT_LOCATION_MAX];
	(void)state;
	assert_false(ex_rp_redirect_is_safe(NULL, 0));
	assert_false(ex_rp_redirect_location(NULL, 0, location, sizeof(location)));
	assert_string_equal(location, "/");
}

static void redirect_length_limit(void **state)
{
	static char candidate[EX_RP_REDIRECT_MAX + 2];
	(void)state;

	candidate[0] = '/';
	memset(candidate + 1, 'a', EX_RP_REDIRECT_MAX - 1);
	assert_true(ex_rp_redirect_is_safe(candidate, EX_RP_REDIRECT_MAX));
	candidate[EX_RP_REDIRECT_MAX] = 'a';
	assert_false(ex_rp_redirect_is_safe(candidate, EX_RP_REDIRECT_MAX + 1));
}

static void redirect_small_buffer_gives_root(void **state)
{
	char location[16];
	(void)state;
	assert_false(ex_rp_redirect_location("/inbox", 6, location, sizeof(location)));
	assert_string_equal(location, "/");
}

static void redirect_encodes_every_high_byte(void **state)
{
	static char candidate[EX_RP_REDIRECT_MAX];
	static char location[EX_RP_REDIRECT_LOCATION_MAX];
	(void)state;

	candidate[0] = '/';
	memset(candidate + 1, 0xff, EX_RP_REDIRECT_MAX - 1);
	assert_true(ex_rp_redirect_location(candidate, EX_RP_REDIRECT_MAX, location, sizeof(location)));
	assert_int_equal(strlen(location), 1 + 3 * (EX_RP_REDIRECT_MAX - 1));
	assert_memory_equal(location, "/%FF%FF", 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(redirect_table),
		cmocka_unit_test(redirect_rejects_embedded_nul),
		cmocka_unit_test(redirect_rejects_null),
		cmocka_unit_test(redirect_length_limit),
		cmocka_unit_test(redirect_small_buffer_gives_root),
		cmocka_unit_test(redirect_encodes_every_high_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
