/*
 * IMAP listeners, the event loop and the worker pool.
 *
 * The event-loop thread owns an epoll set with the listening sockets, a
 * wake-up eventfd, the change notifier's eventfd and every connection
 * that waits. Connections are registered EPOLLONESHOT: when one becomes
 * ready, or its IDLE mailbox changed, or a keepalive or timeout is due,
 * the loop marks it no longer parked and queues it for the workers. A
 * worker runs it (imap_connection.c) until it must wait again and parks
 * it, re-arming its epoll registration; a level-triggered re-arm reports
 * input that arrived in between. The parked flag, changed under the
 * server lock, makes sure that one connection is run by one thread at a
 * time. A closed connection's struct is freed by the loop between two
 * epoll_wait() calls, because an event taken in the same batch may still
 * point to it.
 */
#include "imap_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "expresso/log.h"
#include "imap_connection.h"
#include "mail_listener.h"

enum {
	/* How often the loop looks for due keepalives and timeouts. */
	SCAN_MS = 200,
	/* Without a notifier, IDLE looks at the database this often. */
	IDLE_POLL_MS = 1000,
	LISTEN_BACKLOG = 1024,
	MAX_LISTENERS = 2,
	MAX_EVENTS = 128,
	MAX_ACCEPTS_PER_EVENT = 64,
};

typedef struct {
	imap_source_kind kind;
	int fd;
	bool implicit_tls;
	int port;
} listener;

struct ex_imap_server {
	ex_imap_server_options options;
	listener listeners[MAX_LISTENERS];
	size_t listener_count;
	int epoll_fd;
	imap_source_kind wake_source;
	int wake_fd;
	imap_source_kind notifier_source;

	pthread_t loop_thread;
	bool loop_started;
	pthread_t *workers;
	unsigned workers_started;

	pthread_mutex_t lock;
	pthread_cond_t work;      /* the queue has a connection, or the workers must end */
	bool stopping;
	bool workers_exit;
	ex_mail_connection_limit limit;
	bool limit_ready;
	imap_connection *all;     /* every open connection, linked by previous and next */
	imap_connection *queue_head;
	imap_connection *queue_tail;
	imap_connection *closed;  /* closed connections whose struct the loop frees */
};

static uint64_t monotonic_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

static void wake_loop(struct ex_imap_server *server)
{
	uint64_t one = 1;
	if (write(server->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		ex_log(EX_LOG_WARN, "imap_wake_failed", "{s:s}", "error", strerror(errno));
}

static void drain_eventfd(int fd)
{
	uint64_t count;
	while (read(fd, &count, sizeof(count)) == (ssize_t)sizeof(count))
		;
}

/* ---- connection accounting (under the lock) ----------------------------------------------- */

static int admit(struct ex_imap_server *server, const char *address, const char **reply)
{
	if (server->stopping) {
		*reply = "* BYE [UNAVAILABLE] Server shutting down; reconnect later\r\n";
		return -1;
	}
	switch (ex_mail_connection_limit_admit(&server->limit, address)) {
	case EX_MAIL_ADMITTED:
		return 0;
	case EX_MAIL_REJECTED_ADDRESS:
		*reply = "* BYE [UNAVAILABLE] Too many connections from your address; try again later\r\n";
		return -1;
	default:
		*reply = "* BYE [UNAVAILABLE] Too many connections; try again later\r\n";
		return -1;
	}
}

double ex_imap_server_connections(void *context)
{
	struct ex_imap_server *server = context;
	return ex_mail_connection_limit_count(&server->limit);
}

/* ---- the queue and the workers ------------------------------------------------------------- */

/* Queues CONNECTION for a worker; under the lock. */
static void enqueue(struct ex_imap_server *server, imap_connection *connection)
{
	connection->parked = false;
	connection->queue_next = NULL;
	if (server->queue_tail != NULL)
		server->queue_tail->queue_next = connection;
	else
		server->queue_head = connection;
	server->queue_tail = connection;
	pthread_cond_signal(&server->work);
}

static void unlink_connection(struct ex_imap_server *server, imap_connection *connection)
{
	if (connection->previous != NULL)
		connection->previous->next = connection->next;
	else
		server->all = connection->next;
	if (connection->next != NULL)
		connection->next->previous = connection->previous;
}

static void close_connection(struct ex_imap_server *server, imap_connection *connection)
{
	if (connection->registered)
		epoll_ctl(server->epoll_fd, EPOLL_CTL_DEL, connection->fd, NULL);
	imap_connection_close(connection);

	pthread_mutex_lock(&server->lock);
	unlink_connection(server, connection);
	ex_mail_connection_limit_release(&server->limit, connection->address);
	connection->next = server->closed;
	server->closed = connection;
	pthread_mutex_unlock(&server->lock);
	/* The loop frees the struct and, when stopping, sees the count fall. */
	wake_loop(server);
}

/*
 * Parks CONNECTION in the epoll set; under the lock. Returns false when the
 * server is stopping, so the caller ends the session instead.
 */
static bool park(struct ex_imap_server *server, imap_connection *connection, bool for_output)
{
	if (server->stopping)
		return false;
	uint64_t now = monotonic_ms();
	const char *mailbox = ex_imap_session_mailbox_id(connection->session);
	bool idling = !for_output && ex_imap_session_idling(connection->session);

	if (idling && !connection->idling) {
		connection->keepalive_at_ms = now;
		connection->polled_at_ms = now;
	}
	connection->idling = idling;
	snprintf(connection->mailbox_id, sizeof(connection->mailbox_id), "%s", idling && mailbox != NULL ? mailbox : "");
	connection->waiting_output = for_output;
	connection->parked_at_ms = now;
	connection->parked = true;

	struct epoll_event event = { .events = (for_output ? EPOLLOUT : EPOLLIN) | EPOLLONESHOT, .data.ptr = connection };
	int operation = connection->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(server->epoll_fd, operation, connection->fd, &event) != 0) {
		ex_log(EX_LOG_ERROR, "imap_epoll_failed", "{s:s, s:s}", "session", connection->session_id, "error",
		       strerror(errno));
		connection->parked = false;
		return false;
	}
	connection->registered = true;
	return true;
}

/* Remembers the notifier counter before a run, so the first wait of an IDLE skips a look it does not need. */
static uint64_t generation_before(const struct ex_imap_server *server, const imap_connection *connection,
				  char mailbox[40])
{
	const char *selected = connection->session != NULL ? ex_imap_session_mailbox_id(connection->session) : NULL;
	snprintf(mailbox, 40, "%s", selected != NULL ? selected : "");
	return ex_imap_notifier_generation(server->options.notifier, selected);
}

static void run_connection(struct ex_imap_server *server, imap_connection *connection, unsigned wake)
{
	char mailbox[40];
	uint64_t generation = generation_before(server, connection, mailbox);
	bool was_idling = connection->idling;
	imap_run_result result = imap_connection_run(connection, wake);

	for (;;) {
		if (result == IMAP_RUN_CLOSE) {
			close_connection(server, connection);
			return;
		}
		pthread_mutex_lock(&server->lock);
		if (result == IMAP_RUN_YIELD) {
			enqueue(server, connection);
			pthread_mutex_unlock(&server->lock);
			return;
		}
		/*
		 * IDLE began in this run and the mailbox is the one selected before it: IDLE's own look at the
		 * database came after GENERATION was read, so only a later change needs another look.
		 */
		const char *selected = ex_imap_session_mailbox_id(connection->session);
		if (!was_idling && result == IMAP_RUN_WAIT_READ && ex_imap_session_idling(connection->session) &&
		    selected != NULL && strcmp(selected, mailbox) == 0)
			connection->generation = generation;
		if (park(server, connection, result == IMAP_RUN_WAIT_WRITE)) {
			pthread_mutex_unlock(&server->lock);
			return;
		}
		bool stop_sent = connection->stop_sent;
		connection->stop_sent = true;
		pthread_mutex_unlock(&server->lock);
		/* Stopping: one last run writes BYE; after that the connection closes whatever it waits for. */
		result = stop_sent ? IMAP_RUN_CLOSE : imap_connection_run(connection, IMAP_WAKE_STOP);
		if (result != IMAP_RUN_YIELD)
			result = IMAP_RUN_CLOSE;
	}
}

static void *worker_run(void *argument)
{
	struct ex_imap_server *server = argument;
	for (;;) {
		pthread_mutex_lock(&server->lock);
		while (server->queue_head == NULL && !server->workers_exit)
			pthread_cond_wait(&server->work, &server->lock);
		imap_connection *connection = server->queue_head;
		if (connection == NULL) {
			pthread_mutex_unlock(&server->lock);
			return NULL;
		}
		server->queue_head = connection->queue_next;
		if (server->queue_head == NULL)
			server->queue_tail = NULL;
		unsigned wake = connection->wake;
		connection->wake = 0;
		pthread_mutex_unlock(&server->lock);

		run_connection(server, connection, wake);
	}
}

/* ---- the event loop ---------------------------------------------------------------------- */

static void accept_ready(struct ex_imap_server *server, const listener *entry)
{
	for (unsigned i = 0; i < MAX_ACCEPTS_PER_EVENT; i++) {
		struct sockaddr_storage peer = { 0 };
		socklen_t peer_length = sizeof(peer);
		char address[IMAP_ADDRESS_TEXT] = "";
		const char *reply = NULL;

		int fd = accept4(entry->fd, (struct sockaddr *)&peer, &peer_length, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
				ex_log(EX_LOG_WARN, "imap_accept_failed", "{s:i, s:s}", "port", entry->port, "error",
				       strerror(errno));
			return;
		}
		ex_mail_peer_address(&peer, address, sizeof(address));
		imap_connection *connection = imap_connection_new(fd, entry->implicit_tls, address, &server->options);

		pthread_mutex_lock(&server->lock);
		int admitted = connection != NULL ? admit(server, address, &reply) : -1;
		if (admitted == 0) {
			connection->next = server->all;
			if (server->all != NULL)
				server->all->previous = connection;
			server->all = connection;
			enqueue(server, connection);
		}
		pthread_mutex_unlock(&server->lock);
		if (admitted == 0)
			continue;

		if (reply == NULL)
			reply = "* BYE [UNAVAILABLE] Out of memory; try again later\r\n";
		ex_log(EX_LOG_WARN, "imap_connection_rejected", "{s:s, s:s}", "address", address, "reply", reply);
		if (!entry->implicit_tls && send(fd, reply, strlen(reply), MSG_NOSIGNAL) < 0)
			ex_log(EX_LOG_DEBUG, "imap_reject_unsent", "{s:s, s:s}", "address", address, "error", strerror(errno));
		close(fd);
		free(connection);
	}
}

/* Hands over a parked connection whose socket became ready. */
static void socket_ready(struct ex_imap_server *server, imap_connection *connection)
{
	pthread_mutex_lock(&server->lock);
	if (connection->parked) {
		connection->wake = 0;
		enqueue(server, connection);
	}
	pthread_mutex_unlock(&server->lock);
}

static unsigned due_wakes(const struct ex_imap_server *server, imap_connection *connection, uint64_t now)
{
	const ex_imap_server_options *options = &server->options;
	if (server->stopping)
		return IMAP_WAKE_STOP;
	uint64_t since = connection->waiting_output ? connection->parked_at_ms : connection->input_at_ms;
	if (now - since >= options->idle_timeout_ms)
		return IMAP_WAKE_TIMEOUT;
	if (!connection->idling)
		return 0;

	unsigned wake = 0;
	if (now - connection->keepalive_at_ms >= options->idle_keepalive_ms) {
		connection->keepalive_at_ms = now;
		wake |= IMAP_WAKE_KEEPALIVE;
	}
	if (connection->mailbox_id[0] == '\0')
		return wake;
	if (options->notifier != NULL) {
		/* A counter that moved since the last read, even before this IDLE, costs one extra look. */
		uint64_t generation = ex_imap_notifier_generation(options->notifier, connection->mailbox_id);
		if (generation != connection->generation) {
			connection->generation = generation;
			wake |= IMAP_WAKE_CHANGED;
		}
	} else if (now - connection->polled_at_ms >= IDLE_POLL_MS) {
		connection->polled_at_ms = now;
		wake |= IMAP_WAKE_CHANGED;
	}
	return wake;
}

/* Queues every parked connection with a due keepalive, timeout, change or stop. */
static void scan(struct ex_imap_server *server, uint64_t now)
{
	pthread_mutex_lock(&server->lock);
	for (imap_connection *connection = server->all; connection != NULL; connection = connection->next) {
		if (!connection->parked)
			continue;
		unsigned wake = due_wakes(server, connection, now);
		if (wake != 0) {
			connection->wake = wake;
			enqueue(server, connection);
		}
	}
	pthread_mutex_unlock(&server->lock);
}

/* Frees the structs of closed connections; called between two epoll_wait() batches only. */
static void free_closed(struct ex_imap_server *server)
{
	pthread_mutex_lock(&server->lock);
	imap_connection *closed = server->closed;
	server->closed = NULL;
	pthread_mutex_unlock(&server->lock);
	while (closed != NULL) {
		imap_connection *next = closed->next;
		free(closed);
		closed = next;
	}
}

static void close_listeners(struct ex_imap_server *server)
{
	for (size_t i = 0; i < server->listener_count; i++) {
		if (server->listeners[i].fd < 0)
			continue;
		epoll_ctl(server->epoll_fd, EPOLL_CTL_DEL, server->listeners[i].fd, NULL);
		close(server->listeners[i].fd);
		server->listeners[i].fd = -1;
	}
}

static void *loop_run(void *argument)
{
	struct ex_imap_server *server = argument;
	struct epoll_event events[MAX_EVENTS];
	uint64_t scanned_at = monotonic_ms();
	bool listening = true;

	for (;;) {
		free_closed(server);
		pthread_mutex_lock(&server->lock);
		bool stopping = server->stopping;
		bool finished = stopping && ex_mail_connection_limit_count(&server->limit) == 0;
		pthread_mutex_unlock(&server->lock);
		if (finished)
			break;
		if (stopping && listening) {
			close_listeners(server);
			listening = false;
		}

		int count = epoll_wait(server->epoll_fd, events, MAX_EVENTS, SCAN_MS);
		if (count < 0 && errno != EINTR) {
			ex_log(EX_LOG_ERROR, "imap_epoll_failed", "{s:s}", "error", strerror(errno));
			count = 0;
		}
		bool notified = false;
		for (int i = 0; i < count; i++) {
			imap_source_kind *source = events[i].data.ptr;
			if (*source == IMAP_SOURCE_LISTENER) {
				accept_ready(server, (const listener *)source);
			} else if (*source == IMAP_SOURCE_WAKE) {
				drain_eventfd(server->wake_fd);
			} else if (*source == IMAP_SOURCE_NOTIFIER) {
				drain_eventfd(ex_imap_notifier_event_fd(server->options.notifier));
				notified = true;
			} else {
				socket_ready(server, (imap_connection *)source);
			}
		}
		uint64_t now = monotonic_ms();
		if (notified || stopping || now - scanned_at >= SCAN_MS) {
			scan(server, now);
			scanned_at = now;
		}
	}
	close_listeners(server);
	free_closed(server);
	return NULL;
}

/* ---- start and stop ------------------------------------------------------------------------ */

static int add_source(struct ex_imap_server *server, int fd, void *source, char *err, size_t errlen)
{
	struct epoll_event event = { .events = EPOLLIN, .data.ptr = source };
	if (epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
		snprintf(err, errlen, "cannot add a descriptor to the IMAP epoll set: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int open_listeners(struct ex_imap_server *server, char *err, size_t errlen)
{
	const ex_imap_server_options *options = &server->options;
	const struct {
		int port;
		bool implicit_tls;
	} ports[MAX_LISTENERS] = { { options->port, false }, { options->tls == NULL ? 0 : options->tls_port, true } };
	for (size_t i = 0; i < MAX_LISTENERS; i++) {
		if (ports[i].port == 0)
			continue;
		int fd = ex_mail_listen_socket(options->bind_address, ports[i].port, LISTEN_BACKLOG, true, err, errlen);
		if (fd < 0)
			return -1;
		listener *entry = &server->listeners[server->listener_count++];
		*entry = (listener){ .kind = IMAP_SOURCE_LISTENER, .fd = fd, .implicit_tls = ports[i].implicit_tls,
				     .port = ports[i].port };
		if (add_source(server, fd, entry, err, errlen) != 0)
			return -1;
		ex_log(EX_LOG_INFO, "imap_listening", "{s:s, s:i, s:b}", "address", options->bind_address, "port",
		       ports[i].port, "implicit_tls", ports[i].implicit_tls);
	}
	return 0;
}

static int start_threads(struct ex_imap_server *server, char *err, size_t errlen)
{
	server->workers = calloc(server->options.workers, sizeof(*server->workers));
	if (server->workers == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < server->options.workers; i++) {
		if (pthread_create(&server->workers[i], NULL, worker_run, server) != 0) {
			snprintf(err, errlen, "cannot start IMAP worker thread %u of %u", i + 1, server->options.workers);
			return -1;
		}
		server->workers_started++;
	}
	if (pthread_create(&server->loop_thread, NULL, loop_run, server) != 0) {
		snprintf(err, errlen, "cannot start the IMAP event-loop thread");
		return -1;
	}
	server->loop_started = true;
	return 0;
}

ex_imap_server *ex_imap_server_start(const ex_imap_server_options *options, char *err, size_t errlen)
{
	struct ex_imap_server *server = calloc(1, sizeof(*server));
	if (server == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	server->options = *options;
	if (server->options.workers == 0)
		server->options.workers = 1;
	server->wake_source = IMAP_SOURCE_WAKE;
	server->notifier_source = IMAP_SOURCE_NOTIFIER;
	pthread_mutex_init(&server->lock, NULL);
	pthread_cond_init(&server->work, NULL);
	server->limit_ready = ex_mail_connection_limit_init(&server->limit, options->max_connections,
							    options->max_connections_per_address) == 0;
	server->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	server->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!server->limit_ready || server->epoll_fd < 0 || server->wake_fd < 0) {
		snprintf(err, errlen, "cannot set up the IMAP event loop: %s", strerror(errno));
		ex_imap_server_stop(server);
		return NULL;
	}
	int notifier_fd = ex_imap_notifier_event_fd(options->notifier);
	if (add_source(server, server->wake_fd, &server->wake_source, err, errlen) != 0 ||
	    (notifier_fd >= 0 && add_source(server, notifier_fd, &server->notifier_source, err, errlen) != 0) ||
	    open_listeners(server, err, errlen) != 0 || start_threads(server, err, errlen) != 0) {
		ex_imap_server_stop(server);
		return NULL;
	}
	ex_log(EX_LOG_INFO, "imap_workers_started", "{s:i}", "workers", (int)server->options.workers);
	return server;
}

void ex_imap_server_stop(ex_imap_server *server)
{
	if (server == NULL)
		return;
	pthread_mutex_lock(&server->lock);
	server->stopping = true;
	pthread_mutex_unlock(&server->lock);

	/* The loop sends every waiting session BYE and ends once the last connection is closed. */
	if (server->loop_started) {
		wake_loop(server);
		pthread_join(server->loop_thread, NULL);
	}
	pthread_mutex_lock(&server->lock);
	server->workers_exit = true;
	pthread_cond_broadcast(&server->work);
	pthread_mutex_unlock(&server->lock);
	for (unsigned i = 0; i < server->workers_started; i++)
		pthread_join(server->workers[i], NULL);

	close_listeners(server);
	free_closed(server);
	if (server->epoll_fd >= 0)
		close(server->epoll_fd);
	if (server->wake_fd >= 0)
		close(server->wake_fd);
	pthread_mutex_destroy(&server->lock);
	pthread_cond_destroy(&server->work);
	free(server->workers);
	if (server->limit_ready)
		ex_mail_connection_limit_destroy(&server->limit);
	free(server);
}
