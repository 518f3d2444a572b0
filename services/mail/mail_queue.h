/*
 * The submission queue: every message expresso-mail sends on a user's or
 * its own behalf enters here, whatever produced it (SMTP submission, the
 * HTTP API's send, Sieve redirect and vacation, delivery status
 * notifications). A message is accepted only once it is durable. From then
 * on each recipient is either delivered or reported in a bounce.
 *
 * Local recipients are delivered at once. Remote ones go to the outbound
 * queue (tables mail_queue and mail_queue_recipients, the message as one
 * object in storage), which the workers of mail_outbound.c deliver.
 */
#ifndef EXPRESSO_MAIL_QUEUE_H
#define EXPRESSO_MAIL_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "expresso/db.h"
#include "mail_service.h"

typedef struct {
	/* Tenant of the submitting user. NULL for mail the server writes; a DSN about a queued message carries
	 * that message's tenant, so a DSN to a remote sender can be queued too. */
	const char *tenant_id;
	const char *user_id;            /* submitting user; NULL for mail the server writes */
	const char *reverse_path;       /* envelope sender, "" for the null path (bounces, vacation replies) */
	const char *const *recipients;  /* envelope recipients as bare addresses, local@domain */
	size_t recipient_count;
	const char *content;            /* the whole RFC 5322 message with CRLF line ends */
	size_t length;
	const char *session_id;         /* SMTP session or HTTP request id, for the logs */
	/* When not NULL, run with ALSO_CONTEXT inside the transaction that queues the message for its remote
	 * recipients, so that what it records commits with the queue rows. Local deliveries do not run it. */
	ex_db_work also;
	void *also_context;
} ex_mail_submission;

typedef enum {
	EX_MAIL_QUEUE_ACCEPTED = 0,        /* durable: every recipient is delivered or bounced later */
	EX_MAIL_QUEUE_INVALID_RECIPIENT,   /* a recipient is malformed or a local one does not exist */
	EX_MAIL_QUEUE_OVER_QUOTA,          /* a local recipient is over quota */
	EX_MAIL_QUEUE_REMOTE_UNAVAILABLE,  /* a recipient is not local and the submission has no tenant to queue it in */
	EX_MAIL_QUEUE_TEMPORARY_FAILURE,   /* nothing was accepted; try again later */
} ex_mail_queue_status;

/*
 * Accepts SUBMISSION for delivery and writes its queue id into QUEUE_ID.
 * On any status but ACCEPTED nothing was accepted, and *FAILED_RECIPIENT
 * (when not NULL) is the index of the recipient at fault, or -1.
 */
ex_mail_queue_status ex_mail_queue_submit(ex_mail_service *service, const ex_mail_submission *submission,
					  char *queue_id, size_t queue_id_size, long *failed_recipient);

/*
 * The SMTP backend's deliver operation: local recipients through
 * ex_mail_deliver, remote ones (authenticated submission only) into the
 * outbound queue.
 */
ex_smtp_delivery_status ex_mail_queue_deliver(void *context, const ex_smtp_envelope *envelope, char *queue_id,
					      size_t queue_id_size);

/* A remote recipient to queue, with its RFC 3461 parameters (NULL when absent). */
typedef struct {
	const char *address;
	const char *notify;
	const char *original_recipient;
} ex_mail_queue_recipient;

/* A message for remote recipients, as ex_mail_queue_enqueue stores it. */
typedef struct {
	const char *tenant_id;
	const char *user_id;            /* NULL for mail the server writes */
	const char *reverse_path;
	const ex_mail_queue_recipient *recipients;
	size_t recipient_count;
	const char *trace;              /* Received field to put in front of the content, or NULL */
	size_t trace_length;
	const char *content;
	size_t length;
	const char *envelope_id;        /* RFC 3461 ENVID, or NULL */
	const char *return_content;     /* "FULL", "HDRS" or NULL */
	const char *session_id;
	bool held;                      /* no worker takes it for a while: its local copies are being delivered */
	ex_db_work also;                /* run with ALSO_CONTEXT in the transaction that inserts the queue rows, or NULL */
	void *also_context;
} ex_mail_queue_entry;

/*
 * Stores ENTRY's message durably and inserts its queue rows, then wakes a
 * worker. Writes the queue id (a UUID) into QUEUE_ID. Returns 0 or -1 (logged).
 */
int ex_mail_queue_enqueue(ex_mail_service *service, const ex_mail_queue_entry *entry, char *queue_id,
			  size_t queue_id_size);

#endif
