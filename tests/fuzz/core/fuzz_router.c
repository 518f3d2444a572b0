/*
 * Fuzzes the router and the text parsers of libexpresso-core with inputs
 * shaped like requests: the first line is the method, the second the raw
 * path, the rest a setting value. Checks invariants, not just crashes:
 * a found route's parameters decode without NUL, and parsers either
 * succeed or reject.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/config.h"
#include "expresso/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ex_router *router;
static int marker;

static void build_router(void)
{
	router = ex_router_new();
	ex_router_add(router, "GET", "/", &marker, NULL);
	ex_router_add(router, "GET", "/health", &marker, NULL);
	ex_router_add(router, "GET", "/api/v1/mail/folders/{id}", &marker, NULL);
	ex_router_add(router, "DELETE", "/api/v1/mail/folders/{id}", &marker, NULL);
	ex_router_add(router, "GET", "/api/v1/mail/folders/{id}/messages/{uid}", &marker, NULL);
	ex_router_add(router, "PUT", "/dav/{path...}", &marker, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (router == NULL)
		build_router();

	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	char *method = text;
	char *path = strchr(method, '\n');
	char *rest = NULL;
	if (path != NULL) {
		*path++ = '\0';
		rest = strchr(path, '\n');
		if (rest != NULL)
			*rest++ = '\0';
	}
	if (path != NULL && strlen(method) < 16) {
		ex_route_match match;
		ex_router_match(router, method, path, &match);
		if (match.status == EX_ROUTE_FOUND) {
			for (size_t i = 0; i < match.param_count; i++) {
				if (match.params[i].value == NULL || match.params[i].name == NULL)
					abort();
			}
		}
	}

	char decoded[512];
	if (ex_percent_decode(text, strlen(text), decoded, sizeof(decoded), 1) == 0 &&
	    strlen(decoded) >= sizeof(decoded))
		abort();

	if (rest != NULL) {
		uint64_t unsigned_value;
		int64_t signed_value;
		bool bool_value;
		ex_parse_size(rest, &unsigned_value);
		ex_parse_duration_ms(rest, &unsigned_value);
		ex_parse_int(rest, &signed_value);
		ex_parse_bool(rest, &bool_value);
	}
	free(text);
	return 0;
}
