/*
 * FETCH data items (RFC 3501 section 6.4.5, RFC 9051, BINARY from RFC 3516,
 * MODSEQ from RFC 7162): the macros ALL, FAST and FULL, single items and
 * parenthesised lists, body sections with part numbers, HEADER.FIELDS
 * lists and <offset.length> partials.
 */
#ifndef EXPRESSO_IMAP_FETCH_H
#define EXPRESSO_IMAP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expresso/imap_arena.h"
#include "expresso/imap_parser.h"

/* Levels of a section part number such as 1.2.3. */
#define EX_IMAP_MAX_SECTION_PARTS 32

typedef enum {
	EX_IMAP_FETCH_FLAGS = 0,
	EX_IMAP_FETCH_UID,
	EX_IMAP_FETCH_INTERNALDATE,
	EX_IMAP_FETCH_RFC822_SIZE,
	EX_IMAP_FETCH_ENVELOPE,
	EX_IMAP_FETCH_BODYSTRUCTURE,
	EX_IMAP_FETCH_BODY,           /* BODY without a section: the non-extensible structure */
	EX_IMAP_FETCH_BODY_SECTION,   /* BODY[...] and BODY.PEEK[...] */
	EX_IMAP_FETCH_BINARY,         /* BINARY[...] and BINARY.PEEK[...] */
	EX_IMAP_FETCH_BINARY_SIZE,
	EX_IMAP_FETCH_RFC822,
	EX_IMAP_FETCH_RFC822_HEADER,
	EX_IMAP_FETCH_RFC822_TEXT,
	EX_IMAP_FETCH_MODSEQ,
} ex_imap_fetch_kind;

typedef enum {
	EX_IMAP_SECTION_ALL = 0,          /* [] or [1.2]: the whole message or part */
	EX_IMAP_SECTION_HEADER,
	EX_IMAP_SECTION_HEADER_FIELDS,
	EX_IMAP_SECTION_HEADER_FIELDS_NOT,
	EX_IMAP_SECTION_TEXT,
	EX_IMAP_SECTION_MIME,             /* only after a part number */
} ex_imap_section_text;

typedef struct {
	uint32_t parts[EX_IMAP_MAX_SECTION_PARTS];
	size_t part_count;
	ex_imap_section_text text;
	const char **fields;              /* HEADER.FIELDS names as given */
	size_t field_count;
} ex_imap_section;

typedef struct ex_imap_fetch_item {
	ex_imap_fetch_kind kind;
	bool peek;                        /* .PEEK: do not set \Seen */
	ex_imap_section section;
	bool partial;
	uint32_t partial_offset;
	uint32_t partial_length;
	struct ex_imap_fetch_item *next;
} ex_imap_fetch_item;

typedef struct {
	ex_imap_fetch_item *items;        /* in the client's order */
	size_t count;
} ex_imap_fetch_list;

/* Parses the FETCH argument ARG (an atom or a list). Returns NULL or what is wrong, naming the item. */
const char *ex_imap_fetch_parse(ex_imap_arena *arena, const ex_imap_arg *arg, ex_imap_fetch_list *list);

#endif
