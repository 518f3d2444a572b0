/*
 * Rules for the names people give files and folders, the media types
 * clients send as filetype, and the Content-Disposition value that hands a
 * name back to a browser (RFC 6266 with the RFC 8187 filename* form).
 */
#include <stdio.h>
#include <string.h>

#include "drive_parse.h"

bool ex_drive_utf8_is_valid(const char *text, size_t length)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;

	while (i < length) {
		unsigned char c = s[i];
		size_t extra;
		uint32_t code;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			extra = 1;
			code = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			extra = 2;
			code = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			extra = 3;
			code = c & 0x07;
		} else {
			return false;
		}
		if (length - i <= extra)
			return false;
		for (size_t j = 1; j <= extra; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			code = (code << 6) | (s[i + j] & 0x3f);
		}
		if ((extra == 2 && code < 0x800) || (extra == 3 && (code < 0x10000 || code > 0x10ffff)) ||
		    (code >= 0xd800 && code <= 0xdfff))
			return false;
		i += extra + 1;
	}
	return true;
}

ex_drive_name_status ex_drive_name_check(const char *name, size_t length)
{
	if (length == 0)
		return EX_DRIVE_NAME_EMPTY;
	if (length > EX_DRIVE_NAME_MAX)
		return EX_DRIVE_NAME_TOO_LONG;
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
			return EX_DRIVE_NAME_FORBIDDEN_CHARACTER;
	}
	if (!ex_drive_utf8_is_valid(name, length))
		return EX_DRIVE_NAME_INVALID_UTF8;
	/* C1 control characters U+0080..U+009F are encoded as 0xC2 0x80..0x9F. */
	for (size_t i = 0; i + 1 < length; i++) {
		if ((unsigned char)name[i] == 0xc2 && (unsigned char)name[i + 1] <= 0x9f)
			return EX_DRIVE_NAME_FORBIDDEN_CHARACTER;
	}
	if ((length == 1 && name[0] == '.') || (length == 2 && name[0] == '.' && name[1] == '.'))
		return EX_DRIVE_NAME_DOT;
	return EX_DRIVE_NAME_OK;
}

const char *ex_drive_name_status_message(ex_drive_name_status status)
{
	switch (status) {
	case EX_DRIVE_NAME_OK:
		return "valid";
	case EX_DRIVE_NAME_EMPTY:
		return "the name is empty";
	case EX_DRIVE_NAME_TOO_LONG:
		return "the name is longer than 255 bytes";
	case EX_DRIVE_NAME_INVALID_UTF8:
		return "the name is not valid UTF-8";
	case EX_DRIVE_NAME_FORBIDDEN_CHARACTER:
		return "the name contains '/', '\\', NUL or a control character";
	case EX_DRIVE_NAME_DOT:
		return "the name is \".\" or \"..\"";
	}
	return "invalid name";
}

/* RFC 9110 tchar. */
static bool is_token_character(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static size_t token_length(const char *text, size_t length)
{
	size_t i = 0;
	while (i < length && is_token_character((unsigned char)text[i]))
		i++;
	return i;
}

static size_t skip_whitespace(const char *text, size_t length, size_t i)
{
	while (i < length && (text[i] == ' ' || text[i] == '\t'))
		i++;
	return i;
}

/* Returns the length of a quoted-string at TEXT, or 0 when there is none. */
static size_t quoted_string_length(const char *text, size_t length)
{
	if (length == 0 || text[0] != '"')
		return 0;
	for (size_t i = 1; i < length; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '"')
			return i + 1;
		if (c == '\\') {
			if (++i >= length)
				return 0;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return 0;
}

bool ex_drive_media_type_is_valid(const char *text, size_t length)
{
	if (length == 0 || length > EX_DRIVE_MEDIA_TYPE_MAX)
		return false;
	size_t i = token_length(text, length);
	if (i == 0 || i >= length || text[i] != '/')
		return false;
	size_t subtype = token_length(text + i + 1, length - i - 1);
	if (subtype == 0)
		return false;
	i += 1 + subtype;

	while (i < length) {
		i = skip_whitespace(text, length, i);
		if (i >= length || text[i] != ';')
			return false;
		i = skip_whitespace(text, length, i + 1);
		size_t name = token_length(text + i, length - i);
		if (name == 0 || i + name >= length || text[i + name] != '=')
			return false;
		i += name + 1;
		size_t value = token_length(text + i, length - i);
		if (value == 0)
			value = quoted_string_length(text + i, length - i);
		if (value == 0)
			return false;
		i += value;
	}
	return true;
}

/* RFC 8187 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~". */
static bool is_attr_character(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$&+-.^_`|~", c) != NULL);
}

int ex_drive_content_disposition(char *out, size_t size, const char *disposition, const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t used = 0;

	int written = snprintf(out, size, "%s; filename=\"", disposition);
	if (written < 0 || (size_t)written >= size)
		return -1;
	used = (size_t)written;

	/* ASCII fallback for clients without RFC 8187: quotes, backslashes and non-ASCII become '_'. */
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (used + 1 >= size)
			return -1;
		bool plain = *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\' && *p != '%';
		out[used++] = plain ? (char)*p : '_';
	}
	written = snprintf(out + used, size - used, "\"; filename*=UTF-8''");
	if (written < 0 || (size_t)written >= size - used)
		return -1;
	used += (size_t)written;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (is_attr_character(*p)) {
			if (used + 1 >= size)
				return -1;
			out[used++] = (char)*p;
		} else {
			if (used + 3 >= size)
				return -1;
			out[used++] = '%';
			out[used++] = hex[*p >> 4];
			out[used++] = hex[*p & 0x0f];
		}
	}
	out[used] = '\0';
	return (int)used;
}
