/*
 * Incremental reader of SMTP command lines. It takes bytes as they arrive
 * and returns a whole line once its CRLF is in, returns NEED_MORE otherwise,
 * and never keeps more than its maximum line length. A line that is too
 * long, contains a NUL or ends in a bare LF is reported once its end has
 * arrived, so the session can reply and read the next command in step.
 * Message content after DATA is read by smtp_data.h, not here.
 */
#ifndef EXPRESSO_MAIL_SMTP_LINE_H
#define EXPRESSO_MAIL_SMTP_LINE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
	EX_SMTP_LINE_NEED_MORE = 0, /* every byte given was consumed; no line yet */
	EX_SMTP_LINE_DONE,          /* a line is ready in ex_smtp_line_text() */
	EX_SMTP_LINE_TOO_LONG,      /* the line exceeded the maximum and was discarded */
	EX_SMTP_LINE_NUL,           /* the line contained a NUL octet and was discarded */
	EX_SMTP_LINE_BARE_LF,       /* the line ended in LF without CR and was discarded */
} ex_smtp_line_status;

typedef struct {
	char *buffer;       /* max_length + 1 bytes; the line is NUL-terminated on DONE */
	size_t max_length;  /* octets without the CRLF */
	size_t length;
	bool saw_cr;
	bool too_long;
	bool saw_nul;
	bool complete;      /* the previous call returned a line; the next call starts afresh */
} ex_smtp_line_reader;

/* Allocates the buffer for lines of up to MAX_LENGTH octets; returns 0 or -1. */
int ex_smtp_line_init(ex_smtp_line_reader *reader, size_t max_length);
void ex_smtp_line_free(ex_smtp_line_reader *reader);

/*
 * Consumes bytes of DATA up to and including the end of the next line and
 * sets *consumed. Returns NEED_MORE when all LENGTH bytes were used without
 * a line end, else the status of the line that ended.
 */
ex_smtp_line_status ex_smtp_line_feed(ex_smtp_line_reader *reader, const char *data, size_t length,
				      size_t *consumed);

/* The line of the last DONE, without CRLF; valid until the next feed. */
const char *ex_smtp_line_text(const ex_smtp_line_reader *reader);
size_t ex_smtp_line_length(const ex_smtp_line_reader *reader);

#endif
