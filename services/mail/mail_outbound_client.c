/*
 * The outbound SMTP client on blocking sockets with receive and send
 * timeouts. Commands are sent one at a time (no PIPELINING): a queue
 * worker sends to one host at a time and the round trips are on
 * loopback or the Internet, where they are not the bottleneck.
 */
#include "mail_outbound_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "expresso/log.h"

enum { INPUT_SIZE = 4096, OUTPUT_SIZE = 16384, COMMAND_MAX = 2048 };

typedef struct {
	int fd;
	SSL *ssl;
	char input[INPUT_SIZE];
	size_t input_start;
	size_t input_end;
	char output[OUTPUT_SIZE];
	size_t output_length;
	bool broken;
	const char *host;
} connection;

void ex_outbound_fail_all(ex_outbound_result *results, size_t count, int code, const char *enhanced,
			  const char *text)
{
	for (size_t i = 0; i < count; i++) {
		results[i].code = code;
		snprintf(results[i].enhanced, sizeof(results[i].enhanced), "%s", enhanced);
		snprintf(results[i].text, sizeof(results[i].text), "%s", text);
	}
}

static void set_result(ex_outbound_result *result, const ex_smtp_reply *reply)
{
	result->code = reply->code;
	snprintf(result->enhanced, sizeof(result->enhanced), "%s", reply->enhanced);
	snprintf(result->text, sizeof(result->text), "%s", reply->text);
}

/* Sets the results still undecided from REPLY. */
static void set_undecided(ex_outbound_result *results, size_t count, const ex_smtp_reply *reply)
{
	for (size_t i = 0; i < count; i++)
		if (results[i].code == 0)
			set_result(&results[i], reply);
}

static int connect_with_timeout(int family, const struct sockaddr *address, socklen_t length, unsigned timeout_ms)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
		close(fd);
		return -1;
	}
	if (connect(fd, address, length) != 0) {
		if (errno != EINPROGRESS) {
			close(fd);
			return -1;
		}
		struct pollfd descriptor = { .fd = fd, .events = POLLOUT };
		int error = 0;
		socklen_t error_length = sizeof(error);
		if (poll(&descriptor, 1, (int)timeout_ms) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_length) != 0 || error != 0) {
			close(fd);
			return -1;
		}
	}
	struct timeval timeout = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	if (fcntl(fd, F_SETFL, flags) != 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Connects to the first address of HOST that accepts the connection. A
 * host name goes to the configured resolver when there is one, like the
 * MX lookup, else to getaddrinfo (/etc/hosts and /etc/resolv.conf). Sets
 * *RESOLVED to false when the name has no address. Returns the socket or -1.
 */
static int open_socket(const ex_outbound_host *host, const char *resolver, unsigned timeout_ms, bool *resolved)
{
	char port[8];
	snprintf(port, sizeof(port), "%u", (unsigned)host->port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST };
	struct addrinfo *addresses = NULL;
	int fd = -1;

	*resolved = true;
	bool literal = getaddrinfo(host->name, port, &hints, &addresses) == 0;
	if (!literal && resolver == NULL) {
		hints.ai_flags = 0;
		if (getaddrinfo(host->name, port, &hints, &addresses) != 0) {
			*resolved = false;
			return -1;
		}
	}
	if (addresses != NULL) {
		for (const struct addrinfo *address = addresses; address != NULL && fd < 0; address = address->ai_next)
			fd = connect_with_timeout(address->ai_family, address->ai_addr, address->ai_addrlen, timeout_ms);
		freeaddrinfo(addresses);
		return fd;
	}

	ex_outbound_address found[EX_OUTBOUND_MAX_ADDRESSES];
	int count = ex_outbound_resolve_host(host->name, host->port, resolver, found, EX_OUTBOUND_MAX_ADDRESSES);
	if (count <= 0) {
		*resolved = false;
		return -1;
	}
	for (int i = 0; i < count && fd < 0; i++)
		fd = connect_with_timeout(found[i].address.ss_family, (const struct sockaddr *)&found[i].address,
					  found[i].length, timeout_ms);
	return fd;
}

static int flush_output(connection *conn)
{
	size_t sent = 0;
	while (sent < conn->output_length && !conn->broken) {
		ssize_t result;
		if (conn->ssl != NULL) {
			int written = SSL_write(conn->ssl, conn->output + sent, (int)(conn->output_length - sent));
			result = written > 0 ? written : -1;
		} else {
			result = send(conn->fd, conn->output + sent, conn->output_length - sent, MSG_NOSIGNAL);
			if (result < 0 && errno == EINTR)
				continue;
		}
		if (result <= 0)
			conn->broken = true;
		else
			sent += (size_t)result;
	}
	conn->output_length = 0;
	return conn->broken ? -1 : 0;
}

static void queue_output(connection *conn, const char *data, size_t length)
{
	while (length > 0 && !conn->broken) {
		size_t room = sizeof(conn->output) - conn->output_length;
		size_t part = length < room ? length : room;
		memcpy(conn->output + conn->output_length, data, part);
		conn->output_length += part;
		data += part;
		length -= part;
		if (conn->output_length == sizeof(conn->output))
			flush_output(conn);
	}
}

static ssize_t read_some(connection *conn)
{
	for (;;) {
		ssize_t result;
		if (conn->ssl != NULL) {
			int count = SSL_read(conn->ssl, conn->input, sizeof(conn->input));
			result = count > 0 ? count : -1;
		} else {
			result = recv(conn->fd, conn->input, sizeof(conn->input), 0);
			if (result < 0 && errno == EINTR)
				continue;
		}
		return result;
	}
}

/* Reads one whole reply. Returns 0, or -1 when the connection broke, timed out or sent a malformed reply. */
static int read_reply(connection *conn, ex_smtp_reply *reply)
{
	char line[EX_SMTP_REPLY_MAX_LINE + 1];
	size_t line_length = 0;

	ex_smtp_reply_init(reply);
	for (;;) {
		if (conn->input_start == conn->input_end) {
			ssize_t count = read_some(conn);
			if (count <= 0) {
				conn->broken = true;
				return -1;
			}
			conn->input_start = 0;
			conn->input_end = (size_t)count;
		}
		char c = conn->input[conn->input_start++];
		if (c == '\n') {
			if (line_length > 0 && line[line_length - 1] == '\r')
				line_length--;
			ex_smtp_reply_status status = ex_smtp_reply_line(reply, line, line_length);
			if (status == EX_SMTP_REPLY_MALFORMED) {
				conn->broken = true;
				return -1;
			}
			if (status == EX_SMTP_REPLY_COMPLETE)
				return 0;
			line_length = 0;
		} else if (line_length < sizeof(line) - 1) {
			line[line_length++] = c;
		}
	}
}

/* Sends one command line and reads its reply. Returns 0 or -1. */
__attribute__((format(printf, 3, 4))) static int command(connection *conn, ex_smtp_reply *reply, const char *format,
							 ...)
{
	char line[COMMAND_MAX];
	va_list arguments;
	va_start(arguments, format);
	int length = vsnprintf(line, sizeof(line) - 2, format, arguments);
	va_end(arguments);
	if (length < 0 || (size_t)length >= sizeof(line) - 2)
		return -1;
	line[length] = '\r';
	line[length + 1] = '\n';
	queue_output(conn, line, (size_t)length + 2);
	if (flush_output(conn) != 0)
		return -1;
	return read_reply(conn, reply);
}

static int start_tls(connection *conn, SSL_CTX *context)
{
	conn->ssl = SSL_new(context);
	if (conn->ssl == NULL || SSL_set_fd(conn->ssl, conn->fd) != 1)
		return -1;
	SSL_set_tlsext_host_name(conn->ssl, conn->host);
	conn->input_start = conn->input_end = 0;
	return SSL_connect(conn->ssl) == 1 ? 0 : -1;
}

/* Sends EHLO, or HELO when EHLO is rejected. Returns 0 with the reply in REPLY, or -1. */
static int greet(connection *conn, const char *helo, ex_smtp_reply *reply, bool *esmtp)
{
	if (command(conn, reply, "EHLO %s", helo) != 0)
		return -1;
	*esmtp = ex_smtp_reply_class(reply) == 2;
	if (!*esmtp && ex_smtp_reply_class(reply) == 5 && command(conn, reply, "HELO %s", helo) != 0)
		return -1;
	return 0;
}

static bool needs_smtputf8(const ex_outbound_message *message)
{
	for (const char *p = message->reverse_path; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			return true;
	for (size_t i = 0; i < message->recipient_count; i++)
		for (const char *p = message->recipients[i]; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				return true;
	return false;
}

static bool has_eight_bit(const char *content, size_t length)
{
	for (size_t i = 0; i < length; i++)
		if ((unsigned char)content[i] >= 0x80)
			return true;
	return false;
}

static int authenticate(connection *conn, const ex_outbound_message *message, ex_smtp_reply *reply)
{
	/* AUTH PLAIN (RFC 4616): "\0user\0password" in base64. */
	char plain[768];
	char encoded[1100];
	size_t user_length = strlen(message->auth_user);
	size_t password_length = strlen(message->auth_password);
	if (user_length + password_length + 2 > sizeof(plain))
		return -1;
	plain[0] = '\0';
	memcpy(plain + 1, message->auth_user, user_length);
	plain[1 + user_length] = '\0';
	memcpy(plain + 2 + user_length, message->auth_password, password_length);
	int encoded_length = EVP_EncodeBlock((unsigned char *)encoded, (const unsigned char *)plain,
					    (int)(user_length + password_length + 2));
	OPENSSL_cleanse(plain, sizeof(plain));
	if (encoded_length < 0)
		return -1;
	int status = command(conn, reply, "AUTH PLAIN %s", encoded);
	OPENSSL_cleanse(encoded, sizeof(encoded));
	return status;
}

/* Sends the content dot-stuffed (RFC 5321 4.5.2) and the end-of-data line. */
static void send_content(connection *conn, const char *content, size_t length)
{
	size_t start = 0;
	while (start < length) {
		const char *newline = memchr(content + start, '\n', length - start);
		size_t end = newline == NULL ? length : (size_t)(newline - content) + 1;
		if (content[start] == '.')
			queue_output(conn, ".", 1);
		queue_output(conn, content + start, end - start);
		start = end;
	}
	if (length > 0 && content[length - 1] != '\n')
		queue_output(conn, "\r\n", 2);
	flush_output(conn);
}

static void build_mail_command(char *line, size_t size, const ex_outbound_message *message,
			       const ex_smtp_extensions *extensions, bool smtputf8, bool eight_bit)
{
	int length = snprintf(line, size, "MAIL FROM:<%s>", message->reverse_path);
	if (extensions->size && length > 0 && (size_t)length < size)
		length += snprintf(line + length, size - (size_t)length, " SIZE=%zu", message->length);
	if (eight_bit && extensions->eightbitmime && length > 0 && (size_t)length < size)
		length += snprintf(line + length, size - (size_t)length, " BODY=8BITMIME");
	if (smtputf8 && length > 0 && (size_t)length < size)
		length += snprintf(line + length, size - (size_t)length, " SMTPUTF8");
	if (extensions->dsn && message->return_content != NULL && length > 0 && (size_t)length < size)
		length += snprintf(line + length, size - (size_t)length, " RET=%s", message->return_content);
	if (extensions->dsn && message->envelope_id != NULL && length > 0 && (size_t)length < size)
		snprintf(line + length, size - (size_t)length, " ENVID=%s", message->envelope_id);
}

static void build_rcpt_command(char *line, size_t size, const ex_outbound_message *message, size_t index,
			       const ex_smtp_extensions *extensions)
{
	int length = snprintf(line, size, "RCPT TO:<%s>", message->recipients[index]);
	if (!extensions->dsn)
		return;
	if (message->notify != NULL && message->notify[index] != NULL && length > 0 && (size_t)length < size)
		length += snprintf(line + length, size - (size_t)length, " NOTIFY=%s", message->notify[index]);
	if (message->original_recipients != NULL && message->original_recipients[index] != NULL && length > 0 &&
	    (size_t)length < size)
		snprintf(line + length, size - (size_t)length, " ORCPT=%s", message->original_recipients[index]);
}

/* The transaction after the greeting. Returns as ex_outbound_send. */
static ex_outbound_outcome transact(connection *conn, const ex_outbound_message *message,
				    ex_outbound_result *results, ex_smtp_reply *reply)
{
	bool esmtp = false;
	if (greet(conn, message->helo, reply, &esmtp) != 0)
		return EX_OUTBOUND_TRY_NEXT_HOST;
	if (ex_smtp_reply_class(reply) != 2)
		return EX_OUTBOUND_TRY_NEXT_HOST;

	ex_smtp_extensions extensions = esmtp ? reply->extensions : (ex_smtp_extensions){ 0 };
	if (extensions.starttls && message->tls != NULL) {
		if (command(conn, reply, "STARTTLS") != 0 || reply->code != 220 || start_tls(conn, message->tls) != 0)
			return EX_OUTBOUND_TRY_NEXT_HOST;
		if (greet(conn, message->helo, reply, &esmtp) != 0 || ex_smtp_reply_class(reply) != 2)
			return EX_OUTBOUND_TRY_NEXT_HOST;
		extensions = esmtp ? reply->extensions : (ex_smtp_extensions){ 0 };
	}
	if (message->auth_user != NULL) {
		if (conn->ssl == NULL || !extensions.auth_plain) {
			ex_smtp_reply_init(reply);
			reply->code = 451;
			snprintf(reply->enhanced, sizeof(reply->enhanced), "4.7.0");
			snprintf(reply->text, sizeof(reply->text),
				 "relay host offers no AUTH PLAIN over TLS; credentials are not sent in clear text");
			return EX_OUTBOUND_TRY_NEXT_HOST;
		}
		if (authenticate(conn, message, reply) != 0)
			return EX_OUTBOUND_TRY_NEXT_HOST;
		if (ex_smtp_reply_class(reply) == 5) {
			set_undecided(results, message->recipient_count, reply);
			return EX_OUTBOUND_DONE;
		}
		if (ex_smtp_reply_class(reply) != 2)
			return EX_OUTBOUND_TRY_NEXT_HOST;
	}

	bool smtputf8 = needs_smtputf8(message);
	if (smtputf8 && !extensions.smtputf8) {
		/* RFC 6531 3.2: without SMTPUTF8 at the remote such a message cannot be delivered. */
		ex_outbound_fail_all(results, message->recipient_count, 553, "5.6.7",
				     "the remote server does not offer SMTPUTF8, which the addresses need");
		return EX_OUTBOUND_DONE;
	}
	char line[COMMAND_MAX];
	build_mail_command(line, sizeof(line), message, &extensions, smtputf8,
			   has_eight_bit(message->content, message->length));
	if (command(conn, reply, "%s", line) != 0)
		return EX_OUTBOUND_TRY_NEXT_HOST;
	if (ex_smtp_reply_class(reply) == 4)
		return EX_OUTBOUND_TRY_NEXT_HOST;
	if (ex_smtp_reply_class(reply) != 2) {
		set_undecided(results, message->recipient_count, reply);
		return EX_OUTBOUND_DONE;
	}

	size_t accepted = 0;
	bool *pending = calloc(message->recipient_count > 0 ? message->recipient_count : 1, sizeof(*pending));
	if (pending == NULL)
		return EX_OUTBOUND_TRY_NEXT_HOST;
	for (size_t i = 0; i < message->recipient_count; i++) {
		build_rcpt_command(line, sizeof(line), message, i, &extensions);
		if (command(conn, reply, "%s", line) != 0) {
			free(pending);
			return EX_OUTBOUND_TRY_NEXT_HOST;
		}
		if (ex_smtp_reply_class(reply) == 2) {
			pending[i] = true;
			accepted++;
		} else {
			set_result(&results[i], reply);
		}
	}
	if (accepted == 0) {
		free(pending);
		command(conn, reply, "QUIT");
		return EX_OUTBOUND_DONE;
	}

	if (command(conn, reply, "DATA") != 0) {
		free(pending);
		return EX_OUTBOUND_TRY_NEXT_HOST;
	}
	if (reply->code == 354) {
		send_content(conn, message->content, message->length);
		if (!conn->broken && message->before_final_dot != NULL && !message->before_final_dot(message->context)) {
			/* A remote takes the message only at the final dot, so closing before it abandons the transaction. */
			free(pending);
			conn->broken = true;
			ex_outbound_fail_all(results, message->recipient_count, 451, "4.3.0",
					     "transaction abandoned before the end of data");
			return EX_OUTBOUND_DONE;
		}
		queue_output(conn, ".\r\n", 3);
		flush_output(conn);
		if (conn->broken || read_reply(conn, reply) != 0) {
			/* RFC 5321 6.1: no reply to the final dot; the message may or may not have arrived. */
			ex_smtp_reply_init(reply);
			reply->code = 451;
			snprintf(reply->enhanced, sizeof(reply->enhanced), "4.4.2");
			snprintf(reply->text, sizeof(reply->text), "connection lost after the end of data");
		}
	}
	for (size_t i = 0; i < message->recipient_count; i++) {
		if (pending[i]) {
			set_result(&results[i], reply);
			results[i].remote_dsn = extensions.dsn;
		}
	}
	free(pending);
	/* The remote may have the message now: its results are recorded before anything else can fail. */
	if (message->on_final_reply != NULL)
		message->on_final_reply(message->context, results, message->recipient_count);
	if (!conn->broken) {
		ex_smtp_reply quit;
		command(conn, &quit, "QUIT");
	}
	return EX_OUTBOUND_DONE;
}

ex_outbound_outcome ex_outbound_send(const ex_outbound_host *host, const ex_outbound_message *message,
				     ex_outbound_result *results)
{
	connection *conn = calloc(1, sizeof(*conn));
	ex_smtp_reply reply;
	if (conn == NULL)
		return EX_OUTBOUND_TRY_NEXT_HOST;
	conn->host = host->name;
	for (size_t i = 0; i < message->recipient_count; i++)
		results[i].code = 0;

	ex_outbound_outcome outcome = EX_OUTBOUND_TRY_NEXT_HOST;
	bool resolved = true;
	conn->fd = open_socket(host, message->resolver, message->timeout_ms, &resolved);
	if (conn->fd < 0 && !resolved) {
		ex_outbound_fail_all(results, message->recipient_count, 451, "4.4.3",
				     "the address lookup of the remote host failed");
	} else if (conn->fd < 0) {
		ex_outbound_fail_all(results, message->recipient_count, 451, "4.4.1", "connection to the remote host failed");
	} else if (read_reply(conn, &reply) != 0 || reply.code != 220) {
		if (reply.code == 0)
			ex_outbound_fail_all(results, message->recipient_count, 451, "4.4.2",
					     "no greeting from the remote host");
		else
			set_undecided(results, message->recipient_count, &reply);
		if (ex_smtp_reply_class(&reply) == 5)
			outcome = EX_OUTBOUND_DONE;
	} else {
		outcome = transact(conn, message, results, &reply);
		if (outcome == EX_OUTBOUND_TRY_NEXT_HOST) {
			if (reply.code == 0 || conn->broken)
				ex_outbound_fail_all(results, message->recipient_count, 451, "4.4.2",
						     "connection to the remote host was lost");
			else
				set_undecided(results, message->recipient_count, &reply);
		}
	}
	if (conn->ssl != NULL) {
		SSL_shutdown(conn->ssl);
		SSL_free(conn->ssl);
	}
	if (conn->fd >= 0)
		close(conn->fd);
	free(conn);
	return outcome;
}
