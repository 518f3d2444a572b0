/* Shared between sieve.c (libsieve glue) and sandbox.c (the child process). */
#ifndef EXPRESSO_SIEVE_INTERNAL_H
#define EXPRESSO_SIEVE_INTERNAL_H

#include "expresso/sieve.h"

/* ex_sieve_run_isolated's return value when the child crashed, hung or sent garbage. */
#define EX_SIEVE_RUN_FAILED (-1)

/*
 * Runs work(argument) in a forked child. Whatever the child's callbacks
 * recorded in *result (may be NULL), *errors and *parse_errors is copied
 * back into the parent's structures, and work's return value is returned.
 * On a crash, a hang past timeout_ms or a broken reply, an error
 * explaining it is added to *errors and EX_SIEVE_RUN_FAILED returned.
 */
int ex_sieve_run_isolated(int (*work)(void *argument), void *argument, ex_sieve_result *result,
			  ex_sieve_errors *errors, int *parse_errors, int timeout_ms);

#endif
