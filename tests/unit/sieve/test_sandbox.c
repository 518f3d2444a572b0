/* The child-process runner behind the Sieve wrapper: replies, crashes, hangs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sieve_internal.h"

static ex_sieve_result result;

static int fill_result(void *argument)
{
	int *parse_errors = argument;
	result.count = 2;
	result.actions[0].type = EX_SIEVE_ACTION_FILEINTO;
	result.actions[0].mailbox = strdup("Listas/Gestão");
	result.actions[0].flags = calloc(3, sizeof(char *));
	result.actions[0].flags[0] = strdup("\\Seen");
	result.actions[0].flags[1] = strdup("$Junk");
	result.actions[1].type = EX_SIEVE_ACTION_VACATION;
	result.actions[1].days = 7;
	result.actions[1].mime = true;
	result.actions[1].message = strdup("Ausente");
	result.errors.count = 1;
	result.errors.items[0].line = 4;
	strcpy(result.errors.items[0].message, "aviso");
	*parse_errors = 3;
	return 42;
}

static void reply_round_trips(void **state)
{
	int parse_errors = 0;
	(void)state;

	memset(&result, 0, sizeof(result));
	int rc = ex_sieve_run_isolated(fill_result, &parse_errors, &result, &result.errors, &parse_errors, 2000);
	assert_int_equal(rc, 42);
	assert_int_equal(parse_errors, 3);
	assert_int_equal(result.count, 2);
	assert_string_equal(result.actions[0].mailbox, "Listas/Gestão");
	assert_string_equal(result.actions[0].flags[0], "\\Seen");
	assert_string_equal(result.actions[0].flags[1], "$Junk");
	assert_null(result.actions[0].flags[2]);
	assert_int_equal(result.actions[1].type, EX_SIEVE_ACTION_VACATION);
	assert_int_equal(result.actions[1].days, 7);
	assert_true(result.actions[1].mime);
	assert_string_equal(result.actions[1].message, "Ausente");
	assert_null(result.actions[1].mailbox);
	assert_int_equal(result.errors.count, 1);
	assert_int_equal(result.errors.items[0].line, 4);
	assert_string_equal(result.errors.items[0].message, "aviso");
	ex_sieve_result_clear(&result);
}

static int crash(void *argument)
{
	(void)argument;
	raise(SIGSEGV);
	return 0;
}

static void crash_is_reported(void **state)
{
	int parse_errors = 0;
	ex_sieve_errors errors = { 0 };
	(void)state;

	memset(&result, 0, sizeof(result));
	assert_int_equal(ex_sieve_run_isolated(crash, NULL, &result, &errors, &parse_errors, 2000), EX_SIEVE_RUN_FAILED);
	assert_int_equal(result.count, 0);
	assert_int_equal(errors.count, 1);
	assert_non_null(strstr(errors.items[0].message, "crashed with signal 11"));
}

static int hang(void *argument)
{
	(void)argument;
	for (;;)
		pause();
	return 0;
}

static void hang_is_stopped(void **state)
{
	int parse_errors = 0;
	ex_sieve_errors errors = { 0 };
	(void)state;

	assert_int_equal(ex_sieve_run_isolated(hang, NULL, NULL, &errors, &parse_errors, 300), EX_SIEVE_RUN_FAILED);
	assert_int_equal(errors.count, 1);
	assert_non_null(strstr(errors.items[0].message, "within 300 ms"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reply_round_trips),
		cmocka_unit_test(crash_is_reported),
		cmocka_unit_test(hang_is_stopped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
