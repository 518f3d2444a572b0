/*
 * HTTP server over real loopback sockets: routing answers, request ids,
 * body limits (413 before the body is read), JSON errors and draining on
 * shutdown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "expresso/http.h"
#include "expresso/log.h"

enum { SMALL_LIMIT = 1024 };

static ex_http_server *server;
static ex_metrics *metrics;
static uint16_t port;

static void handle_hello(ex_http_request *request, void *context)
{
	char language[64] = "";
	(void)context;

	int found = ex_http_query(request, "lang", language, sizeof(language));
	ex_http_respond_json(request, 200, json_pack("{s:s, s:s}", "name", ex_http_param(request, "name"),
						     "lang", found == 0 ? language : ""));
}

static void handle_echo(ex_http_request *request, void *context)
{
	size_t length;
	(void)context;

	const void *body = ex_http_body(request, &length);
	ex_http_respond_bytes(request, 200, "application/octet-stream", body, length);
}

static void handle_slow(ex_http_request *request, void *context)
{
	(void)context;
	struct timespec pause = { 0, 600 * 1000 * 1000 };
	nanosleep(&pause, NULL);
	ex_http_respond_text(request, 200, "text/plain", "finished");
}

static void handle_silent(ex_http_request *request, void *context)
{
	(void)request;
	(void)context;
}

static int start_server(void **state)
{
	(void)state;
	ex_log_init("test-http", EX_LOG_ERROR);
	metrics = ex_metrics_new("test");
	ex_http_options options = { .daemon = "test", .port = 0, .threads = 2, .metrics = metrics };
	server = ex_http_server_new(&options);
	assert_int_equal(ex_http_route(server, "GET", "/hello/{name}", handle_hello, NULL), 0);
	assert_int_equal(ex_http_route_limited(server, "POST", "/echo", handle_echo, NULL, SMALL_LIMIT), 0);
	assert_int_equal(ex_http_route(server, "DELETE", "/echo", handle_echo, NULL), 0);
	assert_int_equal(ex_http_route(server, "GET", "/slow", handle_slow, NULL), 0);
	assert_int_equal(ex_http_route(server, "GET", "/silent", handle_silent, NULL), 0);
	char err[256];
	assert_int_equal(ex_http_server_start(server, err, sizeof(err)), 0);
	port = ex_http_server_port(server);
	assert_true(port > 0);
	return 0;
}

static int stop_server(void **state)
{
	(void)state;
	ex_http_server_free(server);
	ex_metrics_free(metrics);
	return 0;
}

typedef struct {
	long status;
	char body[8192];
	size_t body_length;
	char headers[8192];
	size_t headers_length;
} response;

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

static size_t collect_header(char *data, size_t size, size_t count, void *target)
{
	response *r = target;
	size_t length = size * count;
	size_t room = sizeof(r->headers) - 1 - r->headers_length;
	size_t copy = length < room ? length : room;
	memcpy(r->headers + r->headers_length, data, copy);
	r->headers_length += copy;
	r->headers[r->headers_length] = '\0';
	return length;
}

static void request(const char *method, const char *path, const char *body, size_t body_length,
		    struct curl_slist *headers, response *out)
{
	char url[512];
	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);

	CURL *curl = curl_easy_init();
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	if (body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)body_length);
	}
	if (headers != NULL)
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	CURLcode rc = curl_easy_perform(curl);
	if (rc != CURLE_OK)
		fail_msg("%s %s failed: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
	curl_easy_cleanup(curl);
}

static json_t *error_object(const response *r)
{
	json_error_t error;
	json_t *body = json_loads(r->body, 0, &error);
	assert_non_null(body);
	json_t *inner = json_object_get(body, "error");
	assert_non_null(inner);
	json_incref(inner);
	json_decref(body);
	return inner;
}

static void route_parameter_and_query(void **state)
{
	response r;
	(void)state;

	request("GET", "/hello/Jo%C3%A3o?lang=pt-BR&x=1", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	json_t *body = json_loads(r.body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(body, "name")), "João");
	assert_string_equal(json_string_value(json_object_get(body, "lang")), "pt-BR");
	assert_non_null(strcasestr(r.headers, "Content-Type: application/json"));
	json_decref(body);
}

static void request_id_generated_or_kept(void **state)
{
	response r;
	(void)state;

	request("GET", "/hello/a", NULL, 0, NULL, &r);
	const char *id = strcasestr(r.headers, "X-Request-Id: ");
	assert_non_null(id);
	assert_int_equal(strspn(id + 14, "0123456789abcdef"), 24);

	struct curl_slist *headers = curl_slist_append(NULL, "X-Request-Id: client-id.42");
	request("GET", "/hello/a", NULL, 0, headers, &r);
	curl_slist_free_all(headers);
	assert_non_null(strcasestr(r.headers, "X-Request-Id: client-id.42\r\n"));

	headers = curl_slist_append(NULL, "X-Request-Id: bad id with spaces");
	request("GET", "/hello/a", NULL, 0, headers, &r);
	curl_slist_free_all(headers);
	assert_null(strstr(r.headers, "bad id"));
	assert_non_null(strcasestr(r.headers, "X-Request-Id: "));
}

static void unknown_path_is_json_404(void **state)
{
	response r;
	(void)state;

	request("GET", "/nothing/here", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 404);
	json_t *error = error_object(&r);
	assert_string_equal(json_string_value(json_object_get(error, "code")), "not_found");
	assert_non_null(json_object_get(error, "message"));
	json_decref(error);
}

static void wrong_method_is_405_with_allow(void **state)
{
	response r;
	(void)state;

	request("PUT", "/echo", "x", 1, NULL, &r);
	assert_int_equal(r.status, 405);
	assert_non_null(strcasestr(r.headers, "Allow: POST, DELETE\r\n"));
	json_t *error = error_object(&r);
	assert_string_equal(json_string_value(json_object_get(error, "code")), "method_not_allowed");
	json_decref(error);
}

static void bad_percent_encoding_is_400(void **state)
{
	response r;
	(void)state;

	request("GET", "/hello/%zz", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 400);
}

static void body_at_limit_is_accepted(void **state)
{
	response r;
	char body[SMALL_LIMIT];
	(void)state;

	memset(body, 'a', sizeof(body));
	request("POST", "/echo", body, sizeof(body), NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_length, SMALL_LIMIT);
}

static void body_past_limit_is_413(void **state)
{
	response r;
	char body[SMALL_LIMIT + 1];
	(void)state;

	memset(body, 'a', sizeof(body));
	request("POST", "/echo", body, sizeof(body), NULL, &r);
	assert_int_equal(r.status, 413);
	json_t *error = error_object(&r);
	assert_string_equal(json_string_value(json_object_get(error, "code")), "payload_too_large");
	json_decref(error);
}

static void chunked_body_past_limit_is_413(void **state)
{
	response r;
	char body[SMALL_LIMIT * 3];
	(void)state;

	memset(body, 'b', sizeof(body));
	struct curl_slist *headers = curl_slist_append(NULL, "Transfer-Encoding: chunked");
	request("POST", "/echo", body, sizeof(body), headers, &r);
	curl_slist_free_all(headers);
	assert_int_equal(r.status, 413);
}

/* Sends only the headers of a huge upload and expects 413 without sending the body. */
static void declared_huge_body_answered_before_reading(void **state)
{
	(void)state;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof(address)), 0);
	struct timeval timeout = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));

	const char *head = "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 53687091200\r\n\r\n";
	assert_int_equal(send(fd, head, strlen(head), 0), (ssize_t)strlen(head));
	char answer[2048];
	ssize_t length = recv(fd, answer, sizeof(answer) - 1, 0);
	close(fd);
	assert_true(length > 0);
	answer[length] = '\0';
	assert_non_null(strstr(answer, "HTTP/1.1 413"));
}

static void handler_without_answer_is_500(void **state)
{
	response r;
	(void)state;

	request("GET", "/silent", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 500);
}

static void head_served_by_get_route(void **state)
{
	response r;
	(void)state;

	request("HEAD", "/hello/x", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_length, 0);
}

static void metrics_count_requests_by_route(void **state)
{
	response r;
	(void)state;

	request("GET", "/hello/metrics", NULL, 0, NULL, &r);
	/* The completion callback runs right after the response is sent. */
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	nanosleep(&pause, NULL);
	char *text = ex_metrics_render(metrics);
	assert_non_null(strstr(text, "route=\"/hello/{name}\",method=\"GET\",status=\"200\""));
	assert_non_null(strstr(text, "route=\"unmatched\",method=\"GET\",status=\"404\""));
	assert_null(strstr(text, "/nothing/here"));
	free(text);
}

static void *slow_request_thread(void *argument)
{
	response *r = argument;
	request("GET", "/slow", NULL, 0, NULL, r);
	return NULL;
}

static void shutdown_drains_in_flight_requests(void **state)
{
	pthread_t thread;
	response slow;
	(void)state;

	pthread_create(&thread, NULL, slow_request_thread, &slow);
	while (ex_http_server_in_flight(server) == 0) {
		struct timespec pause = { 0, 5 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
	unsigned abandoned = ex_http_server_shutdown(server, 5000);
	pthread_join(thread, NULL);
	assert_int_equal(abandoned, 0);
	assert_int_equal(slow.status, 200);
	assert_string_equal(slow.body, "finished");

	/* No new connection is accepted after the drain. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
	assert_int_not_equal(connect(fd, (struct sockaddr *)&address, sizeof(address)), 0);
	close(fd);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(route_parameter_and_query),
		cmocka_unit_test(request_id_generated_or_kept),
		cmocka_unit_test(unknown_path_is_json_404),
		cmocka_unit_test(wrong_method_is_405_with_allow),
		cmocka_unit_test(bad_percent_encoding_is_400),
		cmocka_unit_test(body_at_limit_is_accepted),
		cmocka_unit_test(body_past_limit_is_413),
		cmocka_unit_test(chunked_body_past_limit_is_413),
		cmocka_unit_test(declared_huge_body_answered_before_reading),
		cmocka_unit_test(handler_without_answer_is_500),
		cmocka_unit_test(head_served_by_get_route),
		cmocka_unit_test(metrics_count_requests_by_route),
		cmocka_unit_test(shutdown_drains_in_flight_requests),
	};
	int failures = cmocka_run_group_tests(tests, start_server, stop_server);
	curl_global_cleanup();
	return failures;
}
