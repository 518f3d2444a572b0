/*
 * Sequence sets (RFC 3501 sequence-set, RFC 9051): "1:*", "2,4:7,9", and
 * "$" for the result saved by SEARCH RETURN (SAVE) (RFC 5182). Numbers are
 * nz-number, 1 to 4294967295, with overflow and leading zeros rejected.
 */
#ifndef EXPRESSO_IMAP_SEQSET_H
#define EXPRESSO_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expresso/imap_arena.h"

/* 0 stands for '*' until ex_imap_seqset_resolve() replaces it. */
#define EX_IMAP_SEQ_STAR 0u

typedef struct {
	uint32_t first;
	uint32_t last;
} ex_imap_seq_range;

typedef struct {
	ex_imap_seq_range *ranges;
	size_t count;
	bool searchres;        /* "$": the caller substitutes the saved result */
} ex_imap_seqset;

/* Parses the LENGTH octets at TEXT; returns NULL or what is wrong. Ranges are kept in the client's order. */
const char *ex_imap_seqset_parse(ex_imap_arena *arena, const char *text, size_t length,
				 ex_imap_seqset *set);

/*
 * Replaces '*' with MAX (the number of messages or the highest UID) and
 * orders each range so that first <= last. With MAX 0 (an empty mailbox)
 * ranges that contain '*' are dropped, because no message matches them.
 */
void ex_imap_seqset_resolve(ex_imap_seqset *set, uint32_t max);

/* Sorts resolved ranges and merges overlapping or adjacent ones. */
void ex_imap_seqset_normalize(ex_imap_seqset *set);

/* True if resolved SET contains NUMBER. */
bool ex_imap_seqset_contains(const ex_imap_seqset *set, uint32_t number);

/* True if TEXT looks like a sequence set (starts with a digit, '*' or '$'). */
bool ex_imap_seqset_looks_like(const char *text, size_t length);

#endif
