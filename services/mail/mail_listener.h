/*
 * Listening sockets of the mail protocols and what every accepted
 * connection goes through before its protocol starts: the client
 * address, the connection limits with the protocol's own refusal line,
 * socket timeouts and the TLS handshake.
 *
 * SMTP and ManageSieve use the whole listener: one accept thread for all
 * of their ports and one detached thread per connection that runs the
 * protocol's handler, with a graceful stop. IMAP keeps its own epoll loop
 * and uses only the pieces below the listener (ex_mail_listen_socket,
 * ex_mail_peer_address and mail_connection_limit.h).
 */
#ifndef EXPRESSO_MAIL_LISTENER_H
#define EXPRESSO_MAIL_LISTENER_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mail_connection_limit.h"

enum { EX_MAIL_LISTENER_MAX_PORTS = 4 };

typedef struct ex_mail_listener ex_mail_listener;

typedef struct {
	int port;          /* 0: a port chosen by the kernel (tests read it with ex_mail_listener_bound_port) */
	const char *label; /* the "listener" field of log lines, such as "mx" or "submission" */
	bool implicit_tls; /* no refusal line is sent in clear text before a TLS handshake */
	int kind;          /* the caller's value, handed back with each connection */
} ex_mail_listener_port;

/* One accepted connection. The listener owns it and closes FD after the handler returns. */
typedef struct ex_mail_connection {
	ex_mail_listener *listener;
	int fd;
	const ex_mail_listener_port *port;
	char address[EX_MAIL_ADDRESS_TEXT];
	struct ex_mail_connection *previous;
	struct ex_mail_connection *next;
} ex_mail_connection;

/* Runs one connection's protocol in the connection's own thread. */
typedef void (*ex_mail_connection_handler)(ex_mail_connection *connection, void *context);

typedef struct {
	const char *protocol;     /* prefix of log event names: "smtp", "managesieve" */
	const char *bind_address; /* IPv4 or IPv6 literal */
	const ex_mail_listener_port *ports;
	size_t port_count;        /* 1 to EX_MAIL_LISTENER_MAX_PORTS */
	unsigned max_connections;
	unsigned max_connections_per_address; /* 0: only max_connections applies */
	uint64_t idle_timeout_ms; /* SO_RCVTIMEO and SO_SNDTIMEO of each connection; 0: none */
	const char *reply_too_many;              /* sent, CRLF included, when max_connections is reached */
	const char *reply_too_many_from_address; /* sent when the client's address is at its maximum */
	ex_mail_connection_handler handler;
	void *context;
} ex_mail_listener_options;

/* Binds every port and starts the accept thread. Returns NULL with a message in ERR. */
ex_mail_listener *ex_mail_listener_start(const ex_mail_listener_options *options, char *err, size_t errlen);

/*
 * Stops accepting and waits for the handlers to return. With
 * SHUT_DOWN_OPEN, open sockets are shut down first, so handlers blocked in
 * a read see end of file. WAIT_MS bounds the wait (0: no bound). Returns
 * true when LISTENER is freed. Returns false when handlers still ran at the
 * bound: LISTENER is then left allocated, because their threads use it.
 */
bool ex_mail_listener_stop(ex_mail_listener *listener, bool shut_down_open, uint64_t wait_ms);

/* True once ex_mail_listener_stop() has begun; handlers look at it between commands. */
bool ex_mail_listener_stopping(const ex_mail_listener *listener);

/* Connections open now; for the metrics gauges. */
unsigned ex_mail_listener_connections(ex_mail_listener *listener);

/* The port that entry INDEX of the options is bound to, or -1. */
int ex_mail_listener_bound_port(const ex_mail_listener *listener, size_t index);

/* Opens a listening TCP socket on ADDRESS and PORT. Returns the descriptor, or -1 with a message in ERR. */
int ex_mail_listen_socket(const char *address, int port, int backlog, bool nonblocking, char *err, size_t errlen);

/* Formats PEER's address; an IPv4 client on a dual-stack socket gets its IPv4 form, so it is counted once. */
void ex_mail_peer_address(const struct sockaddr_storage *peer, char *out, size_t size);

/*
 * Runs the server side of a TLS handshake on the blocking socket FD.
 * Returns the TLS connection, or NULL with OpenSSL's reason in REASON.
 */
SSL *ex_mail_tls_accept(SSL_CTX *tls, int fd, char *reason, size_t size);

#endif
