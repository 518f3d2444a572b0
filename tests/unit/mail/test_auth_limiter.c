/*
 * Tests of the failed-AUTH counter: blocking at the maximum, the window,
 * reset after success and reuse of slots when the table is full.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth_limiter.h"

enum { WINDOW_MS = 1000, MAX_FAILURES = 3 };

static void limiter_blocks_at_maximum(void **state)
{
	(void)state;
	ex_auth_limiter *limiter = ex_auth_limiter_new(8, MAX_FAILURES, WINDOW_MS);
	assert_non_null(limiter);

	for (int i = 0; i < MAX_FAILURES - 1; i++)
		ex_auth_limiter_fail(limiter, "address:192.0.2.1", 100);
	assert_false(ex_auth_limiter_blocked(limiter, "address:192.0.2.1", 100));
	ex_auth_limiter_fail(limiter, "address:192.0.2.1", 100);
	assert_true(ex_auth_limiter_blocked(limiter, "address:192.0.2.1", 100));
	assert_false(ex_auth_limiter_blocked(limiter, "address:192.0.2.2", 100));

	/* The window started at 100, so it ends at 1100. */
	assert_true(ex_auth_limiter_blocked(limiter, "address:192.0.2.1", 1099));
	assert_false(ex_auth_limiter_blocked(limiter, "address:192.0.2.1", 1100));
	ex_auth_limiter_fail(limiter, "address:192.0.2.1", 1100);
	assert_false(ex_auth_limiter_blocked(limiter, "address:192.0.2.1", 1100));
	ex_auth_limiter_free(limiter);
}

static void limiter_reset_clears(void **state)
{
	(void)state;
	ex_auth_limiter *limiter = ex_auth_limiter_new(8, MAX_FAILURES, WINDOW_MS);

	for (int i = 0; i < MAX_FAILURES; i++)
		ex_auth_limiter_fail(limiter, "account:alice@demo.test", 0);
	assert_true(ex_auth_limiter_blocked(limiter, "account:alice@demo.test", 0));
	ex_auth_limiter_reset(limiter, "account:alice@demo.test");
	assert_false(ex_auth_limiter_blocked(limiter, "account:alice@demo.test", 0));
	ex_auth_limiter_free(limiter);
}

static void limiter_full_table_reuses_oldest(void **state)
{
	(void)state;
	ex_auth_limiter *limiter = ex_auth_limiter_new(2, 1, WINDOW_MS);

	ex_auth_limiter_fail(limiter, "a", 10);
	ex_auth_limiter_fail(limiter, "b", 20);
	ex_auth_limiter_fail(limiter, "c", 30);
	assert_false(ex_auth_limiter_blocked(limiter, "a", 30));
	assert_true(ex_auth_limiter_blocked(limiter, "b", 30));
	assert_true(ex_auth_limiter_blocked(limiter, "c", 30));
	ex_auth_limiter_free(limiter);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(limiter_blocks_at_maximum),
		cmocka_unit_test(limiter_reset_clears),
		cmocka_unit_test(limiter_full_table_reuses_oldest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
