/*
 * Builds text/event-stream frames. Each frame is written in one piece so
 * that a client never sees half of an event followed by another one.
 */
#include "sse_frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char ex_notify_sse_heartbeat[] = ": heartbeat\n\n";

static int has_line_break(const char *text)
{
	return text != NULL && strpbrk(text, "\r\n") != NULL;
}

char *ex_notify_sse_frame(const char *id, const char *event, const char *data, size_t *length)
{
	if (event == NULL || data == NULL || has_line_break(id) || has_line_break(event) || has_line_break(data))
		return NULL;

	size_t size = strlen(event) + strlen(data) + (id ? strlen(id) : 0) + 32;
	char *frame = malloc(size);
	if (frame == NULL)
		return NULL;
	int written = id ? snprintf(frame, size, "id: %s\nevent: %s\ndata: %s\n\n", id, event, data)
			 : snprintf(frame, size, "event: %s\ndata: %s\n\n", event, data);
	if (written < 0 || (size_t)written >= size) {
		free(frame);
		return NULL;
	}
	*length = (size_t)written;
	return frame;
}

char *ex_notify_sse_preamble(unsigned long retry_ms, size_t *length)
{
	char *text = malloc(64);
	if (text == NULL)
		return NULL;
	int written = snprintf(text, 64, "retry: %lu\n: connected\n\n", retry_ms);
	if (written < 0 || written >= 64) {
		free(text);
		return NULL;
	}
	*length = (size_t)written;
	return text;
}
