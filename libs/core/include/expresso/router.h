/*
 * Path router: patterns such as "/api/v1/mail/folders/{id}" match raw
 * request paths segment by segment. Parameters are percent-decoded after
 * matching, so an encoded "/" stays inside its segment. The router does
 * no HTTP I/O; http.h builds on it.
 */
#ifndef EXPRESSO_ROUTER_H
#define EXPRESSO_ROUTER_H

#include <stddef.h>

enum {
	EX_ROUTER_MAX_ROUTES = 256,
	EX_ROUTER_MAX_SEGMENTS = 32,
	EX_ROUTER_MAX_PARAMS = 8,
	EX_ROUTER_MAX_PATH = 4096,
};

typedef struct ex_router ex_router;

typedef struct {
	const char *name;
	char *value; /* percent-decoded, NUL-terminated */
} ex_route_param;

typedef enum {
	EX_ROUTE_FOUND = 0,
	EX_ROUTE_NOT_FOUND,          /* no pattern matches the path */
	EX_ROUTE_METHOD_NOT_ALLOWED, /* a pattern matches, not for this method */
	EX_ROUTE_BAD_PATH,           /* invalid percent-encoding, NUL, or too long */
} ex_route_status;

typedef struct {
	ex_route_status status;
	const char *pattern;  /* the matched pattern (metrics label) */
	void *handler;        /* opaque to the router */
	void *context;
	size_t param_count;
	ex_route_param params[EX_ROUTER_MAX_PARAMS];
	char allow[128];      /* for 405: comma-separated methods */
	char storage[EX_ROUTER_MAX_PATH]; /* backing store of param values */
} ex_route_match;

ex_router *ex_router_new(void);
void ex_router_free(ex_router *router);

/*
 * Adds METHOD PATTERN. A segment "{name}" captures one segment; a final
 * "{name...}" captures the rest of the path. Returns 0, or -1 if the
 * pattern is invalid or the table is full.
 */
int ex_router_add(ex_router *router, const char *method, const char *pattern,
		  void *handler, void *context);

/* Matches METHOD PATH (raw, still percent-encoded, without the query). */
void ex_router_match(const ex_router *router, const char *method, const char *path,
		     ex_route_match *match);

/* Decodes %XX escapes of in[0..length) into out; rejects %00 and bad escapes. */
int ex_percent_decode(const char *in, size_t length, char *out, size_t out_size, int plus_is_space);

#endif
