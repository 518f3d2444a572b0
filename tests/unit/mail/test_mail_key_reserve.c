/*
 * Tests of the storage key reserve: keys go back to their own user only,
 * expire at the maximum age, are capped per user, and the least recently
 * used user makes room when the table is full.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "mail_key_reserve.h"

static const char tenant[] = "00000000-0000-4000-8000-000000000001";
static const char other_tenant[] = "00000000-0000-4000-8000-000000000002";
static const char user[] = "00000000-0000-4000-8000-0000000000aa";
static const char other_user[] = "00000000-0000-4000-8000-0000000000bb";

enum { MAX_AGE_MS = 60000 };

static void reserve_returns_key_to_its_user(void **state)
{
	(void)state;
	ex_mail_key_reserve *reserve = ex_mail_key_reserve_new(MAX_AGE_MS);
	assert_non_null(reserve);
	char key[EX_MAIL_KEY_RESERVE_KEY_SIZE] = "";

	assert_false(ex_mail_key_reserve_take(reserve, tenant, user, key));
	ex_mail_key_reserve_put(reserve, tenant, user, "mail/aa/1", ex_mail_key_reserve_now());
	assert_false(ex_mail_key_reserve_take(reserve, tenant, other_user, key));
	assert_false(ex_mail_key_reserve_take(reserve, other_tenant, user, key));
	assert_true(ex_mail_key_reserve_take(reserve, tenant, user, key));
	assert_string_equal(key, "mail/aa/1");
	assert_false(ex_mail_key_reserve_take(reserve, tenant, user, key));
	ex_mail_key_reserve_free(reserve);
}

static void reserve_off_keeps_nothing(void **state)
{
	(void)state;
	ex_mail_key_reserve *reserve = ex_mail_key_reserve_new(0);
	assert_non_null(reserve);
	char key[EX_MAIL_KEY_RESERVE_KEY_SIZE] = "";

	assert_false(ex_mail_key_reserve_enabled(reserve));
	ex_mail_key_reserve_put(reserve, tenant, user, "mail/aa/1", ex_mail_key_reserve_now());
	assert_false(ex_mail_key_reserve_take(reserve, tenant, user, key));
	ex_mail_key_reserve_free(reserve);
}

static void reserve_drops_keys_at_max_age(void **state)
{
	(void)state;
	ex_mail_key_reserve *reserve = ex_mail_key_reserve_new(MAX_AGE_MS);
	assert_non_null(reserve);
	char key[EX_MAIL_KEY_RESERVE_KEY_SIZE] = "";
	uint64_t now = ex_mail_key_reserve_now();

	/* The fresh key lies under the expired one: the take drops the expired key and returns the fresh one. */
	ex_mail_key_reserve_put(reserve, tenant, user, "mail/aa/young", now - (MAX_AGE_MS - 10000));
	ex_mail_key_reserve_put(reserve, tenant, user, "mail/aa/old", now - MAX_AGE_MS);
	assert_true(ex_mail_key_reserve_take(reserve, tenant, user, key));
	assert_string_equal(key, "mail/aa/young");
	assert_false(ex_mail_key_reserve_take(reserve, tenant, user, key));
	ex_mail_key_reserve_free(reserve);
}

static void reserve_caps_keys_per_user(void **state)
{
	(void)state;
	ex_mail_key_reserve *reserve = ex_mail_key_reserve_new(MAX_AGE_MS);
	assert_non_null(reserve);
	char key[EX_MAIL_KEY_RESERVE_KEY_SIZE] = "";
	char name[32];

	for (int i = 0; i <= EX_MAIL_KEY_RESERVE_KEYS_PER_USER; i++) {
		snprintf(name, sizeof(name), "mail/aa/%d", i);
		ex_mail_key_reserve_put(reserve, tenant, user, name, ex_mail_key_reserve_now());
	}
	for (int i = EX_MAIL_KEY_RESERVE_KEYS_PER_USER - 1; i >= 0; i--) {
		assert_true(ex_mail_key_reserve_take(reserve, tenant, user, key));
		snprintf(name, sizeof(name), "mail/aa/%d", i);
		assert_string_equal(key, name);
	}
	assert_false(ex_mail_key_reserve_take(reserve, tenant, user, key));
	ex_mail_key_reserve_free(reserve);
}

static void reserve_evicts_least_recent_user(void **state)
{
	(void)state;
	ex_mail_key_reserve *reserve = ex_mail_key_reserve_new(MAX_AGE_MS);
	assert_non_null(reserve);
	char key[EX_MAIL_KEY_RESERVE_KEY_SIZE] = "";
	char user_id[40];

	/* One user more than the table holds; the clock may not advance between puts, so ties are possible. */
	for (int i = 0; i <= EX_MAIL_KEY_RESERVE_USERS; i++) {
		snprintf(user_id, sizeof(user_id), "00000000-0000-4000-8000-%012d", i);
		ex_mail_key_reserve_put(reserve, tenant, user_id, "mail/x/1", ex_mail_key_reserve_now());
	}
	int kept = 0;
	for (int i = 0; i <= EX_MAIL_KEY_RESERVE_USERS; i++) {
		snprintf(user_id, sizeof(user_id), "00000000-0000-4000-8000-%012d", i);
		kept += ex_mail_key_reserve_take(reserve, tenant, user_id, key);
	}
	assert_int_equal(kept, EX_MAIL_KEY_RESERVE_USERS);
	snprintf(user_id, sizeof(user_id), "00000000-0000-4000-8000-%012d", EX_MAIL_KEY_RESERVE_USERS);
	ex_mail_key_reserve_put(reserve, tenant, user_id, "mail/x/2", ex_mail_key_reserve_now());
	assert_true(ex_mail_key_reserve_take(reserve, tenant, user_id, key));
	assert_string_equal(key, "mail/x/2");
	ex_mail_key_reserve_free(reserve);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reserve_returns_key_to_its_user),
		cmocka_unit_test(reserve_off_keeps_nothing),
		cmocka_unit_test(reserve_drops_keys_at_max_age),
		cmocka_unit_test(reserve_caps_keys_per_user),
		cmocka_unit_test(reserve_evicts_least_recent_user),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
