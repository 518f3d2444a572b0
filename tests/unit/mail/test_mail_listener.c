/*
 * Tests of the mail listener over real loopback sockets: per-address and
 * total counting at the limit and one past it, the protocol's refusal
 * line, no clear-text line on an implicit-TLS port, and a stop while
 * connections are open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "mail_connection_limit.h"
#include "mail_listener.h"

enum { HANDLER_BOUND_MS = 10000, CLIENT_TIMEOUT_MS = 5000, WAIT_STEP_MS = 10 };

static const char TOO_MANY[] = "421 4.3.2 Too many connections; try again later\r\n";
static const char TOO_MANY_FROM_ADDRESS[] = "421 4.7.0 Too many connections from your address; try again later\r\n";

typedef struct {
	bool watch_stop; /* false: the handler returns only at end of file */
	atomic_int finished;
} handler_state;

static void sleep_ms(long ms)
{
	struct timespec pause = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	nanosleep(&pause, NULL);
}

/* Greets, then waits for end of file or, with watch_stop, for the stop, for at most HANDLER_BOUND_MS. */
static void echo_handler(ex_mail_connection *connection, void *context)
{
	handler_state *state = context;
	send(connection->fd, "hello\r\n", 7, MSG_NOSIGNAL);

	for (long waited = 0; waited < HANDLER_BOUND_MS; waited += WAIT_STEP_MS) {
		if (state->watch_stop && ex_mail_listener_stopping(connection->listener)) {
			send(connection->fd, "bye\r\n", 5, MSG_NOSIGNAL);
			break;
		}
		struct pollfd descriptor = { .fd = connection->fd, .events = POLLIN };
		if (poll(&descriptor, 1, WAIT_STEP_MS) > 0) {
			char buffer[64];
			if (recv(connection->fd, buffer, sizeof(buffer), 0) <= 0)
				break;
		}
	}
	atomic_fetch_add(&state->finished, 1);
}

static ex_mail_listener *start_listener(handler_state *state, unsigned max_connections, unsigned max_per_address,
					bool implicit_tls)
{
	const ex_mail_listener_port port = { 0, "test", implicit_tls, 7 };
	const ex_mail_listener_options options = {
		.protocol = "test",
		.bind_address = "127.0.0.1",
		.ports = &port,
		.port_count = 1,
		.max_connections = max_connections,
		.max_connections_per_address = max_per_address,
		.idle_timeout_ms = CLIENT_TIMEOUT_MS,
		.reply_too_many = TOO_MANY,
		.reply_too_many_from_address = TOO_MANY_FROM_ADDRESS,
		.handler = echo_handler,
		.context = state,
	};
	char err[256] = "";
	ex_mail_listener *listener = ex_mail_listener_start(&options, err, sizeof(err));
	assert_non_null(listener);
	assert_true(ex_mail_listener_bound_port(listener, 0) > 0);
	return listener;
}

static int connect_client(const ex_mail_listener *listener)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct timeval timeout = { .tv_sec = CLIENT_TIMEOUT_MS / 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	struct sockaddr_in address = { .sin_family = AF_INET,
				       .sin_port = htons((uint16_t)ex_mail_listener_bound_port(listener, 0)) };
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof(address)), 0);
	return fd;
}

/* Reads until a line end, end of file, a timeout or a full buffer, and returns the length read. */
static size_t read_reply(int fd, char *out, size_t size)
{
	size_t length = 0;
	while (length + 1 < size) {
		ssize_t got = recv(fd, out + length, size - 1 - length, 0);
		if (got <= 0)
			break;
		length += (size_t)got;
		if (out[length - 1] == '\n')
			break;
	}
	out[length] = '\0';
	return length;
}

static void expect_line(int fd, const char *expected)
{
	char reply[256];
	read_reply(fd, reply, sizeof(reply));
	assert_string_equal(reply, expected);
}

/* Waits, for at most CLIENT_TIMEOUT_MS, until the listener counts EXPECTED connections. */
static void wait_for_count(ex_mail_listener *listener, unsigned expected)
{
	for (long waited = 0; waited < CLIENT_TIMEOUT_MS && ex_mail_listener_connections(listener) != expected;
	     waited += WAIT_STEP_MS)
		sleep_ms(WAIT_STEP_MS);
	assert_int_equal(ex_mail_listener_connections(listener), expected);
}

/* ---- the counter alone ---------------------------------------------------------------- */

static void limit_per_address_at_and_past(void **state)
{
	(void)state;
	ex_mail_connection_limit limit;
	assert_int_equal(ex_mail_connection_limit_init(&limit, 10, 2), 0);

	assert_int_equal(ex_mail_connection_limit_admit(&limit, "192.0.2.1"), EX_MAIL_ADMITTED);
	assert_int_equal(ex_mail_connection_limit_admit(&limit, "192.0.2.1"), EX_MAIL_ADMITTED);
	assert_int_equal(ex_mail_connection_limit_admit(&limit, "192.0.2.1"), EX_MAIL_REJECTED_ADDRESS);
	assert_int_equal(ex_mail_connection_limit_count_address(&limit, "192.0.2.1"), 2);
	assert_int_equal(ex_mail_connection_limit_admit(&limit, "2001:db8::1"), EX_MAIL_ADMITTED);
	assert_int_equal(ex_mail_connection_limit_count(&limit), 3);

	ex_mail_connection_limit_release(&limit, "192.0.2.1");
	assert_int_equal(ex_mail_connection_limit_count_address(&limit, "192.0.2.1"), 1);
	assert_int_equal(ex_mail_connection_limit_admit(&limit, "192.0.2.1"), EX_MAIL_ADMITTED);
	assert_int_equal(ex_mail_connection_limit_count(&limit), 3);
	ex_mail_connection_limit_destroy(&limit);
}

static void limit_total_at_and_past(void **state)
{
	(void)state;
	ex_mail_connection_limit limit;
	assert_int_equal(ex_mail_connection_limit_init(&limit, 3, 0), 0);

	assert_int_equal(ex_mail_connection_limit_admit(&limit, "192.0.2.1"), EX_MAIL_ADMITTED);
	assert_int_equal(ex_mail_connection_limit_admit(&limit, "192.0.2.1"), EX_MAIL_ADMITTED);
	assert_int_equal(ex_mail_connection_limit_admit(&limit, "192.0.2.2"), EX_MAIL_ADMITTED);
	assert_int_equal(ex_mail_connection_limit_admit(&limit, "192.0.2.3"), EX_MAIL_REJECTED_TOTAL);
	assert_int_equal(ex_mail_connection_limit_admit(&limit, "192.0.2.1"), EX_MAIL_REJECTED_TOTAL);

	/* A released slot serves a new address. */
	ex_mail_connection_limit_release(&limit, "192.0.2.2");
	assert_int_equal(ex_mail_connection_limit_count_address(&limit, "192.0.2.2"), 0);
	assert_int_equal(ex_mail_connection_limit_admit(&limit, "192.0.2.3"), EX_MAIL_ADMITTED);
	assert_int_equal(ex_mail_connection_limit_count(&limit), 3);
	ex_mail_connection_limit_destroy(&limit);
}

/* ---- the listener over loopback -------------------------------------------------------- */

static void listener_rejects_past_address_limit(void **state)
{
	(void)state;
	handler_state handler = { .watch_stop = true };
	ex_mail_listener *listener = start_listener(&handler, 8, 2, false);

	int first = connect_client(listener);
	int second = connect_client(listener);
	expect_line(first, "hello\r\n");
	expect_line(second, "hello\r\n");
	wait_for_count(listener, 2);

	int third = connect_client(listener);
	expect_line(third, TOO_MANY_FROM_ADDRESS);
	char rest[16];
	assert_int_equal(read_reply(third, rest, sizeof(rest)), 0);
	close(third);
	assert_int_equal(ex_mail_listener_connections(listener), 2);

	/* Once one closes, the address has room again. */
	close(first);
	wait_for_count(listener, 1);
	int fourth = connect_client(listener);
	expect_line(fourth, "hello\r\n");

	assert_true(ex_mail_listener_stop(listener, false, CLIENT_TIMEOUT_MS));
	expect_line(second, "bye\r\n");
	expect_line(fourth, "bye\r\n");
	assert_int_equal(atomic_load(&handler.finished), 3);
	close(second);
	close(fourth);
}

static void listener_rejects_past_total_limit(void **state)
{
	(void)state;
	handler_state handler = { .watch_stop = true };
	ex_mail_listener *listener = start_listener(&handler, 2, 0, false);

	int first = connect_client(listener);
	int second = connect_client(listener);
	expect_line(first, "hello\r\n");
	expect_line(second, "hello\r\n");

	int third = connect_client(listener);
	expect_line(third, TOO_MANY);
	close(third);

	assert_true(ex_mail_listener_stop(listener, false, CLIENT_TIMEOUT_MS));
	close(first);
	close(second);
	assert_int_equal(atomic_load(&handler.finished), 2);
}

static void listener_implicit_tls_rejects_silently(void **state)
{
	(void)state;
	handler_state handler = { .watch_stop = true };
	ex_mail_listener *listener = start_listener(&handler, 1, 0, true);

	int first = connect_client(listener);
	expect_line(first, "hello\r\n");
	int second = connect_client(listener);
	char reply[64];
	assert_int_equal(read_reply(second, reply, sizeof(reply)), 0);
	close(second);

	assert_true(ex_mail_listener_stop(listener, false, CLIENT_TIMEOUT_MS));
	close(first);
}

static void listener_stop_shuts_open_sockets(void **state)
{
	(void)state;
	handler_state handler = { .watch_stop = false };
	ex_mail_listener *listener = start_listener(&handler, 4, 0, false);

	int first = connect_client(listener);
	int second = connect_client(listener);
	expect_line(first, "hello\r\n");
	expect_line(second, "hello\r\n");
	wait_for_count(listener, 2);

	/* The handlers ignore the stop flag; only the shutdown ends their reads. */
	struct timespec before, after;
	clock_gettime(CLOCK_MONOTONIC, &before);
	assert_true(ex_mail_listener_stop(listener, true, CLIENT_TIMEOUT_MS));
	clock_gettime(CLOCK_MONOTONIC, &after);
	assert_true(after.tv_sec - before.tv_sec < CLIENT_TIMEOUT_MS / 1000);
	assert_int_equal(atomic_load(&handler.finished), 2);

	char rest[16];
	assert_int_equal(read_reply(first, rest, sizeof(rest)), 0);
	close(first);
	close(second);
}

static void listener_rejects_invalid_address(void **state)
{
	(void)state;
	handler_state handler = { .watch_stop = true };
	const ex_mail_listener_port port = { 0, "test", false, 0 };
	const ex_mail_listener_options options = {
		.protocol = "test",
		.bind_address = "localhost",
		.ports = &port,
		.port_count = 1,
		.max_connections = 1,
		.reply_too_many = TOO_MANY,
		.reply_too_many_from_address = TOO_MANY,
		.handler = echo_handler,
		.context = &handler,
	};
	char err[256] = "";
	assert_null(ex_mail_listener_start(&options, err, sizeof(err)));
	assert_string_equal(err, "invalid listen address localhost: expected an IPv4 or IPv6 literal");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(limit_per_address_at_and_past),
		cmocka_unit_test(limit_total_at_and_past),
		cmocka_unit_test(listener_rejects_past_address_limit),
		cmocka_unit_test(listener_rejects_past_total_limit),
		cmocka_unit_test(listener_implicit_tls_rejects_silently),
		cmocka_unit_test(listener_stop_shuts_open_sockets),
		cmocka_unit_test(listener_rejects_invalid_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
