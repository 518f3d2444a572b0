/*
 * The vCard splitter: one pass over the lines, counting BEGIN:VCARD and
 * END:VCARD so that a nested vCard stays inside its block. Lines end in
 * LF or CRLF. Nothing is copied or allocated.
 */
#include "vcard_split.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Returns true when LINE (LENGTH bytes, without its line break) is WORD followed only by spaces or tabs. */
static bool line_is(const char *line, size_t length, const char *word)
{
	size_t word_length = strlen(word);
	if (length < word_length || strncasecmp(line, word, word_length) != 0)
		return false;
	for (size_t i = word_length; i < length; i++) {
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return false;
	}
	return true;
}

static bool line_is_blank(const char *line, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return false;
	}
	return true;
}

ex_vcard_split_status ex_vcard_split(const char *text, size_t length, ex_vcard_span *spans, size_t max_spans,
				     size_t *count, char *err, size_t errlen)
{
	size_t position = 0;
	size_t depth = 0;
	unsigned line_number = 0;
	ex_vcard_span current = { 0 };

	*count = 0;
	if (length >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		position = 3;
	while (position < length) {
		const char *line = text + position;
		const char *newline = memchr(line, '\n', length - position);
		size_t line_length = newline != NULL ? (size_t)(newline - line) : length - position;
		size_t next = position + line_length + (newline != NULL ? 1 : 0);
		line_number++;

		if (line_is(line, line_length, "BEGIN:VCARD")) {
			if (depth == 0)
				current = (ex_vcard_span){ .offset = position, .line = line_number };
			depth++;
		} else if (depth > 0 && line_is(line, line_length, "END:VCARD")) {
			depth--;
			if (depth == 0) {
				if (*count == max_spans) {
					snprintf(err, errlen, "the file has more than %zu vCards; split it", max_spans);
					return EX_VCARD_SPLIT_TOO_MANY;
				}
				current.length = next - current.offset;
				spans[(*count)++] = current;
			}
		} else if (depth == 0 && !line_is_blank(line, line_length)) {
			snprintf(err, errlen, "line %u is outside any BEGIN:VCARD ... END:VCARD block", line_number);
			return EX_VCARD_SPLIT_INVALID;
		}
		position = next;
	}
	if (depth > 0) {
		snprintf(err, errlen, "the vCard that begins on line %u has no END:VCARD", current.line);
		return EX_VCARD_SPLIT_INVALID;
	}
	if (*count == 0) {
		snprintf(err, errlen, "the file has no vCard; it must contain BEGIN:VCARD ... END:VCARD blocks");
		return EX_VCARD_SPLIT_INVALID;
	}
	return EX_VCARD_SPLIT_OK;
}
