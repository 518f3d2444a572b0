/*
 * The outbound SMTP client: one transaction with one remote host, with
 * opportunistic STARTTLS (RFC 3207) and AUTH PLAIN to a relay host
 * (RFC 4954, only over TLS). It reports a reply for every recipient.
 */
#ifndef EXPRESSO_MAIL_OUTBOUND_CLIENT_H
#define EXPRESSO_MAIL_OUTBOUND_CLIENT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "mail_outbound_route.h"
#include "smtp_reply.h"

typedef struct ex_outbound_result ex_outbound_result;

typedef struct {
	const char *helo;                   /* our host name for EHLO */
	const char *reverse_path;           /* "" for the null path */
	const char *const *recipients;
	size_t recipient_count;
	const char *content;                /* the message with CRLF line ends, not dot-stuffed */
	size_t length;
	SSL_CTX *tls;                       /* client context for STARTTLS; NULL sends in clear text */
	const char *auth_user;              /* AUTH PLAIN after STARTTLS when set (relay host) */
	const char *auth_password;
	unsigned timeout_ms;                /* for the connection and each reply */
	const char *resolver;               /* DNS server for host names, as for ex_outbound_resolve; NULL: getaddrinfo */
	/* RFC 3461 parameters, sent only when the remote offers DSN; NULL when absent. */
	const char *envelope_id;
	const char *return_content;         /* "FULL" or "HDRS" */
	const char *const *notify;          /* per recipient, e.g. "FAILURE,DELAY" */
	const char *const *original_recipients; /* per recipient, "rfc822;address" */
	/* Called with RESULTS right after the reply to the final dot, before QUIT; NULL for none. */
	void (*on_final_reply)(void *context, const ex_outbound_result *results, size_t count);
	/* Called after the content and before the final dot; false closes the connection without sending the dot,
	 * so the remote discards the message. NULL: the dot is always sent. */
	bool (*before_final_dot)(void *context);
	void *context;
} ex_outbound_message;

/* The reply that decided a recipient's fate: code 0 while undecided. */
struct ex_outbound_result {
	int code;
	char enhanced[16];
	char text[EX_SMTP_REPLY_MAX_TEXT];
	bool remote_dsn;   /* the host that accepted the recipient offers DSN, so it reports from now on */
};

typedef enum {
	EX_OUTBOUND_DONE = 0,      /* every recipient has a reply from this host */
	EX_OUTBOUND_TRY_NEXT_HOST, /* connection failed or the host answered 4xx before any RCPT; results hold why */
} ex_outbound_outcome;

/*
 * Runs one SMTP transaction with HOST and fills RESULTS (one per
 * recipient). A lost connection after the final dot counts as a 4xx,
 * since the remote may or may not have taken the message.
 */
ex_outbound_outcome ex_outbound_send(const ex_outbound_host *host, const ex_outbound_message *message,
				     ex_outbound_result *results);

/* Sets every result to a reply made here, e.g. for a failed DNS lookup. */
void ex_outbound_fail_all(ex_outbound_result *results, size_t count, int code, const char *enhanced,
			  const char *text);

#endif
