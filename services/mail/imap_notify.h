/*
 * Change notifications for IDLE: one thread per daemon keeps a dedicated
 * PostgreSQL connection that LISTENs on the expresso_mail channel, which
 * the mail store's triggers notify with "<tenant> <user> <mailbox>" on
 * every committed change, whichever replica or daemon made it. Each
 * notification bumps a counter chosen by a hash of the mailbox id, and
 * IDLE sessions compare that counter with the value they saw last. Two
 * mailboxes may share a counter, which only costs an extra look at the
 * database. After each batch of notifications the thread also writes to
 * an eventfd, so the IMAP event loop can look at its IDLE sessions at
 * once instead of at its next timer tick.
 */
#ifndef EXPRESSO_MAIL_IMAP_NOTIFY_H
#define EXPRESSO_MAIL_IMAP_NOTIFY_H

#include <stdint.h>

typedef struct ex_imap_notifier ex_imap_notifier;

/* Starts the listening thread on CONNINFO. Returns NULL when the thread cannot start (logged). */
ex_imap_notifier *ex_imap_notifier_start(const char *conninfo);
void ex_imap_notifier_stop(ex_imap_notifier *notifier);

/* Returns the change counter of MAILBOX_ID; it grows after every change to that mailbox. */
uint64_t ex_imap_notifier_generation(const ex_imap_notifier *notifier, const char *mailbox_id);

/* Returns a non-blocking eventfd that becomes readable after counters moved; -1 when NOTIFIER is NULL. */
int ex_imap_notifier_event_fd(const ex_imap_notifier *notifier);

#endif
