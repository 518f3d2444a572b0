/* Logger: one JSON object per line, context fields, redaction of secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expresso/log.h"

/* Runs the logger into a pipe and parses the single line it wrote. */
static json_t *capture(void (*emit)(void))
{
	int fds[2];
	char buffer[4096];

	assert_int_equal(pipe(fds), 0);
	ex_log_set_fd(fds[1]);
	emit();
	ex_log_set_fd(-1);
	close(fds[1]);
	ssize_t length = read(fds[0], buffer, sizeof(buffer) - 1);
	close(fds[0]);
	assert_true(length > 0);
	buffer[length] = '\0';

	assert_int_equal(buffer[length - 1], '\n');
	assert_ptr_equal(strchr(buffer, '\n'), buffer + length - 1);
	json_error_t error;
	json_t *line = json_loads(buffer, 0, &error);
	assert_non_null(line);
	return line;
}

static void emit_plain(void)
{
	ex_log_context_set("req-1", "6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11");
	ex_log(EX_LOG_INFO, "mailbox_created", "{s:s, s:i}", "mailbox", "INBOX", "uidvalidity", 7);
	ex_log_context_set(NULL, NULL);
}

static void line_has_standard_fields(void **state)
{
	(void)state;
	ex_log_init("expresso-test", EX_LOG_DEBUG);
	json_t *line = capture(emit_plain);

	assert_string_equal(json_string_value(json_object_get(line, "level")), "info");
	assert_string_equal(json_string_value(json_object_get(line, "daemon")), "expresso-test");
	assert_string_equal(json_string_value(json_object_get(line, "event")), "mailbox_created");
	assert_string_equal(json_string_value(json_object_get(line, "request_id")), "req-1");
	assert_string_equal(json_string_value(json_object_get(line, "tenant")), "6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11");
	assert_string_equal(json_string_value(json_object_get(line, "mailbox")), "INBOX");
	assert_int_equal(json_integer_value(json_object_get(line, "uidvalidity")), 7);
	assert_non_null(json_object_get(line, "time"));
	json_decref(line);
}

static void emit_secrets(void)
{
	ex_log(EX_LOG_WARN, "login_failed", "{s:s, s:s, s:s, s:{s:s}}",
	       "password", "hunter2", "Authorization", "Bearer eyJ", "user", "alice",
	       "request", "session_cookie", "abc");
}

static void secrets_are_redacted(void **state)
{
	(void)state;
	ex_log_init("expresso-test", EX_LOG_DEBUG);
	json_t *line = capture(emit_secrets);

	assert_string_equal(json_string_value(json_object_get(line, "password")), "[redacted]");
	assert_string_equal(json_string_value(json_object_get(line, "Authorization")), "[redacted]");
	assert_string_equal(json_string_value(json_object_get(json_object_get(line, "request"), "session_cookie")),
			    "[redacted]");
	assert_string_equal(json_string_value(json_object_get(line, "user")), "alice");
	json_decref(line);
}

static void emit_control_characters(void)
{
	ex_log(EX_LOG_ERROR, "parse_failed", "{s:s}", "input", "line1\nline2\r\"quoted\"");
}

static void control_characters_stay_on_one_line(void **state)
{
	(void)state;
	ex_log_init("expresso-test", EX_LOG_DEBUG);
	json_t *line = capture(emit_control_characters);
	assert_string_equal(json_string_value(json_object_get(line, "input")), "line1\nline2\r\"quoted\"");
	json_decref(line);
}

static void levels_below_minimum_are_dropped(void **state)
{
	int fds[2];
	char buffer[64];
	(void)state;

	assert_int_equal(pipe(fds), 0);
	ex_log_init("expresso-test", EX_LOG_WARN);
	ex_log_set_fd(fds[1]);
	ex_log(EX_LOG_INFO, "ignored", NULL);
	ex_log_set_fd(-1);
	close(fds[1]);
	assert_int_equal(read(fds[0], buffer, sizeof(buffer)), 0);
	close(fds[0]);
	assert_int_equal(ex_log_level_parse("WARN"), EX_LOG_WARN);
	assert_int_equal(ex_log_level_parse("verbose"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(line_has_standard_fields),
		cmocka_unit_test(secrets_are_redacted),
		cmocka_unit_test(control_characters_stay_on_one_line),
		cmocka_unit_test(levels_below_minimum_are_dropped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
