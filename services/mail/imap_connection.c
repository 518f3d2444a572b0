/*
 * The I/O of one IMAP connection on a non-blocking socket: TLS through
 * OpenSSL's non-blocking API (SSL_read and SSL_write report
 * WANT_READ/WANT_WRITE, including for a record that arrived in part),
 * COMPRESS=DEFLATE through imap_compress.c, and the session fed with the
 * plain client octets. A run keeps going while there is something to do:
 * output to send, a handshake, input to feed, or input on the socket. It
 * stops when the socket would block, and after MAX_ROUNDS rounds so that
 * a client that keeps sending cannot hold a worker for ever.
 */
#include "imap_connection.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "expresso/log.h"

enum {
	INPUT_BUFFER = 16 * 1024,
	MAX_ROUNDS = 64,
	/* Inflate attempts in one read; data that decodes to nothing cannot keep a worker longer. */
	MAX_INFLATE_STEPS = 64,
};

typedef enum { IO_DONE = 0, IO_WANT_READ, IO_WANT_WRITE, IO_EOF, IO_ERROR } io_status;

static uint64_t monotonic_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
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

imap_connection *imap_connection_new(int fd, bool implicit_tls, const char *address,
				     const ex_imap_server_options *options)
{
	imap_connection *connection = calloc(1, sizeof(*connection));
	if (connection == NULL)
		return NULL;
	connection->kind = IMAP_SOURCE_CONNECTION;
	connection->fd = fd;
	connection->implicit_tls = implicit_tls;
	connection->options = options;
	connection->input_at_ms = monotonic_ms();
	snprintf(connection->address, sizeof(connection->address), "%s", address);
	random_session_id(connection->session_id, sizeof(connection->session_id));
	return connection;
}

void imap_connection_close(imap_connection *connection)
{
	if (connection->session != NULL)
		ex_log(EX_LOG_INFO, "imap_disconnected", "{s:s}", "session", connection->session_id);
	ex_imap_session_free(connection->session);
	connection->session = NULL;
	if (connection->ssl != NULL) {
		/* Best effort on a non-blocking socket: the close_notify alert is sent if the socket takes it. */
		SSL_shutdown(connection->ssl);
		SSL_free(connection->ssl);
		connection->ssl = NULL;
		ERR_clear_error();
	}
	ex_imap_compress_free(connection->compress);
	connection->compress = NULL;
	free(connection->input);
	connection->input = NULL;
	free(connection->raw);
	connection->raw = NULL;
	if (connection->fd >= 0)
		close(connection->fd);
	connection->fd = -1;
}

static int start_session(imap_connection *connection)
{
	ex_imap_session_options options = connection->options->session;
	options.session_id = connection->session_id;
	options.client_address = connection->address;
	options.implicit_tls = connection->implicit_tls;
	options.tls_available = connection->options->tls != NULL;
	options.allow_plaintext_login = options.allow_plaintext_login && is_loopback(connection->address);
	connection->session = ex_imap_session_new(&options);
	if (connection->session == NULL)
		return -1;
	ex_log(EX_LOG_INFO, "imap_connected", "{s:s, s:s, s:b}", "session", connection->session_id, "address",
	       connection->address, "implicit_tls", connection->implicit_tls);
	if (connection->implicit_tls) {
		connection->handshake_pending = true;
		connection->greet_after_handshake = true;
	} else {
		ex_imap_session_greet(connection->session);
	}
	return 0;
}

/* ---- transport: plain socket or TLS ------------------------------------------------------- */

static io_status tls_status(const imap_connection *connection, int result)
{
	int error = SSL_get_error(connection->ssl, result);
	if (error == SSL_ERROR_WANT_READ)
		return IO_WANT_READ;
	if (error == SSL_ERROR_WANT_WRITE)
		return IO_WANT_WRITE;
	if (error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && errno == 0))
		return IO_EOF;
	return IO_ERROR;
}

static io_status transport_write(imap_connection *connection, const char *data, size_t length, size_t *written)
{
	if (connection->ssl != NULL) {
		ERR_clear_error();
		int result = SSL_write(connection->ssl, data, length > INT_MAX ? INT_MAX : (int)length);
		if (result > 0) {
			*written = (size_t)result;
			return IO_DONE;
		}
		return tls_status(connection, result);
	}
	for (;;) {
		ssize_t sent = send(connection->fd, data, length, MSG_NOSIGNAL);
		if (sent >= 0) {
			*written = (size_t)sent;
			return IO_DONE;
		}
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? IO_WANT_WRITE : IO_ERROR;
	}
}

static io_status transport_read(imap_connection *connection, char *buffer, size_t size, size_t *got)
{
	if (connection->ssl != NULL) {
		ERR_clear_error();
		int result = SSL_read(connection->ssl, buffer, size > INT_MAX ? INT_MAX : (int)size);
		if (result > 0) {
			*got = (size_t)result;
			return IO_DONE;
		}
		return tls_status(connection, result);
	}
	for (;;) {
		ssize_t received = recv(connection->fd, buffer, size, 0);
		if (received > 0) {
			*got = (size_t)received;
			return IO_DONE;
		}
		if (received == 0)
			return IO_EOF;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? IO_WANT_READ : IO_ERROR;
	}
}

/* ---- output -------------------------------------------------------------------------------- */

static const char *pending_output(const imap_connection *connection, size_t *length)
{
	if (connection->compress != NULL)
		return ex_imap_compress_output(connection->compress, length);
	return ex_imap_session_output(connection->session, length);
}

/* With DEFLATE on, moves the session's responses into the compressed output, ending with a sync flush. */
static int stage_output(imap_connection *connection)
{
	size_t length = 0;
	const char *data = ex_imap_session_output(connection->session, &length);
	if (connection->compress == NULL || length == 0)
		return 0;
	if (ex_imap_compress_deflate(connection->compress, data, length) != 0) {
		ex_log(EX_LOG_ERROR, "imap_compress_failed", "{s:s, s:s}", "session", connection->session_id, "error",
		       "deflate failed or out of memory");
		return -1;
	}
	ex_imap_session_clear_output(connection->session);
	return 0;
}

static io_status send_output(imap_connection *connection)
{
	if (stage_output(connection) != 0)
		return IO_ERROR;
	size_t length = 0;
	const char *data = pending_output(connection, &length);
	while (connection->output_sent < length) {
		size_t written = 0;
		io_status status = transport_write(connection, data + connection->output_sent,
						   length - connection->output_sent, &written);
		if (status != IO_DONE)
			return status;
		connection->output_sent += written;
	}
	if (connection->compress != NULL)
		ex_imap_compress_clear_output(connection->compress);
	else
		ex_imap_session_clear_output(connection->session);
	connection->output_sent = 0;
	return IO_DONE;
}

static bool output_pending(const imap_connection *connection)
{
	size_t length = 0;
	pending_output(connection, &length);
	return length > connection->output_sent;
}

/* ---- TLS handshake and DEFLATE start ------------------------------------------------------- */

static io_status handshake(imap_connection *connection)
{
	if (connection->ssl == NULL) {
		connection->ssl = SSL_new(connection->options->tls);
		if (connection->ssl == NULL || SSL_set_fd(connection->ssl, connection->fd) != 1)
			return IO_ERROR;
		/* RELEASE_BUFFERS frees the record buffers of a connection that waits, which is most of them. */
		SSL_set_mode(connection->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
						      SSL_MODE_RELEASE_BUFFERS);
	}
	ERR_clear_error();
	int result = SSL_accept(connection->ssl);
	if (result == 1) {
		connection->handshake_pending = false;
		if (connection->greet_after_handshake)
			ex_imap_session_greet(connection->session);
		else
			ex_imap_session_tls_started(connection->session);
		return IO_DONE;
	}
	io_status status = tls_status(connection, result);
	if (status == IO_WANT_READ || status == IO_WANT_WRITE)
		return status;
	char reason[256] = "connection closed during the handshake";
	unsigned long error = ERR_get_error();
	if (error != 0)
		ERR_error_string_n(error, reason, sizeof(reason));
	ex_log(EX_LOG_WARN, "imap_tls_failed", "{s:s, s:s, s:s}", "session", connection->session_id, "address",
	       connection->address, "error", reason);
	ERR_clear_error();
	return IO_ERROR;
}

/* Starts DEFLATE after the tagged OK went out; octets the client sent after COMPRESS are compressed ones. */
static int start_compress(imap_connection *connection)
{
	connection->compress_pending = false;
	connection->compress = ex_imap_compress_new();
	connection->raw = malloc(INPUT_BUFFER);
	if (connection->compress == NULL || connection->raw == NULL) {
		ex_log(EX_LOG_ERROR, "imap_compress_failed", "{s:s, s:s}", "session", connection->session_id, "error",
		       "out of memory");
		return -1;
	}
	size_t left = connection->input_end - connection->input_start;
	if (left > 0)
		memcpy(connection->raw, connection->input + connection->input_start, left);
	connection->raw_start = 0;
	connection->raw_end = left;
	connection->input_start = connection->input_end = 0;
	ex_log(EX_LOG_INFO, "imap_compress_started", "{s:s}", "session", connection->session_id);
	return 0;
}

/* ---- input ---------------------------------------------------------------------------------- */

static io_status read_compressed(imap_connection *connection)
{
	for (unsigned step = 0; step < MAX_INFLATE_STEPS; step++) {
		if (connection->raw_start < connection->raw_end || connection->inflate_full) {
			size_t used = 0;
			size_t produced = 0;
			ex_imap_inflate_status status = ex_imap_compress_inflate(
				connection->compress, connection->raw + connection->raw_start,
				connection->raw_end - connection->raw_start, &used, connection->input, INPUT_BUFFER, &produced);
			connection->raw_start += used;
			connection->inflate_full = produced == INPUT_BUFFER;
			if (status == EX_IMAP_INFLATE_ERROR) {
				ex_log(EX_LOG_WARN, "imap_inflate_failed", "{s:s, s:s}", "session", connection->session_id,
				       "error", "invalid DEFLATE data from the client, or the client ended its stream");
				return IO_ERROR;
			}
			if (produced > 0) {
				connection->input_end = produced;
				return IO_DONE;
			}
		}
		size_t left = connection->raw_end - connection->raw_start;
		memmove(connection->raw, connection->raw + connection->raw_start, left);
		connection->raw_start = 0;
		connection->raw_end = left;
		size_t got = 0;
		io_status status = transport_read(connection, connection->raw + connection->raw_end,
						  INPUT_BUFFER - connection->raw_end, &got);
		if (status != IO_DONE)
			return status;
		connection->raw_end += got;
	}
	/* Nothing decoded yet: the caller's next round reads on. */
	return IO_DONE;
}

static io_status read_input(imap_connection *connection)
{
	if (connection->input == NULL) {
		connection->input = malloc(INPUT_BUFFER);
		if (connection->input == NULL)
			return IO_ERROR;
	}
	connection->input_start = connection->input_end = 0;
	if (connection->compress != NULL)
		return read_compressed(connection);
	size_t got = 0;
	io_status status = transport_read(connection, connection->input, INPUT_BUFFER, &got);
	if (status == IO_DONE)
		connection->input_end = got;
	return status;
}

static void feed(imap_connection *connection)
{
	size_t consumed = 0;
	ex_imap_next next = ex_imap_session_feed(connection->session, connection->input + connection->input_start,
						 connection->input_end - connection->input_start, &consumed);
	connection->input_start += consumed;
	switch (next) {
	case EX_IMAP_NEXT_CLOSE:
		connection->closing = true;
		connection->input_start = connection->input_end;
		break;
	case EX_IMAP_NEXT_START_TLS:
		/* Input sent before the handshake must not be taken as protected (RFC 3501 6.2.1). */
		connection->input_start = connection->input_end;
		connection->handshake_pending = true;
		break;
	case EX_IMAP_NEXT_START_COMPRESS:
		connection->compress_pending = true;
		break;
	case EX_IMAP_NEXT_READ:
		break;
	}
}

/* ---- the run -------------------------------------------------------------------------------- */

static imap_run_result wait_for(io_status status)
{
	if (status == IO_WANT_READ)
		return IMAP_RUN_WAIT_READ;
	if (status == IO_WANT_WRITE)
		return IMAP_RUN_WAIT_WRITE;
	return IMAP_RUN_CLOSE;
}

static imap_run_result take_wake(imap_connection *connection, unsigned wake)
{
	ex_imap_session *session = connection->session;
	if ((wake & (IMAP_WAKE_TIMEOUT | IMAP_WAKE_STOP)) != 0) {
		/* A peer that does not take its output or finish the handshake gets no BYE either. */
		if (connection->handshake_pending || output_pending(connection))
			return IMAP_RUN_CLOSE;
		ex_imap_session_bye(session, (wake & IMAP_WAKE_STOP) != 0 ? "Server shutting down; reconnect later"
									  : "Autologout: idle for too long");
		connection->closing = true;
		return IMAP_RUN_YIELD;
	}
	if (!ex_imap_session_idling(session))
		return IMAP_RUN_YIELD;
	if ((wake & IMAP_WAKE_KEEPALIVE) != 0)
		ex_imap_session_keepalive(session);
	if ((wake & IMAP_WAKE_CHANGED) != 0)
		ex_imap_session_poll_changes(session);
	return IMAP_RUN_YIELD;
}

static imap_run_result run_rounds(imap_connection *connection, unsigned wake)
{
	if (connection->session == NULL && start_session(connection) != 0)
		return IMAP_RUN_CLOSE;
	if (take_wake(connection, wake) == IMAP_RUN_CLOSE)
		return IMAP_RUN_CLOSE;

	for (unsigned round = 0; round < MAX_ROUNDS; round++) {
		io_status status = send_output(connection);
		if (status != IO_DONE)
			return wait_for(status);
		if (connection->closing)
			return IMAP_RUN_CLOSE;

		if (connection->handshake_pending) {
			status = handshake(connection);
			if (status != IO_DONE)
				return wait_for(status);
			continue;
		}
		if (connection->compress_pending) {
			if (start_compress(connection) != 0)
				return IMAP_RUN_CLOSE;
			continue;
		}
		if (connection->input != NULL && connection->input_start < connection->input_end) {
			feed(connection);
			continue;
		}
		status = read_input(connection);
		if (status != IO_DONE)
			return wait_for(status);
		connection->input_at_ms = monotonic_ms();
	}
	return IMAP_RUN_YIELD;
}

imap_run_result imap_connection_run(imap_connection *connection, unsigned wake)
{
	ex_log_context_set(connection->session_id, NULL);
	imap_run_result result = run_rounds(connection, wake);
	if (result == IMAP_RUN_WAIT_READ && connection->input != NULL &&
	    connection->input_start == connection->input_end) {
		free(connection->input);
		connection->input = NULL;
	}
	ex_log_context_set(NULL, NULL);
	return result;
}
