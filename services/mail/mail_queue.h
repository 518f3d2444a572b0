/*
 * The submission queue: every message expresso-mail sends on a user's or
 * its own behalf enters here, whatever produced it (SMTP submission, the
 * HTTP API's send, Sieve redirect and vacation, delivery status
 * notifications). A message is accepted only once it is durable; from then
 * on each recipient is either delivered or told of in a bounce.
 */
#ifndef EXPRESSO_MAIL_QUEUE_H
#define EXPRESSO_MAIL_QUEUE_H

#include <stddef.h>

#include "mail_service.h"

typedef struct {
	const char *tenant_id;          /* tenant of the submitting user; NULL for mail the server writes */
	const char *user_id;            /* submitting user; NULL for mail the server writes */
	const char *reverse_path;       /* envelope sender, "" for the null path (bounces, vacation replies) */
	const char *const *recipients;  /* envelope recipients as bare addresses, local@domain */
	size_t recipient_count;
	const char *content;            /* the whole RFC 5322 message with CRLF line ends */
	size_t length;
	const char *session_id;         /* SMTP session or HTTP request id, for the logs */
} ex_mail_submission;

typedef enum {
	EX_MAIL_QUEUE_ACCEPTED = 0,        /* durable: every recipient is delivered or bounced later */
	EX_MAIL_QUEUE_INVALID_RECIPIENT,   /* a recipient is malformed or a local one does not exist */
	EX_MAIL_QUEUE_OVER_QUOTA,          /* a local recipient is over quota */
	EX_MAIL_QUEUE_REMOTE_UNAVAILABLE,  /* a recipient is not local and remote delivery is not available */
	EX_MAIL_QUEUE_TEMPORARY_FAILURE,   /* nothing was accepted; try again later */
} ex_mail_queue_status;

/*
 * Accepts SUBMISSION for delivery and writes its queue id into QUEUE_ID.
 * On any status but ACCEPTED nothing was accepted, and *FAILED_RECIPIENT
 * (when not NULL) is the index of the recipient at fault, or -1.
 */
ex_mail_queue_status ex_mail_queue_submit(ex_mail_service *service, const ex_mail_submission *submission,
					  char *queue_id, size_t queue_id_size, long *failed_recipient);

#endif
