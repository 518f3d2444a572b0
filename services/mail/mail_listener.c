/*
 * The mail listener: one accept thread polls every listening socket and
 * a wake-up pipe, admits each connection against the limits and starts a
 * detached thread that runs the protocol's handler. The listener keeps
 * every open connection in a list, so that a stop can shut their sockets
 * down, and frees each connection in one place, run_connection(), once
 * its handler has returned.
 */
#include "mail_listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "expresso/log.h"

enum { LISTEN_BACKLOG = 128, EVENT_NAME = 64 };

struct ex_mail_listener {
	ex_mail_listener_options options;
	ex_mail_listener_port ports[EX_MAIL_LISTENER_MAX_PORTS];
	int fds[EX_MAIL_LISTENER_MAX_PORTS];
	int wake[2]; /* written once by stop to end the accept loop */
	pthread_t thread;
	bool thread_started;
	atomic_bool stopping;
	ex_mail_connection_limit limit;
	bool limit_ready;

	pthread_mutex_t lock;
	pthread_cond_t idle;      /* signalled whenever a connection ends */
	ex_mail_connection *open; /* every connection whose handler runs */
};

static void event_name(const ex_mail_listener *listener, const char *suffix, char out[EVENT_NAME])
{
	snprintf(out, EVENT_NAME, "%s_%s", listener->options.protocol, suffix);
}

/* ---- sockets --------------------------------------------------------------------------- */

int ex_mail_listen_socket(const char *address, int port, int backlog, bool nonblocking, char *err, size_t errlen)
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

	int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
	int on = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    bind(fd, (struct sockaddr *)&storage, length) != 0 || listen(fd, backlog) != 0) {
		snprintf(err, errlen, "cannot listen on %s port %d: %s", address, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

void ex_mail_peer_address(const struct sockaddr_storage *peer, char *out, size_t size)
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

SSL *ex_mail_tls_accept(SSL_CTX *tls, int fd, char *reason, size_t size)
{
	SSL *ssl = SSL_new(tls);
	if (ssl != NULL && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1)
		return ssl;

	ERR_error_string_n(ERR_get_error(), reason, size);
	ERR_clear_error();
	SSL_free(ssl);
	return NULL;
}

/* ---- connections ----------------------------------------------------------------------- */

static void end_connection(ex_mail_listener *listener, ex_mail_connection *connection)
{
	pthread_mutex_lock(&listener->lock);
	if (connection->previous != NULL)
		connection->previous->next = connection->next;
	else
		listener->open = connection->next;
	if (connection->next != NULL)
		connection->next->previous = connection->previous;
	close(connection->fd);
	ex_mail_connection_limit_release(&listener->limit, connection->address);
	pthread_cond_broadcast(&listener->idle);
	pthread_mutex_unlock(&listener->lock);
	free(connection);
}

static void *run_connection(void *argument)
{
	ex_mail_connection *connection = argument;
	ex_mail_listener *listener = connection->listener;

	listener->options.handler(connection, listener->options.context);
	end_connection(listener, connection);
	return NULL;
}

static void reject(ex_mail_listener *listener, int fd, const ex_mail_listener_port *port, const char *address,
		   ex_mail_admission admission)
{
	const char *reply = admission == EX_MAIL_REJECTED_ADDRESS ? listener->options.reply_too_many_from_address
								  : listener->options.reply_too_many;
	char event[EVENT_NAME];
	event_name(listener, "connection_rejected", event);
	ex_log(EX_LOG_WARN, event, "{s:s, s:s, s:s}", "address", address, "listener", port->label, "reply", reply);

	/* A client of an implicit-TLS port would read a clear-text line as a broken handshake. */
	if (!port->implicit_tls && send(fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		event_name(listener, "reject_unsent", event);
		ex_log(EX_LOG_DEBUG, event, "{s:s, s:s}", "address", address, "error", strerror(errno));
	}
	close(fd);
}

static void set_timeouts(int fd, uint64_t timeout_ms)
{
	if (timeout_ms == 0)
		return;
	/* A peer that stops reading or writing cannot hold a thread for longer than the timeout. */
	struct timeval timeout = { .tv_sec = (time_t)(timeout_ms / 1000),
				   .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
}

/* Starts the handler thread of an admitted connection, which the limit already counts. */
static void start_connection(ex_mail_listener *listener, ex_mail_connection *connection)
{
	pthread_mutex_lock(&listener->lock);
	connection->next = listener->open;
	if (listener->open != NULL)
		listener->open->previous = connection;
	listener->open = connection;
	pthread_mutex_unlock(&listener->lock);

	pthread_t thread;
	pthread_attr_t attributes;
	pthread_attr_init(&attributes);
	pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&thread, &attributes, run_connection, connection) != 0) {
		char event[EVENT_NAME];
		event_name(listener, "thread_failed", event);
		ex_log(EX_LOG_ERROR, event, "{s:s}", "address", connection->address);
		end_connection(listener, connection);
	}
	pthread_attr_destroy(&attributes);
}

static void accept_one(ex_mail_listener *listener, size_t index)
{
	const ex_mail_listener_port *port = &listener->ports[index];
	struct sockaddr_storage peer = { 0 };
	socklen_t peer_length = sizeof(peer);

	/* The listening socket is non-blocking: a client gone between poll() and here costs nothing. */
	int fd = accept4(listener->fds[index], (struct sockaddr *)&peer, &peer_length, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	char address[EX_MAIL_ADDRESS_TEXT] = "";
	ex_mail_peer_address(&peer, address, sizeof(address));

	ex_mail_admission admission = ex_mail_connection_limit_admit(&listener->limit, address);
	if (admission != EX_MAIL_ADMITTED) {
		reject(listener, fd, port, address, admission);
		return;
	}
	ex_mail_connection *connection = calloc(1, sizeof(*connection));
	if (connection == NULL) {
		ex_mail_connection_limit_release(&listener->limit, address);
		close(fd);
		return;
	}
	*connection = (ex_mail_connection){ .listener = listener, .fd = fd, .port = port };
	memcpy(connection->address, address, sizeof(address));
	set_timeouts(fd, listener->options.idle_timeout_ms);
	start_connection(listener, connection);
}

static void *accept_loop(void *argument)
{
	ex_mail_listener *listener = argument;
	size_t count = listener->options.port_count;
	struct pollfd fds[EX_MAIL_LISTENER_MAX_PORTS + 1];

	for (size_t i = 0; i < count; i++)
		fds[i] = (struct pollfd){ .fd = listener->fds[i], .events = POLLIN };
	fds[count] = (struct pollfd){ .fd = listener->wake[0], .events = POLLIN };

	while (!atomic_load(&listener->stopping)) {
		int ready = poll(fds, count + 1, -1);
		if (ready < 0 && errno != EINTR) {
			char event[EVENT_NAME];
			event_name(listener, "accept_loop_failed", event);
			ex_log(EX_LOG_ERROR, event, "{s:s}", "error", strerror(errno));
			break;
		}
		if (ready <= 0 || fds[count].revents != 0)
			continue;
		for (size_t i = 0; i < count; i++) {
			if (fds[i].revents & POLLIN)
				accept_one(listener, i);
		}
	}
	return NULL;
}

/* ---- start and stop -------------------------------------------------------------------- */

static int open_ports(ex_mail_listener *listener, char *err, size_t errlen)
{
	const ex_mail_listener_options *options = &listener->options;
	char event[EVENT_NAME];
	event_name(listener, "listening", event);

	for (size_t i = 0; i < options->port_count; i++) {
		listener->fds[i] = ex_mail_listen_socket(options->bind_address, options->ports[i].port, LISTEN_BACKLOG,
							 true, err, errlen);
		if (listener->fds[i] < 0)
			return -1;
		ex_log(EX_LOG_INFO, event, "{s:s, s:i, s:s, s:b}", "address", options->bind_address, "port",
		       ex_mail_listener_bound_port(listener, i), "listener", options->ports[i].label, "implicit_tls",
		       options->ports[i].implicit_tls);
	}
	return 0;
}

ex_mail_listener *ex_mail_listener_start(const ex_mail_listener_options *options, char *err, size_t errlen)
{
	if (options->port_count == 0 || options->port_count > EX_MAIL_LISTENER_MAX_PORTS) {
		snprintf(err, errlen, "a %s listener takes 1 to %d ports, not %zu", options->protocol,
			 EX_MAIL_LISTENER_MAX_PORTS, options->port_count);
		return NULL;
	}
	ex_mail_listener *listener = calloc(1, sizeof(*listener));
	if (listener == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	listener->options = *options;
	memcpy(listener->ports, options->ports, options->port_count * sizeof(*options->ports));
	listener->options.ports = listener->ports;
	for (size_t i = 0; i < EX_MAIL_LISTENER_MAX_PORTS; i++)
		listener->fds[i] = -1;
	listener->wake[0] = listener->wake[1] = -1;
	atomic_init(&listener->stopping, false);
	pthread_mutex_init(&listener->lock, NULL);
	pthread_cond_init(&listener->idle, NULL);

	listener->limit_ready = ex_mail_connection_limit_init(&listener->limit, options->max_connections,
							      options->max_connections_per_address) == 0;
	if (!listener->limit_ready || pipe2(listener->wake, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "cannot set up the %s listener: out of memory or file descriptors", options->protocol);
		ex_mail_listener_stop(listener, false, 0);
		return NULL;
	}
	if (open_ports(listener, err, errlen) != 0) {
		ex_mail_listener_stop(listener, false, 0);
		return NULL;
	}
	if (pthread_create(&listener->thread, NULL, accept_loop, listener) != 0) {
		snprintf(err, errlen, "cannot start the %s accept thread", options->protocol);
		ex_mail_listener_stop(listener, false, 0);
		return NULL;
	}
	listener->thread_started = true;
	return listener;
}

/* Waits under the lock until no handler runs, for at most WAIT_MS (0: no bound). Returns true when none runs. */
static bool wait_for_connections(ex_mail_listener *listener, uint64_t wait_ms)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += (time_t)(wait_ms / 1000);
	deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}

	while (listener->open != NULL) {
		if (wait_ms == 0)
			pthread_cond_wait(&listener->idle, &listener->lock);
		else if (pthread_cond_timedwait(&listener->idle, &listener->lock, &deadline) != 0)
			break;
	}
	return listener->open == NULL;
}

bool ex_mail_listener_stop(ex_mail_listener *listener, bool shut_down_open, uint64_t wait_ms)
{
	if (listener == NULL)
		return true;
	atomic_store(&listener->stopping, true);
	if (listener->thread_started) {
		if (write(listener->wake[1], "x", 1) < 0)
			ex_log(EX_LOG_WARN, "mail_listener_wake_failed", "{s:s, s:s}", "protocol",
			       listener->options.protocol, "error", strerror(errno));
		pthread_join(listener->thread, NULL);
	}
	for (size_t i = 0; i < EX_MAIL_LISTENER_MAX_PORTS; i++) {
		if (listener->fds[i] >= 0)
			close(listener->fds[i]);
		listener->fds[i] = -1;
	}

	pthread_mutex_lock(&listener->lock);
	for (ex_mail_connection *connection = listener->open; shut_down_open && connection != NULL;
	     connection = connection->next)
		shutdown(connection->fd, SHUT_RDWR);
	bool drained = wait_for_connections(listener, wait_ms);
	unsigned left = listener->limit_ready ? ex_mail_connection_limit_count(&listener->limit) : 0;
	pthread_mutex_unlock(&listener->lock);
	if (!drained) {
		char event[EVENT_NAME];
		event_name(listener, "stop_timed_out", event);
		ex_log(EX_LOG_WARN, event, "{s:i}", "connections", (int)left);
		return false;
	}

	for (int i = 0; i < 2; i++) {
		if (listener->wake[i] >= 0)
			close(listener->wake[i]);
	}
	if (listener->limit_ready)
		ex_mail_connection_limit_destroy(&listener->limit);
	pthread_mutex_destroy(&listener->lock);
	pthread_cond_destroy(&listener->idle);
	free(listener);
	return true;
}

bool ex_mail_listener_stopping(const ex_mail_listener *listener)
{
	return atomic_load(&listener->stopping);
}

unsigned ex_mail_listener_connections(ex_mail_listener *listener)
{
	return ex_mail_connection_limit_count(&listener->limit);
}

int ex_mail_listener_bound_port(const ex_mail_listener *listener, size_t index)
{
	union {
		struct sockaddr any;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
		struct sockaddr_storage storage;
	} bound;
	memset(&bound, 0, sizeof(bound));
	socklen_t length = sizeof(bound);
	if (index >= listener->options.port_count || listener->fds[index] < 0 ||
	    getsockname(listener->fds[index], &bound.any, &length) != 0)
		return -1;
	return ntohs(bound.any.sa_family == AF_INET6 ? bound.in6.sin6_port : bound.in4.sin_port);
}
