/*
 * Range header parsing (RFC 9110 section 14.2) for downloads: resolves
 * "bytes=first-last", "bytes=first-" and "bytes=-suffix" specs against the
 * content size. A malformed header is ignored, as the RFC allows, so the
 * client gets the whole content. A well-formed header none of whose
 * ranges overlaps the content is unsatisfiable (416).
 */
#include <string.h>
#include <strings.h>

#include "drive_parse.h"

static bool is_whitespace(char c)
{
	return c == ' ' || c == '\t';
}

/* Reads decimal digits at *cursor into *value; false when there are none or the value overflows. */
static bool read_number(const char **cursor, const char *end, uint64_t *value)
{
	const char *p = *cursor;
	uint64_t result = 0;

	if (p == end || *p < '0' || *p > '9')
		return false;
	while (p < end && *p >= '0' && *p <= '9') {
		unsigned digit = (unsigned)(*p - '0');
		if (result > (UINT64_MAX - digit) / 10)
			return false;
		result = result * 10 + digit;
		p++;
	}
	*cursor = p;
	*value = result;
	return true;
}

/*
 * Parses one range spec between SPEC and END. Returns -1 when malformed,
 * 0 when it does not overlap the content, 1 with *range filled.
 */
static int parse_spec(const char *spec, const char *end, uint64_t size, ex_http_byte_range *range)
{
	const char *cursor = spec;
	uint64_t first = 0;
	uint64_t last = 0;

	if (cursor < end && *cursor == '-') {
		cursor++;
		uint64_t suffix;
		if (!read_number(&cursor, end, &suffix) || cursor != end)
			return -1;
		if (suffix == 0 || size == 0)
			return 0;
		range->first = suffix >= size ? 0 : size - suffix;
		range->last = size - 1;
		return 1;
	}

	if (!read_number(&cursor, end, &first) || cursor == end || *cursor != '-')
		return -1;
	cursor++;
	bool open_ended = cursor == end;
	if (!open_ended) {
		if (!read_number(&cursor, end, &last) || cursor != end || last < first)
			return -1;
	}
	if (first >= size)
		return 0;
	range->first = first;
	range->last = open_ended || last >= size ? size - 1 : last;
	return 1;
}

ex_http_range_status ex_http_range_parse(const char *header, uint64_t size, ex_http_range_set *out)
{
	out->count = 0;
	if (header == NULL)
		return EX_HTTP_RANGE_IGNORED;
	size_t length = strnlen(header, EX_HTTP_RANGE_MAX_HEADER + 1);
	if (length > EX_HTTP_RANGE_MAX_HEADER || strncasecmp(header, "bytes=", 6) != 0)
		return EX_HTTP_RANGE_IGNORED;

	const char *cursor = header + 6;
	const char *end = header + length;
	size_t specs = 0;
	while (cursor <= end) {
		const char *comma = memchr(cursor, ',', (size_t)(end - cursor));
		const char *spec_end = comma ? comma : end;
		while (cursor < spec_end && is_whitespace(*cursor))
			cursor++;
		const char *trimmed_end = spec_end;
		while (trimmed_end > cursor && is_whitespace(trimmed_end[-1]))
			trimmed_end--;

		/* Empty elements are allowed in HTTP lists ("bytes=0-1,,2-3"). */
		if (trimmed_end > cursor) {
			if (++specs > EX_HTTP_RANGE_MAX)
				return out->count = 0, EX_HTTP_RANGE_IGNORED;
			ex_http_byte_range range;
			int result = parse_spec(cursor, trimmed_end, size, &range);
			if (result < 0) {
				out->count = 0;
				return EX_HTTP_RANGE_IGNORED;
			}
			if (result > 0)
				out->ranges[out->count++] = range;
		}
		if (comma == NULL)
			break;
		cursor = comma + 1;
	}
	if (specs == 0)
		return EX_HTTP_RANGE_IGNORED;
	return out->count > 0 ? EX_HTTP_RANGE_SATISFIABLE : EX_HTTP_RANGE_UNSATISFIABLE;
}

bool ex_http_ranges_are_sequential(const ex_http_range_set *ranges)
{
	for (size_t i = 1; i < ranges->count; i++) {
		if (ranges->ranges[i].first <= ranges->ranges[i - 1].last)
			return false;
	}
	return true;
}
