/*
 * The Content-Disposition and Content-Type values of attachment downloads.
 * Both are built from names found in received mail, so nothing of the
 * input reaches the header without being checked or encoded.
 */
#include "mail_api_disposition.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Returns the length of the UTF-8 sequence at TEXT (at most REMAINING bytes), or 0 when it is invalid. */
static size_t utf8_sequence(const unsigned char *text, size_t remaining)
{
	unsigned char c = text[0];
	size_t extra;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		extra = 1;
	else if (c >= 0xe0 && c <= 0xef)
		extra = 2;
	else if (c >= 0xf0 && c <= 0xf4)
		extra = 3;
	else
		return 0;
	if (extra >= remaining)
		return 0;
	for (size_t i = 1; i <= extra; i++) {
		if ((text[i] & 0xc0) != 0x80)
			return 0;
	}
	/* Overlong forms and surrogates. */
	if ((c == 0xe0 && text[1] < 0xa0) || (c == 0xed && text[1] > 0x9f) || (c == 0xf0 && text[1] < 0x90) ||
	    (c == 0xf4 && text[1] > 0x8f))
		return 0;
	return extra + 1;
}

/* RFC 8187 attr-char: ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~". */
static bool is_attr_char(unsigned char c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$&+-.^_`|~", c) != NULL);
}

int ex_mail_content_disposition(char *out, size_t size, const char *filename)
{
	static const char hex[] = "0123456789ABCDEF";
	char fallback[EX_MAIL_DISPOSITION_MAX_NAME + 1];
	char encoded[EX_MAIL_DISPOSITION_MAX_NAME * 3 + 1];
	size_t name_length = filename != NULL ? strlen(filename) : 0;
	bool valid_utf8 = true;
	size_t kept_bytes = 0;

	if (name_length == 0) {
		int written = snprintf(out, size, "attachment");
		return written < 0 || (size_t)written >= size ? -1 : written;
	}

	/* Whole characters are kept up to the maximum. After the first invalid byte the name counts as not UTF-8. */
	const unsigned char *name = (const unsigned char *)filename;
	while (kept_bytes < name_length) {
		size_t step = valid_utf8 ? utf8_sequence(name + kept_bytes, name_length - kept_bytes) : 1;
		if (step == 0) {
			valid_utf8 = false;
			step = 1;
		}
		if (kept_bytes + step > EX_MAIL_DISPOSITION_MAX_NAME)
			break;
		kept_bytes += step;
	}

	size_t encoded_length = 0;
	for (size_t i = 0; i < kept_bytes; i++) {
		unsigned char c = name[i];
		bool unsafe = c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '/';
		fallback[i] = unsafe ? '_' : (char)c;
		if (is_attr_char(c)) {
			encoded[encoded_length++] = (char)c;
		} else {
			encoded[encoded_length++] = '%';
			encoded[encoded_length++] = hex[c >> 4];
			encoded[encoded_length++] = hex[c & 0x0f];
		}
	}
	fallback[kept_bytes] = '\0';
	encoded[encoded_length] = '\0';

	int written = valid_utf8 ? snprintf(out, size, "attachment; filename=\"%s\"; filename*=UTF-8''%s", fallback,
					    encoded)
				 : snprintf(out, size, "attachment; filename=\"%s\"", fallback);
	return written < 0 || (size_t)written >= size ? -1 : written;
}

/* RFC 6838 restricted-name-chars. */
static bool is_name_char(unsigned char c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$&-^_.+", c) != NULL);
}

void ex_mail_safe_content_type(char *out, size_t size, const char *content_type)
{
	static const char fallback[] = "application/octet-stream";
	size_t length = 0;
	int slashes = 0;

	if (content_type != NULL) {
		while (content_type[length] != '\0' && content_type[length] != ';' && content_type[length] != ' ')
			length++;
	}
	bool valid = length >= 3 && length < size && length <= 255;
	for (size_t i = 0; valid && i < length; i++) {
		unsigned char c = (unsigned char)content_type[i];
		if (c == '/')
			slashes++;
		else if (!is_name_char(c))
			valid = false;
	}
	if (!valid || slashes != 1 || content_type[0] == '/' || content_type[length - 1] == '/') {
		snprintf(out, size, "%s", fallback);
		return;
	}
	for (size_t i = 0; i < length; i++)
		out[i] = (char)tolower((unsigned char)content_type[i]);
	out[length] = '\0';
}
