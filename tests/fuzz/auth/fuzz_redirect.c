/*
 * Fuzzes the post-login redirect check with arbitrary bytes and checks
 * invariants, not only crashes. Every accepted candidate, and the Location
 * value made from it, must stay on this origin when a browser resolves it,
 * also after the WHATWG URL parser drops tabs and newlines and after one
 * more percent-decoding by a proxy. A rejected candidate must give "/".
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safe_redirect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_slash(unsigned char c)
{
	return c == '/' || c == '\\';
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Checks that TEXT, read as a browser reads a Location, is a path on this origin. */
static void check_same_origin(const unsigned char *text, size_t length)
{
	unsigned char stripped[EX_RP_REDIRECT_LOCATION_MAX];
	size_t used = 0;

	/* The URL parser removes ASCII tab and newline anywhere. */
	for (size_t i = 0; i < length && used < sizeof(stripped); i++) {
		if (text[i] != '\t' && text[i] != '\n' && text[i] != '\r')
			stripped[used++] = text[i];
	}
	if (used == 0 || stripped[0] != '/')
		abort();
	if (used >= 2 && is_slash(stripped[1]))
		abort();

	/* One more decoding, as a proxy might do, must not make "//" or "/\". */
	if (used >= 4 && stripped[1] == '%' && hex_value(stripped[2]) >= 0 && hex_value(stripped[3]) >= 0) {
		unsigned char decoded = (unsigned char)(hex_value(stripped[2]) * 16 + hex_value(stripped[3]));
		if (is_slash(decoded))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char location[EX_RP_REDIRECT_LOCATION_MAX];
	const char *candidate = (const char *)data;

	bool safe = ex_rp_redirect_is_safe(candidate, size);
	bool kept = ex_rp_redirect_location(candidate, size, location, sizeof(location));
	if (safe != kept)
		abort();
	if (!kept) {
		if (strcmp(location, "/") != 0)
			abort();
		return 0;
	}

	check_same_origin(data, size);
	size_t location_length = strlen(location);
	check_same_origin((const unsigned char *)location, location_length);
	for (size_t i = 0; i < location_length; i++) {
		unsigned char c = (unsigned char)location[i];
		/* A header value with only visible ASCII cannot split the response. */
		if (c <= 0x20 || c >= 0x7f || c == '\\')
			abort();
	}
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\\' || data[i] < 0x20 || data[i] == 0x7f)
			abort();
	}
	return 0;
}
