/* Percent-encoding of path segments for the hrefs in DAV responses (RFC 3986 section 2). */
#include "expresso/dav_http.h"

#include <string.h>

static bool is_kept(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_' || c == '~' || c == '@' || c == '!' || c == '$' || c == '\'' || c == '(' ||
	       c == ')' || c == '*' || c == ',' || c == ';' || c == '=' || c == ':';
}

int ex_dav_encode_segment(const char *segment, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t used = 0;

	for (const unsigned char *p = (const unsigned char *)segment; *p != '\0'; p++) {
		size_t needed = is_kept(*p) ? 1 : 3;
		if (used + needed >= size)
			return -1;
		if (needed == 1) {
			out[used++] = (char)*p;
		} else {
			out[used++] = '%';
			out[used++] = hex[*p >> 4];
			out[used++] = hex[*p & 0x0f];
		}
	}
	if (used >= size)
		return -1;
	out[used] = '\0';
	return 0;
}
