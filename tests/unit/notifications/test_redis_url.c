/*
 * Tests of the Redis URL parser used by the relay subscriber.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "redis_url.h"

static void valid_urls_parsed(void **state)
{
	static const struct {
		const char *url;
		const char *host;
		int port;
		const char *password;
	} cases[] = {
		{ "redis://127.0.0.1:49379/0", "127.0.0.1", 49379, "" },
		{ "redis://localhost", "localhost", 6379, "" },
		{ "redis://:s3cret@10.0.0.5:7000", "10.0.0.5", 7000, "s3cret" },
		{ "redis://[::1]:6380/2", "::1", 6380, "" },
		{ "redis://[::1]", "::1", 6379, "" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ex_notify_redis_url url;
		char err[256];
		assert_int_equal(ex_notify_redis_url_parse(cases[i].url, &url, err, sizeof(err)), 0);
		assert_string_equal(url.host, cases[i].host);
		assert_int_equal(url.port, cases[i].port);
		assert_string_equal(url.password, cases[i].password);
	}
}

static void invalid_urls_rejected(void **state)
{
	static const char *const cases[] = {
		"http://127.0.0.1", "redis://", "redis://:6379", "redis://host:0", "redis://host:65536",
		"redis://host:port", "redis://user:pw@host", "redis://[::1", "redis://[::1]x", NULL,
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ex_notify_redis_url url;
		char err[256] = "";
		if (ex_notify_redis_url_parse(cases[i], &url, err, sizeof(err)) == 0)
			fail_msg("accepted \"%s\"", cases[i] ? cases[i] : "(null)");
		assert_non_null(strstr(err, "EXPRESSO_REDIS_URL"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_urls_parsed),
		cmocka_unit_test(invalid_urls_rejected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
