/*
 * SMTP connection threads. The mail listener (mail_listener.c) accepts
 * and counts the connections and starts a thread for each. The thread
 * owns its TLS state, its session and its buffers, and frees them all in
 * run_connection() when it ends. The listener then closes the socket.
 * Reads wait in slices of POLL_SLICE_MS so a stopping server is noticed
 * between commands.
 */
#include "smtp_server.h"

#include <errno.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "expresso/log.h"
#include "mail_listener.h"
#include "smtp_line.h"

enum {
	POLL_SLICE_MS = 500,
	INPUT_BUFFER = 16 * 1024,
	FLUSH_THRESHOLD = 4 * 1024,
};

struct ex_smtp_server {
	ex_smtp_server_options options;
	ex_mail_listener *listener;
};

typedef struct {
	struct ex_smtp_server *server;
	ex_smtp_listener_kind kind;
	bool implicit_tls;
	int fd;
	SSL *ssl;
	const char *address;
	char session_id[20];
	char input[INPUT_BUFFER];
	size_t input_start;
	size_t input_end;
} connection;

typedef enum { READ_OK, READ_EOF, READ_TIMEOUT, READ_STOPPING, READ_ERROR } read_status;

double ex_smtp_server_connections(void *context)
{
	struct ex_smtp_server *server = context;
	return server->listener != NULL ? ex_mail_listener_connections(server->listener) : 0;
}

/* ---- I/O -------------------------------------------------------------------- */

static int write_all(connection *conn, const char *data, size_t length)
{
	while (length > 0) {
		ssize_t written;
		if (conn->ssl != NULL) {
			int result = SSL_write(conn->ssl, data, length > INT32_MAX ? INT32_MAX : (int)length);
			written = result > 0 ? result : -1;
		} else {
			written = send(conn->fd, data, length, MSG_NOSIGNAL);
			if (written < 0 && errno == EINTR)
				continue;
		}
		if (written <= 0)
			return -1;
		data += written;
		length -= (size_t)written;
	}
	return 0;
}

static int flush(connection *conn, ex_smtp_session *session)
{
	size_t length = 0;
	const char *output = ex_smtp_session_output(session, &length);
	int status = length == 0 ? 0 : write_all(conn, output, length);
	ex_smtp_session_clear_output(session);
	return status;
}

/*
 * Waits until the socket is readable, for at most TIMEOUT_MS. When
 * STOP_WHEN_IDLE, a server stop ends the wait. Returns READ_OK when
 * readable.
 */
static read_status wait_readable(connection *conn, uint64_t timeout_ms, bool stop_when_idle)
{
	uint64_t waited = 0;
	if (conn->ssl != NULL && SSL_pending(conn->ssl) > 0)
		return READ_OK;
	while (waited < timeout_ms) {
		if (stop_when_idle && ex_mail_listener_stopping(conn->server->listener))
			return READ_STOPPING;
		uint64_t slice = timeout_ms - waited < POLL_SLICE_MS ? timeout_ms - waited : POLL_SLICE_MS;
		struct pollfd descriptor = { .fd = conn->fd, .events = POLLIN };
		int ready = poll(&descriptor, 1, (int)slice);
		if (ready > 0)
			return READ_OK;
		if (ready < 0 && errno != EINTR)
			return READ_ERROR;
		waited += slice;
	}
	return READ_TIMEOUT;
}

/* Reads more input into the empty input buffer. */
static read_status read_more(connection *conn, bool stop_when_idle)
{
	read_status status = wait_readable(conn, conn->server->options.idle_timeout_ms, stop_when_idle);
	if (status != READ_OK)
		return status;

	ssize_t got;
	if (conn->ssl != NULL) {
		int result = SSL_read(conn->ssl, conn->input, sizeof(conn->input));
		if (result <= 0) {
			int error = SSL_get_error(conn->ssl, result);
			return error == SSL_ERROR_ZERO_RETURN ? READ_EOF : READ_ERROR;
		}
		got = result;
	} else {
		do
			got = recv(conn->fd, conn->input, sizeof(conn->input), 0);
		while (got < 0 && errno == EINTR);
		if (got == 0)
			return READ_EOF;
		if (got < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? READ_TIMEOUT : READ_ERROR;
	}
	conn->input_start = 0;
	conn->input_end = (size_t)got;
	return READ_OK;
}

static int start_tls(connection *conn)
{
	char reason[256];
	conn->ssl = ex_mail_tls_accept(conn->server->options.tls, conn->fd, reason, sizeof(reason));
	if (conn->ssl == NULL) {
		ex_log(EX_LOG_WARN, "smtp_tls_failed", "{s:s, s:s, s:s}", "session", conn->session_id, "address",
		       conn->address, "error", reason);
		return -1;
	}
	return 0;
}

/* ---- the session loop ---------------------------------------------------------- */

/* Feeds buffered input to the line reader or the DATA decoder; returns what to do next. */
static ex_smtp_next handle_input(connection *conn, ex_smtp_session *session, ex_smtp_line_reader *reader)
{
	size_t consumed = 0;
	const char *bytes = conn->input + conn->input_start;
	size_t available = conn->input_end - conn->input_start;

	if (ex_smtp_session_state(session) == EX_SMTP_STATE_BDAT) {
		ex_smtp_next next = ex_smtp_session_chunk(session, bytes, available, &consumed);
		conn->input_start += consumed;
		return next;
	}
	if (ex_smtp_session_state(session) == EX_SMTP_STATE_DATA) {
		ex_smtp_data_status status = ex_smtp_data_feed(ex_smtp_session_data(session), bytes, available, &consumed);
		conn->input_start += consumed;
		return status == EX_SMTP_DATA_DONE ? ex_smtp_session_data_end(session) : EX_SMTP_NEXT_DATA;
	}

	ex_smtp_line_status status = ex_smtp_line_feed(reader, bytes, available, &consumed);
	conn->input_start += consumed;
	switch (status) {
	case EX_SMTP_LINE_DONE:
		return ex_smtp_session_line(session, ex_smtp_line_text(reader), ex_smtp_line_length(reader));
	case EX_SMTP_LINE_TOO_LONG:
		return ex_smtp_session_line_error(session, "Line too long");
	case EX_SMTP_LINE_NUL:
		return ex_smtp_session_line_error(session, "Line contains a NUL octet");
	case EX_SMTP_LINE_BARE_LF:
		return ex_smtp_session_line_error(session, "Line ends in a bare LF; end every line with CRLF");
	default:
		return EX_SMTP_NEXT_LINE;
	}
}

/* Port 25: a client that talks before the banner is not an SMTP client that waits for replies. */
static bool early_talker(connection *conn)
{
	uint64_t delay = conn->server->options.greeting_delay_ms;
	if (conn->kind != EX_SMTP_LISTENER_MX || delay == 0)
		return false;
	struct pollfd descriptor = { .fd = conn->fd, .events = POLLIN };
	return poll(&descriptor, 1, (int)delay) > 0;
}

static void serve(connection *conn, ex_smtp_session *session, ex_smtp_line_reader *reader)
{
	if (early_talker(conn)) {
		ex_log(EX_LOG_WARN, "smtp_early_talker", "{s:s, s:s}", "session", conn->session_id, "address", conn->address);
		static const char reply[] = "554 5.5.1 Protocol error: input before the greeting\r\n";
		write_all(conn, reply, sizeof(reply) - 1);
		return;
	}
	ex_smtp_session_greet(session);
	if (flush(conn, session) != 0)
		return;

	for (;;) {
		if (conn->input_start == conn->input_end) {
			ex_smtp_state state = ex_smtp_session_state(session);
			bool idle = state == EX_SMTP_STATE_GREETED || state == EX_SMTP_STATE_READY;
			if (flush(conn, session) != 0)
				return;
			read_status status = read_more(conn, idle);
			if (status == READ_STOPPING) {
				ex_smtp_session_abort(session, "421 4.3.2 Server shutting down; try again later");
				flush(conn, session);
				return;
			}
			if (status == READ_TIMEOUT) {
				ex_smtp_session_abort(session, "421 4.4.2 Idle timeout; closing the connection");
				flush(conn, session);
				return;
			}
			if (status != READ_OK)
				return;
		}

		ex_smtp_next next = handle_input(conn, session, reader);
		size_t pending = 0;
		ex_smtp_session_output(session, &pending);
		if (next == EX_SMTP_NEXT_CLOSE) {
			flush(conn, session);
			return;
		}
		if (next == EX_SMTP_NEXT_START_TLS) {
			if (flush(conn, session) != 0)
				return;
			/* RFC 3207 5: input sent before the handshake must not be taken as protected. */
			conn->input_start = conn->input_end = 0;
			if (start_tls(conn) != 0)
				return;
			ex_smtp_session_tls_started(session);
		} else if (pending > FLUSH_THRESHOLD && flush(conn, session) != 0) {
			return;
		}
	}
}

static void random_session_id(char *out, size_t size)
{
	unsigned char bytes[8] = { 0 };
	RAND_bytes(bytes, sizeof(bytes));
	snprintf(out, size, "%02x%02x%02x%02x%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3], bytes[4],
		 bytes[5], bytes[6], bytes[7]);
}

/* Runs one SMTP connection in the thread the listener started for it. The listener closes the socket. */
static void run_connection(ex_mail_connection *accepted, void *context)
{
	struct ex_smtp_server *server = context;
	connection *conn = calloc(1, sizeof(*conn));
	if (conn == NULL)
		return;
	conn->server = server;
	conn->kind = (ex_smtp_listener_kind)accepted->port->kind;
	conn->implicit_tls = accepted->port->implicit_tls;
	conn->fd = accepted->fd;
	conn->address = accepted->address;
	random_session_id(conn->session_id, sizeof(conn->session_id));

	ex_smtp_line_reader reader;
	const ex_smtp_session_options options = {
		.hostname = server->options.hostname,
		.session_id = conn->session_id,
		.client_address = conn->address,
		.listener = conn->kind,
		.tls_available = server->options.tls != NULL,
		.implicit_tls = conn->implicit_tls,
		.limits = server->options.limits,
		.backend = server->options.backend,
	};
	/* Every log line of this thread carries the session id. */
	ex_log_context_set(conn->session_id, NULL);
	ex_smtp_session *session = ex_smtp_session_new(&options);
	if (session != NULL && ex_smtp_line_init(&reader, EX_SMTP_MAX_AUTH_LINE) == 0) {
		ex_log(EX_LOG_INFO, "smtp_connected", "{s:s, s:s, s:s}", "session", conn->session_id, "address",
		       conn->address, "listener", accepted->port->label);
		if (!conn->implicit_tls || start_tls(conn) == 0)
			serve(conn, session, &reader);
		ex_smtp_line_free(&reader);
		ex_log(EX_LOG_INFO, "smtp_disconnected", "{s:s}", "session", conn->session_id);
	}
	ex_smtp_session_free(session);
	if (conn->ssl != NULL) {
		SSL_shutdown(conn->ssl);
		SSL_free(conn->ssl);
	}
	free(conn);
	ex_log_context_set(NULL, NULL);
}

/* ---- start and stop ------------------------------------------------------------------ */

ex_smtp_server *ex_smtp_server_start(const ex_smtp_server_options *options, char *err, size_t errlen)
{
	struct ex_smtp_server *server = calloc(1, sizeof(*server));
	if (server == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	server->options = *options;

	const ex_mail_listener_port candidates[] = {
		{ options->mx_port, "mx", false, EX_SMTP_LISTENER_MX },
		{ options->submission_port, "submission", false, EX_SMTP_LISTENER_SUBMISSION },
		{ options->tls == NULL ? 0 : options->submissions_port, "submissions", true, EX_SMTP_LISTENER_SUBMISSION },
	};
	ex_mail_listener_port ports[EX_MAIL_LISTENER_MAX_PORTS];
	size_t port_count = 0;
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		if (candidates[i].port != 0)
			ports[port_count++] = candidates[i];
	}
	if (port_count == 0)
		return server;

	const ex_mail_listener_options listener = {
		.protocol = "smtp",
		.bind_address = options->bind_address,
		.ports = ports,
		.port_count = port_count,
		.max_connections = options->max_connections,
		.max_connections_per_address = options->max_connections_per_address,
		.idle_timeout_ms = options->idle_timeout_ms,
		.reply_too_many = "421 4.3.2 Too many connections; try again later\r\n",
		.reply_too_many_from_address = "421 4.7.0 Too many connections from your address; try again later\r\n",
		.handler = run_connection,
		.context = server,
	};
	server->listener = ex_mail_listener_start(&listener, err, errlen);
	if (server->listener == NULL) {
		free(server);
		return NULL;
	}
	return server;
}

void ex_smtp_server_stop(ex_smtp_server *server)
{
	if (server == NULL)
		return;
	/* Sessions in a transaction finish it; idle ones close at their next wait. */
	ex_mail_listener_stop(server->listener, false, 0);
	free(server);
}
