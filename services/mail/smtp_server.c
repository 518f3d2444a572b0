/*
 * SMTP listeners and connection threads. A connection thread owns its
 * socket, its TLS state, its session and its buffers, and frees them all
 * in connection_run() when it ends. Reads wait in slices of
 * POLL_SLICE_MS so a stopping server is noticed between commands.
 */
#include "smtp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "expresso/log.h"
#include "smtp_line.h"

enum {
	POLL_SLICE_MS = 500,
	INPUT_BUFFER = 16 * 1024,
	FLUSH_THRESHOLD = 4 * 1024,
	ADDRESS_TEXT = INET6_ADDRSTRLEN,
	LISTEN_BACKLOG = 128,
	MAX_LISTENERS = 3,
};

typedef struct {
	int fd;
	ex_smtp_listener_kind kind;
	bool implicit_tls;
	pthread_t thread;
	bool started;
	struct ex_smtp_server *server;
} listener;

typedef struct {
	char address[ADDRESS_TEXT];
	unsigned count;
} address_slot;

struct ex_smtp_server {
	ex_smtp_server_options options;
	listener listeners[MAX_LISTENERS];
	size_t listener_count;
	atomic_bool stopping;

	pthread_mutex_t lock;
	pthread_cond_t idle;
	unsigned connections;
	address_slot *addresses; /* max_connections slots */
};

typedef struct {
	struct ex_smtp_server *server;
	ex_smtp_listener_kind kind;
	bool implicit_tls;
	int fd;
	SSL *ssl;
	char address[ADDRESS_TEXT];
	char session_id[20];
	char input[INPUT_BUFFER];
	size_t input_start;
	size_t input_end;
} connection;

typedef enum { READ_OK, READ_EOF, READ_TIMEOUT, READ_STOPPING, READ_ERROR } read_status;

/* ---- connection accounting -------------------------------------------------- */

/* Counts a new connection from ADDRESS; returns 0, or -1 (and the reply) when a limit is reached. */
static int admit(struct ex_smtp_server *server, const char *address, const char **reply)
{
	int status = -1;
	pthread_mutex_lock(&server->lock);
	address_slot *free_slot = NULL;
	address_slot *slot = NULL;
	for (unsigned i = 0; i < server->options.max_connections; i++) {
		address_slot *candidate = &server->addresses[i];
		if (candidate->count == 0 && free_slot == NULL)
			free_slot = candidate;
		if (candidate->count > 0 && strcmp(candidate->address, address) == 0)
			slot = candidate;
	}
	/* Full when the total is reached or every address slot is taken by other clients. */
	if (server->connections >= server->options.max_connections || (slot == NULL && free_slot == NULL)) {
		*reply = "421 4.3.2 Too many connections; try again later\r\n";
	} else if (slot != NULL && slot->count >= server->options.max_connections_per_address) {
		*reply = "421 4.7.0 Too many connections from your address; try again later\r\n";
	} else {
		if (slot == NULL) {
			slot = free_slot;
			snprintf(slot->address, sizeof(slot->address), "%s", address);
		}
		slot->count++;
		server->connections++;
		status = 0;
	}
	pthread_mutex_unlock(&server->lock);
	return status;
}

static void release(struct ex_smtp_server *server, const char *address)
{
	pthread_mutex_lock(&server->lock);
	for (unsigned i = 0; i < server->options.max_connections; i++) {
		if (server->addresses[i].count > 0 && strcmp(server->addresses[i].address, address) == 0) {
			server->addresses[i].count--;
			break;
		}
	}
	server->connections--;
	pthread_cond_broadcast(&server->idle);
	pthread_mutex_unlock(&server->lock);
}

double ex_smtp_server_connections(void *context)
{
	struct ex_smtp_server *server = context;
	pthread_mutex_lock(&server->lock);
	double connections = server->connections;
	pthread_mutex_unlock(&server->lock);
	return connections;
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
		if (stop_when_idle && atomic_load(&conn->server->stopping))
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
	conn->ssl = SSL_new(conn->server->options.tls);
	if (conn->ssl == NULL || SSL_set_fd(conn->ssl, conn->fd) != 1)
		return -1;
	if (SSL_accept(conn->ssl) != 1) {
		char reason[256];
		ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
		ex_log(EX_LOG_WARN, "smtp_tls_failed", "{s:s, s:s, s:s}", "session", conn->session_id, "address",
		       conn->address, "error", reason);
		ERR_clear_error();
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

static const char *listener_name(ex_smtp_listener_kind kind, bool implicit_tls)
{
	if (kind == EX_SMTP_LISTENER_MX)
		return "mx";
	return implicit_tls ? "submissions" : "submission";
}

static void *connection_run(void *argument)
{
	connection *conn = argument;
	struct ex_smtp_server *server = conn->server;
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
		       conn->address, "listener", listener_name(conn->kind, conn->implicit_tls));
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
	close(conn->fd);
	release(server, conn->address);
	free(conn);
	ex_log_context_set(NULL, NULL);
	return NULL;
}

/* ---- listeners ----------------------------------------------------------------- */

static void format_address(const struct sockaddr_storage *peer, char *out, size_t size)
{
	if (peer->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;
		inet_ntop(AF_INET6, &in6->sin6_addr, out, (socklen_t)size);
		/* An IPv4 client on a dual-stack socket is counted by its IPv4 address. */
		if (strncmp(out, "::ffff:", 7) == 0 && strchr(out + 7, '.') != NULL)
			memmove(out, out + 7, strlen(out + 7) + 1);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, out, (socklen_t)size);
	}
}

static void accept_one(listener *entry)
{
	struct ex_smtp_server *server = entry->server;
	struct sockaddr_storage peer = { 0 };
	socklen_t peer_length = sizeof(peer);
	const char *reply = NULL;

	int fd = accept(entry->fd, (struct sockaddr *)&peer, &peer_length);
	if (fd < 0)
		return;
	connection *conn = calloc(1, sizeof(*conn));
	if (conn == NULL) {
		close(fd);
		return;
	}
	conn->server = server;
	conn->kind = entry->kind;
	conn->implicit_tls = entry->implicit_tls;
	conn->fd = fd;
	format_address(&peer, conn->address, sizeof(conn->address));
	random_session_id(conn->session_id, sizeof(conn->session_id));

	/* A peer that stops reading cannot hold a thread in send() for longer than the idle timeout. */
	struct timeval timeout = { .tv_sec = (time_t)(server->options.idle_timeout_ms / 1000),
				   .tv_usec = (suseconds_t)(server->options.idle_timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));

	if (admit(server, conn->address, &reply) != 0) {
		ex_log(EX_LOG_WARN, "smtp_connection_rejected", "{s:s, s:s}", "address", conn->address, "reply", reply);
		send(fd, reply, strlen(reply), MSG_NOSIGNAL);
		close(fd);
		free(conn);
		return;
	}
	pthread_t thread;
	pthread_attr_t attributes;
	pthread_attr_init(&attributes);
	pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&thread, &attributes, connection_run, conn) != 0) {
		ex_log(EX_LOG_ERROR, "smtp_thread_failed", "{s:s}", "address", conn->address);
		close(fd);
		release(server, conn->address);
		free(conn);
	}
	pthread_attr_destroy(&attributes);
}

static void *listener_run(void *argument)
{
	listener *entry = argument;
	while (!atomic_load(&entry->server->stopping)) {
		struct pollfd descriptor = { .fd = entry->fd, .events = POLLIN };
		if (poll(&descriptor, 1, POLL_SLICE_MS) > 0)
			accept_one(entry);
	}
	return NULL;
}

static int open_listener(const char *address, int port, char *err, size_t errlen)
{
	struct sockaddr_storage storage = { 0 };
	socklen_t length;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&storage;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&storage;

	if (inet_pton(AF_INET, address, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		length = sizeof(*in4);
	} else if (inet_pton(AF_INET6, address, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		length = sizeof(*in6);
	} else {
		snprintf(err, errlen, "invalid listen address %s: expected an IPv4 or IPv6 literal", address);
		return -1;
	}
	int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int on = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    bind(fd, (struct sockaddr *)&storage, length) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
		snprintf(err, errlen, "cannot listen on %s port %d: %s", address, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

ex_smtp_server *ex_smtp_server_start(const ex_smtp_server_options *options, char *err, size_t errlen)
{
	struct ex_smtp_server *server = calloc(1, sizeof(*server));
	if (server == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	server->options = *options;
	server->addresses = calloc(options->max_connections, sizeof(*server->addresses));
	pthread_mutex_init(&server->lock, NULL);
	pthread_cond_init(&server->idle, NULL);
	atomic_init(&server->stopping, false);
	if (server->addresses == NULL) {
		snprintf(err, errlen, "out of memory");
		ex_smtp_server_stop(server);
		return NULL;
	}

	const struct {
		int port;
		ex_smtp_listener_kind kind;
		bool implicit_tls;
	} ports[MAX_LISTENERS] = { { options->mx_port, EX_SMTP_LISTENER_MX, false },
				   { options->submission_port, EX_SMTP_LISTENER_SUBMISSION, false },
				   { options->tls == NULL ? 0 : options->submissions_port, EX_SMTP_LISTENER_SUBMISSION, true } };
	for (size_t i = 0; i < MAX_LISTENERS; i++) {
		if (ports[i].port == 0)
			continue;
		int fd = open_listener(options->bind_address, ports[i].port, err, errlen);
		if (fd < 0) {
			ex_smtp_server_stop(server);
			return NULL;
		}
		listener *entry = &server->listeners[server->listener_count++];
		*entry = (listener){ .fd = fd, .kind = ports[i].kind, .implicit_tls = ports[i].implicit_tls, .server = server };
		if (pthread_create(&entry->thread, NULL, listener_run, entry) != 0) {
			snprintf(err, errlen, "cannot start the listener thread for port %d", ports[i].port);
			ex_smtp_server_stop(server);
			return NULL;
		}
		entry->started = true;
		ex_log(EX_LOG_INFO, "smtp_listening", "{s:s, s:i, s:s}", "address", options->bind_address, "port",
		       ports[i].port, "listener", listener_name(ports[i].kind, ports[i].implicit_tls));
	}
	return server;
}

void ex_smtp_server_stop(ex_smtp_server *server)
{
	if (server == NULL)
		return;
	atomic_store(&server->stopping, true);
	for (size_t i = 0; i < server->listener_count; i++) {
		if (server->listeners[i].started)
			pthread_join(server->listeners[i].thread, NULL);
		close(server->listeners[i].fd);
	}

	/* Sessions in a transaction finish it; idle ones close at their next wait. */
	pthread_mutex_lock(&server->lock);
	while (server->connections > 0)
		pthread_cond_wait(&server->idle, &server->lock);
	pthread_mutex_unlock(&server->lock);

	pthread_mutex_destroy(&server->lock);
	pthread_cond_destroy(&server->idle);
	free(server->addresses);
	free(server);
}
