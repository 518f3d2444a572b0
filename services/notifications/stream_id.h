/*
 * Redis stream entry ids ("<milliseconds>-<sequence>"), which are also the
 * SSE event ids a client sends back in Last-Event-ID. Parsing is strict:
 * two decimal numbers without signs, spaces or leading '+', each fitting
 * in 64 bits.
 */
#ifndef EX_NOTIFY_STREAM_ID_H
#define EX_NOTIFY_STREAM_ID_H

#include <stddef.h>
#include <stdint.h>

enum {
	/* 20 digits, '-', 20 digits and the terminator. */
	EX_NOTIFY_STREAM_ID_MAX = 42,
};

typedef struct {
	uint64_t ms;
	uint64_t seq;
} ex_notify_stream_id;

/* Parses LENGTH bytes of TEXT. Returns 0, or -1 when it is not a stream id. */
int ex_notify_stream_id_parse(const char *text, size_t length, ex_notify_stream_id *out);

/* Returns <0, 0 or >0 as A sorts before, equal to or after B. */
int ex_notify_stream_id_compare(const ex_notify_stream_id *a, const ex_notify_stream_id *b);

/* Writes "ms-seq" into OUT. Returns 0, or -1 when SIZE is too small. */
int ex_notify_stream_id_format(char *out, size_t size, const ex_notify_stream_id *id);

#endif
