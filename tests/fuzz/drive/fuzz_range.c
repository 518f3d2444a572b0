/*
 * Fuzzes Range parsing against a content size taken from the first eight
 * input bytes: every satisfiable range lies inside the content, and the
 * other outcomes carry no ranges.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drive_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char header[EX_HTTP_RANGE_MAX_HEADER + 64];
	ex_http_range_set set;
	uint64_t content_size = 0;

	if (size < 8 || size - 8 >= sizeof(header))
		return 0;
	memcpy(&content_size, data, 8);
	/* Small sizes make the edge cases (empty content, ranges at the end) common. */
	if (data[0] & 1)
		content_size %= 4096;
	memcpy(header, data + 8, size - 8);
	header[size - 8] = '\0';

	ex_http_range_status status = ex_http_range_parse(header, content_size, &set);
	if (status != EX_HTTP_RANGE_SATISFIABLE) {
		if (set.count != 0)
			abort();
		return 0;
	}
	if (set.count == 0 || set.count > EX_HTTP_RANGE_MAX)
		abort();
	bool ascending = true;
	for (size_t i = 0; i < set.count; i++) {
		if (set.ranges[i].first > set.ranges[i].last || set.ranges[i].last >= content_size)
			abort();
		if (i > 0 && set.ranges[i].first <= set.ranges[i - 1].last)
			ascending = false;
	}
	if (ex_http_ranges_are_sequential(&set) != ascending)
		abort();
	return 0;
}
