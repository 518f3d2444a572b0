/*
 * SMTP command line reader: CRLF-terminated lines of bounded length.
 * RFC 5321 2.3.8 makes CRLF the only line terminator. A bare LF in a
 * command line is reported as an error rather than waited past, so a
 * client that sends one gets a reply it can act on instead of a hang.
 */
#include "smtp_line.h"

#include <stdlib.h>

int ex_smtp_line_init(ex_smtp_line_reader *reader, size_t max_length)
{
	*reader = (ex_smtp_line_reader){ .max_length = max_length };
	reader->buffer = malloc(max_length + 1);
	return reader->buffer == NULL ? -1 : 0;
}

void ex_smtp_line_free(ex_smtp_line_reader *reader)
{
	free(reader->buffer);
	reader->buffer = NULL;
}

static void reset(ex_smtp_line_reader *reader)
{
	reader->length = 0;
	reader->saw_cr = false;
	reader->too_long = false;
	reader->saw_nul = false;
	reader->complete = false;
}

static void append(ex_smtp_line_reader *reader, char byte)
{
	if (byte == '\0')
		reader->saw_nul = true;
	if (reader->length >= reader->max_length) {
		reader->too_long = true;
		return;
	}
	reader->buffer[reader->length++] = byte;
}

/* Classifies a line whose terminator has just been read. */
static ex_smtp_line_status finish(ex_smtp_line_reader *reader, bool bare_lf)
{
	reader->complete = true;
	reader->buffer[reader->length] = '\0';
	if (reader->too_long)
		return EX_SMTP_LINE_TOO_LONG;
	if (reader->saw_nul)
		return EX_SMTP_LINE_NUL;
	if (bare_lf)
		return EX_SMTP_LINE_BARE_LF;
	return EX_SMTP_LINE_DONE;
}

ex_smtp_line_status ex_smtp_line_feed(ex_smtp_line_reader *reader, const char *data, size_t length,
				      size_t *consumed)
{
	if (reader->complete)
		reset(reader);

	for (size_t i = 0; i < length; i++) {
		char byte = data[i];

		if (byte == '\n') {
			*consumed = i + 1;
			return finish(reader, !reader->saw_cr);
		}
		/* A CR not followed by LF is part of the line, as RFC 5321 leaves it. */
		if (reader->saw_cr)
			append(reader, '\r');
		reader->saw_cr = byte == '\r';
		if (!reader->saw_cr)
			append(reader, byte);
	}
	*consumed = length;
	return EX_SMTP_LINE_NEED_MORE;
}

const char *ex_smtp_line_text(const ex_smtp_line_reader *reader)
{
	return reader->buffer;
}

size_t ex_smtp_line_length(const ex_smtp_line_reader *reader)
{
	return reader->length;
}
