/*
 * Tests of the bounded queue of delivery index work. A queue of N takes
 * N items while its worker is busy and rejects the next one. The worker
 * writes the items in order, and a stop drops what is still waiting.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mail_index_queue.h"

static const char tenant[] = "00000000-0000-4000-8000-000000000001";

enum { CAPACITY = 4, MAX_WRITTEN = 16 };

/* The write function's state: it holds the worker until released, and records the keys it got. */
typedef struct {
	pthread_mutex_t mutex;
	pthread_cond_t changed;
	bool released;
	size_t started;
	char keys[MAX_WRITTEN][EX_MAIL_INDEX_QUEUE_KEY_SIZE];
	size_t written;
} writer;

static void write_held(const ex_mail_index_item *item, void *context)
{
	writer *state = context;
	pthread_mutex_lock(&state->mutex);
	state->started++;
	pthread_cond_broadcast(&state->changed);
	while (!state->released)
		pthread_cond_wait(&state->changed, &state->mutex);
	if (state->written < MAX_WRITTEN && strcmp(item->tenant_id, tenant) == 0)
		snprintf(state->keys[state->written++], EX_MAIL_INDEX_QUEUE_KEY_SIZE, "%s", item->storage_key);
	pthread_cond_broadcast(&state->changed);
	pthread_mutex_unlock(&state->mutex);
}

static void writer_init(writer *state)
{
	memset(state, 0, sizeof(*state));
	pthread_mutex_init(&state->mutex, NULL);
	pthread_cond_init(&state->changed, NULL);
}

static void writer_destroy(writer *state)
{
	pthread_cond_destroy(&state->changed);
	pthread_mutex_destroy(&state->mutex);
}

/* Waits until the worker has taken COUNT items, so the rest are known to wait in the queue. */
static void wait_started(writer *state, size_t count)
{
	pthread_mutex_lock(&state->mutex);
	while (state->started < count)
		pthread_cond_wait(&state->changed, &state->mutex);
	pthread_mutex_unlock(&state->mutex);
}

static void wait_written(writer *state, size_t count)
{
	pthread_mutex_lock(&state->mutex);
	while (state->written < count)
		pthread_cond_wait(&state->changed, &state->mutex);
	pthread_mutex_unlock(&state->mutex);
}

static void release(writer *state)
{
	pthread_mutex_lock(&state->mutex);
	state->released = true;
	pthread_cond_broadcast(&state->changed);
	pthread_mutex_unlock(&state->mutex);
}

static void queue_takes_capacity_and_rejects_one_more(void **test_state)
{
	(void)test_state;
	writer state;
	writer_init(&state);
	ex_mail_index_queue *queue = ex_mail_index_queue_start(CAPACITY, write_held, &state);
	assert_non_null(queue);

	/* The first item leaves the queue for the held worker. */
	assert_true(ex_mail_index_queue_push(queue, tenant, "mail/u/0"));
	wait_started(&state, 1);
	char key[EX_MAIL_INDEX_QUEUE_KEY_SIZE];
	for (int i = 1; i <= CAPACITY; i++) {
		snprintf(key, sizeof(key), "mail/u/%d", i);
		assert_true(ex_mail_index_queue_push(queue, tenant, key));
	}
	assert_int_equal(ex_mail_index_queue_length(queue), CAPACITY);
	assert_false(ex_mail_index_queue_push(queue, tenant, "mail/u/over"));
	assert_int_equal(ex_mail_index_queue_length(queue), CAPACITY);

	release(&state);
	wait_written(&state, CAPACITY + 1);
	for (int i = 0; i <= CAPACITY; i++) {
		snprintf(key, sizeof(key), "mail/u/%d", i);
		assert_string_equal(state.keys[i], key);
	}
	assert_int_equal(ex_mail_index_queue_length(queue), 0);
	assert_true(ex_mail_index_queue_push(queue, tenant, "mail/u/after"));
	wait_written(&state, CAPACITY + 2);
	assert_string_equal(state.keys[CAPACITY + 1], "mail/u/after");

	assert_int_equal(ex_mail_index_queue_stop(queue), 0);
	ex_mail_index_queue_free(queue);
	writer_destroy(&state);
}

static void queue_stop_drops_waiting_items(void **test_state)
{
	(void)test_state;
	writer state;
	writer_init(&state);
	ex_mail_index_queue *queue = ex_mail_index_queue_start(CAPACITY, write_held, &state);
	assert_non_null(queue);
	assert_true(ex_mail_index_queue_push(queue, tenant, "mail/u/held"));
	wait_started(&state, 1);
	assert_true(ex_mail_index_queue_push(queue, tenant, "mail/u/waiting-1"));
	assert_true(ex_mail_index_queue_push(queue, tenant, "mail/u/waiting-2"));

	/* Released, the worker finishes the held item and may take waiting ones before it reads the stop flag, which drops the rest. */
	release(&state);
	size_t dropped = ex_mail_index_queue_stop(queue);
	assert_false(ex_mail_index_queue_push(queue, tenant, "after-stop"));
	ex_mail_index_queue_free(queue);
	assert_true(dropped <= 2);
	assert_int_equal(state.written + dropped, 3);
	assert_string_equal(state.keys[0], "mail/u/held");
	writer_destroy(&state);
}

static void queue_rejects_invalid_input(void **test_state)
{
	(void)test_state;
	writer state;
	writer_init(&state);
	state.released = true;
	assert_null(ex_mail_index_queue_start(0, write_held, &state));
	assert_null(ex_mail_index_queue_start(EX_MAIL_INDEX_QUEUE_MAX_CAPACITY + 1, write_held, &state));
	assert_null(ex_mail_index_queue_start(1, NULL, &state));
	assert_false(ex_mail_index_queue_push(NULL, tenant, "mail/u/1"));
	assert_int_equal(ex_mail_index_queue_stop(NULL), 0);
	ex_mail_index_queue_free(NULL);

	ex_mail_index_queue *queue = ex_mail_index_queue_start(1, write_held, &state);
	assert_non_null(queue);
	char long_key[EX_MAIL_INDEX_QUEUE_KEY_SIZE + 1];
	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	assert_false(ex_mail_index_queue_push(queue, tenant, long_key));
	long_key[EX_MAIL_INDEX_QUEUE_KEY_SIZE - 1] = '\0';
	assert_true(ex_mail_index_queue_push(queue, tenant, long_key));
	wait_written(&state, 1);
	assert_string_equal(state.keys[0], long_key);
	assert_int_equal(ex_mail_index_queue_stop(queue), 0);
	ex_mail_index_queue_free(queue);
	writer_destroy(&state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(queue_takes_capacity_and_rejects_one_more),
		cmocka_unit_test(queue_stop_drops_waiting_items),
		cmocka_unit_test(queue_rejects_invalid_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
