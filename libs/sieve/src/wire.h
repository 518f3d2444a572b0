/*
 * The byte format between the daemon and its Sieve workers: growable
 * buffers, bounds-checked readers, the encoding of a run's outcome, and
 * frames (type, length, payload) on a stream socket with a deadline.
 */
#ifndef EXPRESSO_SIEVE_WIRE_H
#define EXPRESSO_SIEVE_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "expresso/sieve.h"

enum {
	EX_SIEVE_WIRE_MAX_REPLY = 4 * 1024 * 1024, /* bytes of a worker's reply; a longer one is reported */
	EX_SIEVE_WIRE_NULL_STRING = 0xffffffffu,
};

typedef enum {
	EX_SIEVE_FRAME_REQUEST = 1, /* daemon to worker: one validation or execution */
	EX_SIEVE_FRAME_QUESTION,    /* worker to daemon: the values of one header field */
	EX_SIEVE_FRAME_ANSWER,      /* daemon to worker: those values */
	EX_SIEVE_FRAME_REPLY,       /* worker to daemon: the run's outcome */
} ex_sieve_frame_type;

typedef enum {
	EX_SIEVE_WIRE_OK = 0,
	EX_SIEVE_WIRE_EOF,      /* the peer closed the socket before a frame started */
	EX_SIEVE_WIRE_ERROR,    /* a socket error, a cut frame or a frame over the limit */
	EX_SIEVE_WIRE_TIMEOUT,  /* the deadline passed */
} ex_sieve_wire_status;

/* A growable byte buffer; on allocation failure or past max it stops growing and sets failed. */
typedef struct {
	unsigned char *data;
	size_t length;
	size_t capacity;
	size_t max; /* 0: no limit */
	int failed;
} ex_sieve_buffer;

/* A bounds-checked reading position; any shortfall sets broken. */
typedef struct {
	const unsigned char *data;
	size_t length;
	size_t offset;
	int broken;
} ex_sieve_reader;

void ex_sieve_put_bytes(ex_sieve_buffer *out, const void *bytes, size_t length);
void ex_sieve_put_u32(ex_sieve_buffer *out, uint32_t value);
void ex_sieve_put_u64(ex_sieve_buffer *out, uint64_t value);
/* A NULL string is encoded apart from "". */
void ex_sieve_put_string(ex_sieve_buffer *out, const char *text);
void ex_sieve_put_counted(ex_sieve_buffer *out, const char *bytes, size_t length);

uint32_t ex_sieve_get_u32(ex_sieve_reader *in);
uint64_t ex_sieve_get_u64(ex_sieve_reader *in);
/* Returns a malloc'd NUL-terminated copy, or NULL for a NULL string or a broken reader. */
char *ex_sieve_get_string(ex_sieve_reader *in);
/* Like ex_sieve_get_string, also giving the length (the bytes may contain NUL). */
char *ex_sieve_get_counted(ex_sieve_reader *in, size_t *length);

/* Encodes rc, parse_errors, ERRORS and RESULT (may be NULL) as a worker's reply. */
void ex_sieve_put_outcome(ex_sieve_buffer *out, int rc, int parse_errors, const ex_sieve_errors *errors,
			  const ex_sieve_result *result);
/* Decodes a reply into RESULT (may be NULL when no actions are expected), ERRORS and *PARSE_ERRORS; returns rc. */
int ex_sieve_get_outcome(ex_sieve_reader *in, ex_sieve_result *result, ex_sieve_errors *errors, int *parse_errors);

/* Adds a failure without a line number to ERRORS. */
void ex_sieve_add_failure(ex_sieve_errors *errors, const char *message);

/* Sets *DEADLINE to TIMEOUT_MS from now on the monotonic clock. */
void ex_sieve_deadline(struct timespec *deadline, unsigned timeout_ms);

/* Writes one frame. DEADLINE NULL waits as long as it takes. */
ex_sieve_wire_status ex_sieve_write_frame(int fd, ex_sieve_frame_type type, const void *payload, size_t length,
					  const struct timespec *deadline);

/* Reads one frame of at most MAX bytes into PAYLOAD (emptied first). DEADLINE NULL waits as long as it takes. */
ex_sieve_wire_status ex_sieve_read_frame(int fd, ex_sieve_frame_type *type, ex_sieve_buffer *payload, size_t max,
					 const struct timespec *deadline);

#endif
