/*
 * SMTP listeners and connections: the mail listener's accept thread for
 * every port and one thread per connection, which reads bytes, feeds the
 * line reader or the DATA decoder and writes the session's replies, in
 * clear or over TLS.
 * Limits here: connections in total and per client address, the idle
 * timeout, and the early-talker check on port 25.
 */
#ifndef EXPRESSO_MAIL_SMTP_SERVER_H
#define EXPRESSO_MAIL_SMTP_SERVER_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp_session.h"

typedef struct ex_smtp_server ex_smtp_server;

typedef struct {
	const char *bind_address;       /* IPv4 or IPv6 literal */
	int mx_port;                    /* 0: no MX listener */
	int submission_port;            /* 0: no submission listener */
	int submissions_port;           /* implicit TLS (RFC 8314); 0 or no certificate: none */
	const char *hostname;
	SSL_CTX *tls;                   /* NULL: STARTTLS not offered */
	ex_smtp_limits limits;
	unsigned max_connections;
	unsigned max_connections_per_address;
	uint64_t idle_timeout_ms;       /* time allowed between two reads */
	uint64_t greeting_delay_ms;     /* port 25: wait before the banner; input before it closes */
	const ex_smtp_backend *backend;
} ex_smtp_server_options;

/* Binds the ports and starts accepting. Returns NULL with a message in err. */
ex_smtp_server *ex_smtp_server_start(const ex_smtp_server_options *options, char *err, size_t errlen);

/*
 * Stops accepting, closes idle sessions with 421 and waits for sessions in
 * a mail transaction to finish (they close after it), then frees SERVER.
 */
void ex_smtp_server_stop(ex_smtp_server *server);

/* Connections open now; for the metrics gauge. */
double ex_smtp_server_connections(void *server);

#endif
