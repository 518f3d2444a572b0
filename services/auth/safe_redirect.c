/*
 * Post-login redirect check. The rules are listed in safe_redirect.h; this
 * file applies them to the raw candidate and to each percent-decoded form
 * of it, in a fixed buffer.
 */
#include "safe_redirect.h"

#include <stdint.h>
#include <string.h>

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

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Checks what must hold for the raw candidate and every decoded form. */
static bool form_is_safe(const unsigned char *path, size_t length)
{
	if (length == 0 || path[0] != '/')
		return false;
	if (length >= 2 && (path[1] == '/' || path[1] == '\\'))
		return false;
	for (size_t i = 0; i < length; i++) {
		if (is_control(path[i]))
			return false;
	}
	return true;
}

/* Returns true when every "%" of PATH starts a valid escape. */
static bool escapes_are_well_formed(const unsigned char *path, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		if (path[i] != '%')
			continue;
		if (i + 2 >= length || hex_value(path[i + 1]) < 0 || hex_value(path[i + 2]) < 0)
			return false;
		i += 2;
	}
	return true;
}

/*
 * Decodes the valid escapes of IN into OUT (which may be IN: decoding only
 * shrinks) and leaves any other "%" as it is. Returns the new length and
 * sets *changed when an escape was decoded.
 */
static size_t decode_once(const unsigned char *in, size_t length, unsigned char *out, bool *changed)
{
	size_t used = 0;

	*changed = false;
	for (size_t i = 0; i < length; i++) {
		if (in[i] == '%' && i + 2 < length && hex_value(in[i + 1]) >= 0 &&
		    hex_value(in[i + 2]) >= 0) {
			out[used++] = (unsigned char)(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
			i += 2;
			*changed = true;
		} else {
			out[used++] = in[i];
		}
	}
	return used;
}

bool ex_rp_redirect_is_safe(const char *candidate, size_t length)
{
	unsigned char decoded[EX_RP_REDIRECT_MAX];

	if (candidate == NULL || length == 0 || length > EX_RP_REDIRECT_MAX)
		return false;

	const unsigned char *raw = (const unsigned char *)candidate;
	if (!form_is_safe(raw, length) || memchr(raw, '\\', length) != NULL)
		return false;
	if (!escapes_are_well_formed(raw, length))
		return false;

	memcpy(decoded, raw, length);
	size_t decoded_length = length;
	for (int round = 0; round < EX_RP_REDIRECT_DECODE_ROUNDS; round++) {
		bool changed;
		decoded_length = decode_once(decoded, decoded_length, decoded, &changed);
		if (!changed)
			break;
		if (!form_is_safe(decoded, decoded_length))
			return false;
	}
	return true;
}

bool ex_rp_redirect_location(const char *candidate, size_t length, char *out, size_t out_size)
{
	static const char hex[] = "0123456789ABCDEF";

	if (out_size < 2)
		return false;
	if (!ex_rp_redirect_is_safe(candidate, length) || out_size < EX_RP_REDIRECT_LOCATION_MAX) {
		memcpy(out, "/", 2);
		return false;
	}

	size_t used = 0;
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)candidate[i];
		if (c > 0x7e || c == ' ') {
			out[used++] = '%';
			out[used++] = hex[c >> 4];
			out[used++] = hex[c & 0x0f];
		} else {
			out[used++] = (char)c;
		}
	}
	out[used] = '\0';
	return true;
}
