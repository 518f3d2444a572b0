/*
 * The SMTP session state machine (RFC 5321, with RFC 3207 STARTTLS, RFC
 * 4954 AUTH, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8, RFC
 * 2920 PIPELINING, RFC 2034 ENHANCEDSTATUSCODES). It turns command lines
 * into replies and returns what the connection does next. It does no I/O
 * itself. Looking up recipients, checking passwords and delivering go
 * through an ex_smtp_backend.
 *
 * Each command has a check (its preconditions, each failing with one
 * precise reply and no change of state) and a proceed (the work).
 */
#ifndef EXPRESSO_MAIL_SMTP_SESSION_H
#define EXPRESSO_MAIL_SMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "smtp_address.h"
#include "smtp_data.h"
#include "smtp_limits.h"

typedef enum {
	EX_SMTP_LISTENER_MX,          /* port 25: mail from the Internet, no AUTH */
	EX_SMTP_LISTENER_SUBMISSION,  /* port 587: STARTTLS, then AUTH, then mail */
} ex_smtp_listener_kind;

typedef enum {
	EX_SMTP_STATE_GREETED,  /* banner sent; EHLO or HELO expected */
	EX_SMTP_STATE_READY,    /* no mail transaction */
	EX_SMTP_STATE_MAIL,     /* MAIL accepted, no recipient yet */
	EX_SMTP_STATE_RCPT,     /* at least one recipient accepted */
	EX_SMTP_STATE_DATA,     /* reading message content after DATA */
	EX_SMTP_STATE_BDAT,     /* reading the octets of a BDAT chunk */
	EX_SMTP_STATE_AUTH,     /* inside a SASL exchange */
	EX_SMTP_STATE_CLOSED,
} ex_smtp_state;

/* What the connection does after a line or the content has been handled. */
typedef enum {
	EX_SMTP_NEXT_LINE,      /* send the replies, read the next command line */
	EX_SMTP_NEXT_DATA,      /* send the replies, then read content with the data decoder */
	EX_SMTP_NEXT_CHUNK,     /* read the octets of a BDAT chunk and pass them to ex_smtp_session_chunk */
	EX_SMTP_NEXT_START_TLS, /* send the replies, drop buffered input, start the TLS handshake */
	EX_SMTP_NEXT_CLOSE,     /* send the replies and close the connection */
} ex_smtp_next;

enum { EX_SMTP_UUID_TEXT = 37 };

typedef struct {
	char tenant_id[EX_SMTP_UUID_TEXT];
	char user_id[EX_SMTP_UUID_TEXT];
	char address[EX_SMTP_MAX_PATH + 1]; /* the path as the client wrote it */
	bool remote;                        /* a domain we do not host: tenant_id and user_id are empty */
	char notify[EX_SMTP_DSN_NOTIFY_TEXT];  /* RFC 3461 NOTIFY, canonical; "" when absent */
	char original_recipient[EX_SMTP_DSN_MAX_ORCPT + 1]; /* RFC 3461 ORCPT; "" when absent */
} ex_smtp_recipient;

typedef enum {
	EX_SMTP_LOOKUP_LOCAL = 0,    /* a mailbox of ours: fills the recipient */
	EX_SMTP_LOOKUP_NO_MAILBOX,   /* our domain, no such user */
	EX_SMTP_LOOKUP_NOT_LOCAL,    /* a domain we do not host */
	EX_SMTP_LOOKUP_OVER_QUOTA,   /* the user is already at or over quota */
	EX_SMTP_LOOKUP_TEMPORARY_FAILURE,
} ex_smtp_lookup_status;

typedef struct {
	char tenant_id[EX_SMTP_UUID_TEXT];
	char user_id[EX_SMTP_UUID_TEXT];
	char email[EX_SMTP_MAX_PATH + 1];
} ex_smtp_identity;

typedef enum {
	EX_SMTP_AUTH_ACCEPTED = 0,
	EX_SMTP_AUTH_REJECTED,
	EX_SMTP_AUTH_RATE_LIMITED, /* too many recent failures from this address or for this account */
	EX_SMTP_AUTH_TEMPORARY_FAILURE,
} ex_smtp_auth_status;

typedef enum {
	EX_SMTP_SENDER_ALLOWED = 0,
	EX_SMTP_SENDER_REJECTED,          /* not the user's address nor one of their aliases */
	EX_SMTP_SENDER_TEMPORARY_FAILURE,
} ex_smtp_sender_status;

typedef enum {
	EX_SMTP_DELIVERY_STORED = 0,
	EX_SMTP_DELIVERY_OVER_QUOTA,
	EX_SMTP_DELIVERY_FROM_REJECTED, /* submission: the From field names an address that is not the user's */
	EX_SMTP_DELIVERY_TEMPORARY_FAILURE,
	EX_SMTP_DELIVERY_REJECTED,      /* the recipient's Sieve script rejected the message */
} ex_smtp_delivery_status;

/* Everything a delivery needs to know about one accepted transaction. */
typedef struct {
	const char *session_id;
	const char *helo;
	const char *client_address;
	ex_smtp_listener_kind listener;
	bool tls;
	bool esmtp;                       /* the client greeted with EHLO */
	const ex_smtp_identity *identity; /* NULL unless authenticated */
	const char *reverse_path;         /* "" for the null path */
	bool smtputf8;
	const ex_smtp_recipient *recipients;
	size_t recipient_count;
	const char *content;              /* the message as received, dot-unstuffed */
	size_t length;
	const char *envelope_id;          /* RFC 3461 ENVID (xtext), or NULL */
	const char *return_content;       /* RFC 3461 RET: "FULL", "HDRS" or NULL */
} ex_smtp_envelope;

typedef struct {
	ex_smtp_lookup_status (*lookup_recipient)(void *context, const ex_smtp_path *path,
						  ex_smtp_recipient *recipient);
	ex_smtp_auth_status (*authenticate)(void *context, const char *login, const char *password,
					    const char *client_address, ex_smtp_identity *identity);
	/*
	 * Checks an OAuth 2.0 access token (OAUTHBEARER, XOAUTH2). AUTHZID is
	 * the address the client named, "" when none. NULL: those mechanisms
	 * are not offered.
	 */
	ex_smtp_auth_status (*authenticate_token)(void *context, const char *authzid, const char *token,
						  const char *client_address, ex_smtp_identity *identity);
	/* Stores the message for every recipient; 0 recipients stored unless STORED. */
	ex_smtp_delivery_status (*deliver)(void *context, const ex_smtp_envelope *envelope,
					   char *queue_id, size_t queue_id_size);
	/* Checks an authenticated session's MAIL FROM address. NULL: only the login address is allowed. */
	ex_smtp_sender_status (*check_sender)(void *context, const ex_smtp_identity *identity, const char *address);
	void *context;
} ex_smtp_backend;

typedef struct {
	const char *hostname;           /* our name in the banner, EHLO reply and Received */
	const char *session_id;
	const char *client_address;
	ex_smtp_listener_kind listener;
	bool tls_available;             /* a certificate is loaded, STARTTLS may be offered */
	bool implicit_tls;              /* port 465: TLS was negotiated before the banner */
	ex_smtp_limits limits;
	const ex_smtp_backend *backend;
} ex_smtp_session_options;

typedef struct ex_smtp_session ex_smtp_session;

ex_smtp_session *ex_smtp_session_new(const ex_smtp_session_options *options);
void ex_smtp_session_free(ex_smtp_session *session);

/* Queues the 220 banner. */
void ex_smtp_session_greet(ex_smtp_session *session);

/* Handles one command line (or SASL response line) without its CRLF. */
ex_smtp_next ex_smtp_session_line(ex_smtp_session *session, const char *line, size_t length);

/* Replies to a line the reader rejected: too long, NUL or bare LF. */
ex_smtp_next ex_smtp_session_line_error(ex_smtp_session *session, const char *reason);

/* The content decoder the connection feeds while the state is DATA. */
ex_smtp_data_decoder *ex_smtp_session_data(ex_smtp_session *session);

/* Delivers the content once the end-of-data line was read, and replies. */
ex_smtp_next ex_smtp_session_data_end(ex_smtp_session *session);

/*
 * Takes up to LENGTH octets of the current BDAT chunk and sets *consumed.
 * Once the chunk is complete it replies (and delivers after BDAT LAST).
 */
ex_smtp_next ex_smtp_session_chunk(ex_smtp_session *session, const char *data, size_t length, size_t *consumed);

/* Marks TLS as established and discards the EHLO state and any transaction, as RFC 3207 4.2 requires. */
void ex_smtp_session_tls_started(ex_smtp_session *session);

/* Queues a 421 reply for a server shutdown or idle timeout and closes. */
void ex_smtp_session_abort(ex_smtp_session *session, const char *reply);

/* Replies queued since the last ex_smtp_session_clear_output(). */
const char *ex_smtp_session_output(const ex_smtp_session *session, size_t *length);
void ex_smtp_session_clear_output(ex_smtp_session *session);

ex_smtp_state ex_smtp_session_state(const ex_smtp_session *session);
bool ex_smtp_session_tls(const ex_smtp_session *session);
bool ex_smtp_session_authenticated(const ex_smtp_session *session);

#endif
