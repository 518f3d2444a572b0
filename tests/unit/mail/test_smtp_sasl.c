/*
 * Tests of base64 decoding and PLAIN splitting for SMTP AUTH.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "smtp_sasl.h"

static void base64_round_trip(void **state)
{
	(void)state;
	static const char *const inputs[] = { "", "a", "ab", "abc", "abcd", "\0alice\0secret" };
	static const size_t lengths[] = { 0, 1, 2, 3, 4, 13 };
	char encoded[64];
	char decoded[64];
	size_t length = 0;

	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		assert_int_equal(ex_sasl_base64_encode(inputs[i], lengths[i], encoded, sizeof(encoded)), 0);
		assert_int_equal(ex_sasl_base64_decode(encoded, strlen(encoded), decoded, sizeof(decoded), &length), 0);
		assert_int_equal(length, lengths[i]);
		assert_memory_equal(decoded, inputs[i], lengths[i]);
	}
}

static void base64_rejects_invalid(void **state)
{
	(void)state;
	static const char *const invalid[] = { "YWJ", "YW=j", "Y===", "YWJj!A==", "YQ==YQ==", "YWJj YQ==" };
	char decoded[64];
	size_t length = 0;

	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		print_message("input: %s\n", invalid[i]);
		assert_int_equal(ex_sasl_base64_decode(invalid[i], strlen(invalid[i]), decoded, sizeof(decoded), &length),
				 -1);
	}
	/* Output that would not fit with its NUL is rejected. */
	assert_int_equal(ex_sasl_base64_decode("YWJj", 4, decoded, 3, &length), -1);
}

static void plain_split_cases(void **state)
{
	(void)state;
	const char *login = NULL;
	const char *password = NULL;

	assert_int_equal(ex_sasl_plain_split("\0alice\0secret", 13, &login, &password), 0);
	assert_string_equal(login, "alice");
	assert_string_equal(password, "secret");
	assert_int_equal(ex_sasl_plain_split("alice\0alice\0secret", 18, &login, &password), 0);
	assert_int_equal(ex_sasl_plain_split("bob\0alice\0secret", 16, &login, &password), -1);
	assert_int_equal(ex_sasl_plain_split("\0alice\0", 7, &login, &password), -1);
	assert_int_equal(ex_sasl_plain_split("\0\0secret", 8, &login, &password), -1);
	assert_int_equal(ex_sasl_plain_split("\0alice", 6, &login, &password), -1);
	assert_int_equal(ex_sasl_plain_split("\0alice\0se\0cret", 14, &login, &password), -1);
}

static void oauth_parse_cases(void **state)
{
	(void)state;
	const char *authzid = NULL;
	const char *token = NULL;
	char message[128];

	snprintf(message, sizeof(message), "n,a=alice=2Cx=3Dy@demo.test,\001host=mx\001auth=Bearer abc.def\001\001");
	assert_int_equal(ex_sasl_oauth_parse(message, strlen(message), false, &authzid, &token), 0);
	assert_string_equal(authzid, "alice,x=y@demo.test");
	assert_string_equal(token, "abc.def");

	snprintf(message, sizeof(message), "n,,\001auth=bearer t\001\001");
	assert_int_equal(ex_sasl_oauth_parse(message, strlen(message), false, &authzid, &token), 0);
	assert_string_equal(authzid, "");
	assert_string_equal(token, "t");

	snprintf(message, sizeof(message), "user=bob@demo.test\001auth=Bearer tok\001\001");
	assert_int_equal(ex_sasl_oauth_parse(message, strlen(message), true, &authzid, &token), 0);
	assert_string_equal(authzid, "bob@demo.test");
	assert_string_equal(token, "tok");

	static const char *const invalid[] = {
		"n,,\001auth=Bearer t\001",         /* missing the final ^A */
		"n,,\001auth=Basic t\001\001",      /* not a bearer token */
		"n,,\001auth=Bearer \001\001",      /* empty token */
		"n,,\001host=x\001\001",            /* no auth pair */
		"p=tls-unique,,\001auth=Bearer t\001\001", /* channel binding is not supported */
		"n,a=bad=XXname,\001auth=Bearer t\001\001",
		"n,\001auth=Bearer t\001\001",
	};
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		snprintf(message, sizeof(message), "%s", invalid[i]);
		print_message("case %zu\n", i);
		assert_int_equal(ex_sasl_oauth_parse(message, strlen(message), false, &authzid, &token), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(base64_round_trip),
		cmocka_unit_test(base64_rejects_invalid),
		cmocka_unit_test(plain_split_cases),
		cmocka_unit_test(oauth_parse_cases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
