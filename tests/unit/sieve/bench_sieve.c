/*
 * Measures the cost of one Sieve run through the wrapper (request over a
 * socket to a pool worker, libsieve parse and execute, header questions,
 * reply) as delivery pays it per recipient with an active script. Usage:
 * sieve_bench [runs] [resident MiB] [threads] [workers] [runs per worker].
 * The zygote is forked first, as expresso-mail's main does; then the
 * given resident memory is allocated and touched, to show that the
 * daemon's size no longer changes the cost. THREADS callers share the
 * pool. Prints the settings, total seconds, microseconds per run and runs
 * per second. Not run by ctest.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "expresso/sieve.h"

static const char script[] =
	"require [\"fileinto\", \"imap4flags\", \"vacation\"];\n"
	"if header :contains \"subject\" \"[proj]\" { addflag \"\\\\Flagged\"; fileinto \"Projects\"; }\n"
	"elsif address :domain :is \"from\" \"example.org\" { fileinto \"Example\"; }\n"
	"vacation :days 7 :subject \"Away\" \"Back on Monday.\";\n";

static const char *const subject[] = { "[proj] weekly report", NULL };
static const char *const from[] = { "Bob <bob@example.org>", NULL };
static const char *const to[] = { "alice@demo.expresso.test", NULL };

static const char *const *lookup(void *context, const char *name)
{
	(void)context;
	if (strcasecmp(name, "Subject") == 0)
		return subject;
	if (strcasecmp(name, "From") == 0)
		return from;
	if (strcasecmp(name, "To") == 0)
		return to;
	return NULL;
}

static const ex_sieve_message message = {
	.envelope_from = "bob@example.org",
	.envelope_to = "alice@demo.expresso.test",
	.size = 4096,
	.get_header = lookup,
};

typedef struct {
	long runs;
	long failed;
} caller;

/* Runs the script the caller's number of times and counts the failed runs. */
static void *run_script(void *argument)
{
	caller *self = argument;
	long runs = self->runs;
	long failed = 0;
	for (long i = 0; i < runs; i++) {
		ex_sieve_result result;
		if (ex_sieve_execute(script, sizeof(script) - 1, 0, &message, &result) != EX_SIEVE_OK) {
			fprintf(stderr, "run %ld failed: %s\n", i, result.errors.count ? result.errors.items[0].message : "?");
			failed++;
		}
		ex_sieve_result_clear(&result);
	}
	self->failed = failed;
	return NULL;
}

int main(int argc, char **argv)
{
	long runs = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
	long resident_mib = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
	long threads = argc > 3 ? strtol(argv[3], NULL, 10) : 1;
	long workers = argc > 4 ? strtol(argv[4], NULL, 10) : EX_SIEVE_DEFAULT_WORKERS;
	long runs_per_worker = argc > 5 ? strtol(argv[5], NULL, 10) : EX_SIEVE_DEFAULT_RUNS_PER_WORKER;
	if (runs < 1 || resident_mib < 0 || threads < 1 || threads > 64 || workers < 1 || workers > 256 ||
	    runs_per_worker < 1) {
		fprintf(stderr, "usage: sieve_bench [runs >= 1] [resident MiB >= 0] [threads 1-64] [workers 1-256] "
				"[runs per worker >= 1]\n");
		return 2;
	}

	char err[256];
	if (ex_sieve_prefork(err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	size_t resident = (size_t)resident_mib * 1024 * 1024;
	char *ballast = resident ? malloc(resident) : NULL;
	if (ballast != NULL)
		memset(ballast, 1, resident);
	const ex_sieve_pool_settings settings = { (unsigned)workers, (unsigned)runs_per_worker, EX_SIEVE_RUN_TIMEOUT_MS };
	if (ex_sieve_pool_start(&settings, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		free(ballast);
		return 1;
	}

	pthread_t threads_started[64];
	caller callers[64];
	long per_thread = runs / threads;
	long failed = 0;
	struct timespec start, end;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long t = 0; t < threads; t++) {
		callers[t] = (caller){ .runs = per_thread };
		pthread_create(&threads_started[t], NULL, run_script, &callers[t]);
	}
	for (long t = 0; t < threads; t++) {
		pthread_join(threads_started[t], NULL);
		failed += callers[t].failed;
	}
	clock_gettime(CLOCK_MONOTONIC, &end);

	long total = per_thread * threads;
	double seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
	printf("runs=%ld resident_mib=%ld threads=%ld workers=%ld runs_per_worker=%ld seconds=%.3f us_per_run=%.1f "
	       "runs_per_second=%.0f\n",
	       total, resident_mib, threads, workers, runs_per_worker, seconds, seconds * 1e6 / (double)total,
	       (double)total / seconds);
	ex_sieve_pool_stop();
	free(ballast);
	return failed == 0 ? 0 : 1;
}
