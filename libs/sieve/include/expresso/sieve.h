/*
 * Sieve filtering (RFC 5228) on libsieve, with the limits and fallbacks a
 * mail store needs: the script size is capped before libsieve parses it,
 * syntax errors are counted and reported with their line (libsieve's
 * validate call returns success even for a script with errors), and a
 * script that fails while running yields a single keep, so a delivery
 * never loses the message to a broken filter.
 *
 * Extensions are what Debian's libsieve 2.2 implements: fileinto, reject,
 * envelope, vacation, imap4flags (and the older imapflags), relational,
 * subaddress, regex and notify. Not copy, body, variables, date, include
 * or mailbox; a script that requires one of those fails validation.
 *
 * Two libsieve behaviours callers see: a reject after a fileinto or keep
 * is dropped (the message is filed, not refused), and vacation, as in CMU
 * Sieve, answers only when the recipient's address (envelope to or one of
 * :addresses) appears in the To, Cc or Bcc header.
 *
 * libsieve keeps state in globals between runs, and a fuzzer showed that
 * state pointing into freed memory after a script with errors. So every
 * validation and execution runs in a child process forked for it (about a
 * millisecond, one at a time per process): each starts from libsieve's
 * initial state, and a crash or a run longer than EX_SIEVE_RUN_TIMEOUT_MS
 * ends that child only, the caller getting a keep.
 * TODO: a pool of pre-forked workers would remove the fork per run and
 * the one-at-a-time limit. The fork copies the caller's page tables, so a
 * run costs about 1 ms in a small process and 7 to 11 ms at 128 MiB
 * resident (tests/unit/sieve/bench_sieve.c, figures in docs/sieve.md).
 * The get_header callback runs in the child: it must not take locks.
 */
#ifndef EXPRESSO_SIEVE_H
#define EXPRESSO_SIEVE_H

#include <stdbool.h>
#include <stddef.h>

enum {
	EX_SIEVE_DEFAULT_MAX_SCRIPT = 64 * 1024, /* bytes */
	EX_SIEVE_MAX_ERRORS = 8,                 /* errors kept per call; more are counted */
	EX_SIEVE_MAX_ACTIONS = 64,               /* actions kept per execution */
	EX_SIEVE_MAX_ERROR_TEXT = 256,
	EX_SIEVE_RUN_TIMEOUT_MS = 5000,          /* a run taking longer is killed */
};

typedef enum {
	EX_SIEVE_OK = 0,
	EX_SIEVE_TOO_LARGE,     /* script exceeds the size cap; libsieve never saw it */
	EX_SIEVE_INVALID,       /* syntax or semantic errors, listed in errors */
	EX_SIEVE_RUNTIME_ERROR, /* the script failed while running; the result is one keep */
	EX_SIEVE_INTERNAL,      /* out of memory, or the filter process crashed or hung */
} ex_sieve_status;

typedef struct {
	int line;                            /* 0 when libsieve gave none */
	char message[EX_SIEVE_MAX_ERROR_TEXT];
} ex_sieve_error;

typedef struct {
	size_t count;                        /* every error reported, kept or not */
	ex_sieve_error items[EX_SIEVE_MAX_ERRORS];
} ex_sieve_errors;

typedef enum {
	EX_SIEVE_ACTION_KEEP,
	EX_SIEVE_ACTION_FILEINTO,
	EX_SIEVE_ACTION_DISCARD,
	EX_SIEVE_ACTION_REDIRECT,
	EX_SIEVE_ACTION_REJECT,
	EX_SIEVE_ACTION_VACATION,
	EX_SIEVE_ACTION_NOTIFY,
} ex_sieve_action_type;

/* One action. Strings are owned by the result; unused ones are NULL. */
typedef struct {
	ex_sieve_action_type type;
	bool implicit;    /* the keep that RFC 5228 adds when nothing cancelled it */
	char *mailbox;    /* fileinto */
	char *address;    /* redirect: the target; vacation: the recipient (envelope sender) */
	char *message;    /* reject reason, vacation or notify text */
	char *subject;    /* vacation */
	char *from;       /* vacation :from */
	int days;         /* vacation :days */
	bool mime;        /* vacation :mime */
	char **flags;     /* keep and fileinto: imap4flags, NULL-terminated; NULL when none */
} ex_sieve_action;

typedef struct {
	size_t count;
	ex_sieve_action actions[EX_SIEVE_MAX_ACTIONS];
	size_t dropped;   /* actions past EX_SIEVE_MAX_ACTIONS */
	ex_sieve_errors errors; /* parse or runtime errors */
} ex_sieve_result;

/*
 * What a script may ask about the message being delivered. get_header
 * returns the values of every header field named NAME (case-insensitive,
 * unfolded, decoded as the caller sees fit), NULL-terminated, owned by the
 * caller and valid until the execution returns; NULL when absent.
 */
typedef struct {
	const char *envelope_from; /* MAIL FROM, "" for the null sender */
	const char *envelope_to;   /* the RCPT TO this delivery is for */
	size_t size;               /* message size in bytes */
	const char *const *(*get_header)(void *context, const char *name);
	void *context;
} ex_sieve_message;

/* Checks SCRIPT without running it. */
ex_sieve_status ex_sieve_validate(const char *script, size_t length, size_t max_size,
				  ex_sieve_errors *errors);

/*
 * Runs SCRIPT against MESSAGE and fills RESULT with the actions to take,
 * including the implicit keep. On EX_SIEVE_INVALID or
 * EX_SIEVE_RUNTIME_ERROR the result contains exactly one implicit keep and
 * the errors, so the caller can always act on the result. Call
 * ex_sieve_result_clear afterwards whatever the status.
 */
ex_sieve_status ex_sieve_execute(const char *script, size_t length, size_t max_size,
				 const ex_sieve_message *message, ex_sieve_result *result);

void ex_sieve_result_clear(ex_sieve_result *result);

/* Space-separated extension names this build supports; static storage. */
const char *ex_sieve_extensions(void);

#endif
