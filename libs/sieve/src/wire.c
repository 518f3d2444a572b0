/*
 * Encoding and framing between the daemon and its Sieve workers. Both ends
 * are the same binary on the same machine, so integers go in host byte
 * order. Every read is bounds-checked, because a worker that crashed or
 * misbehaved may leave anything on the socket.
 */
#include "wire.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum { MAX_FLAGS = 1024 }; /* imap4flags of one action */

void ex_sieve_put_bytes(ex_sieve_buffer *out, const void *bytes, size_t length)
{
	size_t max = out->max ? out->max : SIZE_MAX / 2;
	if (out->failed || length > max - out->length) {
		out->failed = 1;
		return;
	}
	if (out->length + length > out->capacity) {
		size_t capacity = out->capacity ? out->capacity : 4096;
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
	if (length > 0)
		memcpy(out->data + out->length, bytes, length);
	out->length += length;
}

void ex_sieve_put_u32(ex_sieve_buffer *out, uint32_t value) { ex_sieve_put_bytes(out, &value, sizeof(value)); }

void ex_sieve_put_u64(ex_sieve_buffer *out, uint64_t value) { ex_sieve_put_bytes(out, &value, sizeof(value)); }

void ex_sieve_put_counted(ex_sieve_buffer *out, const char *bytes, size_t length)
{
	if (length >= EX_SIEVE_WIRE_NULL_STRING) {
		out->failed = 1;
		return;
	}
	ex_sieve_put_u32(out, (uint32_t)length);
	ex_sieve_put_bytes(out, bytes, length);
}

void ex_sieve_put_string(ex_sieve_buffer *out, const char *text)
{
	if (text == NULL)
		ex_sieve_put_u32(out, EX_SIEVE_WIRE_NULL_STRING);
	else
		ex_sieve_put_counted(out, text, strlen(text));
}

uint32_t ex_sieve_get_u32(ex_sieve_reader *in)
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

uint64_t ex_sieve_get_u64(ex_sieve_reader *in)
{
	uint64_t value = 0;
	if (in->broken || in->length - in->offset < sizeof(value)) {
		in->broken = 1;
		return 0;
	}
	memcpy(&value, in->data + in->offset, sizeof(value));
	in->offset += sizeof(value);
	return value;
}

char *ex_sieve_get_counted(ex_sieve_reader *in, size_t *length)
{
	uint32_t count = ex_sieve_get_u32(in);
	if (length != NULL)
		*length = 0;
	if (in->broken || count == EX_SIEVE_WIRE_NULL_STRING)
		return NULL;
	if (in->length - in->offset < count) {
		in->broken = 1;
		return NULL;
	}
	char *text = malloc((size_t)count + 1);
	if (text == NULL) {
		in->broken = 1;
		return NULL;
	}
	memcpy(text, in->data + in->offset, count);
	text[count] = '\0';
	in->offset += count;
	if (length != NULL)
		*length = count;
	return text;
}

char *ex_sieve_get_string(ex_sieve_reader *in) { return ex_sieve_get_counted(in, NULL); }

/* Layout: rc, parse_errors, error count, kept errors, action count, dropped, actions. */
void ex_sieve_put_outcome(ex_sieve_buffer *out, int rc, int parse_errors, const ex_sieve_errors *errors,
			  const ex_sieve_result *result)
{
	ex_sieve_put_u32(out, (uint32_t)rc);
	ex_sieve_put_u32(out, (uint32_t)parse_errors);
	ex_sieve_put_u32(out, (uint32_t)errors->count);
	size_t kept = errors->count < EX_SIEVE_MAX_ERRORS ? errors->count : EX_SIEVE_MAX_ERRORS;
	for (size_t i = 0; i < kept; i++) {
		ex_sieve_put_u32(out, (uint32_t)errors->items[i].line);
		ex_sieve_put_string(out, errors->items[i].message);
	}

	size_t count = result ? result->count : 0;
	ex_sieve_put_u32(out, (uint32_t)count);
	ex_sieve_put_u32(out, (uint32_t)(result ? result->dropped : 0));
	for (size_t i = 0; i < count; i++) {
		const ex_sieve_action *action = &result->actions[i];
		ex_sieve_put_u32(out, (uint32_t)action->type);
		ex_sieve_put_u32(out, (uint32_t)action->implicit);
		ex_sieve_put_u32(out, (uint32_t)action->days);
		ex_sieve_put_u32(out, (uint32_t)action->mime);
		ex_sieve_put_string(out, action->mailbox);
		ex_sieve_put_string(out, action->address);
		ex_sieve_put_string(out, action->message);
		ex_sieve_put_string(out, action->subject);
		ex_sieve_put_string(out, action->from);
		uint32_t flags = 0;
		while (action->flags != NULL && action->flags[flags] != NULL)
			flags++;
		ex_sieve_put_u32(out, flags);
		for (uint32_t f = 0; f < flags; f++)
			ex_sieve_put_string(out, action->flags[f]);
	}
}

static void get_action(ex_sieve_reader *in, ex_sieve_action *action)
{
	memset(action, 0, sizeof(*action));
	uint32_t type = ex_sieve_get_u32(in);
	if (type > EX_SIEVE_ACTION_NOTIFY)
		in->broken = 1;
	action->type = (ex_sieve_action_type)type;
	action->implicit = ex_sieve_get_u32(in) != 0;
	action->days = (int)ex_sieve_get_u32(in);
	action->mime = ex_sieve_get_u32(in) != 0;
	action->mailbox = ex_sieve_get_string(in);
	action->address = ex_sieve_get_string(in);
	action->message = ex_sieve_get_string(in);
	action->subject = ex_sieve_get_string(in);
	action->from = ex_sieve_get_string(in);

	uint32_t flags = ex_sieve_get_u32(in);
	if (in->broken || flags == 0)
		return;
	if (flags > MAX_FLAGS) {
		in->broken = 1;
		return;
	}
	action->flags = calloc((size_t)flags + 1, sizeof(char *));
	if (action->flags == NULL) {
		in->broken = 1;
		return;
	}
	for (uint32_t f = 0; f < flags && !in->broken; f++)
		action->flags[f] = ex_sieve_get_string(in);
}

int ex_sieve_get_outcome(ex_sieve_reader *in, ex_sieve_result *result, ex_sieve_errors *errors, int *parse_errors)
{
	int rc = (int)ex_sieve_get_u32(in);
	*parse_errors = (int)ex_sieve_get_u32(in);
	errors->count = ex_sieve_get_u32(in);
	size_t kept = errors->count < EX_SIEVE_MAX_ERRORS ? errors->count : EX_SIEVE_MAX_ERRORS;
	for (size_t i = 0; i < kept && !in->broken; i++) {
		errors->items[i].line = (int)ex_sieve_get_u32(in);
		char *message = ex_sieve_get_string(in);
		snprintf(errors->items[i].message, sizeof(errors->items[i].message), "%s", message ? message : "");
		free(message);
	}

	uint32_t count = ex_sieve_get_u32(in);
	uint32_t dropped = ex_sieve_get_u32(in);
	if (count > EX_SIEVE_MAX_ACTIONS || (result == NULL && count > 0))
		in->broken = 1;
	for (uint32_t i = 0; i < count && !in->broken; i++) {
		get_action(in, &result->actions[i]);
		result->count = i + 1;
	}
	if (result != NULL)
		result->dropped = dropped;
	return rc;
}

void ex_sieve_add_failure(ex_sieve_errors *errors, const char *message)
{
	if (errors->count < EX_SIEVE_MAX_ERRORS) {
		errors->items[errors->count].line = 0;
		snprintf(errors->items[errors->count].message, sizeof(errors->items[errors->count].message), "%s",
			 message);
	}
	errors->count++;
}

void ex_sieve_deadline(struct timespec *deadline, unsigned timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, deadline);
	deadline->tv_sec += timeout_ms / 1000;
	deadline->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline->tv_nsec >= 1000000000L) {
		deadline->tv_sec++;
		deadline->tv_nsec -= 1000000000L;
	}
}

/* Waits until FD is ready for EVENTS; returns OK, TIMEOUT or ERROR. */
static ex_sieve_wire_status wait_ready(int fd, short events, const struct timespec *deadline)
{
	for (;;) {
		int wait_ms = -1;
		if (deadline != NULL) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			long long left = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
					 (deadline->tv_nsec - now.tv_nsec) / 1000000;
			if (left <= 0)
				return EX_SIEVE_WIRE_TIMEOUT;
			wait_ms = left > 1000 ? 1000 : (int)left;
		}
		struct pollfd waiting = { .fd = fd, .events = events };
		int ready = poll(&waiting, 1, wait_ms);
		if (ready < 0 && errno != EINTR)
			return EX_SIEVE_WIRE_ERROR;
		if (ready > 0)
			return EX_SIEVE_WIRE_OK;
	}
}

static ex_sieve_wire_status send_all(int fd, const unsigned char *bytes, size_t length, const struct timespec *deadline)
{
	size_t sent = 0;
	while (sent < length) {
		ex_sieve_wire_status status = wait_ready(fd, POLLOUT, deadline);
		if (status != EX_SIEVE_WIRE_OK)
			return status;
		ssize_t n = send(fd, bytes + sent, length - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n <= 0)
			return EX_SIEVE_WIRE_ERROR;
		sent += (size_t)n;
	}
	return EX_SIEVE_WIRE_OK;
}

/* Reads exactly LENGTH bytes; EOF before the first byte is EOF when AT_START, else ERROR. */
static ex_sieve_wire_status receive_all(int fd, unsigned char *bytes, size_t length, const struct timespec *deadline,
					int at_start)
{
	size_t got = 0;
	while (got < length) {
		ex_sieve_wire_status status = wait_ready(fd, POLLIN, deadline);
		if (status != EX_SIEVE_WIRE_OK)
			return status;
		ssize_t n = recv(fd, bytes + got, length - got, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n == 0 && got == 0 && at_start)
			return EX_SIEVE_WIRE_EOF;
		if (n <= 0)
			return EX_SIEVE_WIRE_ERROR;
		got += (size_t)n;
	}
	return EX_SIEVE_WIRE_OK;
}

ex_sieve_wire_status ex_sieve_write_frame(int fd, ex_sieve_frame_type type, const void *payload, size_t length,
					  const struct timespec *deadline)
{
	if (length > UINT32_MAX)
		return EX_SIEVE_WIRE_ERROR;
	uint32_t header[2] = { (uint32_t)type, (uint32_t)length };
	ex_sieve_wire_status status = send_all(fd, (const unsigned char *)header, sizeof(header), deadline);
	if (status == EX_SIEVE_WIRE_OK && length > 0)
		status = send_all(fd, payload, length, deadline);
	return status;
}

ex_sieve_wire_status ex_sieve_read_frame(int fd, ex_sieve_frame_type *type, ex_sieve_buffer *payload, size_t max,
					 const struct timespec *deadline)
{
	uint32_t header[2];
	payload->length = 0;
	payload->failed = 0;
	ex_sieve_wire_status status = receive_all(fd, (unsigned char *)header, sizeof(header), deadline, 1);
	if (status != EX_SIEVE_WIRE_OK)
		return status;
	if (header[1] > max)
		return EX_SIEVE_WIRE_ERROR;
	*type = (ex_sieve_frame_type)header[0];

	/* Grow the buffer to the frame's length, then read into it. */
	size_t length = header[1];
	if (length > payload->capacity) {
		unsigned char *grown = realloc(payload->data, length);
		if (grown == NULL)
			return EX_SIEVE_WIRE_ERROR;
		payload->data = grown;
		payload->capacity = length;
	}
	status = receive_all(fd, payload->data, length, deadline, 0);
	if (status == EX_SIEVE_WIRE_OK)
		payload->length = length;
	return status;
}
