/*
 * HTTP server on libmicrohttpd (internal thread pool, epoll).
 *
 * A daemon registers routes with a handler each. The server itself responds
 * with 400 for an undecodable path, 404, 405 with Allow, and 413 when
 * Content-Length exceeds the route's body limit (before any body is read)
 * or when a chunked body grows past it. Every response carries
 * X-Request-Id (the client's, when it is well formed, else a new one);
 * every finished request is counted in metrics and written as one access
 * log line. Errors use the JSON form {"error":{"code":...,"message":...}}.
 */
#ifndef EXPRESSO_HTTP_H
#define EXPRESSO_HTTP_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "expresso/metrics.h"

struct MHD_Connection;
struct MHD_Response;

typedef struct ex_http_server ex_http_server;
typedef struct ex_http_request ex_http_request;

/* Handlers must respond with one of the ex_http_respond_* calls. */
typedef void (*ex_http_handler)(ex_http_request *request, void *context);

enum {
	EX_HTTP_REQUEST_ID_MAX = 64, /* longer client ids are replaced */
	EX_HTTP_DEFAULT_MAX_BODY = 1024 * 1024,
};

typedef struct {
	const char *daemon;              /* name in logs */
	const char *bind_address;        /* IPv4 or IPv6 literal; default 127.0.0.1 */
	uint16_t port;                   /* 0 picks a free port (tests) */
	unsigned threads;                /* worker threads; default 4 */
	unsigned connection_timeout_s;   /* idle connection timeout; default 60 */
	unsigned max_connections;        /* total; default 1024 */
	unsigned max_connections_per_ip; /* 0 = no limit */
	size_t max_body;                 /* default body limit for routes; default 1 MiB */
	size_t max_header_bytes;         /* request line plus headers; default 64 KiB */
	ex_metrics *metrics;             /* may be NULL */
} ex_http_options;

ex_http_server *ex_http_server_new(const ex_http_options *options);

/* Adds a route with the server's default body limit. Returns 0 or -1. */
int ex_http_route(ex_http_server *server, const char *method, const char *pattern,
		  ex_http_handler handler, void *context);

/* Adds a route with its own body limit in bytes. */
int ex_http_route_limited(ex_http_server *server, const char *method, const char *pattern,
			  ex_http_handler handler, void *context, size_t max_body);

/*
 * A streaming route hands its body to the handler piece by piece as it
 * arrives, instead of buffering it whole, so memory stays bounded by the
 * server's read buffer whatever the body size. The server checks the
 * route's body limit as for other routes: 413 from Content-Length before
 * begin runs, or once a chunked body passes it. Every callback of one
 * request runs on the same thread; STATE is the handler's per-request
 * pointer, NULL at first.
 */
typedef struct {
	/*
	 * Runs once the headers are in, before any body byte is read. A
	 * response here rejects the request and no body piece reaches the
	 * handler. It is sent at once to a client that sent Expect:
	 * 100-continue, which then sends no body. Other clients send the body
	 * anyway, so the server reads and drops it first (up to the limit),
	 * because closing mid-body would lose the response.
	 */
	void (*begin)(ex_http_request *request, void *context, void **state);
	/*
	 * Receives the next piece of the body. A response here stops the
	 * delivery: the server reads and drops the rest of the body, then
	 * sends that response.
	 */
	void (*body)(ex_http_request *request, void *context, void **state, const void *data, size_t length);
	/* Runs after the last body byte unless a response was already made; it must respond. */
	void (*end)(ex_http_request *request, void *context, void **state);
	/*
	 * Runs once when the request ends, for every request whose begin ran:
	 * after end, or without end when the client closed the connection or
	 * timed out mid-body, the body passed the limit, or the server stopped.
	 * It frees *STATE. May be NULL.
	 */
	void (*release)(ex_http_request *request, void *context, void **state);
	/*
	 * Runs when the server itself responds to a request of this route, with
	 * the 413 for a body over the limit, so that the handler can add the
	 * headers its protocol puts on every response. May be NULL.
	 */
	void (*decorate)(ex_http_request *request, void *context);
} ex_http_stream_handler;

/* Adds a streaming route with the body limit MAX_BODY in bytes. HANDLER is copied. */
int ex_http_route_streaming(ex_http_server *server, const char *method, const char *pattern,
			    const ex_http_stream_handler *handler, void *context, size_t max_body);

/*
 * Returns the body length the client declared in Content-Length, or -1
 * when it sent none (a chunked body) or an invalid one.
 */
int64_t ex_http_declared_body_length(const ex_http_request *request);

int ex_http_server_start(ex_http_server *server, char *err, size_t errlen);

/* Returns the bound port (useful after starting on port 0). */
uint16_t ex_http_server_port(const ex_http_server *server);

/* Returns the number of requests received and not yet completed. */
unsigned ex_http_server_in_flight(const ex_http_server *server);

/*
 * Stops accepting connections, waits up to timeout_ms for in-flight
 * requests to finish, then closes every connection and stops the threads.
 * Returns the number of requests still in flight when it gave up (0 when
 * the drain completed).
 */
unsigned ex_http_server_shutdown(ex_http_server *server, uint64_t timeout_ms);

void ex_http_server_free(ex_http_server *server);

/* Request accessors; returned strings live as long as the request. */
const char *ex_http_method(const ex_http_request *request);
const char *ex_http_path(const ex_http_request *request);       /* raw, without the query */
const char *ex_http_route_pattern(const ex_http_request *request);
const char *ex_http_param(const ex_http_request *request, const char *name); /* decoded */
const char *ex_http_header(const ex_http_request *request, const char *name);
const char *ex_http_request_id(const ex_http_request *request);
const char *ex_http_client_address(const ex_http_request *request);
/* The buffered body; NULL with *length 0 on a streaming route. */
const void *ex_http_body(const ex_http_request *request, size_t *length);
struct MHD_Connection *ex_http_connection(const ex_http_request *request);

/*
 * Copies the decoded query parameter NAME into out. Returns 0 when found,
 * 1 when absent, -1 when its encoding is invalid or it does not fit.
 */
int ex_http_query(const ex_http_request *request, const char *name, char *out, size_t size);

/* Sets the tenant shown in this request's log lines. */
void ex_http_set_log_tenant(ex_http_request *request, const char *tenant_id);

/* Adds a header to the response the handler is about to send. */
void ex_http_add_header(ex_http_request *request, const char *name, const char *value);

/* Responses; each takes what it is given (json is stolen). */
void ex_http_respond_json(ex_http_request *request, unsigned status, json_t *json);
void ex_http_respond_error(ex_http_request *request, unsigned status, const char *code,
			   const char *message_format, ...) __attribute__((format(printf, 4, 5)));
void ex_http_respond_error_detail(ex_http_request *request, unsigned status, const char *code,
				  const char *message, json_t *detail);
void ex_http_respond_bytes(ex_http_request *request, unsigned status, const char *content_type,
			   const void *data, size_t length);
void ex_http_respond_text(ex_http_request *request, unsigned status, const char *content_type,
			  const char *text);
/* Sends a response built with libmicrohttpd directly (streams, files). */
void ex_http_respond_mhd(ex_http_request *request, unsigned status, struct MHD_Response *response);

#endif
