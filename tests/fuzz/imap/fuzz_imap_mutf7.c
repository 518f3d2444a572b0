/*
 * libFuzzer target: the modified UTF-7 codec must be a bijection between
 * valid UTF-8 names and canonical modified UTF-7, so whatever one direction
 * accepts, the other must turn back into the same octets.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/imap_mailbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	const char *text = (const char *)data;
	/* UTF-8 to modified UTF-7 grows at most 8/3 times, plus the '&' and '-' of each run. */
	size_t capacity = size * 3 + 16;
	char *first = malloc(capacity);
	char *second = malloc(capacity);
	size_t first_length;
	size_t second_length;

	if (ex_imap_mutf7_decode(text, size, first, capacity, &first_length) == NULL) {
		if (ex_imap_mutf7_encode(first, first_length, second, capacity, &second_length) != NULL)
			abort();
		if (second_length != size || memcmp(second, text, size) != 0)
			abort();
	}
	if (ex_imap_mutf7_encode(text, size, first, capacity, &first_length) == NULL) {
		if (ex_imap_mutf7_decode(first, first_length, second, capacity, &second_length) != NULL)
			abort();
		if (second_length != size || memcmp(second, text, size) != 0)
			abort();
		if (!ex_imap_utf8_valid(text, size))
			abort();
	}
	free(first);
	free(second);
	return 0;
}
