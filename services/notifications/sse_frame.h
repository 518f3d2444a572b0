/*
 * Server-sent event framing (the text/event-stream format of the HTML
 * standard): "id:", "event:" and "data:" lines ended by a blank line, and
 * comment lines for heartbeats. Field values must not contain CR or LF,
 * which the formatter checks rather than trusting its callers.
 */
#ifndef EX_NOTIFY_SSE_FRAME_H
#define EX_NOTIFY_SSE_FRAME_H

#include <stddef.h>

/*
 * Formats one event into a new string (length in *length). ID may be NULL
 * (no id line). Returns NULL when a value contains CR or LF or memory runs
 * out.
 */
char *ex_notify_sse_frame(const char *id, const char *event, const char *data, size_t *length);

/* Formats "retry: <ms>" followed by a comment that flushes the headers. */
char *ex_notify_sse_preamble(unsigned long retry_ms, size_t *length);

/* The heartbeat comment line. */
extern const char ex_notify_sse_heartbeat[];

#endif
