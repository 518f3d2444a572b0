/*
 * The LISTEN thread. It reconnects after a lost connection, waiting
 * RECONNECT_DELAY_MS between attempts, and then bumps every counter,
 * because notifications sent while it was away are lost.
 */
#include "imap_notify.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "expresso/log.h"

enum {
	SLOTS = 4096,
	POLL_SLICE_MS = 250,
	RECONNECT_DELAY_MS = 1000,
};

struct ex_imap_notifier {
	char *conninfo;
	pthread_t thread;
	atomic_bool stopping;
	int event_fd;
	_Atomic uint64_t generations[SLOTS];
};

/* FNV-1a over the mailbox id text. */
static size_t slot_of(const char *mailbox_id, size_t length)
{
	uint64_t hash = 1469598103934665603ull;
	for (size_t i = 0; i < length; i++) {
		hash ^= (unsigned char)mailbox_id[i];
		hash *= 1099511628211ull;
	}
	return (size_t)(hash % SLOTS);
}

uint64_t ex_imap_notifier_generation(const ex_imap_notifier *notifier, const char *mailbox_id)
{
	if (notifier == NULL || mailbox_id == NULL)
		return 0;
	return atomic_load(&notifier->generations[slot_of(mailbox_id, strlen(mailbox_id))]);
}

int ex_imap_notifier_event_fd(const ex_imap_notifier *notifier)
{
	return notifier != NULL ? notifier->event_fd : -1;
}

static void signal_change(const ex_imap_notifier *notifier)
{
	uint64_t one = 1;
	/* EAGAIN means the counter is full, so the reader has a wake-up pending anyway. */
	if (write(notifier->event_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		ex_log(EX_LOG_WARN, "imap_notify_signal_failed", "{s:s}", "error", strerror(errno));
}

static void bump_all(ex_imap_notifier *notifier)
{
	for (size_t i = 0; i < SLOTS; i++)
		atomic_fetch_add(&notifier->generations[i], 1);
	signal_change(notifier);
}

static PGconn *connect_and_listen(const ex_imap_notifier *notifier)
{
	PGconn *connection = PQconnectdb(notifier->conninfo);
	if (PQstatus(connection) != CONNECTION_OK) {
		ex_log(EX_LOG_WARN, "imap_listen_failed", "{s:s}", "error", PQerrorMessage(connection));
		PQfinish(connection);
		return NULL;
	}
	PGresult *result = PQexec(connection, "LISTEN expresso_mail");
	bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
	PQclear(result);
	if (!ok) {
		ex_log(EX_LOG_WARN, "imap_listen_failed", "{s:s}", "error", PQerrorMessage(connection));
		PQfinish(connection);
		return NULL;
	}
	ex_log(EX_LOG_INFO, "imap_listening", "{s:s}", "channel", "expresso_mail");
	return connection;
}

static void drain(ex_imap_notifier *notifier, PGconn *connection)
{
	PGnotify *notify;
	bool changed = false;
	while ((notify = PQnotifies(connection)) != NULL) {
		changed = true;
		/* The payload is "<tenant> <user> <mailbox>"; the mailbox id is the last word. */
		const char *mailbox = strrchr(notify->extra, ' ');
		mailbox = mailbox != NULL ? mailbox + 1 : notify->extra;
		atomic_fetch_add(&notifier->generations[slot_of(mailbox, strlen(mailbox))], 1);
		PQfreemem(notify);
	}
	if (changed)
		signal_change(notifier);
}

static void *listen_run(void *argument)
{
	ex_imap_notifier *notifier = argument;
	PGconn *connection = NULL;
	while (!atomic_load(&notifier->stopping)) {
		if (connection == NULL) {
			connection = connect_and_listen(notifier);
			if (connection == NULL) {
				usleep(RECONNECT_DELAY_MS * 1000);
				continue;
			}
			bump_all(notifier);
		}
		struct pollfd descriptor = { .fd = PQsocket(connection), .events = POLLIN };
		if (poll(&descriptor, 1, POLL_SLICE_MS) <= 0)
			continue;
		if (PQconsumeInput(connection) != 1) {
			ex_log(EX_LOG_WARN, "imap_listen_lost", "{s:s}", "error", PQerrorMessage(connection));
			PQfinish(connection);
			connection = NULL;
			continue;
		}
		drain(notifier, connection);
	}
	if (connection != NULL)
		PQfinish(connection);
	return NULL;
}

ex_imap_notifier *ex_imap_notifier_start(const char *conninfo)
{
	ex_imap_notifier *notifier = calloc(1, sizeof(*notifier));
	if (notifier == NULL)
		return NULL;
	notifier->conninfo = strdup(conninfo);
	notifier->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	atomic_init(&notifier->stopping, false);
	if (notifier->conninfo == NULL || notifier->event_fd < 0 ||
	    pthread_create(&notifier->thread, NULL, listen_run, notifier) != 0) {
		ex_log(EX_LOG_ERROR, "imap_listen_failed", "{s:s}", "error", "cannot start the LISTEN thread");
		if (notifier->event_fd >= 0)
			close(notifier->event_fd);
		free(notifier->conninfo);
		free(notifier);
		return NULL;
	}
	return notifier;
}

void ex_imap_notifier_stop(ex_imap_notifier *notifier)
{
	if (notifier == NULL)
		return;
	atomic_store(&notifier->stopping, true);
	pthread_join(notifier->thread, NULL);
	close(notifier->event_fd);
	free(notifier->conninfo);
	free(notifier);
}
