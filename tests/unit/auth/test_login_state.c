/*
 * The login store: a login is taken once, expires after the TTL (and is
 * reported as expired, not unknown, for one more TTL), the oldest is
 * evicted when the store is full, and concurrent use keeps it consistent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "login_state.h"

enum { TTL_MS = 1000 };

static ex_rp_login make_login(const char *state, const char *redirect)
{
	ex_rp_login login;
	memset(&login, 0, sizeof(login));
	snprintf(login.state, sizeof(login.state), "%s", state);
	snprintf(login.nonce, sizeof(login.nonce), "nonce-of-%s", state);
	snprintf(login.code_verifier, sizeof(login.code_verifier), "verifier-of-%s", state);
	snprintf(login.redirect, sizeof(login.redirect), "%s", redirect);
	return login;
}

static void store_take_once(void **state)
{
	(void)state;
	ex_rp_login_store *store = ex_rp_login_store_new(10, TTL_MS);
	ex_rp_login login = make_login("abc", "/inbox");
	ex_rp_login out;

	assert_int_equal(ex_rp_login_store_put(store, &login, 5000, NULL), 0);
	assert_int_equal(ex_rp_login_store_count(store), 1);
	assert_int_equal(ex_rp_login_store_take(store, "abc", 5100, &out), EX_RP_LOGIN_FOUND);
	assert_string_equal(out.nonce, "nonce-of-abc");
	assert_string_equal(out.code_verifier, "verifier-of-abc");
	assert_string_equal(out.redirect, "/inbox");
	assert_int_equal(ex_rp_login_store_take(store, "abc", 5100, &out), EX_RP_LOGIN_UNKNOWN);
	assert_int_equal(ex_rp_login_store_count(store), 0);
	ex_rp_login_store_free(store);
}

static void store_unknown_states(void **state)
{
	(void)state;
	ex_rp_login_store *store = ex_rp_login_store_new(10, TTL_MS);
	ex_rp_login login = make_login("abc", "/");
	ex_rp_login out;
	char long_state[EX_RP_LOGIN_TOKEN_MAX + 2];

	memset(long_state, 'a', sizeof(long_state) - 1);
	long_state[sizeof(long_state) - 1] = '\0';
	assert_int_equal(ex_rp_login_store_put(store, &login, 0, NULL), 0);
	assert_int_equal(ex_rp_login_store_take(store, "abd", 1, &out), EX_RP_LOGIN_UNKNOWN);
	assert_int_equal(ex_rp_login_store_take(store, "ab", 1, &out), EX_RP_LOGIN_UNKNOWN);
	assert_int_equal(ex_rp_login_store_take(store, "", 1, &out), EX_RP_LOGIN_UNKNOWN);
	assert_int_equal(ex_rp_login_store_take(store, NULL, 1, &out), EX_RP_LOGIN_UNKNOWN);
	assert_int_equal(ex_rp_login_store_take(store, long_state, 1, &out), EX_RP_LOGIN_UNKNOWN);
	/* the real one is still there */
	assert_int_equal(ex_rp_login_store_take(store, "abc", 1, &out), EX_RP_LOGIN_FOUND);
	ex_rp_login_store_free(store);
}

static void store_ttl_expiry(void **state)
{
	(void)state;
	ex_rp_login_store *store = ex_rp_login_store_new(10, TTL_MS);
	ex_rp_login first = make_login("first", "/");
	ex_rp_login second = make_login("second", "/");
	ex_rp_login out;

	assert_int_equal(ex_rp_login_store_put(store, &first, 1000, NULL), 0);
	assert_int_equal(ex_rp_login_store_put(store, &second, 1000, NULL), 0);
	/* one millisecond before the TTL: still valid */
	assert_int_equal(ex_rp_login_store_take(store, "first", 1000 + TTL_MS - 1, &out), EX_RP_LOGIN_FOUND);
	/* at the TTL: expired, and taken (a retry is unknown) */
	assert_int_equal(ex_rp_login_store_take(store, "second", 1000 + TTL_MS, &out), EX_RP_LOGIN_EXPIRED);
	assert_int_equal(ex_rp_login_store_take(store, "second", 1000 + TTL_MS, &out), EX_RP_LOGIN_UNKNOWN);
	ex_rp_login_store_free(store);
}

static void store_drops_after_grace(void **state)
{
	(void)state;
	ex_rp_login_store *store = ex_rp_login_store_new(10, TTL_MS);
	ex_rp_login old = make_login("old", "/");
	ex_rp_login late = make_login("late", "/");
	ex_rp_login fresh = make_login("fresh", "/");
	ex_rp_login out;

	assert_int_equal(ex_rp_login_store_put(store, &old, 0, NULL), 0);
	assert_int_equal(ex_rp_login_store_put(store, &late, 500, NULL), 0);
	/* at 2 TTL the first is dropped by the next put, the second is not yet */
	assert_int_equal(ex_rp_login_store_put(store, &fresh, 2 * TTL_MS, NULL), 0);
	assert_int_equal(ex_rp_login_store_count(store), 2);
	assert_int_equal(ex_rp_login_store_take(store, "old", 2 * TTL_MS, &out), EX_RP_LOGIN_UNKNOWN);
	assert_int_equal(ex_rp_login_store_take(store, "late", 2 * TTL_MS, &out), EX_RP_LOGIN_EXPIRED);
	assert_int_equal(ex_rp_login_store_take(store, "fresh", 2 * TTL_MS, &out), EX_RP_LOGIN_FOUND);
	ex_rp_login_store_free(store);
}

static void store_capacity_evicts_oldest(void **state)
{
	(void)state;
	ex_rp_login_store *store = ex_rp_login_store_new(3, TTL_MS);
	ex_rp_login out;
	bool evicted = true;
	char name[16];

	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		ex_rp_login login = make_login(name, "/");
		assert_int_equal(ex_rp_login_store_put(store, &login, 10 + (uint64_t)i, &evicted), 0);
		assert_false(evicted);
	}
	ex_rp_login extra = make_login("s3", "/");
	assert_int_equal(ex_rp_login_store_put(store, &extra, 20, &evicted), 0);
	assert_true(evicted);
	assert_int_equal(ex_rp_login_store_count(store), 3);
	assert_int_equal(ex_rp_login_store_take(store, "s0", 21, &out), EX_RP_LOGIN_UNKNOWN);
	assert_int_equal(ex_rp_login_store_take(store, "s1", 21, &out), EX_RP_LOGIN_FOUND);
	assert_int_equal(ex_rp_login_store_take(store, "s3", 21, &out), EX_RP_LOGIN_FOUND);
	assert_int_equal(ex_rp_login_store_take(store, "s2", 21, &out), EX_RP_LOGIN_FOUND);
	assert_int_equal(ex_rp_login_store_count(store), 0);
	ex_rp_login_store_free(store);
}

static void store_full_of_expired_needs_no_eviction(void **state)
{
	(void)state;
	ex_rp_login_store *store = ex_rp_login_store_new(2, TTL_MS);
	ex_rp_login a = make_login("a", "/");
	ex_rp_login b = make_login("b", "/");
	ex_rp_login c = make_login("c", "/");
	bool evicted = true;

	assert_int_equal(ex_rp_login_store_put(store, &a, 0, NULL), 0);
	assert_int_equal(ex_rp_login_store_put(store, &b, 0, NULL), 0);
	assert_int_equal(ex_rp_login_store_put(store, &c, 2 * TTL_MS, &evicted), 0);
	assert_false(evicted);
	assert_int_equal(ex_rp_login_store_count(store), 1);
	ex_rp_login_store_free(store);
}

static void store_rejects_duplicate_and_empty(void **state)
{
	(void)state;
	ex_rp_login_store *store = ex_rp_login_store_new(4, TTL_MS);
	ex_rp_login login = make_login("same", "/a");
	ex_rp_login again = make_login("same", "/b");
	ex_rp_login empty = make_login("", "/");
	ex_rp_login out;

	assert_int_equal(ex_rp_login_store_put(store, &login, 0, NULL), 0);
	assert_int_equal(ex_rp_login_store_put(store, &again, 0, NULL), -1);
	assert_int_equal(ex_rp_login_store_put(store, &empty, 0, NULL), -1);
	assert_int_equal(ex_rp_login_store_take(store, "same", 1, &out), EX_RP_LOGIN_FOUND);
	assert_string_equal(out.redirect, "/a");
	ex_rp_login_store_free(store);
}

static void store_rejects_bad_limits(void **state)
{
	(void)state;
	assert_null(ex_rp_login_store_new(0, TTL_MS));
	assert_null(ex_rp_login_store_new(10, 0));
	assert_null(ex_rp_login_store_new(EX_RP_LOGIN_STATE_MAX_LIMIT + 1, TTL_MS));
}

enum { WORKERS = 4, LOGINS_PER_WORKER = 2000 };

static ex_rp_login_store *shared_store;
static int worker_ids[WORKERS];
static long worker_found[WORKERS];

static void *put_and_take(void *argument)
{
	int worker = *(const int *)argument;
	long found = 0;
	char name[32];
	ex_rp_login out;

	for (int i = 0; i < LOGINS_PER_WORKER; i++) {
		snprintf(name, sizeof(name), "w%d-%d", worker, i);
		ex_rp_login login = make_login(name, "/");
		if (ex_rp_login_store_put(shared_store, &login, 100, NULL) == 0 &&
		    ex_rp_login_store_take(shared_store, name, 101, &out) == EX_RP_LOGIN_FOUND &&
		    strcmp(out.state, name) == 0)
			found++;
	}
	worker_found[worker] = found;
	return NULL;
}

static void store_concurrent_use(void **state)
{
	pthread_t threads[WORKERS];
	(void)state;

	/* Capacity above WORKERS, so no worker's login is evicted before it takes it. */
	shared_store = ex_rp_login_store_new(64, TTL_MS);
	for (int i = 0; i < WORKERS; i++) {
		worker_ids[i] = i;
		assert_int_equal(pthread_create(&threads[i], NULL, put_and_take, &worker_ids[i]), 0);
	}
	for (int i = 0; i < WORKERS; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(worker_found[i], LOGINS_PER_WORKER);
	}
	assert_int_equal(ex_rp_login_store_count(shared_store), 0);
	ex_rp_login_store_free(shared_store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(store_take_once),
		cmocka_unit_test(store_unknown_states),
		cmocka_unit_test(store_ttl_expiry),
		cmocka_unit_test(store_drops_after_grace),
		cmocka_unit_test(store_capacity_evicts_oldest),
		cmocka_unit_test(store_full_of_expired_needs_no_eviction),
		cmocka_unit_test(store_rejects_duplicate_and_empty),
		cmocka_unit_test(store_rejects_bad_limits),
		cmocka_unit_test(store_concurrent_use),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
