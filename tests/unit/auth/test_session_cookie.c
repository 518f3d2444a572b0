/*
 * Set-Cookie values: the attributes of the three session cookies, the
 * deletion form, and refusal of names, values and paths that a cookie
 * cannot carry or that a browser would drop for their size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "session_cookie.h"

static void cookie_session_attributes(void **state)
{
	char out[EX_RP_SET_COOKIE_MAX];
	ex_rp_cookie cookie = {
		.name = EX_RP_COOKIE_SESSION, .value = "aaa.bbb.ccc", .path = EX_RP_COOKIE_PATH_ALL, .secure = true,
		.max_age = 300,
	};
	(void)state;

	int length = ex_rp_cookie_format(out, sizeof(out), &cookie);
	assert_int_equal(length, (int)strlen(out));
	assert_string_equal(out, "expresso_session=aaa.bbb.ccc; Path=/; Max-Age=300; HttpOnly; Secure; SameSite=Lax");
}

static void cookie_insecure_session_only(void **state)
{
	char out[EX_RP_SET_COOKIE_MAX];
	ex_rp_cookie cookie = {
		.name = EX_RP_COOKIE_REFRESH, .value = "r-token_1", .path = EX_RP_COOKIE_PATH_AUTH, .secure = false,
		.max_age = EX_RP_COOKIE_SESSION_ONLY,
	};
	(void)state;

	assert_true(ex_rp_cookie_format(out, sizeof(out), &cookie) > 0);
	assert_string_equal(out, "expresso_refresh=r-token_1; Path=/auth; HttpOnly; SameSite=Lax");
}

static void cookie_deletion(void **state)
{
	char out[EX_RP_SET_COOKIE_MAX];
	(void)state;

	assert_true(ex_rp_cookie_format_deletion(out, sizeof(out), EX_RP_COOKIE_ID_TOKEN, EX_RP_COOKIE_PATH_AUTH,
						 true) > 0);
	assert_string_equal(out, "expresso_id=; Path=/auth; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; "
				 "HttpOnly; Secure; SameSite=Lax");
}

static void cookie_rejects_bad_values(void **state)
{
	static const char *const bad_values[] = {
		"a b", "a;b", "a,b", "a\"b", "a\\b", "a\rb", "a\nb", "a\x7f", "caf\xc3\xa9",
	};
	char out[EX_RP_SET_COOKIE_MAX];
	(void)state;

	for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		ex_rp_cookie cookie = { .name = "n", .value = bad_values[i], .path = "/", .max_age = 1 };
		if (ex_rp_cookie_format(out, sizeof(out), &cookie) != -1)
			fail_msg("value %zu was accepted: %s", i, out);
	}
}

static void cookie_rejects_bad_names_and_paths(void **state)
{
	static const char *const bad_names[] = { "", "a b", "a=b", "a;b", "a(b", "a\tb", "n\xc3\xa3" };
	static const char *const bad_paths[] = { "", "auth", "/a;b", "/a\nb" };
	char out[EX_RP_SET_COOKIE_MAX];
	(void)state;

	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		ex_rp_cookie cookie = { .name = bad_names[i], .value = "v", .path = "/", .max_age = 1 };
		if (ex_rp_cookie_format(out, sizeof(out), &cookie) != -1)
			fail_msg("name %zu was accepted: %s", i, out);
	}
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		ex_rp_cookie cookie = { .name = "n", .value = "v", .path = bad_paths[i], .max_age = 1 };
		if (ex_rp_cookie_format(out, sizeof(out), &cookie) != -1)
			fail_msg("path %zu was accepted: %s", i, out);
	}
	ex_rp_cookie no_path = { .name = "n", .value = "v", .path = NULL, .max_age = 1 };
	assert_int_equal(ex_rp_cookie_format(out, sizeof(out), &no_path), -1);
}

static void cookie_size_limit(void **state)
{
	char out[EX_RP_SET_COOKIE_MAX];
	size_t name_length = strlen(EX_RP_COOKIE_SESSION);
	char *value = malloc(EX_RP_COOKIE_NAME_VALUE_MAX + 2);
	(void)state;

	memset(value, 'a', EX_RP_COOKIE_NAME_VALUE_MAX - name_length);
	value[EX_RP_COOKIE_NAME_VALUE_MAX - name_length] = '\0';
	ex_rp_cookie cookie = { .name = EX_RP_COOKIE_SESSION, .value = value, .path = "/", .secure = true, .max_age = 99999 };
	assert_true(ex_rp_cookie_format(out, sizeof(out), &cookie) > 0);

	value[EX_RP_COOKIE_NAME_VALUE_MAX - name_length] = 'a';
	value[EX_RP_COOKIE_NAME_VALUE_MAX - name_length + 1] = '\0';
	assert_int_equal(ex_rp_cookie_format(out, sizeof(out), &cookie), -1);
	free(value);
}

static void cookie_small_buffer(void **state)
{
	char out[16];
	ex_rp_cookie cookie = { .name = "n", .value = "value", .path = "/", .max_age = 1 };
	(void)state;
	assert_int_equal(ex_rp_cookie_format(out, sizeof(out), &cookie), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cookie_session_attributes),
		cmocka_unit_test(cookie_insecure_session_only),
		cmocka_unit_test(cookie_deletion),
		cmocka_unit_test(cookie_rejects_bad_values),
		cmocka_unit_test(cookie_rejects_bad_names_and_paths),
		cmocka_unit_test(cookie_size_limit),
		cmocka_unit_test(cookie_small_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
