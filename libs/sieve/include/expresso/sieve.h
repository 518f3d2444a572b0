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
 * validation and execution runs in a pool of worker processes, forked
 * from a small "zygote" process that is itself forked early from the
 * caller. The script and the envelope travel to the worker over a socket,
 * and the worker requests each header field it needs from the caller. A worker
 * that reported errors, crashed, ran longer than the run timeout or served
 * runs_per_worker runs is replaced by a fresh fork of the zygote, so
 * libsieve's state is never reused after an error, and a crash or a hang
 * costs that run only, the caller getting a keep.
 * The get_header callback runs in the calling thread.
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
	EX_SIEVE_RUN_TIMEOUT_MS = 5000,          /* default: a run taking longer is killed */
	EX_SIEVE_DEFAULT_WORKERS = 2,            /* worker processes */
	EX_SIEVE_DEFAULT_RUNS_PER_WORKER = 1000, /* runs before a worker is replaced */
};

/* The worker pool's settings. */
typedef struct {
	unsigned workers;         /* processes running scripts at the same time, 1 to 256 */
	unsigned runs_per_worker; /* a worker is replaced after this many runs (and after any run with errors) */
	unsigned timeout_ms;      /* a run taking longer is killed and its worker replaced */
} ex_sieve_pool_settings;

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
 * caller; NULL when absent. The values are copied to the worker at once,
 * so they need to stay valid only until the next get_header call.
 */
typedef struct {
	const char *envelope_from; /* MAIL FROM, "" for the null sender */
	const char *envelope_to;   /* the RCPT TO this delivery is for */
	size_t size;               /* message size in bytes */
	const char *const *(*get_header)(void *context, const char *name);
	void *context;
} ex_sieve_message;

/*
 * Forks the zygote process that later forks the workers. Call it early in
 * main, while the process is small and has one thread: every worker is a
 * copy of the process as it is now. Without this call the first run
 * forks the zygote. Returns 0, or -1 with ERR filled in.
 */
int ex_sieve_prefork(char *err, size_t errlen);

/*
 * Starts the workers with SETTINGS (NULL for the defaults), replacing any
 * started before. Call it before the first run, with no run in progress;
 * without it the first run starts the default pool. Returns 0, or -1 with
 * ERR filled in.
 */
int ex_sieve_pool_start(const ex_sieve_pool_settings *settings, char *err, size_t errlen);

/* Stops the workers and the zygote. Call with no run in progress. */
void ex_sieve_pool_stop(void);

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
