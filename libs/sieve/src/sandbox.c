/*
 * Runs a libsieve call in a child process and copies its outcome back.
 *
 * The child is a fork of the caller, so the script, the message and the
 * caller's header callback are already there, copy-on-write. Only the
 * outcome travels back, as a length-prefixed record stream on a pipe. The
 * parent waits for the reply with a deadline and kills a child that
 * overstays it. glibc's fork() takes the malloc locks around the fork, so
 * the child may allocate even when other threads of the daemon were
 * allocating at that moment. The header callback must not take locks of
 * its own, because another thread may have held them at the fork.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sieve_internal.h"

/*
 * One child at a time per process: a child forked while another run's pipe
 * is open would inherit its write end and delay that run's EOF, and
 * AddressSanitizer builds deadlock now and then when several threads fork.
 */
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;

enum {
	MAX_REPLY = 4 * 1024 * 1024, /* bytes; a longer reply is cut and reported */
	NULL_STRING = 0xffffffffu,
};

/* A growable byte buffer; on allocation failure it stops growing and sets failed. */
typedef struct {
	unsigned char *data;
	size_t length;
	size_t capacity;
	int failed;
} buffer;

static void put_bytes(buffer *out, const void *bytes, size_t length)
{
	if (out->failed || length > MAX_REPLY - out->length) {
		out->failed = 1;
		return;
	}
	if (out->length + length > out->capacity) {
		size_t capacity = out->capacity ? out->capacity * 2 : 4096;
		while (capacity < out->length + length)
			capacity *= 2;
		unsigned char *grown = realloc(out->data, capacity);
		if (grown == NULL) {
			out->failed = 1;
			return;
		}
		out->data = grown;
		out->capacity = capacity;
	}
	memcpy(out->data + out->length, bytes, length);
	out->length += length;
}

static void put_u32(buffer *out, uint32_t value) { put_bytes(out, &value, sizeof(value)); }

static void put_string(buffer *out, const char *text)
{
	if (text == NULL) {
		put_u32(out, NULL_STRING);
		return;
	}
	size_t length = strlen(text);
	put_u32(out, (uint32_t)length);
	put_bytes(out, text, length);
}

/* Reply layout: rc, parse_errors, error count, kept errors, action count, dropped, actions. */
static void serialize(buffer *out, int rc, int parse_errors, const ex_sieve_errors *errors,
		      const ex_sieve_result *result)
{
	put_u32(out, (uint32_t)rc);
	put_u32(out, (uint32_t)parse_errors);
	put_u32(out, (uint32_t)errors->count);
	size_t kept = errors->count < EX_SIEVE_MAX_ERRORS ? errors->count : EX_SIEVE_MAX_ERRORS;
	for (size_t i = 0; i < kept; i++) {
		put_u32(out, (uint32_t)errors->items[i].line);
		put_string(out, errors->items[i].message);
	}

	size_t count = result ? result->count : 0;
	put_u32(out, (uint32_t)count);
	put_u32(out, (uint32_t)(result ? result->dropped : 0));
	for (size_t i = 0; i < count; i++) {
		const ex_sieve_action *action = &result->actions[i];
		put_u32(out, (uint32_t)action->type);
		put_u32(out, (uint32_t)action->implicit);
		put_u32(out, (uint32_t)action->days);
		put_u32(out, (uint32_t)action->mime);
		put_string(out, action->mailbox);
		put_string(out, action->address);
		put_string(out, action->message);
		put_string(out, action->subject);
		put_string(out, action->from);
		uint32_t flags = 0;
		while (action->flags != NULL && action->flags[flags] != NULL)
			flags++;
		put_u32(out, flags);
		for (uint32_t f = 0; f < flags; f++)
			put_string(out, action->flags[f]);
	}
}

/* Reading side: every read is bounds-checked; any shortfall marks the reply broken. */
typedef struct {
	const unsigned char *data;
	size_t length;
	size_t offset;
	int broken;
} reader;

static uint32_t get_u32(reader *in)
{
	uint32_t value = 0;
	if (in->broken || in->length - in->offset < sizeof(value)) {
		in->broken = 1;
		return 0;
	}
	memcpy(&value, in->data + in->offset, sizeof(value));
	in->offset += sizeof(value);
	return value;
}

static char *get_string(reader *in)
{
	uint32_t length = get_u32(in);
	if (in->broken || length == NULL_STRING)
		return NULL;
	if (in->length - in->offset < length) {
		in->broken = 1;
		return NULL;
	}
	char *text = malloc((size_t)length + 1);
	if (text == NULL) {
		in->broken = 1;
		return NULL;
	}
	memcpy(text, in->data + in->offset, length);
	text[length] = '\0';
	in->offset += length;
	return text;
}

static void read_action(reader *in, ex_sieve_action *action)
{
	memset(action, 0, sizeof(*action));
	uint32_t type = get_u32(in);
	if (type > EX_SIEVE_ACTION_NOTIFY)
		in->broken = 1;
	action->type = (ex_sieve_action_type)type;
	action->implicit = get_u32(in) != 0;
	action->days = (int)get_u32(in);
	action->mime = get_u32(in) != 0;
	action->mailbox = get_string(in);
	action->address = get_string(in);
	action->message = get_string(in);
	action->subject = get_string(in);
	action->from = get_string(in);

	uint32_t flags = get_u32(in);
	if (in->broken || flags == 0)
		return;
	if (flags > 1024) {
		in->broken = 1;
		return;
	}
	action->flags = calloc((size_t)flags + 1, sizeof(char *));
	if (action->flags == NULL) {
		in->broken = 1;
		return;
	}
	for (uint32_t f = 0; f < flags && !in->broken; f++)
		action->flags[f] = get_string(in);
}

static int deserialize(reader *in, ex_sieve_result *result, ex_sieve_errors *errors, int *parse_errors)
{
	int rc = (int)get_u32(in);
	*parse_errors = (int)get_u32(in);
	errors->count = get_u32(in);
	size_t kept = errors->count < EX_SIEVE_MAX_ERRORS ? errors->count : EX_SIEVE_MAX_ERRORS;
	for (size_t i = 0; i < kept && !in->broken; i++) {
		errors->items[i].line = (int)get_u32(in);
		char *message = get_string(in);
		snprintf(errors->items[i].message, sizeof(errors->items[i].message), "%s", message ? message : "");
		free(message);
	}

	uint32_t count = get_u32(in);
	uint32_t dropped = get_u32(in);
	if (count > EX_SIEVE_MAX_ACTIONS || (result == NULL && count > 0))
		in->broken = 1;
	for (uint32_t i = 0; i < count && !in->broken; i++) {
		read_action(in, &result->actions[i]);
		result->count = i + 1;
	}
	if (result != NULL)
		result->dropped = dropped;
	return rc;
}

static void add_failure(ex_sieve_errors *errors, const char *message)
{
	if (errors->count < EX_SIEVE_MAX_ERRORS) {
		errors->items[errors->count].line = 0;
		snprintf(errors->items[errors->count].message, sizeof(errors->items[errors->count].message),
			 "%s", message);
	}
	errors->count++;
}

static long long milliseconds_left(const struct timespec *deadline)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)(deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* Reads the child's whole reply until EOF or the deadline; returns 0 on EOF. */
static int read_reply(int fd, buffer *reply, const struct timespec *deadline)
{
	unsigned char chunk[16384];

	for (;;) {
		long long left = milliseconds_left(deadline);
		if (left <= 0)
			return -1;
		struct pollfd waiting = { .fd = fd, .events = POLLIN };
		int ready = poll(&waiting, 1, (int)(left > 1000 ? 1000 : left));
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0)
			return -1;
		if (ready == 0)
			continue;
		ssize_t got = read(fd, chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got == 0 ? 0 : -1;
		put_bytes(reply, chunk, (size_t)got);
		if (reply->failed)
			return -1;
	}
}

static void child_main(int fd, int (*work)(void *), void *argument, ex_sieve_result *result,
		       ex_sieve_errors *errors, int *parse_errors)
{
	/* A fault handler inherited from the caller (a test harness, a crash
	 * reporter) must not turn a crash into a reply. */
	static const int faults[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		signal(faults[i], SIG_DFL);

	buffer out = { 0 };
	int rc = work(argument);
	serialize(&out, rc, *parse_errors, errors, result);
	if (out.failed) {
		/* Report only the failure itself, which always fits. */
		ex_sieve_errors failure = { 0 };
		add_failure(&failure, "the filter's results were too large to return");
		out.length = 0;
		out.failed = 0;
		serialize(&out, EX_SIEVE_RUN_FAILED, 0, &failure, NULL);
	}
	size_t written = 0;
	while (written < out.length) {
		ssize_t n = write(fd, out.data + written, out.length - written);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		written += (size_t)n;
	}
	_exit(0);
}

static int run_child(int (*work)(void *argument), void *argument, ex_sieve_result *result,
		     ex_sieve_errors *errors, int *parse_errors, int timeout_ms)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		add_failure(errors, "cannot create a pipe for the filter process");
		return EX_SIEVE_RUN_FAILED;
	}

	pid_t child = fork();
	if (child < 0) {
		close(fds[0]);
		close(fds[1]);
		add_failure(errors, "cannot start the filter process");
		return EX_SIEVE_RUN_FAILED;
	}
	if (child == 0) {
		close(fds[0]);
		child_main(fds[1], work, argument, result, errors, parse_errors);
	}
	close(fds[1]);

	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}

	buffer reply = { 0 };
	int read_status = read_reply(fds[0], &reply, &deadline);
	close(fds[0]);
	if (read_status != 0)
		kill(child, SIGKILL);

	int wait_status = 0;
	while (waitpid(child, &wait_status, 0) < 0 && errno == EINTR)
		;

	int rc;
	char failure[EX_SIEVE_MAX_ERROR_TEXT];
	if (WIFSIGNALED(wait_status) && read_status == 0) {
		snprintf(failure, sizeof(failure), "the filter process crashed with signal %d",
			 WTERMSIG(wait_status));
		add_failure(errors, failure);
		rc = EX_SIEVE_RUN_FAILED;
	} else if (read_status != 0) {
		snprintf(failure, sizeof(failure), "the filter did not finish within %d ms and was stopped",
			 timeout_ms);
		add_failure(errors, failure);
		rc = EX_SIEVE_RUN_FAILED;
	} else {
		reader in = { .data = reply.data, .length = reply.length };
		rc = deserialize(&in, result, errors, parse_errors);
		if (in.broken || in.offset != in.length) {
			add_failure(errors, "the filter process sent an unreadable reply");
			rc = EX_SIEVE_RUN_FAILED;
		}
	}
	free(reply.data);
	return rc;
}

int ex_sieve_run_isolated(int (*work)(void *argument), void *argument, ex_sieve_result *result,
			  ex_sieve_errors *errors, int *parse_errors, int timeout_ms)
{
	pthread_mutex_lock(&run_lock);
	int rc = run_child(work, argument, result, errors, parse_errors, timeout_ms);
	pthread_mutex_unlock(&run_lock);
	return rc;
}
