/*
 * Automatic replies written by the server for Sieve: the vacation reply
 * (RFC 5230) and the bounce of a message rejected by a recipient's script
 * when SMTP could no longer refuse it. Both go out with the null reverse
 * path and Auto-Submitted: auto-replied (RFC 3834).
 */
#ifndef EXPRESSO_MAIL_VACATION_H
#define EXPRESSO_MAIL_VACATION_H

#include <stdbool.h>
#include <stddef.h>

#include "mail_sieve_headers.h"

enum {
	EX_MAIL_VACATION_DEFAULT_DAYS = 7,
	EX_MAIL_VACATION_MAX_DAYS = 365,
};

/*
 * Returns NULL when a vacation reply to SENDER (the envelope sender) is
 * allowed, else the reason it is not (RFC 5230 section 4.6 and RFC 3834
 * section 2): a null or system sender, mail from a list or bulk mail, an
 * automatic message, or the recipient writing to itself.
 */
const char *ex_mail_vacation_suppressed(const char *sender, const char *recipient,
					const ex_mail_sieve_headers *headers);

typedef struct {
	const char *hostname;  /* for the Message-ID */
	const char *from;      /* the replying user's address */
	const char *to;        /* the original envelope sender */
	const char *subject;   /* NULL: "Auto: " and the original subject */
	const char *text;      /* the reply text, or with mime a MIME entity (headers, blank line, body) */
	bool mime;
	const ex_mail_sieve_headers *original;
} ex_mail_vacation_reply;

/* Builds the reply with CRLF line ends; *LENGTH gets its size. Returns a malloc'd message or NULL. */
char *ex_mail_vacation_build(const ex_mail_vacation_reply *reply, size_t *length);

/* Builds the bounce of a rejected message to TO; REASON is the script's text. */
char *ex_mail_vacation_build_rejection(const char *hostname, const char *to, const char *recipient,
				       const char *reason, const ex_mail_sieve_headers *original, size_t *length);

#endif
