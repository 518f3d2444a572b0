/*
 * Fuzzes the text the SEARCH index stores and queries with: the input
 * is parsed by GMime as a message, its folded header and body text are
 * built, and its first line is folded and turned into a LIKE pattern.
 * Every output must be valid UTF-8, and the pattern must contain no
 * unescaped % or _ between its enclosing % signs.
 */
#include <gmime/gmime.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail_search_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_pattern(const char *needle)
{
	char *folded = ex_mail_search_fold(needle);
	if (!g_utf8_validate(folded, -1, NULL))
		abort();
	if (ex_mail_search_needle_indexable(folded)) {
		char *pattern = ex_mail_search_like_pattern(folded);
		size_t length = strlen(pattern);
		if (length < 2 || pattern[0] != '%' || pattern[length - 1] != '%')
			abort();
		for (size_t i = 1; i + 1 < length; i++) {
			if (pattern[i] == '\\') {
				i++;
				continue;
			}
			if (pattern[i] == '%' || pattern[i] == '_')
				abort();
		}
		g_free(pattern);
	}
	g_free(folded);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool initialized;
	if (!initialized) {
		g_mime_init();
		initialized = true;
	}

	const uint8_t *newline = memchr(data, '\n', size);
	size_t first_line = newline != NULL ? (size_t)(newline - data) : size;
	char *needle = g_strndup((const char *)data, first_line);
	check_pattern(needle);
	g_free(needle);

	GMimeStream *stream = g_mime_stream_mem_new_with_buffer((const char *)data, size);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *message = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	if (message == NULL)
		return 0;
	char *headers = ex_mail_search_header_text(message);
	char *body = ex_mail_search_body_text(message);
	if (!g_utf8_validate(headers, -1, NULL) || !g_utf8_validate(body, -1, NULL))
		abort();
	(void)ex_mail_search_text_fits(strlen(headers), strlen(body), 256 * 1024);
	g_free(headers);
	g_free(body);
	g_object_unref(message);
	return 0;
}
