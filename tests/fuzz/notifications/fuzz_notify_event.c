/*
 * Fuzzes the event parser. The input is a subject, a newline, then the
 * event body. An accepted event must have valid tokens, at most the
 * recipient limit, and data that is JSON within the size cap and without
 * line breaks (it goes into an SSE data: line as is).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notify_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *newline = memchr(data, '\n', size);
	if (newline == NULL)
		return 0;
	size_t subject_length = (size_t)(newline - data);
	char *subject = malloc(subject_length + 1);
	if (subject == NULL)
		return 0;
	memcpy(subject, data, subject_length);
	subject[subject_length] = '\0';

	ex_notify_event event;
	char err[256];
	if (ex_notify_event_parse(subject, (const char *)newline + 1, size - subject_length - 1, &event, err,
				  sizeof(err)) == 0) {
		if (!ex_notify_token_valid(event.tenant) || event.recipient_count > EX_NOTIFY_MAX_RECIPIENTS)
			abort();
		for (size_t i = 0; i < event.recipient_count; i++) {
			if (!ex_notify_token_valid(event.recipients[i]))
				abort();
		}
		if (strlen(event.data) > EX_NOTIFY_MAX_DATA || strpbrk(event.data, "\r\n") != NULL)
			abort();
		json_t *parsed = json_loads(event.data, 0, NULL);
		if (parsed == NULL)
			abort();
		json_decref(parsed);
		ex_notify_event_clear(&event);
	} else if (event.data != NULL) {
		abort();
	}
	free(subject);
	return 0;
}
