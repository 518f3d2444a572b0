/*
 * Measures the cost of one Sieve run through the wrapper (fork, libsieve
 * parse and execute, reply over a pipe) as delivery pays it per recipient
 * with an active script. Usage: sieve_bench [runs] [resident MiB]. The
 * second argument allocates and touches that much memory first, because
 * fork() copies page tables, so its cost grows with the daemon's size.
 * Prints runs, total seconds and microseconds per run. Not run by ctest.
 */
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

int main(int argc, char **argv)
{
	long runs = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
	long resident_mib = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
	if (runs < 1 || resident_mib < 0) {
		fprintf(stderr, "usage: sieve_bench [runs >= 1] [resident MiB >= 0]\n");
		return 2;
	}
	size_t resident = (size_t)resident_mib * 1024 * 1024;
	char *ballast = resident ? malloc(resident) : NULL;
	if (ballast != NULL)
		memset(ballast, 1, resident);

	const ex_sieve_message message = {
		.envelope_from = "bob@example.org",
		.envelope_to = "alice@demo.expresso.test",
		.size = 4096,
		.get_header = lookup,
	};
	struct timespec start, end;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long i = 0; i < runs; i++) {
		ex_sieve_result result;
		if (ex_sieve_execute(script, sizeof(script) - 1, 0, &message, &result) != EX_SIEVE_OK) {
			fprintf(stderr, "run %ld failed: %s\n", i, result.errors.count ? result.errors.items[0].message : "?");
			free(ballast);
			return 1;
		}
		ex_sieve_result_clear(&result);
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	double seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
	printf("runs=%ld resident_mib=%ld seconds=%.3f us_per_run=%.1f\n", runs, resident_mib, seconds,
	       seconds * 1e6 / (double)runs);
	free(ballast);
	return 0;
}
