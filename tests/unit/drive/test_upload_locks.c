/*
 * Per-upload locks: one holder per upload id (in either letter case),
 * independent ids, release and reuse, the table limit, and many threads
 * racing for one id with exactly one winner per round.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "upload_locks.h"

static const char first_id[] = "0b9f6f3e-57a4-4c3e-9d53-2f1c1b6f0a01";
static const char second_id[] = "0b9f6f3e-57a4-4c3e-9d53-2f1c1b6f0a02";

static ex_drive_upload_locks locks;

static int setup(void **state)
{
	(void)state;
	memset(&locks, 0, sizeof(locks));
	return pthread_mutex_init(&locks.mutex, NULL);
}

static int teardown(void **state)
{
	(void)state;
	return pthread_mutex_destroy(&locks.mutex);
}

static void lock_excludes_second_holder(void **state)
{
	(void)state;
	assert_true(ex_drive_upload_lock(&locks, first_id));
	assert_false(ex_drive_upload_lock(&locks, first_id));
	assert_false(ex_drive_upload_lock(&locks, "0B9F6F3E-57A4-4C3E-9D53-2F1C1B6F0A01"));
	assert_true(ex_drive_upload_lock(&locks, second_id));
	ex_drive_upload_unlock(&locks, first_id);
	assert_true(ex_drive_upload_lock(&locks, first_id));
	ex_drive_upload_unlock(&locks, first_id);
	ex_drive_upload_unlock(&locks, second_id);
	assert_int_equal(locks.count, 0);
}

static void lock_table_limit(void **state)
{
	(void)state;
	char id[EX_DRIVE_UUID_TEXT + 1];

	for (int i = 0; i < EX_DRIVE_UPLOAD_LOCKS_MAX; i++) {
		snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012d", i);
		assert_true(ex_drive_upload_lock(&locks, id));
	}
	assert_false(ex_drive_upload_lock(&locks, first_id));
	ex_drive_upload_unlock(&locks, "00000000-0000-4000-8000-000000000007");
	assert_true(ex_drive_upload_lock(&locks, first_id));
}

enum { RACE_THREADS = 8, RACE_ROUNDS = 200 };

static atomic_int winners[RACE_ROUNDS];
static pthread_barrier_t barrier;

static void *race(void *context)
{
	(void)context;
	for (int round = 0; round < RACE_ROUNDS; round++) {
		pthread_barrier_wait(&barrier);
		if (ex_drive_upload_lock(&locks, first_id))
			atomic_fetch_add(&winners[round], 1);
		pthread_barrier_wait(&barrier);
		/* Every thread has tried; release before the next round. glibc's
		 * PTHREAD_BARRIER_SERIAL_THREAD is -1, which clang-tidy does not know. */
		if (pthread_barrier_wait(&barrier) == PTHREAD_BARRIER_SERIAL_THREAD) // NOLINT(bugprone-posix-return)
			ex_drive_upload_unlock(&locks, first_id);
		pthread_barrier_wait(&barrier);
	}
	return NULL;
}

static void lock_race_has_one_winner(void **state)
{
	(void)state;
	pthread_t threads[RACE_THREADS];

	assert_int_equal(pthread_barrier_init(&barrier, NULL, RACE_THREADS), 0);
	for (int i = 0; i < RACE_THREADS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, race, NULL), 0);
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(threads[i], NULL);
	pthread_barrier_destroy(&barrier);
	for (int round = 0; round < RACE_ROUNDS; round++) {
		if (atomic_load(&winners[round]) != 1)
			fail_msg("round %d had %d winners", round, atomic_load(&winners[round]));
	}
	assert_int_equal(locks.count, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(lock_excludes_second_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(lock_table_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(lock_race_has_one_winner, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
