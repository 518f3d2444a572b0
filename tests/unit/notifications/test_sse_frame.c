/*
 * Tests of the text/event-stream framing: exact bytes, and refusal of
 * values that would split one event into two.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sse_frame.h"

static void frame_has_exact_fields(void **state)
{
	size_t length = 0;
	(void)state;
	char *frame = ex_notify_sse_frame("5-0", "mail.delivered", "{\"a\":1}", &length);
	assert_non_null(frame);
	assert_string_equal(frame, "id: 5-0\nevent: mail.delivered\ndata: {\"a\":1}\n\n");
	assert_int_equal(length, strlen(frame));
	free(frame);

	frame = ex_notify_sse_frame(NULL, "resync", "{}", &length);
	assert_non_null(frame);
	assert_string_equal(frame, "event: resync\ndata: {}\n\n");
	free(frame);
}

static void frame_rejects_line_breaks(void **state)
{
	size_t length = 0;
	(void)state;
	assert_null(ex_notify_sse_frame("5-0\n", "e", "{}", &length));
	assert_null(ex_notify_sse_frame("5-0", "e\r", "{}", &length));
	assert_null(ex_notify_sse_frame("5-0", "e", "{}\ndata: forged", &length));
	assert_null(ex_notify_sse_frame("5-0", NULL, "{}", &length));
	assert_null(ex_notify_sse_frame("5-0", "e", NULL, &length));
}

static void preamble_sets_retry(void **state)
{
	size_t length = 0;
	(void)state;
	char *text = ex_notify_sse_preamble(3000, &length);
	assert_non_null(text);
	assert_string_equal(text, "retry: 3000\n: connected\n\n");
	assert_int_equal(length, strlen(text));
	free(text);
	assert_string_equal(ex_notify_sse_heartbeat, ": heartbeat\n\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frame_has_exact_fields),
		cmocka_unit_test(frame_rejects_line_breaks),
		cmocka_unit_test(preamble_sets_retry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
