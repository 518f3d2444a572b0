/*
 * Memory pool of one IMAP command. The parser and the argument helpers
 * (sequence sets, FETCH items, SEARCH keys) allocate from it, and one call
 * to ex_imap_arena_clear() releases everything at once, so no parsed value
 * is freed field by field. An arena does not grow past its byte limit.
 */
#ifndef EXPRESSO_IMAP_ARENA_H
#define EXPRESSO_IMAP_ARENA_H

#include <stddef.h>

struct ex_imap_arena_block;

typedef struct {
	struct ex_imap_arena_block *blocks; /* newest first */
	size_t used;                        /* octets handed out since the last clear */
	size_t max_bytes;                   /* 0 means no limit */
} ex_imap_arena;

/* Initialises an empty arena that hands out at most MAX_BYTES octets. */
void ex_imap_arena_init(ex_imap_arena *arena, size_t max_bytes);

/* Returns SIZE zeroed octets aligned for any type, or NULL when out of memory or over the limit. */
void *ex_imap_arena_alloc(ex_imap_arena *arena, size_t size);

/* Copies LENGTH octets of DATA and appends a NUL; NULL on failure. */
char *ex_imap_arena_strndup(ex_imap_arena *arena, const char *data, size_t length);

/* Frees every block; the arena stays usable. */
void ex_imap_arena_clear(ex_imap_arena *arena);

#endif
