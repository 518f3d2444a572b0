/*
 * Header section parser for Sieve tests. RFC 5322 section 2.2: a field is
 * "name: value" and continues on lines that start with a space or tab.
 * The section ends at the first empty line. A line without a colon is
 * skipped.
 */
#include "mail_sieve_headers.h"

#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Copies an unfolded value: CR and LF dropped, leading blanks trimmed. */
static char *unfold(const char *start, const char *end)
{
	size_t length = (size_t)(end - start);
	if (length > EX_MAIL_SIEVE_MAX_HEADER_VALUE)
		length = EX_MAIL_SIEVE_MAX_HEADER_VALUE;
	char *value = malloc(length + 1);
	if (value == NULL)
		return NULL;

	size_t used = 0;
	for (size_t i = 0; i < length; i++) {
		char c = start[i];
		if (c == '\r' || c == '\n')
			continue;
		if (used == 0 && (c == ' ' || c == '\t'))
			continue;
		value[used++] = c;
	}
	while (used > 0 && (value[used - 1] == ' ' || value[used - 1] == '\t'))
		used--;
	value[used] = '\0';
	return value;
}

/* Decodes encoded-words; returns VALUE itself when there are none or decoding failed. */
static char *decode(char *value)
{
	if (strstr(value, "=?") == NULL)
		return value;
	char *decoded = g_mime_utils_header_decode_text(NULL, value);
	if (decoded == NULL)
		return value;
	char *copy = strdup(decoded);
	g_free(decoded);
	if (copy == NULL)
		return value;
	free(value);
	return copy;
}

static int append(ex_mail_sieve_headers *headers, const char *name, size_t name_length, const char *value_start,
		  const char *value_end)
{
	if (headers->count == EX_MAIL_SIEVE_MAX_HEADERS)
		return 0;
	char *name_copy = strndup(name, name_length);
	char *value = unfold(value_start, value_end);
	if (name_copy == NULL || value == NULL) {
		free(name_copy);
		free(value);
		return -1;
	}
	headers->names[headers->count] = name_copy;
	headers->values[headers->count] = decode(value);
	headers->count++;
	return 0;
}

int ex_mail_sieve_headers_parse(const char *content, size_t length, ex_mail_sieve_headers *headers)
{
	memset(headers, 0, sizeof(*headers));
	headers->names = calloc(EX_MAIL_SIEVE_MAX_HEADERS, sizeof(char *));
	headers->values = calloc(EX_MAIL_SIEVE_MAX_HEADERS, sizeof(char *));
	if (headers->names == NULL || headers->values == NULL) {
		ex_mail_sieve_headers_clear(headers);
		return -1;
	}

	const char *end = content + length;
	const char *line = content;
	while (line < end) {
		const char *newline = memchr(line, '\n', (size_t)(end - line));
		const char *line_end = newline ? newline : end;
		size_t line_length = (size_t)(line_end - line);
		if (line_length > 0 && line[line_length - 1] == '\r')
			line_length--;
		if (line_length == 0)
			break; /* the empty line before the body */

		/* The field goes on while the next lines start with a blank. */
		const char *field_end = line_end;
		while (field_end < end && field_end + 1 < end && (field_end[1] == ' ' || field_end[1] == '\t')) {
			const char *next = memchr(field_end + 1, '\n', (size_t)(end - field_end - 1));
			field_end = next ? next : end;
		}

		const char *colon = memchr(line, ':', (size_t)(line_end - line));
		if (colon != NULL && colon > line) {
			size_t name_length = (size_t)(colon - line);
			while (name_length > 0 && (line[name_length - 1] == ' ' || line[name_length - 1] == '\t'))
				name_length--;
			if (name_length > 0 && append(headers, line, name_length, colon + 1, field_end) != 0) {
				ex_mail_sieve_headers_clear(headers);
				return -1;
			}
		}
		line = field_end < end ? field_end + 1 : end;
	}
	return 0;
}

const char *ex_mail_sieve_headers_first(const ex_mail_sieve_headers *headers, const char *name)
{
	for (size_t i = 0; i < headers->count; i++) {
		if (strcasecmp(headers->names[i], name) == 0)
			return headers->values[i];
	}
	return NULL;
}

size_t ex_mail_sieve_headers_count(const ex_mail_sieve_headers *headers, const char *name)
{
	size_t count = 0;
	for (size_t i = 0; i < headers->count; i++)
		count += strcasecmp(headers->names[i], name) == 0;
	return count;
}

const char **ex_mail_sieve_headers_all(const ex_mail_sieve_headers *headers, const char *name)
{
	size_t count = ex_mail_sieve_headers_count(headers, name);
	if (count == 0)
		return NULL;
	const char **values = calloc(count + 1, sizeof(char *));
	if (values == NULL)
		return NULL;
	size_t used = 0;
	for (size_t i = 0; i < headers->count; i++) {
		if (strcasecmp(headers->names[i], name) == 0)
			values[used++] = headers->values[i];
	}
	return values;
}

void ex_mail_sieve_headers_clear(ex_mail_sieve_headers *headers)
{
	for (size_t i = 0; headers->names != NULL && headers->values != NULL && i < headers->count; i++) {
		free(headers->names[i]);
		free(headers->values[i]);
	}
	free(headers->names);
	free(headers->values);
	memset(headers, 0, sizeof(*headers));
}
