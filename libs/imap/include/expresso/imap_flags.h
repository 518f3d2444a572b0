/*
 * Flag lists (RFC 3501 flag-list, STORE and APPEND arguments): the system
 * flags \Seen \Answered \Flagged \Deleted \Draft (and \Recent where the
 * caller allows it), keywords, and \* in PERMANENTFLAGS-style lists.
 */
#ifndef EXPRESSO_IMAP_FLAGS_H
#define EXPRESSO_IMAP_FLAGS_H

#include <stdbool.h>
#include <stddef.h>

#include "expresso/imap_arena.h"
#include "expresso/imap_parser.h"

enum {
	EX_IMAP_FLAG_SEEN = 1 << 0,
	EX_IMAP_FLAG_ANSWERED = 1 << 1,
	EX_IMAP_FLAG_FLAGGED = 1 << 2,
	EX_IMAP_FLAG_DELETED = 1 << 3,
	EX_IMAP_FLAG_DRAFT = 1 << 4,
	EX_IMAP_FLAG_RECENT = 1 << 5,
};

/* Options of ex_imap_flags_parse(). */
enum {
	EX_IMAP_FLAGS_ALLOW_STAR = 1 << 0,   /* accept \* */
	EX_IMAP_FLAGS_ALLOW_RECENT = 1 << 1, /* accept \Recent (never in STORE or APPEND) */
};

/* Octets of one keyword. */
#define EX_IMAP_MAX_KEYWORD_LENGTH 255

typedef struct {
	unsigned system;          /* EX_IMAP_FLAG_* bits */
	const char **keywords;    /* as the client spelled them */
	size_t keyword_count;
	bool star;                /* \* was given */
} ex_imap_flags;

/*
 * Parses COUNT flags starting at FIRST and following ->next: the elements
 * of a flag list, or the space-separated flags of STORE. Returns NULL or
 * what is wrong, naming the flag.
 */
const char *ex_imap_flags_parse(ex_imap_arena *arena, const ex_imap_arg *first, size_t count,
				unsigned options, ex_imap_flags *flags);

/* Returns the spelling of one EX_IMAP_FLAG_* bit ("\\Seen"), or NULL. */
const char *ex_imap_flag_name(unsigned flag);

#endif
