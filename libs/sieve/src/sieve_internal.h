/* Shared between sieve.c (libsieve glue), pool.c (the daemon's side) and worker.c (the worker processes). */
#ifndef EXPRESSO_SIEVE_INTERNAL_H
#define EXPRESSO_SIEVE_INTERNAL_H

#include "expresso/sieve.h"

/* ex_sieve_pool_run's return value when the worker crashed, hung or sent garbage. */
#define EX_SIEVE_RUN_FAILED (-1)

/*
 * The work a worker does for one request. SCRIPT is the worker's own
 * NUL-terminated copy. MESSAGE is NULL for a validation, and its
 * get_header requests the values from the daemon over the socket. RESULT is NULL for a
 * validation. Whatever the work records in RESULT, ERRORS and
 * *PARSE_ERRORS is sent back with its return value.
 */
typedef int (*ex_sieve_work)(char *script, size_t length, int execute, const ex_sieve_message *message,
			     ex_sieve_result *result, ex_sieve_errors *errors, int *parse_errors);

typedef struct ex_sieve_pool ex_sieve_pool;

/* Counters of one pool, for tests and logs. */
typedef struct {
	unsigned long long runs;
	unsigned long long started;   /* workers started, the first ones included */
	unsigned long long crashed;   /* runs whose worker died */
	unsigned long long timed_out; /* runs whose worker was killed at the deadline */
	unsigned long long zygotes_restarted;
} ex_sieve_pool_counters;

/*
 * Forks the process that forks the workers (the "zygote") and returns the
 * pool, with no workers yet. The zygote is a copy of the caller at this
 * moment, so call it while the process is small and has one thread.
 * Returns NULL with ERR filled in on failure.
 */
ex_sieve_pool *ex_sieve_pool_create(ex_sieve_work work, char *err, size_t errlen);

/* Replaces the pool's settings and starts its workers. Call with no run in progress. Returns 0 or -1. */
int ex_sieve_pool_configure(ex_sieve_pool *pool, const ex_sieve_pool_settings *settings, char *err, size_t errlen);

/*
 * Runs the pool's work in an idle worker, waiting for one if all are busy. Returns
 * the work's return value with RESULT (may be NULL), ERRORS and
 * *PARSE_ERRORS filled in from the worker's reply, or EX_SIEVE_RUN_FAILED
 * with an error explaining why when the worker crashed, overran the
 * timeout or sent an unreadable reply. The worker is replaced after such
 * a failure, after a run that reported errors and after runs_per_worker
 * runs.
 */
int ex_sieve_pool_run(ex_sieve_pool *pool, const char *script, size_t length, int execute,
		      const ex_sieve_message *message, ex_sieve_result *result, ex_sieve_errors *errors,
		      int *parse_errors);

void ex_sieve_pool_counters_get(ex_sieve_pool *pool, ex_sieve_pool_counters *counters);

/* Stops every worker and the zygote and frees the pool. Call with no run in progress. */
void ex_sieve_pool_destroy(ex_sieve_pool *pool);

/* The zygote's process id, for tests. */
int ex_sieve_pool_zygote(ex_sieve_pool *pool);

/* The zygote's main loop on CONTROL; never returns (worker.c). */
void ex_sieve_zygote_main(int control, ex_sieve_work work) __attribute__((noreturn));

/* Zygote requests and replies on the control socket. */
enum { EX_SIEVE_ZYGOTE_SPAWN = 1, EX_SIEVE_ZYGOTE_REAP = 2 };

typedef struct {
	int operation; /* EX_SIEVE_ZYGOTE_SPAWN or EX_SIEVE_ZYGOTE_REAP */
	int pid;       /* REAP: the worker to wait for */
} ex_sieve_zygote_request;

typedef struct {
	int value; /* SPAWN: the new worker's pid; REAP: its wait status */
	int error; /* errno of a failed fork, socketpair or waitpid; 0 on success */
} ex_sieve_zygote_reply;

#endif
