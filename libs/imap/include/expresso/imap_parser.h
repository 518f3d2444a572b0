/*
 * Incremental parser of IMAP4rev1/IMAP4rev2 command lines (RFC 3501,
 * RFC 9051). The caller feeds bytes as they arrive. The parser returns a
 * whole command: its tag, its name and an argument tree of atoms, quoted
 * strings, literals, NIL and lists. Otherwise it requests more input,
 * requests that the caller send a continuation for a synchronising
 * literal, or reports an error with the reply the client should get. It never blocks, and every size,
 * depth and count it keeps has a limit in ex_imap_parser_limits.
 *
 * The parser knows the literal syntaxes {n}, {n+} (LITERAL+ and LITERAL-,
 * RFC 7888) and ~{n} (literal8, RFC 3516, for APPEND messages only). It does
 * not know the grammar of each command: imap_seqset.h, imap_fetch.h,
 * imap_search.h, imap_flags.h and imap_date.h parse the arguments.
 */
#ifndef EXPRESSO_IMAP_PARSER_H
#define EXPRESSO_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expresso/imap_arena.h"

/* Octets of a command line, literal data excluded (Dovecot and RFC 7162 suggest at least 8192). */
#define EX_IMAP_DEFAULT_MAX_LINE_SIZE (64 * 1024)
/* Octets of one APPEND literal; advertise the same number as APPENDLIMIT. */
#define EX_IMAP_DEFAULT_MAX_LITERAL_SIZE (64u * 1024 * 1024)
/* Octets of a non-synchronising literal when only LITERAL- is advertised (RFC 7888 fixes 4096). */
#define EX_IMAP_DEFAULT_MAX_NONSYNC_LITERAL_SIZE 4096
/* Arguments of one command, counting list elements and the lists themselves. */
#define EX_IMAP_DEFAULT_MAX_ARGS 4096
/* Parenthesised lists open at once. */
#define EX_IMAP_DEFAULT_MAX_LIST_DEPTH 16
/* Octets of an AUTHENTICATE continuation line: an OAUTHBEARER token can be this long. */
#define EX_IMAP_DEFAULT_MAX_AUTH_LINE_SIZE 12288

typedef struct {
	size_t max_line_size;
	uint64_t max_literal_size;
	uint64_t max_nonsync_literal_size;
	unsigned max_args;
	unsigned max_list_depth;
	size_t max_auth_line_size;
	/* true when LITERAL+ is advertised: {n+} is then bounded by the literal
	 * limits only; false (LITERAL-) bounds it by max_nonsync_literal_size. */
	bool literal_plus;
	/* true to hand APPEND literal data to the caller in chunks
	 * (EX_IMAP_PARSE_LITERAL_DATA) instead of keeping it in memory. */
	bool stream_append_literals;
} ex_imap_parser_limits;

typedef enum {
	EX_IMAP_ARG_ATOM = 0,
	EX_IMAP_ARG_QUOTED,
	EX_IMAP_ARG_LITERAL,
	EX_IMAP_ARG_LITERAL8,
	EX_IMAP_ARG_NIL,
	EX_IMAP_ARG_LIST,
} ex_imap_arg_type;

/* One argument. Strings are NUL-terminated; a literal8 may also contain NULs, so use length. */
typedef struct ex_imap_arg {
	ex_imap_arg_type type;
	const char *str;            /* ATOM, QUOTED, LITERAL, LITERAL8; "NIL" for NIL; NULL if streamed */
	size_t length;
	struct ex_imap_arg *list;   /* LIST: first element or NULL */
	size_t list_count;          /* LIST: number of elements */
	struct ex_imap_arg *next;   /* next sibling */
	bool streamed;              /* an APPEND literal whose data went to the caller in chunks */
} ex_imap_arg;

typedef enum {
	EX_IMAP_PARSE_NEED_MORE = 0, /* every byte given was consumed; call again with more */
	EX_IMAP_PARSE_DONE,          /* a command is ready: ex_imap_parser_command() */
	EX_IMAP_PARSE_LITERAL,       /* send EX_IMAP_LITERAL_CONTINUATION, then feed the literal */
	EX_IMAP_PARSE_ERROR,         /* reply with ex_imap_parser_error() */
	EX_IMAP_PARSE_LITERAL_DATA,  /* a chunk of a streamed literal: ex_imap_parser_literal_chunk() */
} ex_imap_parse_result;

#define EX_IMAP_LITERAL_CONTINUATION "+ Ready for literal data\r\n"

typedef struct {
	const char *tag;            /* NULL when the tag was not read: reply untagged ("* BAD") */
	const char *name;           /* upper-cased command name, NULL if not read */
	const char *status;         /* "BAD", or "NO" for an APPEND literal over the limit (RFC 7889) */
	const char *code;           /* response code without brackets ("TOOBIG", "LIMIT") or NULL */
	const char *text;           /* human-readable reason */
	/* true when the connection must be closed after the reply, because the
	 * client is already sending data (a non-synchronising literal) that
	 * cannot be distinguished from the next command. */
	bool fatal;
} ex_imap_parse_error;

typedef struct {
	const char *tag;
	const char *name;           /* upper-cased: "UID", "FETCH", "APPEND" */
	ex_imap_arg *args;          /* first argument or NULL */
	size_t arg_count;           /* top-level arguments */
} ex_imap_command;

typedef struct ex_imap_parser ex_imap_parser;

/* Fills LIMITS with the EX_IMAP_DEFAULT_* values and literal_plus = true. */
void ex_imap_parser_limits_default(ex_imap_parser_limits *limits);

/* Creates a parser; LIMITS may be NULL for the defaults. Returns NULL when out of memory. */
ex_imap_parser *ex_imap_parser_new(const ex_imap_parser_limits *limits);
void ex_imap_parser_free(ex_imap_parser *parser);

/*
 * Consumes bytes of DATA and sets *CONSUMED. Stops after a complete command
 * (DONE), after the header of a synchronising literal (LITERAL) and at an
 * error (ERROR). Bytes after that point are left for the next call. After
 * DONE or a non-fatal ERROR the next call starts a new command, first
 * discarding the rest of a line that failed. Values returned by
 * ex_imap_parser_command() and ex_imap_parser_error() stay valid until
 * the next call.
 */
ex_imap_parse_result ex_imap_parser_feed(ex_imap_parser *parser, const void *data,
					 size_t length, size_t *consumed);

const ex_imap_command *ex_imap_parser_command(const ex_imap_parser *parser);
const ex_imap_parse_error *ex_imap_parser_error(const ex_imap_parser *parser);

/*
 * Makes the next line a raw line of at most max_auth_line_size octets
 * (an AUTHENTICATE response or the DONE that ends IDLE). ex_imap_parser_feed()
 * returns DONE with the line, without CRLF, in ex_imap_parser_raw_line().
 */
void ex_imap_parser_expect_raw_line(ex_imap_parser *parser);
const char *ex_imap_parser_raw_line(const ex_imap_parser *parser, size_t *length);

/*
 * Returns the chunk of literal data that came with EX_IMAP_PARSE_LITERAL_DATA.
 * It points into the DATA given to ex_imap_parser_feed(). *OFFSET is the
 * position of the chunk in the literal and *TOTAL the literal's size, so
 * offset 0 starts a new literal and offset + length == total ends it.
 * Meanwhile ex_imap_parser_command() shows the arguments read so far, the
 * streamed literal last.
 */
const char *ex_imap_parser_literal_chunk(const ex_imap_parser *parser, size_t *length,
					 uint64_t *offset, uint64_t *total);

/*
 * Frees the memory of the command just handled (its arguments, literals and
 * a grown line buffer) before the next bytes arrive, so that a connection
 * waiting after a large APPEND or in IDLE keeps almost nothing. It does
 * nothing in the middle of a command.
 */
void ex_imap_parser_release(ex_imap_parser *parser);

/* The arena of the current command, for the argument helpers. */
ex_imap_arena *ex_imap_parser_arena(ex_imap_parser *parser);

/* True if ARG is an atom, quoted string or literal (not literal8), i.e. an IMAP astring. */
bool ex_imap_arg_is_astring(const ex_imap_arg *arg);
/* True if ARG is an atom equal to WORD, ignoring ASCII case. */
bool ex_imap_arg_atom_equals(const ex_imap_arg *arg, const char *word);

#endif
