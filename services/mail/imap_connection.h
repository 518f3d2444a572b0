/*
 * One IMAP connection as the event loop of imap_server.c sees it: a
 * non-blocking socket, its TLS and COMPRESS=DEFLATE layers and the
 * session. A worker thread calls imap_connection_run(), which sends
 * pending output, runs commands and reads input until the socket would
 * block, then returns what to wait for. Between runs the connection holds
 * no thread, and no input buffer unless a command is half received.
 */
#ifndef EXPRESSO_MAIL_IMAP_CONNECTION_H
#define EXPRESSO_MAIL_IMAP_CONNECTION_H

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "imap_compress.h"
#include "imap_server.h"
#include "imap_session.h"

/* What an epoll event's data.ptr points to; the first member of each such struct. */
typedef enum {
	IMAP_SOURCE_LISTENER = 1,
	IMAP_SOURCE_WAKE,
	IMAP_SOURCE_NOTIFIER,
	IMAP_SOURCE_CONNECTION,
} imap_source_kind;

typedef enum {
	IMAP_RUN_WAIT_READ = 0, /* wait until the socket is readable */
	IMAP_RUN_WAIT_WRITE,    /* wait until the socket is writable */
	IMAP_RUN_YIELD,         /* more work is ready; queue the connection behind the others */
	IMAP_RUN_CLOSE,         /* finished; close and free the connection */
} imap_run_result;

/* Why the event loop handed over a connection that was waiting; bits, 0 for "the socket is ready". */
enum {
	IMAP_WAKE_CHANGED = 1,   /* the selected mailbox may have changed (IDLE) */
	IMAP_WAKE_KEEPALIVE = 2, /* time for "* OK Still here" (IDLE) */
	IMAP_WAKE_TIMEOUT = 4,   /* silent for imap_idle_timeout, or output not taken for as long */
	IMAP_WAKE_STOP = 8,      /* the server is stopping */
};

enum { IMAP_ADDRESS_TEXT = INET6_ADDRSTRLEN, IMAP_SESSION_ID_TEXT = 20 };

typedef struct imap_connection {
	imap_source_kind kind;
	int fd;
	bool implicit_tls;
	char address[IMAP_ADDRESS_TEXT];
	char session_id[IMAP_SESSION_ID_TEXT];
	const ex_imap_server_options *options;

	ex_imap_session *session;   /* NULL until the first run */
	SSL *ssl;
	bool handshake_pending;     /* TLS handshake to run once the output is sent */
	bool greet_after_handshake; /* port 993: the greeting comes after the handshake */
	bool compress_pending;      /* COMPRESS answered; DEFLATE starts once the OK is sent */
	bool closing;               /* close once the output is sent */
	ex_imap_compress *compress; /* NULL until COMPRESS DEFLATE */

	char *input;                /* plain client octets; NULL while nothing is buffered */
	size_t input_start;
	size_t input_end;
	char *raw;                  /* compressed client octets not inflated yet */
	size_t raw_start;
	size_t raw_end;
	bool inflate_full;          /* the last inflate filled its buffer, so zlib may hold more */
	size_t output_sent;         /* octets of the pending output already written */
	uint64_t input_at_ms;       /* when client input last arrived */

	/* Fields below belong to imap_server.c and change under its lock. */
	bool registered;            /* added to the epoll set */
	bool parked;                /* waiting in the event loop, not queued and not running */
	bool waiting_output;        /* parked for IMAP_RUN_WAIT_WRITE */
	bool stop_sent;
	unsigned wake;              /* IMAP_WAKE_* for the next run */
	uint64_t parked_at_ms;
	bool idling;                /* parked in IDLE */
	char mailbox_id[40];        /* selected mailbox while parked in IDLE; "" for none */
	uint64_t generation;        /* notifier counter of mailbox_id when its changes were last read */
	uint64_t keepalive_at_ms;   /* last keepalive, or the start of IDLE */
	uint64_t polled_at_ms;      /* last look at the database when there is no notifier */
	struct imap_connection *previous;
	struct imap_connection *next;
	struct imap_connection *queue_next;
} imap_connection;

/* Takes FD (non-blocking) and returns NULL when out of memory; the session starts on the first run. */
imap_connection *imap_connection_new(int fd, bool implicit_tls, const char *address,
				     const ex_imap_server_options *options);

/* Frees the session, TLS state, buffers and socket; logs the disconnection. */
void imap_connection_close(imap_connection *connection);

/* Runs the connection until it must wait; WAKE is a set of IMAP_WAKE_* bits. Logs in the session's context. */
imap_run_result imap_connection_run(imap_connection *connection, unsigned wake);

#endif
