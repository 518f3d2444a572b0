/*
 * Parser of the replies a remote SMTP server sends to the outbound client
 * (RFC 5321 4.2): a three-digit code, '-' on every line but the last, an
 * optional enhanced status code (RFC 3463) and text. The EHLO reply's
 * lines after the first name the extensions the server offers.
 */
#ifndef EXPRESSO_MAIL_SMTP_REPLY_H
#define EXPRESSO_MAIL_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

enum {
	/* Text of the reply kept for logs and DSN Diagnostic-Code fields; the rest is cut. */
	EX_SMTP_REPLY_MAX_TEXT = 512,
	/* Lines accepted in one reply before it is called malformed. */
	EX_SMTP_REPLY_MAX_LINES = 100,
	/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with CRLF. Longer lines are read but cut. */
	EX_SMTP_REPLY_MAX_LINE = 510,
};

/* Extensions named in an EHLO reply that the outbound client uses. */
typedef struct {
	bool starttls;
	bool pipelining;
	bool size;
	bool eightbitmime;
	bool smtputf8;
	bool dsn;
	bool auth_plain;
	bool requiretls;
} ex_smtp_extensions;

typedef struct {
	int code;                         /* 200..599 once complete */
	char enhanced[16];                /* "5.1.1", or "" when the server sent none */
	char text[EX_SMTP_REPLY_MAX_TEXT]; /* the lines' text joined by spaces, control characters replaced */
	size_t lines;
	ex_smtp_extensions extensions;    /* filled from lines 2.. of every reply; meaningful only for EHLO */
} ex_smtp_reply;

typedef enum {
	EX_SMTP_REPLY_MORE = 0,   /* a continuation line: read the next one */
	EX_SMTP_REPLY_COMPLETE,   /* the last line: REPLY is complete */
	EX_SMTP_REPLY_MALFORMED,  /* not a reply line, a code that changed between lines, or too many lines */
} ex_smtp_reply_status;

void ex_smtp_reply_init(ex_smtp_reply *reply);

/* Feeds one line of a reply without its CRLF. */
ex_smtp_reply_status ex_smtp_reply_line(ex_smtp_reply *reply, const char *line, size_t length);

/* Returns the class of a complete reply: 2, 3, 4 or 5. */
int ex_smtp_reply_class(const ex_smtp_reply *reply);

#endif
