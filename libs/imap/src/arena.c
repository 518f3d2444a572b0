/*
 * Memory pool of one IMAP command: a list of malloc'd blocks, each used
 * from the front, all freed together by ex_imap_arena_clear().
 */
#include "expresso/imap_arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Small commands fit in one block; larger requests get a block of their own. */
#define EX_IMAP_ARENA_BLOCK_SIZE 4096

struct ex_imap_arena_block {
	struct ex_imap_arena_block *next;
	size_t size;
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

void ex_imap_arena_init(ex_imap_arena *arena, size_t max_bytes)
{
	arena->blocks = NULL;
	arena->used = 0;
	arena->max_bytes = max_bytes;
}

void *ex_imap_arena_alloc(ex_imap_arena *arena, size_t size)
{
	const size_t align = alignof(max_align_t);

	if (size == 0)
		size = 1;
	if (size > SIZE_MAX - align)
		return NULL;
	size = (size + align - 1) & ~(align - 1);
	if (arena->max_bytes != 0 &&
	    (size > arena->max_bytes || arena->used > arena->max_bytes - size))
		return NULL;

	struct ex_imap_arena_block *block = arena->blocks;
	if (block == NULL || block->size - block->used < size) {
		size_t block_size = size > EX_IMAP_ARENA_BLOCK_SIZE ? size : EX_IMAP_ARENA_BLOCK_SIZE;
		if (block_size > SIZE_MAX - sizeof(*block))
			return NULL;
		block = malloc(sizeof(*block) + block_size);
		if (block == NULL)
			return NULL;
		block->size = block_size;
		block->used = 0;
		block->next = arena->blocks;
		arena->blocks = block;
	}

	void *result = block->data + block->used;
	block->used += size;
	arena->used += size;
	memset(result, 0, size);
	return result;
}

char *ex_imap_arena_strndup(ex_imap_arena *arena, const char *data, size_t length)
{
	if (length == SIZE_MAX)
		return NULL;
	char *copy = ex_imap_arena_alloc(arena, length + 1);
	if (copy == NULL)
		return NULL;
	if (length > 0)
		memcpy(copy, data, length);
	copy[length] = '\0';
	return copy;
}

void ex_imap_arena_clear(ex_imap_arena *arena)
{
	struct ex_imap_arena_block *block = arena->blocks;
	while (block != NULL) {
		struct ex_imap_arena_block *next = block->next;
		free(block);
		block = next;
	}
	arena->blocks = NULL;
	arena->used = 0;
}
