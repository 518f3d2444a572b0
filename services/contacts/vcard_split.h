/*
 * Splits a file of several vCards (an address book export, the body of
 * an import) into the byte ranges of its BEGIN:VCARD ... END:VCARD
 * blocks, so that each vCard can be checked and stored as sent. Only the
 * BEGIN and END lines are read: the vCard parser (vcard.h) checks each
 * block afterwards. A BEGIN:VCARD inside a block (a vCard 2.1 AGENT)
 * stays part of that block.
 */
#ifndef EXPRESSO_CONTACTS_VCARD_SPLIT_H
#define EXPRESSO_CONTACTS_VCARD_SPLIT_H

#include <stddef.h>

typedef struct {
	size_t offset; /* of the BEGIN:VCARD line */
	size_t length; /* up to and including the line break after END:VCARD */
	unsigned line; /* line of BEGIN:VCARD, from 1 */
} ex_vcard_span;

typedef enum {
	EX_VCARD_SPLIT_OK = 0,
	EX_VCARD_SPLIT_INVALID,  /* text outside a block, a block without END:VCARD, or no block */
	EX_VCARD_SPLIT_TOO_MANY, /* more than MAX_SPANS blocks */
} ex_vcard_split_status;

/*
 * Finds the vCards of TEXT (LENGTH bytes, an optional UTF-8 BOM) and
 * writes at most MAX_SPANS of them into SPANS and their number into
 * *COUNT. Blank lines between vCards are skipped. On an error ERR contains a
 * sentence naming the line.
 */
ex_vcard_split_status ex_vcard_split(const char *text, size_t length, ex_vcard_span *spans, size_t max_spans,
				     size_t *count, char *err, size_t errlen);

#endif
