/*
 * Sieve at local delivery. Before a recipient's copy is stored, the
 * recipient's active script runs (libexpresso-sieve, in a child process)
 * and its actions become a plan: the mailboxes and flags of the rows to
 * insert, and the messages to send once the rows are committed (redirect,
 * vacation reply, rejection bounce). A script that fails yields the plan
 * of a plain keep into INBOX, and the error is stored in the script's
 * last_error column for the user to see.
 */
#ifndef EXPRESSO_MAIL_SIEVE_H
#define EXPRESSO_MAIL_SIEVE_H

#include <stdbool.h>
#include <stddef.h>

#include "expresso/sieve.h"
#include "mail_service.h"

enum {
	EX_MAIL_SIEVE_MAX_TARGETS = 16,   /* rows one copy may become; further fileinto actions are dropped */
	EX_MAIL_SIEVE_ERROR_TEXT = 512,
	/* A message that already carries this many X-Sieve-Redirected-By fields is not redirected again. */
	EX_MAIL_SIEVE_MAX_REDIRECT_HOPS = 8,
};

/* One row to insert for the copy. */
typedef struct {
	char *mailbox;  /* mailbox name, '/' separated; "INBOX" for keep */
	char *flags;    /* PostgreSQL text[] literal of the imap4flags, "{}" when none */
} ex_mail_sieve_target;

typedef struct {
	bool has_script;
	char script_id[EX_SMTP_UUID_TEXT];
	size_t target_count;        /* 0: the copy is not filed (discard, reject, redirect only) */
	ex_mail_sieve_target targets[EX_MAIL_SIEVE_MAX_TARGETS];
	bool rejected;              /* reject ran */
	bool vacation_paused;       /* the managed vacation script is outside its dates: send no reply */
	const char *reject_reason;  /* points into result */
	ex_sieve_result result;     /* actions the script returned, for the messages sent after the commit */
	bool *allowed;              /* per action in result: false when a redirect was stopped (loop or cap) */
	char error[EX_MAIL_SIEVE_ERROR_TEXT]; /* problem stored in last_error; "" when none */
} ex_mail_sieve_plan;

/*
 * Runs RECIPIENT's active script against the message of ENVELOPE and fills
 * PLAN. Without an active script the plan is one keep. Returns 0, or -1
 * when the database or memory failed (the delivery should be retried).
 */
int ex_mail_sieve_plan_copy(ex_mail_service *service, const ex_smtp_envelope *envelope,
			    const ex_smtp_recipient *recipient, ex_mail_sieve_plan *plan);

/*
 * Returns true when a rejection by the script can be the SMTP reply: a
 * single recipient in a real SMTP session. A message from the submission
 * queue (a redirect, say) has no client to refuse, so it is bounced.
 */
bool ex_mail_sieve_refuse_in_session(const ex_smtp_envelope *envelope);

/*
 * Replaces target INDEX by INBOX because its mailbox does not exist, and
 * records why. Called by the delivery transaction when it cannot file the
 * copy where the script asked. Returns 0, 1 when another target already
 * files into INBOX (skip this one), or -1 when memory ran out.
 */
int ex_mail_sieve_fall_back_to_inbox(ex_mail_sieve_plan *plan, size_t index);

/*
 * Sends what the plan asks for once the copy is committed (redirects,
 * vacation reply, rejection bounce) and stores the plan's error in the
 * script's last_error. Failures are logged; the delivery stands.
 */
void ex_mail_sieve_after_commit(ex_mail_service *service, const ex_smtp_envelope *envelope,
				const ex_smtp_recipient *recipient, ex_mail_sieve_plan *plan);

void ex_mail_sieve_plan_clear(ex_mail_sieve_plan *plan);

#endif
