/*
 * Content-Disposition for attachment downloads (RFC 6266): always
 * "attachment", with an ASCII filename= for old clients and the exact
 * UTF-8 name in filename* (RFC 8187 encoding).
 */
#ifndef EXPRESSO_MAIL_API_DISPOSITION_H
#define EXPRESSO_MAIL_API_DISPOSITION_H

#include <stddef.h>

enum {
	/* Bytes of a file name that are kept; longer names are cut at a character boundary. */
	EX_MAIL_DISPOSITION_MAX_NAME = 255,
	/* Enough for any name: 255 bytes in filename= plus 765 percent-encoded in filename*. */
	EX_MAIL_DISPOSITION_MAX = 1152,
};

/*
 * Writes the header value for FILENAME (UTF-8; NULL or "" gives
 * "attachment"). Quotes, backslashes, control characters, path separators
 * and non-ASCII bytes become '_' in filename=. A name that is not valid
 * UTF-8 gets no filename*. Returns the length, or -1 when SIZE is too small.
 */
int ex_mail_content_disposition(char *out, size_t size, const char *filename);

/*
 * Copies CONTENT_TYPE ("type/subtype" with optional parameters) into OUT
 * as a bare lower-case "type/subtype" when it is made of RFC 6838 name
 * characters, else "application/octet-stream".
 */
void ex_mail_safe_content_type(char *out, size_t size, const char *content_type);

#endif
