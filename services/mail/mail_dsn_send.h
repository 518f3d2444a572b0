/*
 * Sends a delivery status notification: builds it with ex_mail_dsn_build
 * and submits it with the null reverse path through ex_mail_queue_submit,
 * so it lands in a local sender's INBOX or is queued for a remote one.
 */
#ifndef EXPRESSO_MAIL_DSN_SEND_H
#define EXPRESSO_MAIL_DSN_SEND_H

#include <stdbool.h>
#include <stddef.h>

#include "expresso/db.h"
#include "mail_dsn.h"
#include "mail_service.h"

typedef struct {
	const char *tenant_id;          /* tenant of the message the DSN is about */
	const char *sender;             /* its reverse path: the DSN goes there; never "" */
	const char *envelope_id;        /* RFC 3461 ENVID, or NULL */
	bool return_full;               /* RFC 3461 RET=FULL */
	const char *arrival_date;       /* RFC 5322 date, or NULL */
	const char *about_id;           /* queue or session id of that message, for the logs */
	const ex_mail_dsn_recipient *recipients;
	size_t recipient_count;
	const char *original;
	size_t original_length;
	const char *message_id;         /* Message-ID of the DSN, without angle brackets; NULL: a random one */
	ex_db_work also;                /* see ex_mail_submission: runs when the DSN is queued for a remote sender */
	void *also_context;
} ex_mail_dsn_request;

/*
 * Builds and submits the DSN. Returns 0 when it was accepted or can never
 * be delivered (the sender is a local address that does not exist), -1
 * when it should be tried again.
 */
int ex_mail_dsn_send(ex_mail_service *service, const ex_mail_dsn_request *request);

#endif
