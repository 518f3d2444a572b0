/*
 * Parsing, ordering and printing of Redis stream entry ids. They order the
 * events of one user: the SSE id of every notification is the id of its
 * entry in that user's capped stream.
 */
#include "stream_id.h"

#include <inttypes.h>
#include <stdio.h>

/* Parses a run of 1 to 20 digits; returns the number of bytes used or 0. */
static size_t parse_number(const char *text, size_t length, uint64_t *out)
{
	uint64_t value = 0;
	size_t used = 0;

	while (used < length && text[used] >= '0' && text[used] <= '9') {
		uint64_t digit = (uint64_t)(text[used] - '0');
		if (value > (UINT64_MAX - digit) / 10)
			return 0;
		value = value * 10 + digit;
		used++;
	}
	if (used == 0 || used > 20)
		return 0;
	*out = value;
	return used;
}

int ex_notify_stream_id_parse(const char *text, size_t length, ex_notify_stream_id *out)
{
	ex_notify_stream_id id;

	if (text == NULL || length == 0 || length >= EX_NOTIFY_STREAM_ID_MAX)
		return -1;
	size_t used = parse_number(text, length, &id.ms);
	if (used == 0 || used == length || text[used] != '-')
		return -1;
	size_t rest = length - used - 1;
	if (rest == 0 || parse_number(text + used + 1, rest, &id.seq) != rest)
		return -1;
	*out = id;
	return 0;
}

int ex_notify_stream_id_compare(const ex_notify_stream_id *a, const ex_notify_stream_id *b)
{
	if (a->ms != b->ms)
		return a->ms < b->ms ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}

int ex_notify_stream_id_format(char *out, size_t size, const ex_notify_stream_id *id)
{
	int written = snprintf(out, size, "%" PRIu64 "-%" PRIu64, id->ms, id->seq);
	return written < 0 || (size_t)written >= size ? -1 : 0;
}
