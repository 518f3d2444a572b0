/*
 * Fuzzes the Last-Event-ID parser: an accepted id must print back to an
 * id that parses to the same value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream_id.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ex_notify_stream_id id, again;
	char text[EX_NOTIFY_STREAM_ID_MAX];

	if (ex_notify_stream_id_parse((const char *)data, size, &id) != 0)
		return 0;
	if (ex_notify_stream_id_format(text, sizeof(text), &id) != 0)
		abort();
	if (ex_notify_stream_id_parse(text, strlen(text), &again) != 0 || ex_notify_stream_id_compare(&id, &again) != 0)
		abort();
	return 0;
}
