/*
 * Sequence set parsing, '*' resolution and normalisation.
 */
#include "expresso/imap_seqset.h"

#include <stdlib.h>

/* Reads an nz-number or '*' at TEXT[*I]; returns NULL or what is wrong. */
static const char *parse_number(const char *text, size_t length, size_t *i, uint32_t *value)
{
	if (*i < length && text[*i] == '*') {
		(*i)++;
		*value = EX_IMAP_SEQ_STAR;
		return NULL;
	}
	if (*i >= length || text[*i] < '0' || text[*i] > '9')
		return "Invalid sequence set: expected a number or '*'";
	if (text[*i] == '0')
		return "Invalid sequence set: numbers start at 1 and have no leading zeros";

	uint64_t number = 0;
	while (*i < length && text[*i] >= '0' && text[*i] <= '9') {
		number = number * 10 + (uint64_t)(text[*i] - '0');
		if (number > UINT32_MAX)
			return "Invalid sequence set: number larger than 4294967295";
		(*i)++;
	}
	*value = (uint32_t)number;
	return NULL;
}

const char *ex_imap_seqset_parse(ex_imap_arena *arena, const char *text, size_t length,
				 ex_imap_seqset *set)
{
	set->ranges = NULL;
	set->count = 0;
	set->searchres = false;

	if (length == 1 && text[0] == '$') {
		set->searchres = true;
		return NULL;
	}
	if (length == 0)
		return "Invalid sequence set: empty";

	/* Each range takes at least two octets with its comma. */
	size_t capacity = length / 2 + 1;
	set->ranges = ex_imap_arena_alloc(arena, capacity * sizeof(*set->ranges));
	if (set->ranges == NULL)
		return "Sequence set too large";

	size_t i = 0;
	for (;;) {
		ex_imap_seq_range range;
		const char *error = parse_number(text, length, &i, &range.first);
		if (error != NULL)
			return error;
		range.last = range.first;
		if (i < length && text[i] == ':') {
			i++;
			error = parse_number(text, length, &i, &range.last);
			if (error != NULL)
				return error;
		}
		set->ranges[set->count++] = range;

		if (i == length)
			return NULL;
		if (text[i] != ',')
			return text[i] == '$' ? "Invalid sequence set: '$' must stand alone"
					      : "Invalid sequence set: unexpected character";
		i++;
	}
}

void ex_imap_seqset_resolve(ex_imap_seqset *set, uint32_t max)
{
	size_t kept = 0;
	for (size_t i = 0; i < set->count; i++) {
		ex_imap_seq_range range = set->ranges[i];
		bool star = range.first == EX_IMAP_SEQ_STAR || range.last == EX_IMAP_SEQ_STAR;
		if (star && max == 0)
			continue;
		if (range.first == EX_IMAP_SEQ_STAR)
			range.first = max;
		if (range.last == EX_IMAP_SEQ_STAR)
			range.last = max;
		if (range.first > range.last) {
			uint32_t swap = range.first;
			range.first = range.last;
			range.last = swap;
		}
		set->ranges[kept++] = range;
	}
	set->count = kept;
}

static int compare_ranges(const void *a, const void *b)
{
	const ex_imap_seq_range *left = a;
	const ex_imap_seq_range *right = b;
	if (left->first != right->first)
		return left->first < right->first ? -1 : 1;
	if (left->last != right->last)
		return left->last < right->last ? -1 : 1;
	return 0;
}

void ex_imap_seqset_normalize(ex_imap_seqset *set)
{
	if (set->count < 2)
		return;
	qsort(set->ranges, set->count, sizeof(*set->ranges), compare_ranges);

	size_t merged = 0;
	for (size_t i = 1; i < set->count; i++) {
		ex_imap_seq_range *current = &set->ranges[merged];
		ex_imap_seq_range next = set->ranges[i];
		if (current->last == UINT32_MAX || next.first <= current->last + 1) {
			if (next.last > current->last)
				current->last = next.last;
		} else {
			set->ranges[++merged] = next;
		}
	}
	set->count = merged + 1;
}

bool ex_imap_seqset_contains(const ex_imap_seqset *set, uint32_t number)
{
	for (size_t i = 0; i < set->count; i++) {
		if (number >= set->ranges[i].first && number <= set->ranges[i].last)
			return true;
	}
	return false;
}

bool ex_imap_seqset_looks_like(const char *text, size_t length)
{
	return length > 0 && ((text[0] >= '0' && text[0] <= '9') || text[0] == '*' || text[0] == '$');
}
