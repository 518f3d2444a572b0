/*
 * IMAP listeners and connection threads, in the pattern of smtp_server.c.
 * A connection thread owns its socket, TLS state, session and buffers.
 * Reads wait in slices of POLL_SLICE_MS, so a stopping server and, during
 * IDLE, a change notification are noticed within a slice.
 */
#include "imap_server.h"

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
#include <time.h>
#include <unistd.h>

#include "expresso/log.h"

enum {
	POLL_SLICE_MS = 250,
	/* Without a notifier, IDLE looks at the database this often. */
	IDLE_POLL_MS = 1000,
	INPUT_BUFFER = 16 * 1024,
	FLUSH_THRESHOLD = 64 * 1024,
	ADDRESS_TEXT = INET6_ADDRSTRLEN,
	LISTEN_BACKLOG = 128,
	MAX_LISTENERS = 2,
};

typedef struct {
	int fd;
	bool implicit_tls;
	pthread_t thread;
	bool started;
	struct ex_imap_server *server;
} listener;

typedef struct {
	char address[ADDRESS_TEXT];
	unsigned count;
} address_slot;

struct ex_imap_server {
	ex_imap_server_options options;
	listener listeners[MAX_LISTENERS];
	size_t listener_count;
	atomic_bool stopping;

	pthread_mutex_t lock;
	pthread_cond_t idle;
	unsigned connections;
	address_slot *addresses; /* max_connections slots */
};

typedef struct {
	struct ex_imap_server *server;
	bool implicit_tls;
	int fd;
	SSL *ssl;
	char address[ADDRESS_TEXT];
	char session_id[20];
	char input[INPUT_BUFFER];
	size_t input_start;
	size_t input_end;
	/* The notifier's counter for the selected mailbox when its changes were last read. */
	uint64_t generation;
} connection;

typedef enum { READ_OK, READ_EOF, READ_TIMEOUT, READ_STOPPING, READ_ERROR, READ_CHANGED } read_status;

/* ---- connection accounting ------------------------------------------------------ */

static int admit(struct ex_imap_server *server, const char *address, const char **reply)
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
	if (server->connections >= server->options.max_connections || (slot == NULL && free_slot == NULL)) {
		*reply = "* BYE [UNAVAILABLE] Too many connections; try again later\r\n";
	} else if (slot != NULL && slot->count >= server->options.max_connections_per_address) {
		*reply = "* BYE [UNAVAILABLE] Too many connections from your address; try again later\r\n";
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

static void release(struct ex_imap_server *server, const char *address)
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

double ex_imap_server_connections(void *context)
{
	struct ex_imap_server *server = context;
	pthread_mutex_lock(&server->lock);
	double connections = server->connections;
	pthread_mutex_unlock(&server->lock);
	return connections;
}

/* ---- I/O ---------------------------------------------------------------------------- */

static uint64_t monotonic_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

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

static int flush(connection *conn, ex_imap_session *session)
{
	size_t length = 0;
	const char *output = ex_imap_session_output(session, &length);
	int status = length == 0 ? 0 : write_all(conn, output, length);
	ex_imap_session_clear_output(session);
	return status;
}

/*
 * TODO: a connection in IDLE keeps its thread and waits here. Moving IDLE
 * sessions to one epoll thread would make idle connections cost only memory.
 *
 * Waits until the socket is readable. During IDLE it also returns
 * READ_CHANGED when the selected mailbox may have changed and writes the
 * keepalive when it is due.
 */
static read_status wait_readable(connection *conn, ex_imap_session *session)
{
	struct ex_imap_server *server = conn->server;
	uint64_t start = monotonic_ms();
	uint64_t last_keepalive = start;
	uint64_t last_poll = start;
	const char *mailbox = ex_imap_session_mailbox_id(session);

	if (conn->ssl != NULL && SSL_pending(conn->ssl) > 0)
		return READ_OK;
	for (;;) {
		if (atomic_load(&server->stopping))
			return READ_STOPPING;
		uint64_t now = monotonic_ms();
		if (now - start >= server->options.idle_timeout_ms)
			return READ_TIMEOUT;
		struct pollfd descriptor = { .fd = conn->fd, .events = POLLIN };
		int ready = poll(&descriptor, 1, POLL_SLICE_MS);
		if (ready > 0)
			return READ_OK;
		if (ready < 0 && errno != EINTR)
			return READ_ERROR;
		if (!ex_imap_session_idling(session))
			continue;
		now = monotonic_ms();
		if (now - last_keepalive >= server->options.idle_keepalive_ms) {
			ex_imap_session_keepalive(session);
			if (flush(conn, session) != 0)
				return READ_ERROR;
			last_keepalive = now;
		}
		if (mailbox == NULL)
			continue;
		/* A counter that moved since the last read, even before this IDLE, costs one extra look. */
		uint64_t generation = ex_imap_notifier_generation(server->options.notifier, mailbox);
		bool changed = server->options.notifier != NULL ? generation != conn->generation
								: now - last_poll >= IDLE_POLL_MS;
		if (changed) {
			conn->generation = generation;
			return READ_CHANGED;
		}
	}
}

static read_status read_more(connection *conn, ex_imap_session *session)
{
	read_status status = wait_readable(conn, session);
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
			return READ_ERROR;
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
		ex_log(EX_LOG_WARN, "imap_tls_failed", "{s:s, s:s, s:s}", "session", conn->session_id, "address",
		       conn->address, "error", reason);
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* ---- the session loop ------------------------------------------------------------------ */

static void serve(connection *conn, ex_imap_session *session)
{
	ex_imap_session_greet(session);
	if (flush(conn, session) != 0)
		return;

	for (;;) {
		if (conn->input_start == conn->input_end) {
			if (flush(conn, session) != 0)
				return;
			read_status status = read_more(conn, session);
			if (status == READ_CHANGED) {
				ex_imap_session_poll_changes(session);
				continue;
			}
			if (status == READ_STOPPING) {
				ex_imap_session_bye(session, "Server shutting down; reconnect later");
				flush(conn, session);
				return;
			}
			if (status == READ_TIMEOUT) {
				ex_imap_session_bye(session, "Autologout: idle for too long");
				flush(conn, session);
				return;
			}
			if (status != READ_OK)
				return;
		}

		size_t consumed = 0;
		ex_imap_next next = ex_imap_session_feed(session, conn->input + conn->input_start,
							 conn->input_end - conn->input_start, &consumed);
		conn->input_start += consumed;
		if (next == EX_IMAP_NEXT_CLOSE) {
			flush(conn, session);
			return;
		}
		if (next == EX_IMAP_NEXT_START_TLS) {
			if (flush(conn, session) != 0)
				return;
			/* Input sent before the handshake must not be taken as protected (RFC 3501 6.2.1). */
			conn->input_start = conn->input_end = 0;
			if (start_tls(conn) != 0)
				return;
			ex_imap_session_tls_started(session);
			continue;
		}
		size_t pending = 0;
		ex_imap_session_output(session, &pending);
		if (pending > FLUSH_THRESHOLD && flush(conn, session) != 0)
			return;
	}
}

static void random_session_id(char *out, size_t size)
{
	unsigned char bytes[8] = { 0 };
	RAND_bytes(bytes, sizeof(bytes));
	snprintf(out, size, "%02x%02x%02x%02x%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3], bytes[4],
		 bytes[5], bytes[6], bytes[7]);
}

static bool is_loopback(const char *address)
{
	return strncmp(address, "127.", 4) == 0 || strcmp(address, "::1") == 0;
}

static void *connection_run(void *argument)
{
	connection *conn = argument;
	struct ex_imap_server *server = conn->server;

	ex_imap_session_options options = server->options.session;
	options.session_id = conn->session_id;
	options.client_address = conn->address;
	options.implicit_tls = conn->implicit_tls;
	options.tls_available = server->options.tls != NULL;
	options.allow_plaintext_login = options.allow_plaintext_login && is_loopback(conn->address);
	ex_log_context_set(conn->session_id, NULL);
	ex_imap_session *session = ex_imap_session_new(&options);
	if (session != NULL) {
		ex_log(EX_LOG_INFO, "imap_connected", "{s:s, s:s, s:b}", "session", conn->session_id, "address",
		       conn->address, "implicit_tls", conn->implicit_tls);
		if (!conn->implicit_tls || start_tls(conn) == 0)
			serve(conn, session);
		ex_log(EX_LOG_INFO, "imap_disconnected", "{s:s}", "session", conn->session_id);
	}
	ex_imap_session_free(session);
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

/* ---- listeners ----------------------------------------------------------------------------- */

static void format_address(const struct sockaddr_storage *peer, char *out, size_t size)
{
	if (peer->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;
		inet_ntop(AF_INET6, &in6->sin6_addr, out, (socklen_t)size);
		if (strncmp(out, "::ffff:", 7) == 0 && strchr(out + 7, '.') != NULL)
			memmove(out, out + 7, strlen(out + 7) + 1);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, out, (socklen_t)size);
	}
}

static void accept_one(listener *entry)
{
	struct ex_imap_server *server = entry->server;
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
	conn->implicit_tls = entry->implicit_tls;
	conn->fd = fd;
	format_address(&peer, conn->address, sizeof(conn->address));
	random_session_id(conn->session_id, sizeof(conn->session_id));

	/* A peer that stops reading cannot hold a thread in send() for longer than the idle timeout. */
	struct timeval timeout = { .tv_sec = (time_t)(server->options.idle_timeout_ms / 1000),
				   .tv_usec = (suseconds_t)(server->options.idle_timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));

	if (admit(server, conn->address, &reply) != 0) {
		ex_log(EX_LOG_WARN, "imap_connection_rejected", "{s:s, s:s}", "address", conn->address, "reply", reply);
		if (!entry->implicit_tls)
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
		ex_log(EX_LOG_ERROR, "imap_thread_failed", "{s:s}", "address", conn->address);
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

ex_imap_server *ex_imap_server_start(const ex_imap_server_options *options, char *err, size_t errlen)
{
	struct ex_imap_server *server = calloc(1, sizeof(*server));
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
		ex_imap_server_stop(server);
		return NULL;
	}

	const struct {
		int port;
		bool implicit_tls;
	} ports[MAX_LISTENERS] = { { options->port, false }, { options->tls == NULL ? 0 : options->tls_port, true } };
	for (size_t i = 0; i < MAX_LISTENERS; i++) {
		if (ports[i].port == 0)
			continue;
		int fd = open_listener(options->bind_address, ports[i].port, err, errlen);
		if (fd < 0) {
			ex_imap_server_stop(server);
			return NULL;
		}
		listener *entry = &server->listeners[server->listener_count++];
		*entry = (listener){ .fd = fd, .implicit_tls = ports[i].implicit_tls, .server = server };
		if (pthread_create(&entry->thread, NULL, listener_run, entry) != 0) {
			snprintf(err, errlen, "cannot start the listener thread for port %d", ports[i].port);
			ex_imap_server_stop(server);
			return NULL;
		}
		entry->started = true;
		ex_log(EX_LOG_INFO, "imap_listening", "{s:s, s:i, s:b}", "address", options->bind_address, "port",
		       ports[i].port, "implicit_tls", ports[i].implicit_tls);
	}
	return server;
}

void ex_imap_server_stop(ex_imap_server *server)
{
	if (server == NULL)
		return;
	atomic_store(&server->stopping, true);
	for (size_t i = 0; i < server->listener_count; i++) {
		if (server->listeners[i].started)
			pthread_join(server->listeners[i].thread, NULL);
		close(server->listeners[i].fd);
	}

	pthread_mutex_lock(&server->lock);
	while (server->connections > 0)
		pthread_cond_wait(&server->idle, &server->lock);
	pthread_mutex_unlock(&server->lock);

	pthread_mutex_destroy(&server->lock);
	pthread_cond_destroy(&server->idle);
	free(server->addresses);
	free(server);
}
