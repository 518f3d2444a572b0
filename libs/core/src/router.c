/*
 * Segment-by-segment route matching over a fixed table. Routes are few
 * (tens per daemon), so a linear scan is faster than any index and keeps
 * the code obvious.
 */
#include "expresso/router.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	char *text;  /* literal text, or the parameter name */
	int is_param;
	int is_rest; /* "{name...}": matches the remaining segments */
} pattern_segment;

typedef struct {
	char method[16];
	char *pattern;
	size_t segment_count;
	pattern_segment segments[EX_ROUTER_MAX_SEGMENTS];
	void *handler;
	void *context;
} route;

struct ex_router {
	size_t count;
	route routes[EX_ROUTER_MAX_ROUTES];
};

ex_router *ex_router_new(void)
{
	return calloc(1, sizeof(ex_router));
}

void ex_router_free(ex_router *router)
{
	if (router == NULL)
		return;
	for (size_t i = 0; i < router->count; i++) {
		for (size_t s = 0; s < router->routes[i].segment_count; s++)
			free(router->routes[i].segments[s].text);
		free(router->routes[i].pattern);
	}
	free(router);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ex_percent_decode(const char *in, size_t length, char *out, size_t out_size, int plus_is_space)
{
	size_t used = 0;

	for (size_t i = 0; i < length; i++) {
		char c = in[i];
		if (c == '%') {
			if (i + 2 >= length)
				return -1;
			int high = hex_value(in[i + 1]);
			int low = hex_value(in[i + 2]);
			if (high < 0 || low < 0)
				return -1;
			c = (char)(high * 16 + low);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		if (c == '\0' || used + 1 >= out_size)
			return -1;
		out[used++] = c;
	}
	out[used] = '\0';
	return 0;
}

/* Splits PATTERN into segments; returns -1 on a malformed pattern. */
static int parse_pattern(route *r, const char *pattern)
{
	if (pattern[0] != '/')
		return -1;

	/* Split exactly as split_path() does, so "/" is one empty segment. */
	const char *p = pattern + 1;
	for (;;) {
		if (r->segment_count == EX_ROUTER_MAX_SEGMENTS)
			return -1;
		const char *end = strchr(p, '/');
		size_t length = end ? (size_t)(end - p) : strlen(p);
		pattern_segment *segment = &r->segments[r->segment_count++];

		if (length >= 2 && p[0] == '{' && p[length - 1] == '}') {
			segment->is_param = 1;
			size_t name_length = length - 2;
			if (name_length > 3 && strncmp(p + length - 4, "...}", 4) == 0) {
				segment->is_rest = 1;
				name_length -= 3;
				if (end != NULL)
					return -1; /* a rest parameter must be last */
			}
			if (name_length == 0)
				return -1;
			segment->text = strndup(p + 1, name_length);
		} else {
			segment->text = strndup(p, length);
		}
		if (segment->text == NULL)
			return -1;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
}

int ex_router_add(ex_router *router, const char *method, const char *pattern,
		  void *handler, void *context)
{
	if (router->count == EX_ROUTER_MAX_ROUTES || strlen(method) >= sizeof(router->routes[0].method))
		return -1;

	route *r = &router->routes[router->count];
	memset(r, 0, sizeof(*r));
	if (parse_pattern(r, pattern) != 0) {
		for (size_t s = 0; s < r->segment_count; s++)
			free(r->segments[s].text);
		memset(r, 0, sizeof(*r));
		return -1;
	}
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->pattern = strdup(pattern);
	r->handler = handler;
	r->context = context;
	router->count++;
	return 0;
}

typedef struct {
	const char *start;
	size_t length;
} path_segment;

/* Splits a raw path into segments; "/" is one empty segment. */
static int split_path(const char *path, path_segment *segments, size_t *count)
{
	if (path[0] != '/')
		return -1;

	size_t n = 0;
	const char *p = path + 1;
	for (;;) {
		if (n == EX_ROUTER_MAX_SEGMENTS)
			return -1;
		const char *end = strchr(p, '/');
		segments[n].start = p;
		segments[n].length = end ? (size_t)(end - p) : strlen(p);
		n++;
		if (end == NULL)
			break;
		p = end + 1;
	}
	*count = n;
	return 0;
}

/* Tries one route; on success fills the parameters of MATCH. */
static int match_route(const route *r, const path_segment *segments, size_t count,
		       ex_route_match *match, int *bad_path)
{
	size_t storage_used = 0;
	size_t param_count = 0;

	for (size_t i = 0; i < r->segment_count; i++) {
		const pattern_segment *ps = &r->segments[i];
		if (i >= count)
			return 0;
		if (!ps->is_param) {
			if (strlen(ps->text) != segments[i].length ||
			    memcmp(ps->text, segments[i].start, segments[i].length) != 0)
				return 0;
			continue;
		}

		size_t length = segments[i].length;
		if (ps->is_rest)
			length = strlen(segments[i].start);
		if (param_count == EX_ROUTER_MAX_PARAMS)
			return 0;
		char *out = match->storage + storage_used;
		if (ex_percent_decode(segments[i].start, length, out,
				      sizeof(match->storage) - storage_used, 0) != 0) {
			*bad_path = 1;
			return 0;
		}
		if (out[0] == '\0' && !ps->is_rest)
			return 0;
		match->params[param_count].name = ps->text;
		match->params[param_count].value = out;
		param_count++;
		storage_used += strlen(out) + 1;
		if (ps->is_rest) {
			match->param_count = param_count;
			return 1;
		}
	}
	if (r->segment_count != count)
		return 0;
	match->param_count = param_count;
	return 1;
}

static void add_allowed(ex_route_match *match, const char *method)
{
	if (strstr(match->allow, method) != NULL)
		return;
	size_t used = strlen(match->allow);
	snprintf(match->allow + used, sizeof(match->allow) - used, "%s%s", used ? ", " : "", method);
}

void ex_router_match(const ex_router *router, const char *method, const char *path,
		     ex_route_match *match)
{
	path_segment segments[EX_ROUTER_MAX_SEGMENTS];
	size_t count = 0;
	int bad_path = 0;

	memset(match, 0, offsetof(ex_route_match, storage));
	match->status = EX_ROUTE_NOT_FOUND;
	if (strlen(path) >= EX_ROUTER_MAX_PATH || split_path(path, segments, &count) != 0) {
		match->status = EX_ROUTE_BAD_PATH;
		return;
	}

	/* HEAD is served by a GET route; libmicrohttpd drops the body. */
	const char *lookup = strcmp(method, "HEAD") == 0 ? "GET" : method;
	int path_matched = 0;
	for (size_t i = 0; i < router->count; i++) {
		const route *r = &router->routes[i];
		if (!match_route(r, segments, count, match, &bad_path))
			continue;
		if (strcmp(r->method, lookup) == 0) {
			match->status = EX_ROUTE_FOUND;
			match->pattern = r->pattern;
			match->handler = r->handler;
			match->context = r->context;
			return;
		}
		path_matched = 1;
		add_allowed(match, r->method);
		if (strcmp(r->method, "GET") == 0)
			add_allowed(match, "HEAD");
	}
	match->param_count = 0;
	if (bad_path)
		match->status = EX_ROUTE_BAD_PATH;
	else if (path_matched)
		match->status = EX_ROUTE_METHOD_NOT_ALLOWED;
}
