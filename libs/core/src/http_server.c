/*
 * libmicrohttpd glue: request lifecycle, limits, request ids, access log,
 * metrics and graceful shutdown. A request struct is created on the first
 * callback of a connection's request and freed in one place, the
 * completion callback. A route either gets its body buffered whole before
 * its handler runs, or (a streaming route) piece by piece as it arrives.
 */
#include "expresso/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "expresso/log.h"
#include "expresso/router.h"

typedef struct {
	ex_http_handler handler; /* NULL on a streaming route */
	ex_http_stream_handler stream;
	void *context;
	size_t max_body;
} route_target;

struct ex_http_server {
	ex_http_options options;
	char daemon_name[64];
	char bind_address[64];
	ex_router *router;
	size_t target_count;
	route_target targets[EX_ROUTER_MAX_ROUTES];
	struct MHD_Daemon *mhd;
	atomic_uint in_flight;
	uint16_t bound_port;
};

typedef enum {
	BODY_ACCEPTING,
	BODY_TOO_LARGE, /* chunked body passed the limit: discard the rest, then 413 */
} body_state;

struct ex_http_request {
	ex_http_server *server;
	struct MHD_Connection *connection;
	char method[16];
	char *path;
	char request_id[EX_HTTP_REQUEST_ID_MAX + 1];
	char client_address[INET6_ADDRSTRLEN];
	char tenant_id[64];
	struct timespec started;
	ex_route_match match;
	const route_target *target;
	body_state body_state;
	char *body;
	size_t body_length;
	size_t body_capacity;
	uint64_t body_received; /* streaming routes: bytes handed to the handler */
	void *stream_state;     /* streaming routes: the handler's per-request pointer */
	int stream_begun;       /* begin ran, so release must run */
	struct MHD_Response *response;
	unsigned status;
	int answered; /* a response was queued on this request */
};

static double seconds_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* A client's X-Request-Id is kept only if it is 1..64 characters of [A-Za-z0-9._-]. */
static int request_id_is_acceptable(const char *id)
{
	size_t length = strlen(id);
	if (length == 0 || length > EX_HTTP_REQUEST_ID_MAX)
		return 0;
	for (const char *p = id; *p; p++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			 c == '.' || c == '_' || c == '-';
		if (!ok)
			return 0;
	}
	return 1;
}

static void generate_request_id(char *out, size_t size)
{
	unsigned char random_bytes[12];
	static const char hex[] = "0123456789abcdef";

	if (getrandom(random_bytes, sizeof(random_bytes), 0) != (ssize_t)sizeof(random_bytes)) {
		/* getrandom(2) returns requests of up to 256 bytes whole once the entropy pool
		 * is ready; the clock fallback keeps ids distinct if it ever does not. */
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		memcpy(random_bytes, &now, sizeof(random_bytes) < sizeof(now) ? sizeof(random_bytes) : sizeof(now));
	}
	size_t used = 0;
	for (size_t i = 0; i < sizeof(random_bytes) && used + 2 < size; i++) {
		out[used++] = hex[random_bytes[i] >> 4];
		out[used++] = hex[random_bytes[i] & 0xf];
	}
	out[used] = '\0';
}

static void read_client_address(ex_http_request *request)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(request->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(request->client_address, sizeof(request->client_address), "unknown");
	if (info == NULL || info->client_addr == NULL)
		return;

	const struct sockaddr *address = info->client_addr;
	if (address->sa_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)address;
		inet_ntop(AF_INET, &v4->sin_addr, request->client_address, sizeof(request->client_address));
	} else if (address->sa_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)(const void *)address;
		inet_ntop(AF_INET6, &v6->sin6_addr, request->client_address, sizeof(request->client_address));
	}
}

/* Public accessors. */

const char *ex_http_method(const ex_http_request *request) { return request->method; }
const char *ex_http_path(const ex_http_request *request) { return request->path; }
const char *ex_http_request_id(const ex_http_request *request) { return request->request_id; }
const char *ex_http_client_address(const ex_http_request *request) { return request->client_address; }
struct MHD_Connection *ex_http_connection(const ex_http_request *request) { return request->connection; }

const char *ex_http_route_pattern(const ex_http_request *request)
{
	return request->match.pattern ? request->match.pattern : "unmatched";
}

const char *ex_http_param(const ex_http_request *request, const char *name)
{
	for (size_t i = 0; i < request->match.param_count; i++) {
		if (strcmp(request->match.params[i].name, name) == 0)
			return request->match.params[i].value;
	}
	return NULL;
}

const char *ex_http_header(const ex_http_request *request, const char *name)
{
	return MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, name);
}

const void *ex_http_body(const ex_http_request *request, size_t *length)
{
	*length = request->body_length;
	return request->body;
}

int ex_http_query(const ex_http_request *request, const char *name, char *out, size_t size)
{
	const char *raw = MHD_lookup_connection_value(request->connection, MHD_GET_ARGUMENT_KIND, name);
	if (raw == NULL)
		return 1;
	return ex_percent_decode(raw, strlen(raw), out, size, 1);
}

void ex_http_set_log_tenant(ex_http_request *request, const char *tenant_id)
{
	snprintf(request->tenant_id, sizeof(request->tenant_id), "%s", tenant_id ? tenant_id : "");
	ex_log_context_set(request->request_id, request->tenant_id);
}

/* Responses. */

static void set_response(ex_http_request *request, unsigned status, struct MHD_Response *response)
{
	if (response == NULL) {
		ex_log(EX_LOG_ERROR, "http_response_failed", "{s:i}", "status", (int)status);
		return;
	}
	if (request->response != NULL) {
		/* A handler responded twice. Keep the first response, because it may already be logged. */
		ex_log(EX_LOG_ERROR, "http_response_duplicate", "{s:s}", "route", ex_http_route_pattern(request));
		MHD_destroy_response(response);
		return;
	}
	request->response = response;
	request->status = status;
}

void ex_http_add_header(ex_http_request *request, const char *name, const char *value)
{
	if (request->response == NULL) {
		ex_log(EX_LOG_ERROR, "http_header_without_response", "{s:s}", "header", name);
		return;
	}
	MHD_add_response_header(request->response, name, value);
}

void ex_http_respond_mhd(ex_http_request *request, unsigned status, struct MHD_Response *response)
{
	set_response(request, status, response);
}

void ex_http_respond_bytes(ex_http_request *request, unsigned status, const char *content_type,
			   const void *data, size_t length)
{
	struct MHD_Response *response =
		MHD_create_response_from_buffer(length, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (response != NULL && content_type != NULL)
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	set_response(request, status, response);
}

void ex_http_respond_text(ex_http_request *request, unsigned status, const char *content_type,
			  const char *text)
{
	ex_http_respond_bytes(request, status, content_type, text, strlen(text));
}

void ex_http_respond_json(ex_http_request *request, unsigned status, json_t *json)
{
	char *text = json_dumps(json, JSON_COMPACT);
	json_decref(json);
	if (text == NULL) {
		ex_http_respond_text(request, 500, "application/json",
				     "{\"error\":{\"code\":\"internal_error\",\"message\":\"response could not be encoded\"}}");
		return;
	}
	struct MHD_Response *response =
		MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (response == NULL) {
		free(text);
		return;
	}
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	set_response(request, status, response);
}

void ex_http_respond_error_detail(ex_http_request *request, unsigned status, const char *code,
				  const char *message, json_t *detail)
{
	json_t *error = json_pack("{s:s, s:s}", "code", code, "message", message);
	if (detail != NULL)
		json_object_set_new(error, "detail", detail);
	ex_http_respond_json(request, status, json_pack("{s:o}", "error", error));
}

void ex_http_respond_error(ex_http_request *request, unsigned status, const char *code,
			   const char *message_format, ...)
{
	char message[512];
	va_list args;

	va_start(args, message_format);
	vsnprintf(message, sizeof(message), message_format, args);
	va_end(args);
	ex_http_respond_error_detail(request, status, code, message, NULL);
}

/* Request lifecycle. */

static ex_http_request *begin_request(ex_http_server *server, struct MHD_Connection *connection,
				      const char *url, const char *method)
{
	ex_http_request *request = calloc(1, sizeof(*request));
	if (request == NULL)
		return NULL;

	request->server = server;
	request->connection = connection;
	clock_gettime(CLOCK_MONOTONIC, &request->started);
	snprintf(request->method, sizeof(request->method), "%s", method);
	request->path = strdup(url);

	const char *client_id = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-Request-Id");
	if (client_id != NULL && request_id_is_acceptable(client_id))
		snprintf(request->request_id, sizeof(request->request_id), "%s", client_id);
	else
		generate_request_id(request->request_id, sizeof(request->request_id));
	read_client_address(request);
	atomic_fetch_add(&server->in_flight, 1);
	return request;
}

int64_t ex_http_declared_body_length(const ex_http_request *request)
{
	const char *length_text = MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND,
							      MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (length_text == NULL || length_text[0] < '0' || length_text[0] > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long declared = strtoull(length_text, &end, 10);
	if (*end != '\0' || errno != 0 || declared > INT64_MAX)
		return -1;
	return (int64_t)declared;
}

/* Responds 413 for a body over the route's limit; DECLARED is its Content-Length, or NULL when chunked. */
static void respond_too_large(ex_http_request *request, const unsigned long long *declared)
{
	if (declared != NULL)
		ex_http_respond_error(request, 413, "payload_too_large",
				      "request body of %llu bytes exceeds the limit of %zu bytes for this endpoint",
				      *declared, request->target->max_body);
	else
		ex_http_respond_error(request, 413, "payload_too_large",
				      "request body exceeds the limit of %zu bytes for this endpoint",
				      request->target->max_body);
	if (request->target->handler == NULL && request->target->stream.decorate != NULL)
		request->target->stream.decorate(request, request->target->context);
}

/* Queues a 413 and returns 1 when Content-Length is over the route's limit. */
static int declared_body_too_large(ex_http_request *request)
{
	const char *length_text = MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND,
							      MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (length_text == NULL)
		return 0;
	char *end;
	unsigned long long declared = strtoull(length_text, &end, 10);
	if (*end != '\0' || declared <= request->target->max_body)
		return 0;

	respond_too_large(request, &declared);
	return 1;
}

/* Queues the response for a request the router rejected (400, 404, 405); returns 1 if it did. */
static int answer_unrouted(ex_http_request *request)
{
	switch (request->match.status) {
	case EX_ROUTE_FOUND:
		return 0;
	case EX_ROUTE_BAD_PATH:
		ex_http_respond_error(request, 400, "invalid_path",
				      "the request path is too long or has an invalid percent-encoding");
		return 1;
	case EX_ROUTE_METHOD_NOT_ALLOWED:
		ex_http_respond_error(request, 405, "method_not_allowed",
				      "method %s is not allowed here; allowed: %s", request->method, request->match.allow);
		ex_http_add_header(request, "Allow", request->match.allow);
		return 1;
	case EX_ROUTE_NOT_FOUND:
		break;
	}
	ex_http_respond_error(request, 404, "not_found", "no resource at this path");
	return 1;
}

static int append_body(ex_http_request *request, const char *data, size_t size)
{
	if (request->body_state == BODY_TOO_LARGE)
		return 0;
	if (size > request->target->max_body - request->body_length) {
		request->body_state = BODY_TOO_LARGE;
		free(request->body);
		request->body = NULL;
		request->body_length = 0;
		return 0;
	}
	size_t needed = request->body_length + size + 1;
	if (needed > request->body_capacity) {
		size_t capacity = request->body_capacity ? request->body_capacity * 2 : 8192;
		while (capacity < needed)
			capacity *= 2;
		char *grown = realloc(request->body, capacity);
		if (grown == NULL)
			return -1;
		request->body = grown;
		request->body_capacity = capacity;
	}
	memcpy(request->body + request->body_length, data, size);
	request->body_length += size;
	request->body[request->body_length] = '\0';
	return 0;
}

/* Returns 1 when the client sent Expect: 100-continue, so it waits for a response before sending the body. */
static int client_expects_continue(const ex_http_request *request)
{
	const char *expect = MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
	return expect != NULL && strcasecmp(expect, "100-continue") == 0;
}

/*
 * Hands a piece of a streaming body to its handler. Once the handler has
 * responded, or the body passed the limit, pieces are dropped. Returns -1
 * to close the connection when a body that is only being dropped passes
 * the limit.
 */
static int pass_body_piece(ex_http_request *request, const char *data, size_t size)
{
	if (request->body_state == BODY_TOO_LARGE)
		return 0;
	if (size > request->target->max_body - request->body_received) {
		if (request->response != NULL)
			return -1;
		request->body_state = BODY_TOO_LARGE;
		return 0;
	}
	request->body_received += size;
	if (request->response == NULL)
		request->target->stream.body(request, request->target->context, &request->stream_state, data, size);
	return 0;
}

static enum MHD_Result queue_answer(ex_http_request *request)
{
	if (request->response == NULL) {
		ex_log(EX_LOG_ERROR, "http_handler_no_response", "{s:s}", "route", ex_http_route_pattern(request));
		ex_http_respond_error(request, 500, "internal_error", "the server failed to produce a response");
		if (request->response == NULL)
			return MHD_NO;
	}
	MHD_add_response_header(request->response, "X-Request-Id", request->request_id);
	enum MHD_Result result = MHD_queue_response(request->connection, request->status, request->response);
	MHD_destroy_response(request->response);
	request->response = NULL;
	request->answered = 1;
	return result;
}

static enum MHD_Result handle_access(void *server_context, struct MHD_Connection *connection,
				     const char *url, const char *method, const char *version,
				     const char *upload_data, size_t *upload_data_size, void **request_slot)
{
	ex_http_server *server = server_context;
	ex_http_request *request = *request_slot;
	(void)version;

	if (request == NULL) {
		request = begin_request(server, connection, url, method);
		if (request == NULL)
			return MHD_NO;
		*request_slot = request;
		ex_log_context_set(request->request_id, NULL);

		ex_router_match(server->router, method, url, &request->match);
		if (answer_unrouted(request))
			return queue_answer(request);
		request->target = request->match.handler;
		if (declared_body_too_large(request))
			return queue_answer(request);
		if (request->target->handler == NULL) {
			request->stream_begun = 1;
			request->target->stream.begin(request, request->target->context, &request->stream_state);
			if (request->response != NULL && client_expects_continue(request))
				return queue_answer(request);
		}
		return MHD_YES;
	}

	ex_log_context_set(request->request_id, request->tenant_id);
	if (request->answered)
		return MHD_YES;

	if (*upload_data_size > 0) {
		if (request->target->handler == NULL) {
			if (pass_body_piece(request, upload_data, *upload_data_size) != 0)
				return MHD_NO;
		} else if (append_body(request, upload_data, *upload_data_size) != 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}

	if (request->response != NULL) {
		/* A streaming handler responded mid-body; the rest of the body was dropped. */
	} else if (request->body_state == BODY_TOO_LARGE) {
		respond_too_large(request, NULL);
	} else if (request->target->handler == NULL) {
		request->target->stream.end(request, request->target->context, &request->stream_state);
	} else {
		request->target->handler(request, request->target->context);
	}
	return queue_answer(request);
}

static void complete_request(void *server_context, struct MHD_Connection *connection,
			     void **request_slot, enum MHD_RequestTerminationCode termination)
{
	ex_http_server *server = server_context;
	ex_http_request *request = *request_slot;
	(void)connection;

	if (request == NULL)
		return;
	*request_slot = NULL;

	double seconds = seconds_since(&request->started);
	unsigned status = request->answered ? request->status : 499;
	ex_log_context_set(request->request_id, request->tenant_id);
	if (server->options.metrics != NULL)
		ex_metrics_observe_request(server->options.metrics, ex_http_route_pattern(request),
					   request->method, status, seconds);
	ex_log(EX_LOG_INFO, "http_request", "{s:s, s:s, s:s, s:i, s:f, s:s, s:b}",
	       "method", request->method, "path", request->path ? request->path : "",
	       "route", ex_http_route_pattern(request), "status", (int)status,
	       "duration_ms", seconds * 1000.0, "address", request->client_address,
	       "completed", termination == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	if (request->stream_begun && request->target->stream.release != NULL)
		request->target->stream.release(request, request->target->context, &request->stream_state);
	ex_log_context_set(NULL, NULL);

	if (request->response != NULL)
		MHD_destroy_response(request->response);
	free(request->body);
	free(request->path);
	free(request);
	atomic_fetch_sub(&server->in_flight, 1);
}

/* Keeps the URL as received so that the router decodes each segment itself. */
static size_t keep_url_encoded(void *context, struct MHD_Connection *connection, char *text)
{
	(void)context;
	(void)connection;
	return strlen(text);
}

/* libmicrohttpd passes its own printf format; clang cannot see it is a literal. */
__attribute__((format(printf, 2, 0)))
static void log_mhd_message(void *context, const char *format, va_list args)
{
	char message[512];
	(void)context;

	vsnprintf(message, sizeof(message), format, args);
	size_t length = strlen(message);
	while (length > 0 && (message[length - 1] == '\n' || message[length - 1] == '\r'))
		message[--length] = '\0';
	ex_log(EX_LOG_WARN, "http_server_message", "{s:s}", "message", message);
}

/* Server construction and lifecycle. */

ex_http_server *ex_http_server_new(const ex_http_options *options)
{
	ex_http_server *server = calloc(1, sizeof(*server));
	if (server == NULL)
		return NULL;

	server->options = *options;
	snprintf(server->daemon_name, sizeof(server->daemon_name), "%s", options->daemon ? options->daemon : "expresso");
	snprintf(server->bind_address, sizeof(server->bind_address), "%s",
		 options->bind_address ? options->bind_address : "127.0.0.1");
	if (server->options.threads == 0)
		server->options.threads = 4;
	if (server->options.connection_timeout_s == 0)
		server->options.connection_timeout_s = 60;
	if (server->options.max_connections == 0)
		server->options.max_connections = 1024;
	if (server->options.max_body == 0)
		server->options.max_body = EX_HTTP_DEFAULT_MAX_BODY;
	if (server->options.max_header_bytes == 0)
		server->options.max_header_bytes = 64 * 1024;
	server->router = ex_router_new();
	if (server->router == NULL) {
		free(server);
		return NULL;
	}
	atomic_init(&server->in_flight, 0);
	return server;
}

int ex_http_route_limited(ex_http_server *server, const char *method, const char *pattern,
			  ex_http_handler handler, void *context, size_t max_body)
{
	if (handler == NULL || server->target_count == EX_ROUTER_MAX_ROUTES)
		return -1;
	route_target *target = &server->targets[server->target_count];
	target->handler = handler;
	target->context = context;
	target->max_body = max_body;
	if (ex_router_add(server->router, method, pattern, target, NULL) != 0)
		return -1;
	server->target_count++;
	return 0;
}

int ex_http_route_streaming(ex_http_server *server, const char *method, const char *pattern,
			    const ex_http_stream_handler *handler, void *context, size_t max_body)
{
	if (handler->begin == NULL || handler->body == NULL || handler->end == NULL ||
	    server->target_count == EX_ROUTER_MAX_ROUTES)
		return -1;
	route_target *target = &server->targets[server->target_count];
	target->handler = NULL;
	target->stream = *handler;
	target->context = context;
	target->max_body = max_body;
	if (ex_router_add(server->router, method, pattern, target, NULL) != 0)
		return -1;
	server->target_count++;
	return 0;
}

int ex_http_route(ex_http_server *server, const char *method, const char *pattern,
		  ex_http_handler handler, void *context)
{
	return ex_http_route_limited(server, method, pattern, handler, context, server->options.max_body);
}

/* Fills ADDRESS from the bind address text; returns its length or 0. */
static socklen_t parse_bind_address(const ex_http_server *server, struct sockaddr_storage *address, int *is_ipv6)
{
	memset(address, 0, sizeof(*address));
	struct sockaddr_in *v4 = (struct sockaddr_in *)address;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)address;

	if (inet_pton(AF_INET, server->bind_address, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(server->options.port);
		*is_ipv6 = 0;
		return sizeof(*v4);
	}
	if (inet_pton(AF_INET6, server->bind_address, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(server->options.port);
		*is_ipv6 = 1;
		return sizeof(*v6);
	}
	return 0;
}

static bool has_streaming_route(const ex_http_server *server)
{
	for (size_t i = 0; i < server->target_count; i++)
		if (server->targets[i].handler == NULL)
			return true;
	return false;
}

int ex_http_server_start(ex_http_server *server, char *err, size_t errlen)
{
	struct sockaddr_storage address;
	int is_ipv6 = 0;

	if (parse_bind_address(server, &address, &is_ipv6) == 0) {
		snprintf(err, errlen, "invalid bind address %s: expected an IPv4 or IPv6 literal",
			 server->bind_address);
		return -1;
	}

	/*
	 * A server with streaming routes polls with poll(2). epoll mode is
	 * edge-triggered, and there libmicrohttpd 0.9.75 misses a client's
	 * close that arrives while it is still reading the body. Its last read
	 * returns the rest of the bytes, it takes the socket for drained, and
	 * no new event comes. The request, and the upload lock its handler
	 * holds, then wait for the connection timeout. poll(2) reports the
	 * close on the next round. epoll stays for the other servers, where a
	 * request locks nothing while its body arrives.
	 */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | (has_streaming_route(server) ? MHD_USE_POLL : MHD_USE_EPOLL) |
			 MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (is_ipv6)
		flags |= MHD_USE_IPv6;

	server->mhd = MHD_start_daemon(
		flags, server->options.port, NULL, NULL, handle_access, server,
		/* First, so that messages about the options below are logged as JSON too. */
		MHD_OPTION_EXTERNAL_LOGGER, log_mhd_message, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&address,
		MHD_OPTION_THREAD_POOL_SIZE, server->options.threads,
		MHD_OPTION_CONNECTION_TIMEOUT, server->options.connection_timeout_s,
		MHD_OPTION_CONNECTION_LIMIT, server->options.max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, server->options.max_connections_per_ip,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, server->options.max_header_bytes,
		MHD_OPTION_NOTIFY_COMPLETED, complete_request, server,
		MHD_OPTION_UNESCAPE_CALLBACK, keep_url_encoded, NULL,
		MHD_OPTION_END);
	if (server->mhd == NULL) {
		snprintf(err, errlen, "cannot listen on %s port %u: the address is in use or not available",
			 server->bind_address, server->options.port);
		return -1;
	}

	const union MHD_DaemonInfo *info = MHD_get_daemon_info(server->mhd, MHD_DAEMON_INFO_BIND_PORT);
	server->bound_port = info ? info->port : server->options.port;
	ex_log(EX_LOG_INFO, "http_listening", "{s:s, s:i, s:i}", "address", server->bind_address,
	       "port", (int)server->bound_port, "threads", (int)server->options.threads);
	return 0;
}

uint16_t ex_http_server_port(const ex_http_server *server)
{
	return server->bound_port;
}

unsigned ex_http_server_in_flight(const ex_http_server *server)
{
	return atomic_load(&server->in_flight);
}

unsigned ex_http_server_shutdown(ex_http_server *server, uint64_t timeout_ms)
{
	if (server->mhd == NULL)
		return 0;

	MHD_socket listener = MHD_quiesce_daemon(server->mhd);
	if (listener != MHD_INVALID_SOCKET)
		close(listener);
	ex_log(EX_LOG_INFO, "http_draining", "{s:i, s:i}", "in_flight",
	       (int)atomic_load(&server->in_flight), "timeout_ms", (int)timeout_ms);

	struct timespec started;
	clock_gettime(CLOCK_MONOTONIC, &started);
	while (atomic_load(&server->in_flight) > 0 && seconds_since(&started) * 1000.0 < (double)timeout_ms) {
		struct timespec pause = { 0, 20 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}

	unsigned remaining = atomic_load(&server->in_flight);
	MHD_stop_daemon(server->mhd);
	server->mhd = NULL;
	ex_log(remaining ? EX_LOG_WARN : EX_LOG_INFO, "http_stopped", "{s:i}", "abandoned_requests", (int)remaining);
	return remaining;
}

void ex_http_server_free(ex_http_server *server)
{
	if (server == NULL)
		return;
	if (server->mhd != NULL)
		MHD_stop_daemon(server->mhd);
	ex_router_free(server->router);
	free(server);
}
