/*
 * The processes behind the Sieve pool. The zygote is forked once, early,
 * from the daemon; it only forks workers on request and waits for them,
 * so it stays small and single-threaded and every worker starts from the
 * same clean copy. A worker serves runs one at a time on its socket until
 * the daemon closes it. Neither process reacts to SIGINT or SIGTERM: both
 * end when the daemon closes their socket, which also happens when the
 * daemon dies.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sieve_internal.h"
#include "wire.h"

enum {
	MAX_REQUEST = 64 * 1024 * 1024, /* bytes; the script size cap is checked before sending */
	MAX_ANSWER = 16 * 1024 * 1024,  /* bytes of one header field's values */
	MAX_TRACKED = 4096,             /* live workers the zygote can track */
};

/* ---- worker ---------------------------------------------------------------------------------------------- */

/* Header values received during one run, freed when the run ends. */
typedef struct answer {
	struct answer *next;
	char **values; /* NULL-terminated */
} answer;

typedef struct {
	int fd;
	answer *answers;
	ex_sieve_buffer frame;
} worker_channel;

static void free_answers(worker_channel *channel)
{
	while (channel->answers != NULL) {
		answer *next = channel->answers->next;
		for (char **value = channel->answers->values; value != NULL && *value != NULL; value++)
			free(*value);
		free(channel->answers->values);
		free(channel->answers);
		channel->answers = next;
	}
}

/* get_header for the worker's copy of the message: requests the values from the daemon, which has the message. */
static const char *const *ask_daemon(void *context, const char *name)
{
	worker_channel *channel = context;
	ex_sieve_frame_type type;

	if (ex_sieve_write_frame(channel->fd, EX_SIEVE_FRAME_QUESTION, name, strlen(name), NULL) != EX_SIEVE_WIRE_OK ||
	    ex_sieve_read_frame(channel->fd, &type, &channel->frame, MAX_ANSWER, NULL) != EX_SIEVE_WIRE_OK ||
	    type != EX_SIEVE_FRAME_ANSWER)
		_exit(3); /* the daemon is gone or gave up on this run */

	ex_sieve_reader in = { .data = channel->frame.data, .length = channel->frame.length };
	uint32_t count = ex_sieve_get_u32(&in);
	if (in.broken || count == 0 || count > MAX_ANSWER / 4)
		return NULL;
	answer *entry = calloc(1, sizeof(*entry));
	char **values = calloc((size_t)count + 1, sizeof(char *));
	if (entry == NULL || values == NULL)
		_exit(4);
	for (uint32_t i = 0; i < count && !in.broken; i++)
		values[i] = ex_sieve_get_string(&in);
	entry->values = values;
	entry->next = channel->answers;
	channel->answers = entry;
	return (const char *const *)values;
}

/* Decodes one request and runs the work on it; returns the reply to send. */
static void serve(worker_channel *channel, ex_sieve_work work, const ex_sieve_buffer *request, ex_sieve_buffer *reply)
{
	static ex_sieve_result result;
	ex_sieve_errors errors = { 0 };
	int parse_errors = 0;

	ex_sieve_reader in = { .data = request->data, .length = request->length };
	int execute = ex_sieve_get_u32(&in) != 0;
	size_t length = 0;
	char *script = ex_sieve_get_counted(&in, &length);
	char *envelope_from = ex_sieve_get_string(&in);
	char *envelope_to = ex_sieve_get_string(&in);
	uint64_t size = ex_sieve_get_u64(&in);

	int rc = EX_SIEVE_RUN_FAILED;
	memset(&result, 0, sizeof(result));
	if (in.broken || script == NULL) {
		ex_sieve_add_failure(&errors, "the filter process received an unreadable request");
	} else {
		const ex_sieve_message message = {
			.envelope_from = envelope_from,
			.envelope_to = envelope_to,
			.size = (size_t)size,
			.get_header = ask_daemon,
			.context = channel,
		};
		rc = work(script, length, execute, execute ? &message : NULL, execute ? &result : NULL, &errors,
			  &parse_errors);
	}

	reply->length = 0;
	reply->failed = 0;
	ex_sieve_put_outcome(reply, rc, parse_errors, &errors, execute ? &result : NULL);
	if (reply->failed) {
		/* Report only the failure itself, which always fits. */
		ex_sieve_errors failure = { 0 };
		ex_sieve_add_failure(&failure, "the filter's results were too large to return");
		reply->length = 0;
		reply->failed = 0;
		ex_sieve_put_outcome(reply, EX_SIEVE_RUN_FAILED, 0, &failure, NULL);
	}
	ex_sieve_result_clear(&result);
	free_answers(channel);
	free(script);
	free(envelope_from);
	free(envelope_to);
}

static void worker_main(int fd, ex_sieve_work work) __attribute__((noreturn));

static void worker_main(int fd, ex_sieve_work work)
{
	/* A fault handler inherited from the daemon (a test harness, a crash
	 * reporter) must not turn a crash into a reply. */
	static const int faults[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		signal(faults[i], SIG_DFL);

	worker_channel channel = { .fd = fd };
	ex_sieve_buffer request = { 0 };
	ex_sieve_buffer reply = { .max = EX_SIEVE_WIRE_MAX_REPLY };
	for (;;) {
		ex_sieve_frame_type type;
		ex_sieve_wire_status status = ex_sieve_read_frame(fd, &type, &request, MAX_REQUEST, NULL);
		if (status == EX_SIEVE_WIRE_EOF)
			_exit(0);
		if (status != EX_SIEVE_WIRE_OK || type != EX_SIEVE_FRAME_REQUEST)
			_exit(2);
		serve(&channel, work, &request, &reply);
		if (ex_sieve_write_frame(fd, EX_SIEVE_FRAME_REPLY, reply.data, reply.length, NULL) != EX_SIEVE_WIRE_OK)
			_exit(2);
	}
}

/* ---- zygote ---------------------------------------------------------------------------------------------- */

typedef struct {
	pid_t pids[MAX_TRACKED];
	size_t count;
} tracked_workers;

static void track(tracked_workers *tracked, pid_t pid)
{
	if (tracked->count < MAX_TRACKED)
		tracked->pids[tracked->count++] = pid;
}

static void untrack(tracked_workers *tracked, pid_t pid)
{
	for (size_t i = 0; i < tracked->count; i++) {
		if (tracked->pids[i] == pid) {
			tracked->pids[i] = tracked->pids[--tracked->count];
			return;
		}
	}
}

/* Sends REPLY on CONTROL, with FD attached when it is not -1. */
static int send_reply(int control, const ex_sieve_zygote_reply *reply, int fd)
{
	struct iovec part = { .iov_base = (void *)reply, .iov_len = sizeof(*reply) };
	union {
		struct cmsghdr header;
		char space[CMSG_SPACE(sizeof(int))];
	} ancillary;
	struct msghdr message = { .msg_iov = &part, .msg_iovlen = 1 };

	memset(&ancillary, 0, sizeof(ancillary));
	if (fd >= 0) {
		message.msg_control = ancillary.space;
		message.msg_controllen = sizeof(ancillary.space);
		struct cmsghdr *control_message = CMSG_FIRSTHDR(&message);
		control_message->cmsg_level = SOL_SOCKET;
		control_message->cmsg_type = SCM_RIGHTS;
		control_message->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(control_message), &fd, sizeof(int));
	}
	ssize_t sent;
	do
		sent = sendmsg(control, &message, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	return sent == (ssize_t)sizeof(*reply) ? 0 : -1;
}

static void spawn(int control, ex_sieve_work work, tracked_workers *tracked)
{
	ex_sieve_zygote_reply reply = { 0 };
	int pair[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
		reply.error = errno;
		send_reply(control, &reply, -1);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(control);
		close(pair[0]);
		worker_main(pair[1], work);
	}
	close(pair[1]);
	if (pid < 0) {
		reply.error = errno;
		close(pair[0]);
		send_reply(control, &reply, -1);
		return;
	}
	track(tracked, pid);
	reply.value = (int)pid;
	send_reply(control, &reply, pair[0]);
	close(pair[0]);
}

static void reap(int control, pid_t pid, tracked_workers *tracked)
{
	ex_sieve_zygote_reply reply = { 0 };
	int status = 0;
	pid_t done;

	do
		done = waitpid(pid, &status, 0);
	while (done < 0 && errno == EINTR);
	if (done < 0)
		reply.error = errno;
	reply.value = status;
	untrack(tracked, pid);
	send_reply(control, &reply, -1);
}

void ex_sieve_zygote_main(int control, ex_sieve_work work)
{
	static const int ignored[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGUSR1, SIGUSR2 };
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		signal(ignored[i], SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* Keep no copy of the daemon's sockets and files: a worker's socket must
	 * reach EOF when the daemon closes its end. */
	if (control > 3)
		close_range(3, (unsigned)control - 1, 0);
	close_range((unsigned)control + 1, ~0U, 0);

	static tracked_workers tracked;
	for (;;) {
		ex_sieve_zygote_request request;
		ssize_t got;
		do
			got = recv(control, &request, sizeof(request), MSG_WAITALL);
		while (got < 0 && errno == EINTR);
		if (got != (ssize_t)sizeof(request))
			break;
		if (request.operation == EX_SIEVE_ZYGOTE_SPAWN)
			spawn(control, work, &tracked);
		else if (request.operation == EX_SIEVE_ZYGOTE_REAP)
			reap(control, (pid_t)request.pid, &tracked);
		else
			break;
	}

	/* The daemon closed the control socket: stop every worker still running. */
	for (size_t i = 0; i < tracked.count; i++)
		kill(tracked.pids[i], SIGKILL);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	_exit(0);
}
