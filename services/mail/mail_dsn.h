/*
 * Delivery status notifications (RFC 3464): a multipart/report message
 * with a human-readable part, a message/delivery-status part with one
 * block per recipient, and the returned message or its header.
 */
#ifndef EXPRESSO_MAIL_DSN_H
#define EXPRESSO_MAIL_DSN_H

#include <stdbool.h>
#include <stddef.h>

enum {
	/* Bytes of the original message returned in full; a longer one is returned as its header only. */
	EX_MAIL_DSN_MAX_RETURNED = 1024 * 1024,
};

typedef struct {
	const char *address;            /* the recipient as queued (Final-Recipient) */
	const char *original_recipient; /* RFC 3461 ORCPT as "type;address", or NULL */
	const char *action;             /* "failed", "delayed", "delivered", "relayed" or "expanded" */
	const char *status;             /* enhanced status code, e.g. "5.1.1" or "4.4.7" */
	const char *remote_mta;         /* host name that gave the reply, or NULL */
	const char *diagnostic;         /* the remote reply, e.g. "550 5.1.1 no such user", or NULL */
	const char *will_retry_until;   /* RFC 5322 date when retries end, for action "delayed"; or NULL */
} ex_mail_dsn_recipient;

typedef struct {
	const char *reporting_mta;      /* our host name */
	const char *sender;             /* the original reverse path: the DSN goes there */
	const char *envelope_id;        /* RFC 3461 ENVID, or NULL */
	const char *arrival_date;       /* RFC 5322 date the message was accepted */
	const char *date;               /* RFC 5322 date of the DSN itself */
	const char *message_id;         /* Message-ID of the DSN, without angle brackets */
	const char *boundary;           /* MIME boundary: must not occur in the original */
	const ex_mail_dsn_recipient *recipients;
	size_t recipient_count;
	const char *original;           /* the original message with CRLF line ends */
	size_t original_length;
	bool return_full;               /* RET=FULL: return the whole message, not only its header */
} ex_mail_dsn;

/*
 * Builds the DSN message with CRLF line ends into a new buffer that the
 * caller frees, and sets *LENGTH. Returns NULL when memory ran out or a
 * required field is missing.
 */
char *ex_mail_dsn_build(const ex_mail_dsn *dsn, size_t *length);

/* Returns the length of the header of MESSAGE, up to and including the empty line, or LENGTH without one. */
size_t ex_mail_dsn_header_length(const char *message, size_t length);

#endif
