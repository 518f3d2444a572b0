/*
 * SEARCH program parsing (RFC 3501 section 6.4.4, RFC 9051) into an
 * expression tree of limited depth. It covers every RFC 3501 search key,
 * parenthesised groups, OR and NOT, CHARSET, the ESEARCH RETURN options
 * (RFC 4731, SAVE from RFC 5182) and MODSEQ (RFC 7162).
 */
#ifndef EXPRESSO_IMAP_SEARCH_H
#define EXPRESSO_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expresso/imap_arena.h"
#include "expresso/imap_date.h"
#include "expresso/imap_parser.h"
#include "expresso/imap_seqset.h"

/* Nesting of groups, OR and NOT in one program. */
#define EX_IMAP_DEFAULT_MAX_SEARCH_DEPTH 32

typedef enum {
	EX_IMAP_SEARCH_AND = 0,      /* children: a group or the whole program */
	EX_IMAP_SEARCH_OR,           /* children: exactly two */
	EX_IMAP_SEARCH_NOT,          /* children: exactly one */
	EX_IMAP_SEARCH_ALL,
	EX_IMAP_SEARCH_SEQSET,       /* set */
	EX_IMAP_SEARCH_UID,          /* set */
	EX_IMAP_SEARCH_ANSWERED,
	EX_IMAP_SEARCH_DELETED,
	EX_IMAP_SEARCH_DRAFT,
	EX_IMAP_SEARCH_FLAGGED,
	EX_IMAP_SEARCH_NEW,
	EX_IMAP_SEARCH_OLD,
	EX_IMAP_SEARCH_RECENT,
	EX_IMAP_SEARCH_SEEN,
	EX_IMAP_SEARCH_UNANSWERED,
	EX_IMAP_SEARCH_UNDELETED,
	EX_IMAP_SEARCH_UNDRAFT,
	EX_IMAP_SEARCH_UNFLAGGED,
	EX_IMAP_SEARCH_UNSEEN,
	EX_IMAP_SEARCH_KEYWORD,      /* value */
	EX_IMAP_SEARCH_UNKEYWORD,    /* value */
	EX_IMAP_SEARCH_BCC,          /* value */
	EX_IMAP_SEARCH_BODY,
	EX_IMAP_SEARCH_CC,
	EX_IMAP_SEARCH_FROM,
	EX_IMAP_SEARCH_SUBJECT,
	EX_IMAP_SEARCH_TEXT,
	EX_IMAP_SEARCH_TO,
	EX_IMAP_SEARCH_HEADER,       /* header_name, value */
	EX_IMAP_SEARCH_BEFORE,       /* date */
	EX_IMAP_SEARCH_ON,
	EX_IMAP_SEARCH_SINCE,
	EX_IMAP_SEARCH_SENTBEFORE,
	EX_IMAP_SEARCH_SENTON,
	EX_IMAP_SEARCH_SENTSINCE,
	EX_IMAP_SEARCH_LARGER,       /* number */
	EX_IMAP_SEARCH_SMALLER,      /* number */
	EX_IMAP_SEARCH_MODSEQ,       /* number, optional modseq_entry */
} ex_imap_search_kind;

typedef struct ex_imap_search_key {
	ex_imap_search_kind kind;
	const char *value;            /* string keys, as sent (charset conversion is the caller's) */
	size_t value_length;
	const char *header_name;      /* HEADER */
	ex_imap_date date;            /* date keys */
	uint64_t number;              /* LARGER, SMALLER, MODSEQ */
	const char *modseq_entry;     /* MODSEQ "/flags/\\Seen" or NULL */
	const char *modseq_entry_type; /* "priv", "shared" or "all", upper-cased as sent */
	ex_imap_seqset set;           /* SEQSET, UID */
	struct ex_imap_search_key *children;
	size_t child_count;
	struct ex_imap_search_key *next;
} ex_imap_search_key;

/* ESEARCH RETURN options. */
enum {
	EX_IMAP_SEARCH_RETURN_MIN = 1 << 0,
	EX_IMAP_SEARCH_RETURN_MAX = 1 << 1,
	EX_IMAP_SEARCH_RETURN_ALL = 1 << 2,
	EX_IMAP_SEARCH_RETURN_COUNT = 1 << 3,
	EX_IMAP_SEARCH_RETURN_SAVE = 1 << 4,
};

typedef struct {
	ex_imap_search_key *root;     /* an AND node */
	const char *charset;          /* "UTF-8" or "US-ASCII"; NULL when not given */
	bool has_return;              /* RETURN (...) was given: reply with ESEARCH */
	unsigned return_options;      /* EX_IMAP_SEARCH_RETURN_*; RETURN () means ALL */
} ex_imap_search;

typedef struct {
	const char *text;
	const char *code;             /* "BADCHARSET (US-ASCII UTF-8)" or NULL */
} ex_imap_search_error;

/*
 * Parses the arguments that follow SEARCH (or UID SEARCH), starting at
 * FIRST. MAX_DEPTH 0 means EX_IMAP_DEFAULT_MAX_SEARCH_DEPTH. Returns true,
 * or false with *ERROR set.
 */
bool ex_imap_search_parse(ex_imap_arena *arena, const ex_imap_arg *first, unsigned max_depth,
			  ex_imap_search *search, ex_imap_search_error *error);

#endif
