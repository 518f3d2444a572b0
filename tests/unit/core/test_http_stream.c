/*
 * Streaming routes of the HTTP server over real loopback sockets. The body
 * reaches the handler in bounded pieces, and the route's limit holds for
 * declared and chunked bodies. A handler can reject from the headers or
 * stop mid-body. A body cut short by the client ends in release without
 * end, also when the close arrives while the server is still reading.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "expresso/http.h"
#include "expresso/log.h"

enum {
	STREAM_LIMIT = 4 * 1024 * 1024,
	LARGE_BODY = STREAM_LIMIT,
	STOP_AFTER = 64 * 1024,
};

/* Callbacks the handler saw since the last reset, guarded by events_lock. */
typedef struct {
	unsigned begins;
	unsigned ends;
	unsigned releases;
	uint64_t bytes;
	uint64_t checksum; /* sum of byte values, to see the bytes arrived in order */
	size_t largest_piece;
	size_t pieces;
} stream_events;

typedef struct {
	uint64_t bytes;
	uint64_t checksum;
	uint64_t position;
} stream_state;

static ex_http_server *server;
static uint16_t port;
static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static stream_events events;

/* Waits up to two seconds for the earlier tests' requests to complete, then clears the events. */
static void reset_events(void)
{
	for (int i = 0; i < 200 && ex_http_server_in_flight(server) > 0; i++) {
		struct timespec pause = { 0, 10 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
	assert_int_equal(ex_http_server_in_flight(server), 0);
	pthread_mutex_lock(&events_lock);
	memset(&events, 0, sizeof(events));
	pthread_mutex_unlock(&events_lock);
}

static stream_events read_events(void)
{
	pthread_mutex_lock(&events_lock);
	stream_events copy = events;
	pthread_mutex_unlock(&events_lock);
	return copy;
}

static void stream_begin(ex_http_request *request, void *context, void **state)
{
	(void)context;
	pthread_mutex_lock(&events_lock);
	events.begins++;
	pthread_mutex_unlock(&events_lock);

	if (ex_http_header(request, "X-Reject") != NULL) {
		ex_http_respond_error(request, 409, "rejected", "rejected from the headers");
		return;
	}
	*state = calloc(1, sizeof(stream_state));
}

static void stream_body(ex_http_request *request, void *context, void **state, const void *data, size_t length)
{
	stream_state *stream = *state;
	const unsigned char *bytes = data;
	(void)context;

	for (size_t i = 0; i < length; i++)
		stream->checksum += bytes[i];
	stream->bytes += length;
	pthread_mutex_lock(&events_lock);
	events.pieces++;
	if (length > events.largest_piece)
		events.largest_piece = length;
	events.bytes = stream->bytes;
	pthread_mutex_unlock(&events_lock);

	if (ex_http_header(request, "X-Stop") != NULL && stream->bytes >= STOP_AFTER)
		ex_http_respond_error(request, 460, "stopped", "stopped after %d bytes", STOP_AFTER);
}

static void stream_end(ex_http_request *request, void *context, void **state)
{
	stream_state *stream = *state;
	char text[64];
	(void)context;

	pthread_mutex_lock(&events_lock);
	events.ends++;
	events.checksum = stream->checksum;
	pthread_mutex_unlock(&events_lock);
	snprintf(text, sizeof(text), "%llu %llu", (unsigned long long)stream->bytes,
		 (unsigned long long)stream->checksum);
	ex_http_respond_text(request, 200, "text/plain", text);
}

static void stream_release(ex_http_request *request, void *context, void **state)
{
	(void)request;
	(void)context;
	free(*state);
	*state = NULL;
	pthread_mutex_lock(&events_lock);
	events.releases++;
	pthread_mutex_unlock(&events_lock);
}

/* Marks the responses the server makes by itself on the route. */
static void stream_decorate(ex_http_request *request, void *context)
{
	(void)context;
	ex_http_add_header(request, "X-Stream-Decorated", "yes");
}

static const ex_http_stream_handler stream_handler = {
	.begin = stream_begin,
	.body = stream_body,
	.end = stream_end,
	.release = stream_release,
	.decorate = stream_decorate,
};

static void handle_plain(ex_http_request *request, void *context)
{
	size_t length;
	char text[32];
	(void)context;

	ex_http_body(request, &length);
	snprintf(text, sizeof(text), "%zu", length);
	ex_http_respond_text(request, 200, "text/plain", text);
}

static int start_server(void **state)
{
	(void)state;
	ex_log_init("test-http-stream", EX_LOG_ERROR);
	ex_http_options options = { .daemon = "test", .port = 0, .threads = 2, .connection_timeout_s = 2 };
	server = ex_http_server_new(&options);
	assert_int_equal(ex_http_route_streaming(server, "PUT", "/stream", &stream_handler, NULL, STREAM_LIMIT), 0);
	assert_int_equal(ex_http_route_limited(server, "PUT", "/plain", handle_plain, NULL, STREAM_LIMIT), 0);
	char err[256];
	assert_int_equal(ex_http_server_start(server, err, sizeof(err)), 0);
	port = ex_http_server_port(server);
	return 0;
}

static int stop_server(void **state)
{
	(void)state;
	ex_http_server_free(server);
	return 0;
}

typedef struct {
	long status;
	char body[4096];
	size_t body_length;
	bool decorated; /* the response carried the header that stream_decorate adds */
} response;

static size_t collect_header(char *line, size_t size, size_t count, void *target)
{
	response *r = target;
	size_t length = size * count;
	static const char name[] = "X-Stream-Decorated:";
	if (length >= sizeof(name) - 1 && strncasecmp(line, name, sizeof(name) - 1) == 0)
		r->decorated = true;
	return length;
}

static size_t collect(char *data, size_t size, size_t count, void *target)
{
	response *r = target;
	size_t length = size * count;
	size_t room = sizeof(r->body) - 1 - r->body_length;
	size_t copy = length < room ? length : room;
	memcpy(r->body + r->body_length, data, copy);
	r->body_length += copy;
	r->body[r->body_length] = '\0';
	return length;
}

/* Sends PUT PATH with BODY and up to two extra headers (each may be NULL). */
static void put_with_headers(const char *path, const unsigned char *body, size_t length, const char *header,
			     const char *second_header, response *out)
{
	char url[256];
	struct curl_slist *headers = NULL;

	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	CURL *curl = curl_easy_init();
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)length);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
	if (header != NULL)
		headers = curl_slist_append(headers, header);
	if (second_header != NULL)
		headers = curl_slist_append(headers, second_header);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	CURLcode rc = curl_easy_perform(curl);
	curl_slist_free_all(headers);
	if (rc != CURLE_OK)
		fail_msg("PUT %s failed: %s", path, curl_easy_strerror(rc));
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
	curl_easy_cleanup(curl);
}

static void put(const char *path, const unsigned char *body, size_t length, const char *header, response *out)
{
	put_with_headers(path, body, length, header, NULL, out);
}

static unsigned char *pattern_body(size_t length, uint64_t *checksum)
{
	unsigned char *body = malloc(length);
	*checksum = 0;
	for (size_t i = 0; i < length; i++) {
		body[i] = (unsigned char)((i * 7 + i / 4096) & 0xff);
		*checksum += body[i];
	}
	return body;
}

/* Waits up to two seconds for the completion callback, which runs after the response is sent. */
static stream_events wait_for_release(unsigned expected)
{
	for (int i = 0; i < 200; i++) {
		stream_events seen = read_events();
		if (seen.releases >= expected)
			return seen;
		struct timespec pause = { 0, 10 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
	return read_events();
}

static void body_streamed_in_bounded_pieces(void **state)
{
	uint64_t checksum;
	response r;
	char expected[64];
	(void)state;

	reset_events();
	unsigned char *body = pattern_body(LARGE_BODY, &checksum);
	put("/stream", body, LARGE_BODY, NULL, &r);
	free(body);
	assert_int_equal(r.status, 200);
	snprintf(expected, sizeof(expected), "%d %llu", LARGE_BODY, (unsigned long long)checksum);
	assert_string_equal(r.body, expected);

	stream_events seen = wait_for_release(1);
	assert_int_equal(seen.begins, 1);
	assert_int_equal(seen.ends, 1);
	assert_int_equal(seen.releases, 1);
	assert_true(seen.pieces > 1);
	/* Pieces are bounded by the connection's read buffer, not by the body. */
	assert_true(seen.largest_piece <= 1024 * 1024);
}

static void empty_body_runs_end(void **state)
{
	response r;
	(void)state;

	reset_events();
	put("/stream", (const unsigned char *)"", 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "0 0");
	stream_events seen = wait_for_release(1);
	assert_int_equal(seen.ends, 1);
	assert_int_equal(seen.pieces, 0);
}

static void declared_length_past_limit_is_413(void **state)
{
	uint64_t checksum;
	response r;
	(void)state;

	reset_events();
	unsigned char *body = pattern_body(STREAM_LIMIT + 1, &checksum);
	put("/stream", body, STREAM_LIMIT + 1, NULL, &r);
	free(body);
	assert_int_equal(r.status, 413);
	assert_non_null(strstr(r.body, "payload_too_large"));
	assert_true(r.decorated);
	/* Rejected from Content-Length: the handler never began. */
	stream_events seen = read_events();
	assert_int_equal(seen.begins, 0);
	assert_int_equal(seen.releases, 0);
}

static void chunked_body_past_limit_is_413(void **state)
{
	uint64_t checksum;
	response r;
	(void)state;

	reset_events();
	unsigned char *body = pattern_body(STREAM_LIMIT + 1, &checksum);
	put("/stream", body, STREAM_LIMIT + 1, "Transfer-Encoding: chunked", &r);
	free(body);
	assert_int_equal(r.status, 413);
	assert_true(r.decorated);
	stream_events seen = wait_for_release(1);
	assert_int_equal(seen.begins, 1);
	assert_int_equal(seen.ends, 0);
	assert_int_equal(seen.releases, 1);
	assert_true(seen.bytes <= STREAM_LIMIT);
}

static void chunked_body_at_limit_is_accepted(void **state)
{
	uint64_t checksum;
	response r;
	char expected[64];
	(void)state;

	reset_events();
	unsigned char *body = pattern_body(STREAM_LIMIT, &checksum);
	put("/stream", body, STREAM_LIMIT, "Transfer-Encoding: chunked", &r);
	free(body);
	assert_int_equal(r.status, 200);
	snprintf(expected, sizeof(expected), "%d %llu", STREAM_LIMIT, (unsigned long long)checksum);
	assert_string_equal(r.body, expected);
}

static void begin_rejects_before_body(void **state)
{
	uint64_t checksum;
	response r;
	(void)state;

	reset_events();
	unsigned char *body = pattern_body(256 * 1024, &checksum);
	put("/stream", body, 256 * 1024, "X-Reject: 1", &r);
	free(body);
	assert_int_equal(r.status, 409);
	/* The handler's own responses are not decorated by the server. */
	assert_false(r.decorated);
	stream_events seen = wait_for_release(1);
	assert_int_equal(seen.begins, 1);
	assert_int_equal(seen.pieces, 0);
	assert_int_equal(seen.ends, 0);
	assert_int_equal(seen.releases, 1);
}

/* A client waiting for 100 Continue gets the rejection instead, and never sends the body. */
static void begin_rejects_expecting_client(void **state)
{
	uint64_t checksum;
	response r;
	(void)state;

	reset_events();
	unsigned char *body = pattern_body(256 * 1024, &checksum);
	put_with_headers("/stream", body, 256 * 1024, "X-Reject: 1", "Expect: 100-continue", &r);
	free(body);
	assert_int_equal(r.status, 409);
	stream_events seen = wait_for_release(1);
	assert_int_equal(seen.begins, 1);
	assert_int_equal(seen.pieces, 0);
	assert_int_equal(seen.releases, 1);
}

static void body_callback_stops_mid_body(void **state)
{
	uint64_t checksum;
	response r;
	(void)state;

	reset_events();
	unsigned char *body = pattern_body(LARGE_BODY, &checksum);
	put("/stream", body, LARGE_BODY, "X-Stop: 1", &r);
	free(body);
	assert_int_equal(r.status, 460);
	assert_non_null(strstr(r.body, "stopped"));
	stream_events seen = wait_for_release(1);
	assert_int_equal(seen.ends, 0);
	assert_int_equal(seen.releases, 1);
	/* Pieces after the response were dropped, not handed to the handler. */
	assert_true(seen.bytes < LARGE_BODY);
}

/* Sends the headers and part of a declared body, then closes the connection. */
static void body_cut_short_by_client(void **state)
{
	char chunk[1000];
	(void)state;

	reset_events();
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof(address)), 0);
	const char *head = "PUT /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n";
	assert_int_equal(send(fd, head, strlen(head), 0), (ssize_t)strlen(head));
	memset(chunk, 'x', sizeof(chunk));
	assert_int_equal(send(fd, chunk, sizeof(chunk), 0), (ssize_t)sizeof(chunk));
	/* Lets the server read the piece before the connection closes. */
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	nanosleep(&pause, NULL);
	close(fd);

	stream_events seen = wait_for_release(1);
	assert_int_equal(seen.begins, 1);
	assert_int_equal(seen.ends, 0);
	assert_int_equal(seen.releases, 1);
	assert_int_equal(seen.bytes, sizeof(chunk));
}

/*
 * A client that sends megabytes of body and closes at once: its close
 * arrives while the server still reads the body. The request is released
 * on the close, well before the connection timeout (2 s here), in each of
 * several rounds, because the timing varies from round to round.
 */
static void close_arriving_with_the_body(void **state)
{
	enum { SENT = 3 * 1024 * 1024, ROUNDS = 10 };
	(void)state;

	unsigned char *body = malloc(SENT);
	memset(body, 'z', SENT);
	for (int round = 0; round < ROUNDS; round++) {
		reset_events();
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port) };
		inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
		assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof(address)), 0);
		char head[128];
		snprintf(head, sizeof(head), "PUT /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n",
			 STREAM_LIMIT);
		assert_int_equal(send(fd, head, strlen(head), 0), (ssize_t)strlen(head));
		size_t sent = 0;
		while (sent < SENT) {
			ssize_t count = send(fd, body + sent, SENT - sent, 0);
			assert_true(count > 0);
			sent += (size_t)count;
		}
		close(fd);

		/* Up to 1 s, half the connection timeout. */
		stream_events seen = read_events();
		for (int i = 0; i < 100 && seen.releases == 0; i++) {
			struct timespec pause = { 0, 10 * 1000 * 1000 };
			nanosleep(&pause, NULL);
			seen = read_events();
		}
		if (seen.releases != 1)
			fail_msg("round %d: the request was not released within 1 s of the close (%llu bytes read)", round,
				 (unsigned long long)seen.bytes);
		assert_int_equal(seen.ends, 0);
	}
	free(body);
}

/* A client that stops sending mid-body is released after the connection timeout (2 s here). */
static void stalled_body_times_out(void **state)
{
	char chunk[500];
	(void)state;

	reset_events();
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof(address)), 0);
	const char *head = "PUT /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n\r\n";
	assert_int_equal(send(fd, head, strlen(head), 0), (ssize_t)strlen(head));
	memset(chunk, 'y', sizeof(chunk));
	assert_int_equal(send(fd, chunk, sizeof(chunk), 0), (ssize_t)sizeof(chunk));

	stream_events seen = read_events();
	for (int i = 0; i < 60 && seen.releases == 0; i++) {
		struct timespec pause = { 0, 100 * 1000 * 1000 };
		nanosleep(&pause, NULL);
		seen = read_events();
	}
	close(fd);
	assert_int_equal(seen.releases, 1);
	assert_int_equal(seen.ends, 0);
	assert_int_equal(seen.bytes, sizeof(chunk));
}

static void buffered_route_unchanged(void **state)
{
	uint64_t checksum;
	response r;
	char expected[32];
	(void)state;

	unsigned char *body = pattern_body(300000, &checksum);
	put("/plain", body, 300000, NULL, &r);
	free(body);
	assert_int_equal(r.status, 200);
	snprintf(expected, sizeof(expected), "%d", 300000);
	assert_string_equal(r.body, expected);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(body_streamed_in_bounded_pieces),
		cmocka_unit_test(empty_body_runs_end),
		cmocka_unit_test(declared_length_past_limit_is_413),
		cmocka_unit_test(chunked_body_past_limit_is_413),
		cmocka_unit_test(chunked_body_at_limit_is_accepted),
		cmocka_unit_test(begin_rejects_before_body),
		cmocka_unit_test(begin_rejects_expecting_client),
		cmocka_unit_test(body_callback_stops_mid_body),
		cmocka_unit_test(body_cut_short_by_client),
		cmocka_unit_test(close_arriving_with_the_body),
		cmocka_unit_test(stalled_body_times_out),
		cmocka_unit_test(buffered_route_unchanged),
	};
	int failures = cmocka_run_group_tests(tests, start_server, stop_server);
	curl_global_cleanup();
	return failures;
}
