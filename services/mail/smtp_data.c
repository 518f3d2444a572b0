/*
 * Decoder of DATA content: a byte-at-a-time state machine over line
 * starts, CR and dots, so that any split of the input between reads gives
 * the same result.
 */
#include "smtp_data.h"

#include <stdlib.h>
#include <string.h>

enum {
	AT_LINE_START, /* after CRLF, or at the very beginning */
	IN_LINE,
	AFTER_CR,      /* a CR whose LF may follow */
	AFTER_DOT,     /* a dot at the start of a line */
	AFTER_DOT_CR,  /* ".\r" at the start of a line */
	INITIAL_CAPACITY = 64 * 1024,
};

void ex_smtp_data_init(ex_smtp_data_decoder *decoder, uint64_t max_length)
{
	*decoder = (ex_smtp_data_decoder){ .max_length = max_length, .state = AT_LINE_START };
}

void ex_smtp_data_reset(ex_smtp_data_decoder *decoder)
{
	decoder->length = 0;
	decoder->total_length = 0;
	decoder->too_large = false;
	decoder->saw_nul = false;
	decoder->allocation_failed = false;
	decoder->state = AT_LINE_START;
}

void ex_smtp_data_free(ex_smtp_data_decoder *decoder)
{
	free(decoder->content);
	decoder->content = NULL;
	decoder->capacity = 0;
	ex_smtp_data_reset(decoder);
}

/*
 * Grows the content buffer to at least NEEDED bytes, doubling from
 * INITIAL_CAPACITY but never past max_length. Returns false, with
 * allocation_failed set, when realloc fails. Marked cold so that the
 * compiler keeps it out of line and emit(), which runs for every CR, LF
 * and line-start byte, stays small.
 */
__attribute__((cold)) static bool grow_content(ex_smtp_data_decoder *decoder, size_t needed)
{
	size_t capacity = decoder->capacity == 0 ? INITIAL_CAPACITY : decoder->capacity;
	while (capacity < needed && capacity < decoder->max_length)
		capacity *= 2;
	if (capacity > decoder->max_length)
		capacity = (size_t)decoder->max_length;
	char *grown = realloc(decoder->content, capacity);
	if (grown == NULL) {
		decoder->allocation_failed = true;
		return false;
	}
	decoder->content = grown;
	decoder->capacity = capacity;
	return true;
}

static void emit(ex_smtp_data_decoder *decoder, char byte)
{
	decoder->total_length++;
	if (byte == '\0')
		decoder->saw_nul = true;
	if (decoder->total_length > decoder->max_length) {
		decoder->too_large = true;
		return;
	}
	if (decoder->length == decoder->capacity && !grow_content(decoder, decoder->length + 1))
		return;
	decoder->content[decoder->length++] = byte;
}

/*
 * Emits LENGTH bytes at once, with the same result as emit() on each: the
 * bytes past max_length are counted but not stored.
 */
static void emit_run(ex_smtp_data_decoder *decoder, const char *run, size_t length)
{
	if (length == 0)
		return;
	if (memchr(run, '\0', length) != NULL)
		decoder->saw_nul = true;
	uint64_t before = decoder->total_length;
	decoder->total_length += length;
	size_t stored = length;
	if (decoder->total_length > decoder->max_length) {
		decoder->too_large = true;
		stored = before >= decoder->max_length ? 0 : (size_t)(decoder->max_length - before);
	}
	if (stored == 0)
		return;

	/* Every stored byte counts toward max_length, so the content never needs more than max_length bytes. */
	if (decoder->length + stored > decoder->capacity && !grow_content(decoder, decoder->length + stored))
		return;
	memcpy(decoder->content + decoder->length, run, stored);
	decoder->length += stored;
}

void ex_smtp_data_append(ex_smtp_data_decoder *decoder, const char *data, size_t length)
{
	emit_run(decoder, data, length);
}

/* Handles a byte in the middle of a line. */
static void in_line(ex_smtp_data_decoder *decoder, char byte)
{
	if (byte == '\r') {
		decoder->state = AFTER_CR;
		return;
	}
	emit(decoder, byte);
	decoder->state = IN_LINE;
}

ex_smtp_data_status ex_smtp_data_feed(ex_smtp_data_decoder *decoder, const char *data, size_t length,
				      size_t *consumed)
{
	for (size_t i = 0; i < length; i++) {
		char byte = data[i];

		switch (decoder->state) {
		case AT_LINE_START:
			if (byte == '.')
				decoder->state = AFTER_DOT;
			else
				in_line(decoder, byte);
			break;
		case AFTER_CR:
			if (byte == '\n') {
				emit(decoder, '\r');
				emit(decoder, '\n');
				decoder->state = AT_LINE_START;
			} else {
				emit(decoder, '\r');
				in_line(decoder, byte);
			}
			break;
		case AFTER_DOT:
			/* The leading dot is transparency (RFC 5321 4.5.2) and is dropped. */
			if (byte == '\r')
				decoder->state = AFTER_DOT_CR;
			else
				in_line(decoder, byte);
			break;
		case AFTER_DOT_CR:
			if (byte == '\n') {
				*consumed = i + 1;
				decoder->state = AT_LINE_START;
				return EX_SMTP_DATA_DONE;
			}
			emit(decoder, '\r');
			in_line(decoder, byte);
			break;
		default: {
			/* Inside a line only CR changes the state, so the bytes up to the next CR go in one copy. */
			const char *cr = memchr(data + i, '\r', length - i);
			size_t end = cr != NULL ? (size_t)(cr - data) : length;
			emit_run(decoder, data + i, end - i);
			decoder->state = end < length ? AFTER_CR : IN_LINE;
			i = end; /* the loop steps over the CR */
			break;
		}
		}
	}
	*consumed = length;
	return EX_SMTP_DATA_NEED_MORE;
}
