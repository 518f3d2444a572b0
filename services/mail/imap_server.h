/*
 * IMAP listeners and connections: port 143 (STARTTLS) and port 993
 * (implicit TLS). One event-loop thread accepts connections and holds
 * every connection that waits, between commands or in IDLE; a bounded
 * pool of worker threads runs the connections that have something to do.
 * Limits here: connections in total and per client address, worker
 * threads, and the autologout timer (RFC 3501 5.4: at least 30 minutes).
 */
#ifndef EXPRESSO_MAIL_IMAP_SERVER_H
#define EXPRESSO_MAIL_IMAP_SERVER_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_notify.h"
#include "imap_session.h"

typedef struct ex_imap_server ex_imap_server;

typedef struct {
	const char *bind_address;       /* IPv4 or IPv6 literal */
	int port;                       /* STARTTLS port; 0: none */
	int tls_port;                   /* implicit TLS port; 0 or no certificate: none */
	SSL_CTX *tls;                   /* NULL: no STARTTLS and no implicit TLS port */
	unsigned max_connections;
	unsigned max_connections_per_address;
	unsigned workers;               /* threads that run commands; waiting connections need none */
	uint64_t idle_timeout_ms;       /* silence allowed, in IDLE too, and time allowed for output to be taken */
	uint64_t idle_keepalive_ms;     /* interval of "* OK Still here" during IDLE */
	ex_imap_session_options session; /* shared by every connection; session_id and client_address are set per connection */
	const ex_imap_notifier *notifier; /* NULL: IDLE looks at the database every second instead */
} ex_imap_server_options;

/* Binds the ports and starts the event loop and the workers. Returns NULL with a message in err. */
ex_imap_server *ex_imap_server_start(const ex_imap_server_options *options, char *err, size_t errlen);

/* Stops accepting, ends every waiting session with "* BYE", waits for the running ones, then frees SERVER. */
void ex_imap_server_stop(ex_imap_server *server);

/* Connections open now; for the metrics gauge. */
double ex_imap_server_connections(void *server);

#endif
