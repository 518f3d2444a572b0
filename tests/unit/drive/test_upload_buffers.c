/*
 * The pool of large upload buffers: it lends at most EX_UPLOAD_BUFFERS_MAX
 * buffers, lends a given-back buffer again instead of allocating one, and
 * gives whole, writable buffers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>

#include "upload_buffers.h"

static ex_upload_buffers buffers;

static int setup(void **state)
{
	(void)state;
	memset(&buffers, 0, sizeof(buffers));
	return pthread_mutex_init(&buffers.mutex, NULL);
}

static int teardown(void **state)
{
	(void)state;
	ex_upload_buffers_free(&buffers);
	return pthread_mutex_destroy(&buffers.mutex);
}

static void lends_at_most_the_limit(void **state)
{
	(void)state;
	unsigned char *lent[EX_UPLOAD_BUFFERS_MAX];

	for (size_t i = 0; i < EX_UPLOAD_BUFFERS_MAX; i++) {
		lent[i] = ex_upload_buffers_take(&buffers);
		assert_non_null(lent[i]);
		/* The whole buffer is the caller's: its first and last bytes are writable. */
		lent[i][0] = (unsigned char)i;
		lent[i][EX_UPLOAD_BUFFER_LARGE - 1] = (unsigned char)i;
	}
	assert_null(ex_upload_buffers_take(&buffers));
	assert_int_equal(buffers.allocated, EX_UPLOAD_BUFFERS_MAX);

	ex_upload_buffers_give(&buffers, lent[3]);
	unsigned char *again = ex_upload_buffers_take(&buffers);
	assert_ptr_equal(again, lent[3]);
	assert_null(ex_upload_buffers_take(&buffers));

	for (size_t i = 0; i < EX_UPLOAD_BUFFERS_MAX; i++)
		ex_upload_buffers_give(&buffers, lent[i]);
	assert_int_equal(buffers.idle_count, EX_UPLOAD_BUFFERS_MAX);
}

static void given_back_buffer_is_reused(void **state)
{
	(void)state;
	unsigned char *first = ex_upload_buffers_take(&buffers);
	assert_non_null(first);
	ex_upload_buffers_give(&buffers, first);
	assert_ptr_equal(ex_upload_buffers_take(&buffers), first);
	assert_int_equal(buffers.allocated, 1);
	ex_upload_buffers_give(&buffers, first);
	ex_upload_buffers_give(&buffers, NULL);
	assert_int_equal(buffers.idle_count, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(lends_at_most_the_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(given_back_buffer_is_reused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
