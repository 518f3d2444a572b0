/*
 * The Sieve worker pool with work functions of its own: replies and header
 * questions round-trip, a crash or a hang costs one run and the worker is
 * replaced, workers are replaced after a run with errors and after
 * runs_per_worker runs, and several threads share the workers. A dead
 * zygote is replaced.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sieve_internal.h"

/*
 * The work behind every test, chosen by the script's text:
 *   "fill"   fills a result with every kind of field and requests Subject;
 *   "pid"    keeps one action whose mailbox is the worker's pid;
 *   "error"  reports one error;
 *   "crash"  raises SIGSEGV;
 *   "hang"   never returns.
 */
static int test_work(char *script, size_t length, int execute, const ex_sieve_message *message,
		     ex_sieve_result *result, ex_sieve_errors *errors, int *parse_errors)
{
	char pid[32];
	(void)length;
	(void)execute;

	if (strcmp(script, "crash") == 0)
		raise(SIGSEGV);
	if (strcmp(script, "hang") == 0) {
		for (;;)
			pause();
	}
	if (strcmp(script, "error") == 0) {
		errors->count = 1;
		errors->items[0].line = 2;
		strcpy(errors->items[0].message, "erro de sintaxe");
		return 0;
	}
	if (strcmp(script, "pid") == 0) {
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		result->count = 1;
		result->actions[0].type = EX_SIEVE_ACTION_KEEP;
		result->actions[0].mailbox = strdup(pid);
		return 0;
	}

	const char *const *subject = message->get_header(message->context, "Subject");
	result->count = 2;
	result->actions[0].type = EX_SIEVE_ACTION_FILEINTO;
	result->actions[0].mailbox = strdup(subject != NULL ? subject[0] : "(none)");
	result->actions[0].flags = calloc(3, sizeof(char *));
	result->actions[0].flags[0] = strdup("\\Seen");
	result->actions[0].flags[1] = strdup("$Junk");
	result->actions[1].type = EX_SIEVE_ACTION_VACATION;
	result->actions[1].days = 7;
	result->actions[1].mime = true;
	result->actions[1].message = strdup("Ausente");
	result->actions[1].address = strdup(message->envelope_from);
	*parse_errors = 0;
	return 0;
}

static const char *const subject_values[] = { "Listas/Gestão", NULL };

static const char *const *lookup(void *context, const char *name)
{
	int *asked = context;
	(*asked)++;
	return strcasecmp(name, "Subject") == 0 ? subject_values : NULL;
}

static ex_sieve_pool *start_pool(unsigned workers, unsigned runs_per_worker, unsigned timeout_ms)
{
	char err[256];
	ex_sieve_pool *pool = ex_sieve_pool_create(test_work, err, sizeof(err));
	assert_non_null(pool);
	const ex_sieve_pool_settings settings = { workers, runs_per_worker, timeout_ms };
	assert_int_equal(ex_sieve_pool_configure(pool, &settings, err, sizeof(err)), 0);
	return pool;
}

/* Runs SCRIPT and returns the work's return value; *PID gets the worker's pid for "pid". */
static int run(ex_sieve_pool *pool, const char *script, ex_sieve_errors *errors, int *pid)
{
	ex_sieve_result result;
	int asked = 0;
	int parse_errors = 0;
	const ex_sieve_message message = { "bob@example.org", "alice@example.org", 10, lookup, &asked };

	memset(&result, 0, sizeof(result));
	memset(errors, 0, sizeof(*errors));
	int rc = ex_sieve_pool_run(pool, script, strlen(script), 1, &message, &result, errors, &parse_errors);
	if (pid != NULL)
		*pid = result.count == 1 && result.actions[0].mailbox != NULL ? (int)strtol(result.actions[0].mailbox, NULL, 10) : -1;
	ex_sieve_result_clear(&result);
	return rc;
}

static void reply_round_trips(void **state)
{
	ex_sieve_result result;
	int asked = 0;
	int parse_errors = -1;
	const ex_sieve_message message = { "bob@example.org", "alice@example.org", 10, lookup, &asked };
	(void)state;

	ex_sieve_pool *pool = start_pool(1, 100, 2000);
	memset(&result, 0, sizeof(result));
	int rc = ex_sieve_pool_run(pool, "fill", 4, 1, &message, &result, &result.errors, &parse_errors);
	assert_int_equal(rc, 0);
	assert_int_equal(parse_errors, 0);
	assert_int_equal(asked, 1);
	assert_int_equal(result.count, 2);
	assert_string_equal(result.actions[0].mailbox, "Listas/Gestão");
	assert_string_equal(result.actions[0].flags[0], "\\Seen");
	assert_string_equal(result.actions[0].flags[1], "$Junk");
	assert_null(result.actions[0].flags[2]);
	assert_int_equal(result.actions[1].type, EX_SIEVE_ACTION_VACATION);
	assert_int_equal(result.actions[1].days, 7);
	assert_true(result.actions[1].mime);
	assert_string_equal(result.actions[1].message, "Ausente");
	assert_string_equal(result.actions[1].address, "bob@example.org");
	assert_null(result.actions[1].mailbox);
	assert_int_equal(result.errors.count, 0);
	ex_sieve_result_clear(&result);
	ex_sieve_pool_destroy(pool);
}

static void crash_replaces_worker(void **state)
{
	ex_sieve_errors errors;
	ex_sieve_pool_counters counters;
	int first = 0;
	int second = 0;
	(void)state;

	ex_sieve_pool *pool = start_pool(1, 100, 2000);
	assert_int_equal(run(pool, "pid", &errors, &first), 0);
	assert_int_equal(run(pool, "crash", &errors, NULL), EX_SIEVE_RUN_FAILED);
	assert_int_equal(errors.count, 1);
	assert_non_null(strstr(errors.items[0].message, "crashed with signal 11"));

	assert_int_equal(run(pool, "pid", &errors, &second), 0);
	assert_int_equal(errors.count, 0);
	assert_true(second > 0);
	assert_int_not_equal(first, second);
	ex_sieve_pool_counters_get(pool, &counters);
	assert_int_equal(counters.crashed, 1);
	assert_int_equal(counters.started, 2);
	ex_sieve_pool_destroy(pool);
}

static void timeout_replaces_worker(void **state)
{
	ex_sieve_errors errors;
	ex_sieve_pool_counters counters;
	int first = 0;
	int second = 0;
	(void)state;

	ex_sieve_pool *pool = start_pool(1, 100, 300);
	assert_int_equal(run(pool, "pid", &errors, &first), 0);
	assert_int_equal(run(pool, "hang", &errors, NULL), EX_SIEVE_RUN_FAILED);
	assert_int_equal(errors.count, 1);
	assert_non_null(strstr(errors.items[0].message, "within 300 ms"));
	assert_int_equal(kill(first, 0), -1); /* killed and reaped */

	assert_int_equal(run(pool, "pid", &errors, &second), 0);
	assert_true(second > 0);
	assert_int_not_equal(first, second);
	ex_sieve_pool_counters_get(pool, &counters);
	assert_int_equal(counters.timed_out, 1);
	ex_sieve_pool_destroy(pool);
}

static void errors_replace_worker(void **state)
{
	ex_sieve_errors errors;
	int first = 0;
	int again = 0;
	int after = 0;
	(void)state;

	ex_sieve_pool *pool = start_pool(1, 100, 2000);
	assert_int_equal(run(pool, "pid", &errors, &first), 0);
	assert_int_equal(run(pool, "pid", &errors, &again), 0);
	assert_int_equal(first, again); /* a clean run keeps the worker */
	assert_int_equal(run(pool, "error", &errors, NULL), 0);
	assert_int_equal(errors.count, 1);
	assert_int_equal(errors.items[0].line, 2);
	assert_string_equal(errors.items[0].message, "erro de sintaxe");
	assert_int_equal(run(pool, "pid", &errors, &after), 0);
	assert_int_not_equal(first, after);
	ex_sieve_pool_destroy(pool);
}

static void runs_per_worker_limit(void **state)
{
	ex_sieve_errors errors;
	int pids[7];
	(void)state;

	ex_sieve_pool *pool = start_pool(1, 3, 2000);
	for (int i = 0; i < 7; i++)
		assert_int_equal(run(pool, "pid", &errors, &pids[i]), 0);
	/* Runs 1-3 in one worker, 4-6 in the next, 7 in a third. */
	assert_int_equal(pids[0], pids[2]);
	assert_int_not_equal(pids[2], pids[3]);
	assert_int_equal(pids[3], pids[5]);
	assert_int_not_equal(pids[5], pids[6]);
	assert_int_not_equal(pids[0], pids[6]);
	ex_sieve_pool_destroy(pool);
}

enum { THREADS = 4, RUNS_PER_THREAD = 50 };

typedef struct {
	ex_sieve_pool *pool;
	int failures;
} caller;

static void *run_many(void *argument)
{
	caller *self = argument;
	ex_sieve_pool *pool = self->pool;
	ex_sieve_errors errors;
	int failures = 0;
	for (int i = 0; i < RUNS_PER_THREAD; i++) {
		int pid = 0;
		if (run(pool, i % 10 == 9 ? "error" : "pid", &errors, &pid) != 0 || (i % 10 != 9 && pid <= 0))
			failures++;
	}
	self->failures = failures;
	return NULL;
}

static void threads_share_workers(void **state)
{
	pthread_t threads[THREADS];
	caller callers[THREADS];
	ex_sieve_pool_counters counters;
	(void)state;

	ex_sieve_pool *pool = start_pool(2, 1000, 2000);
	for (int i = 0; i < THREADS; i++) {
		callers[i] = (caller){ .pool = pool };
		assert_int_equal(pthread_create(&threads[i], NULL, run_many, &callers[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(callers[i].failures, 0);
	}
	ex_sieve_pool_counters_get(pool, &counters);
	assert_int_equal(counters.runs, THREADS * RUNS_PER_THREAD);
	assert_int_equal(counters.crashed, 0);
	/* Two first workers, plus one replacement per run with an error. */
	assert_int_equal(counters.started, 2 + THREADS * (RUNS_PER_THREAD / 10));
	ex_sieve_pool_destroy(pool);
}

static void dead_zygote_is_restarted(void **state)
{
	ex_sieve_errors errors;
	ex_sieve_pool_counters counters;
	int pid = 0;
	(void)state;

	ex_sieve_pool *pool = start_pool(1, 1, 2000);
	int zygote = ex_sieve_pool_zygote(pool);
	assert_int_equal(kill(zygote, SIGKILL), 0);

	/* The worker forked before still serves this run; its replacement needs a new zygote. */
	assert_int_equal(run(pool, "pid", &errors, &pid), 0);
	assert_true(pid > 0);
	assert_int_equal(run(pool, "pid", &errors, &pid), 0);
	assert_true(pid > 0);
	assert_int_not_equal(ex_sieve_pool_zygote(pool), zygote);
	ex_sieve_pool_counters_get(pool, &counters);
	assert_int_equal(counters.zygotes_restarted, 1);
	ex_sieve_pool_destroy(pool);
}

static void settings_out_of_range(void **state)
{
	char err[256];
	(void)state;

	ex_sieve_pool *pool = ex_sieve_pool_create(test_work, err, sizeof(err));
	assert_non_null(pool);
	const ex_sieve_pool_settings none = { 0, 10, 100 };
	assert_int_equal(ex_sieve_pool_configure(pool, &none, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "0 workers"));
	const ex_sieve_pool_settings too_many = { 257, 10, 100 };
	assert_int_equal(ex_sieve_pool_configure(pool, &too_many, err, sizeof(err)), -1);
	const ex_sieve_pool_settings most = { 256, 10, 100 };
	assert_int_equal(ex_sieve_pool_configure(pool, &most, err, sizeof(err)), 0);

	/* Not configured: a run fails with a message instead of waiting. */
	ex_sieve_pool *empty = ex_sieve_pool_create(test_work, err, sizeof(err));
	ex_sieve_errors errors;
	assert_int_equal(run(empty, "pid", &errors, NULL), EX_SIEVE_RUN_FAILED);
	assert_non_null(strstr(errors.items[0].message, "no workers"));
	ex_sieve_pool_destroy(empty);
	ex_sieve_pool_destroy(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reply_round_trips),     cmocka_unit_test(crash_replaces_worker),
		cmocka_unit_test(timeout_replaces_worker), cmocka_unit_test(errors_replace_worker),
		cmocka_unit_test(runs_per_worker_limit), cmocka_unit_test(threads_share_workers),
		cmocka_unit_test(dead_zygote_is_restarted), cmocka_unit_test(settings_out_of_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
