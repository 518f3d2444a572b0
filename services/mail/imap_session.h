/*
 * One IMAP connection without I/O: the server (imap_server.c) or a fuzz
 * target feeds the client's bytes, and the session parses them with
 * libexpresso-imap, runs each command against the message store and
 * leaves the responses in an output buffer for the caller to send.
 */
#ifndef EXPRESSO_MAIL_IMAP_SESSION_H
#define EXPRESSO_MAIL_IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expresso/bus.h"
#include "expresso/db.h"
#include "expresso/storage.h"
#include "smtp_session.h"

/* Authentication callbacks: ex_mail_authenticate() and ex_mail_authenticate_token() in the daemon. */
typedef struct {
	ex_smtp_auth_status (*authenticate)(void *context, const char *login, const char *password,
					    const char *client_address, ex_smtp_identity *identity);
	/* NULL when no token issuer is configured: OAUTHBEARER and XOAUTH2 are then not offered. */
	ex_smtp_auth_status (*authenticate_token)(void *context, const char *authzid, const char *token,
						  const char *client_address, ex_smtp_identity *identity);
	void *context;
} ex_imap_auth_backend;

typedef struct {
	const char *session_id;
	const char *client_address;
	const char *hostname;
	bool tls_available;          /* STARTTLS can be offered */
	bool implicit_tls;           /* port 993: TLS from the first byte */
	bool allow_plaintext_login;  /* LOGIN and AUTHENTICATE without TLS from a loopback address */
	uint64_t max_append_size;    /* APPENDLIMIT in octets */
	uint64_t search_index_max_text; /* folded octets of a message the search index keeps; 0: no index */
	const ex_imap_auth_backend *auth;
	ex_db_pool *database;        /* NULL: every command after login fails with NO [UNAVAILABLE] */
	ex_storage *storage;
	ex_bus *bus;                 /* NULL: events are not published */
} ex_imap_session_options;

typedef enum {
	EX_IMAP_NEXT_READ = 0,      /* send the output, then read more input */
	EX_IMAP_NEXT_START_TLS,     /* send the output, then run the TLS handshake */
	EX_IMAP_NEXT_CLOSE,         /* send the output, then close */
	EX_IMAP_NEXT_START_COMPRESS, /* send the output uncompressed, then DEFLATE both directions (RFC 4978) */
} ex_imap_next;

typedef struct ex_imap_session ex_imap_session;

ex_imap_session *ex_imap_session_new(const ex_imap_session_options *options);
void ex_imap_session_free(ex_imap_session *session);

/* Writes the greeting: "* OK [CAPABILITY ...]", or "* PREAUTH" never (no pre-authentication here). */
void ex_imap_session_greet(ex_imap_session *session);

/*
 * Feeds LENGTH octets of client input. Sets *CONSUMED to the octets used:
 * after START_TLS, START_COMPRESS or CLOSE the rest must not be fed (RFC 3501 6.2.1: input
 * that came before the TLS handshake is discarded).
 */
ex_imap_next ex_imap_session_feed(ex_imap_session *session, const char *data, size_t length, size_t *consumed);

/* Marks the TLS handshake as done. */
void ex_imap_session_tls_started(ex_imap_session *session);

/* True while the client is in IDLE, so the caller waits for changes as well as input. */
bool ex_imap_session_idling(const ex_imap_session *session);

/* The mailbox id the session has selected, or NULL; for change notifications. */
const char *ex_imap_session_mailbox_id(const ex_imap_session *session);

/* Reads the changes of the selected mailbox since the last look and writes them as untagged responses (IDLE). */
void ex_imap_session_poll_changes(ex_imap_session *session);

/* Writes an untagged "* OK Still here" so that NAT and clients keep an IDLE connection. */
void ex_imap_session_keepalive(ex_imap_session *session);

/* Writes "* BYE TEXT" and marks the session closed (idle timeout, shutdown). */
void ex_imap_session_bye(ex_imap_session *session, const char *text);

/* True after LOGIN or AUTHENTICATE succeeded. */
bool ex_imap_session_authenticated(const ex_imap_session *session);

const char *ex_imap_session_output(const ex_imap_session *session, size_t *length);
void ex_imap_session_clear_output(ex_imap_session *session);

#endif
