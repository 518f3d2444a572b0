/*
 * Incremental decoder of the message content that follows DATA (RFC 5321
 * 4.5.2): removes the dot that transparency added at the start of a line,
 * finds the end-of-data line "." and keeps at most a maximum number of
 * octets. Only CRLF "." CRLF ends the content. A bare LF is kept as a
 * content octet and never ends a line (RFC 5321 4.1.1.4), so "<LF>.<LF>"
 * cannot end a message early.
 */
#ifndef EXPRESSO_MAIL_SMTP_DATA_H
#define EXPRESSO_MAIL_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
	EX_SMTP_DATA_NEED_MORE = 0,
	EX_SMTP_DATA_DONE, /* the end-of-data line was read */
} ex_smtp_data_status;

typedef struct {
	char *content;          /* the decoded message; not NUL-terminated */
	size_t length;
	size_t capacity;
	uint64_t max_length;    /* octets kept; more sets too_large and is dropped */
	uint64_t total_length;  /* octets decoded, kept or not */
	bool too_large;
	bool saw_nul;
	bool allocation_failed;
	int state;
} ex_smtp_data_decoder;

void ex_smtp_data_init(ex_smtp_data_decoder *decoder, uint64_t max_length);
/* Forgets the content but keeps the buffer for the next message. */
void ex_smtp_data_reset(ex_smtp_data_decoder *decoder);
void ex_smtp_data_free(ex_smtp_data_decoder *decoder);

/*
 * Decodes bytes of DATA up to the end-of-data line and sets *consumed.
 * Bytes after the end-of-data line are not consumed: they are the next
 * command of a pipelining client.
 */
ex_smtp_data_status ex_smtp_data_feed(ex_smtp_data_decoder *decoder, const char *data, size_t length,
				      size_t *consumed);

/*
 * Appends a BDAT chunk (RFC 3030), which has no transparency and no
 * end-of-data line, under the same maximum as DATA content.
 */
void ex_smtp_data_append(ex_smtp_data_decoder *decoder, const char *data, size_t length);

#endif
