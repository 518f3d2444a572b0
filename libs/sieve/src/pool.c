/*
 * The daemon's side of the Sieve worker pool. A run takes an idle worker,
 * sends it the script and the envelope, answers its header questions with
 * the caller's get_header callback (in the calling thread, so the callback
 * may take locks), and reads the outcome, all before one deadline. A
 * worker that crashes, overruns the deadline, sends garbage, reports
 * errors (libsieve's globals may then point into freed memory) or reaches
 * runs_per_worker is closed, reaped through the zygote and replaced by a
 * fresh fork of the zygote.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sieve_internal.h"
#include "wire.h"

enum { MAX_WORKERS = 256 };

typedef struct {
	int fd;        /* -1 when there is no live worker in this slot */
	pid_t pid;
	unsigned runs; /* runs served by this process */
	int busy;
} worker_slot;

struct ex_sieve_pool {
	ex_sieve_work work;
	ex_sieve_pool_settings settings;
	pid_t zygote;
	int control;                  /* socket to the zygote */
	pthread_mutex_t control_lock; /* one zygote request at a time */
	pthread_mutex_t lock;         /* slots and counters */
	pthread_cond_t idle;
	worker_slot *slots;
	size_t slot_count;
	ex_sieve_pool_counters counters;
};

/* Forks a zygote for POOL and sets pool->zygote and pool->control; returns 0 or -1 with ERR filled in. */
static int fork_zygote(ex_sieve_pool *pool, char *err, size_t errlen)
{
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
		snprintf(err, errlen, "cannot create the Sieve zygote's socket: %s", strerror(errno));
		return -1;
	}
	pid_t zygote = fork();
	if (zygote == 0) {
		close(pair[0]);
		ex_sieve_zygote_main(pair[1], pool->work);
	}
	close(pair[1]);
	if (zygote < 0) {
		snprintf(err, errlen, "cannot fork the Sieve zygote: %s", strerror(errno));
		close(pair[0]);
		return -1;
	}
	pool->zygote = zygote;
	pool->control = pair[0];
	return 0;
}

ex_sieve_pool *ex_sieve_pool_create(ex_sieve_work work, char *err, size_t errlen)
{
	ex_sieve_pool *pool = calloc(1, sizeof(*pool));
	if (pool == NULL) {
		snprintf(err, errlen, "out of memory for the Sieve pool");
		return NULL;
	}
	pool->work = work;
	if (fork_zygote(pool, err, errlen) != 0) {
		free(pool);
		return NULL;
	}
	pool->settings = (ex_sieve_pool_settings){ EX_SIEVE_DEFAULT_WORKERS, EX_SIEVE_DEFAULT_RUNS_PER_WORKER,
						   EX_SIEVE_RUN_TIMEOUT_MS };
	pthread_mutex_init(&pool->control_lock, NULL);
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->idle, NULL);
	return pool;
}

/*
 * Replaces a zygote that died. The new one is forked from the daemon as it
 * is now, larger and with threads, which costs more but keeps Sieve
 * working. Workers of the old zygote end when their sockets close.
 */
static int restart_zygote(ex_sieve_pool *pool, char *err, size_t errlen)
{
	pthread_mutex_lock(&pool->control_lock);
	close(pool->control);
	int status;
	while (waitpid(pool->zygote, &status, 0) < 0 && errno == EINTR)
		;
	int rc = fork_zygote(pool, err, errlen);
	if (rc != 0)
		pool->control = -1;
	pthread_mutex_unlock(&pool->control_lock);
	return rc;
}

/* Sends REQUEST to the zygote and reads its reply and, for a spawn, the worker's socket into *FD. */
static int ask_zygote(ex_sieve_pool *pool, const ex_sieve_zygote_request *request, ex_sieve_zygote_reply *reply, int *fd)
{
	union {
		struct cmsghdr header;
		char space[CMSG_SPACE(sizeof(int))];
	} ancillary;
	struct iovec part = { .iov_base = reply, .iov_len = sizeof(*reply) };
	struct msghdr message = { .msg_iov = &part, .msg_iovlen = 1, .msg_control = ancillary.space,
				  .msg_controllen = sizeof(ancillary.space) };
	int status = -1;

	if (fd != NULL)
		*fd = -1;
	pthread_mutex_lock(&pool->control_lock);
	ssize_t sent;
	do
		sent = send(pool->control, request, sizeof(*request), MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	ssize_t got = -1;
	if (sent == (ssize_t)sizeof(*request)) {
		do
			got = recvmsg(pool->control, &message, MSG_CMSG_CLOEXEC | MSG_WAITALL);
		while (got < 0 && errno == EINTR);
	}
	pthread_mutex_unlock(&pool->control_lock);

	if (got == (ssize_t)sizeof(*reply)) {
		status = 0;
		struct cmsghdr *control_message = CMSG_FIRSTHDR(&message);
		if (control_message != NULL && control_message->cmsg_level == SOL_SOCKET &&
		    control_message->cmsg_type == SCM_RIGHTS) {
			int received;
			memcpy(&received, CMSG_DATA(control_message), sizeof(int));
			if (fd != NULL)
				*fd = received;
			else
				close(received);
		}
	}
	return status;
}

/* Starts a worker in SLOT; returns 0 or -1 with ERR filled in. */
static int start_worker(ex_sieve_pool *pool, worker_slot *slot, char *err, size_t errlen)
{
	const ex_sieve_zygote_request request = { .operation = EX_SIEVE_ZYGOTE_SPAWN };
	ex_sieve_zygote_reply reply = { 0 };
	int fd = -1;

	if (ask_zygote(pool, &request, &reply, &fd) != 0) {
		if (restart_zygote(pool, err, errlen) != 0)
			return -1;
		pthread_mutex_lock(&pool->lock);
		pool->counters.zygotes_restarted++;
		pthread_mutex_unlock(&pool->lock);
		if (ask_zygote(pool, &request, &reply, &fd) != 0) {
			snprintf(err, errlen, "the Sieve zygote process does not respond");
			return -1;
		}
	}
	if (reply.error != 0 || fd < 0) {
		snprintf(err, errlen, "cannot start a Sieve worker: %s", strerror(reply.error ? reply.error : EPROTO));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	slot->fd = fd;
	slot->pid = (pid_t)reply.value;
	slot->runs = 0;
	pthread_mutex_lock(&pool->lock);
	pool->counters.started++;
	pthread_mutex_unlock(&pool->lock);
	return 0;
}

/*
 * Ends the worker in SLOT and returns its wait status, or -1 when unknown.
 * The worker is idle or broken, so SIGKILL loses nothing, and it keeps the
 * zygote's waitpid from blocking on a worker that does not exit. A worker
 * that had already died keeps the status of its own death.
 */
static int stop_worker(ex_sieve_pool *pool, worker_slot *slot)
{
	if (slot->fd < 0)
		return -1;
	kill(slot->pid, SIGKILL);
	close(slot->fd);
	slot->fd = -1;

	const ex_sieve_zygote_request request = { .operation = EX_SIEVE_ZYGOTE_REAP, .pid = (int)slot->pid };
	ex_sieve_zygote_reply reply = { 0 };
	if (ask_zygote(pool, &request, &reply, NULL) != 0 || reply.error != 0)
		return -1;
	return reply.value;
}

int ex_sieve_pool_configure(ex_sieve_pool *pool, const ex_sieve_pool_settings *settings, char *err, size_t errlen)
{
	if (settings->workers < 1 || settings->workers > MAX_WORKERS || settings->runs_per_worker < 1 ||
	    settings->timeout_ms < 1) {
		snprintf(err, errlen, "Sieve pool settings out of range: %u workers (1 to %d), %u runs per worker and %u ms "
			 "timeout (at least 1)", settings->workers, MAX_WORKERS, settings->runs_per_worker,
			 settings->timeout_ms);
		return -1;
	}
	worker_slot *slots = calloc(settings->workers, sizeof(*slots));
	if (slots == NULL) {
		snprintf(err, errlen, "out of memory for %u Sieve workers", settings->workers);
		return -1;
	}
	for (size_t i = 0; i < settings->workers; i++)
		slots[i].fd = -1;

	for (size_t i = 0; i < pool->slot_count; i++)
		stop_worker(pool, &pool->slots[i]);
	free(pool->slots);
	pool->slots = slots;
	pool->slot_count = settings->workers;
	pool->settings = *settings;

	for (size_t i = 0; i < pool->slot_count; i++) {
		if (start_worker(pool, &pool->slots[i], err, errlen) != 0)
			return -1;
	}
	return 0;
}

/* Takes an idle worker slot, waiting for one; NULL when the pool has no slots (never configured). */
static worker_slot *acquire(ex_sieve_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	while (pool->slot_count > 0) {
		for (size_t i = 0; i < pool->slot_count; i++) {
			if (!pool->slots[i].busy) {
				pool->slots[i].busy = 1;
				pthread_mutex_unlock(&pool->lock);
				return &pool->slots[i];
			}
		}
		pthread_cond_wait(&pool->idle, &pool->lock);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

static void release(ex_sieve_pool *pool, worker_slot *slot)
{
	pthread_mutex_lock(&pool->lock);
	slot->busy = 0;
	pthread_cond_signal(&pool->idle);
	pthread_mutex_unlock(&pool->lock);
}

/* Answers a QUESTION frame (a header field name) with MESSAGE's values. */
static ex_sieve_wire_status answer(int fd, const ex_sieve_buffer *question, const ex_sieve_message *message,
				   const struct timespec *deadline)
{
	char name[1024];
	size_t length = question->length < sizeof(name) - 1 ? question->length : sizeof(name) - 1;
	memcpy(name, question->data, length);
	name[length] = '\0';

	const char *const *values = NULL;
	if (message != NULL && message->get_header != NULL)
		values = message->get_header(message->context, name);
	ex_sieve_buffer out = { 0 };
	uint32_t count = 0;
	while (values != NULL && values[count] != NULL)
		count++;
	ex_sieve_put_u32(&out, count);
	for (uint32_t i = 0; i < count; i++)
		ex_sieve_put_string(&out, values[i]);
	ex_sieve_wire_status status = out.failed ? EX_SIEVE_WIRE_ERROR
						 : ex_sieve_write_frame(fd, EX_SIEVE_FRAME_ANSWER, out.data, out.length,
									deadline);
	free(out.data);
	return status;
}

/* Sends the request to the worker in SLOT and reads its outcome; returns the wire status of the exchange. */
static ex_sieve_wire_status exchange(worker_slot *slot, const ex_sieve_buffer *request, const ex_sieve_message *message,
				     const struct timespec *deadline, ex_sieve_buffer *reply)
{
	ex_sieve_wire_status status =
		ex_sieve_write_frame(slot->fd, EX_SIEVE_FRAME_REQUEST, request->data, request->length, deadline);
	while (status == EX_SIEVE_WIRE_OK) {
		ex_sieve_frame_type type;
		status = ex_sieve_read_frame(slot->fd, &type, reply, EX_SIEVE_WIRE_MAX_REPLY, deadline);
		if (status != EX_SIEVE_WIRE_OK)
			break;
		if (type == EX_SIEVE_FRAME_REPLY)
			return EX_SIEVE_WIRE_OK;
		if (type != EX_SIEVE_FRAME_QUESTION)
			return EX_SIEVE_WIRE_ERROR;
		status = answer(slot->fd, reply, message, deadline);
	}
	return status;
}

static void encode_request(ex_sieve_buffer *out, const char *script, size_t length, int execute,
			   const ex_sieve_message *message)
{
	ex_sieve_put_u32(out, (uint32_t)execute);
	ex_sieve_put_counted(out, script, length);
	ex_sieve_put_string(out, message != NULL ? message->envelope_from : NULL);
	ex_sieve_put_string(out, message != NULL ? message->envelope_to : NULL);
	ex_sieve_put_u64(out, message != NULL ? (uint64_t)message->size : 0);
}

/* Turns a worker that ended without a reply into an error; counts it. */
static void report_lost_worker(ex_sieve_pool *pool, ex_sieve_wire_status status, int wait_status, ex_sieve_errors *errors)
{
	char failure[EX_SIEVE_MAX_ERROR_TEXT];

	pthread_mutex_lock(&pool->lock);
	if (status == EX_SIEVE_WIRE_TIMEOUT)
		pool->counters.timed_out++;
	else
		pool->counters.crashed++;
	pthread_mutex_unlock(&pool->lock);

	if (status == EX_SIEVE_WIRE_TIMEOUT)
		snprintf(failure, sizeof(failure), "the filter did not finish within %u ms and was stopped",
			 pool->settings.timeout_ms);
	else if (wait_status != -1 && WIFSIGNALED(wait_status))
		snprintf(failure, sizeof(failure), "the filter process crashed with signal %d", WTERMSIG(wait_status));
	else if (wait_status != -1 && WIFEXITED(wait_status))
		snprintf(failure, sizeof(failure), "the filter process exited with status %d without a reply",
			 WEXITSTATUS(wait_status));
	else
		snprintf(failure, sizeof(failure), "the filter process ended without a reply");
	ex_sieve_add_failure(errors, failure);
}

int ex_sieve_pool_run(ex_sieve_pool *pool, const char *script, size_t length, int execute,
		      const ex_sieve_message *message, ex_sieve_result *result, ex_sieve_errors *errors,
		      int *parse_errors)
{
	char err[EX_SIEVE_MAX_ERROR_TEXT];
	ex_sieve_buffer request = { 0 };
	ex_sieve_buffer reply = { 0 };
	struct timespec deadline;

	encode_request(&request, script, length, execute, message);
	if (request.failed) {
		free(request.data);
		ex_sieve_add_failure(errors, "out of memory for the filter's request");
		return EX_SIEVE_RUN_FAILED;
	}

	worker_slot *slot = acquire(pool);
	if (slot == NULL) {
		free(request.data);
		ex_sieve_add_failure(errors, "the Sieve pool has no workers configured");
		return EX_SIEVE_RUN_FAILED;
	}
	int rc = EX_SIEVE_RUN_FAILED;
	ex_sieve_wire_status status = EX_SIEVE_WIRE_ERROR;
	if (slot->fd < 0 && start_worker(pool, slot, err, sizeof(err)) != 0) {
		ex_sieve_add_failure(errors, err);
	} else {
		ex_sieve_deadline(&deadline, pool->settings.timeout_ms);
		status = exchange(slot, &request, execute ? message : NULL, &deadline, &reply);
		slot->runs++;
	}

	int replace = slot->fd >= 0 && slot->runs >= pool->settings.runs_per_worker;
	if (status == EX_SIEVE_WIRE_OK) {
		ex_sieve_reader in = { .data = reply.data, .length = reply.length };
		rc = ex_sieve_get_outcome(&in, result, errors, parse_errors);
		if (in.broken || in.offset != in.length) {
			ex_sieve_add_failure(errors, "the filter process sent an unreadable reply");
			rc = EX_SIEVE_RUN_FAILED;
		}
		replace = replace || rc != 0 || errors->count > 0 || *parse_errors > 0;
		if (replace)
			stop_worker(pool, slot);
	} else if (slot->fd >= 0) {
		/* No reply: the worker died, hung or broke the protocol. */
		int wait_status = stop_worker(pool, slot);
		report_lost_worker(pool, status, status == EX_SIEVE_WIRE_TIMEOUT ? -1 : wait_status, errors);
	}
	if (slot->fd < 0 && start_worker(pool, slot, err, sizeof(err)) != 0)
		slot->fd = -1; /* the next run tries again */

	pthread_mutex_lock(&pool->lock);
	pool->counters.runs++;
	pthread_mutex_unlock(&pool->lock);
	release(pool, slot);
	free(request.data);
	free(reply.data);
	return rc;
}

void ex_sieve_pool_counters_get(ex_sieve_pool *pool, ex_sieve_pool_counters *counters)
{
	pthread_mutex_lock(&pool->lock);
	*counters = pool->counters;
	pthread_mutex_unlock(&pool->lock);
}

int ex_sieve_pool_zygote(ex_sieve_pool *pool)
{
	pthread_mutex_lock(&pool->control_lock);
	int zygote = (int)pool->zygote;
	pthread_mutex_unlock(&pool->control_lock);
	return zygote;
}

void ex_sieve_pool_destroy(ex_sieve_pool *pool)
{
	if (pool == NULL)
		return;
	for (size_t i = 0; i < pool->slot_count; i++)
		stop_worker(pool, &pool->slots[i]);
	if (pool->control >= 0)
		close(pool->control); /* the zygote kills what is left and exits */
	int status;
	while (waitpid(pool->zygote, &status, 0) < 0 && errno == EINTR)
		;
	pthread_cond_destroy(&pool->idle);
	pthread_mutex_destroy(&pool->lock);
	pthread_mutex_destroy(&pool->control_lock);
	free(pool->slots);
	free(pool);
}
