/*
 * Incremental IMAP command parser: a byte-at-a-time state machine that
 * builds the argument tree of one command in the command's arena. Literal
 * data is copied in chunks. Limits are checked before anything is stored,
 * and a line that fails is skipped up to its LF so that the next command
 * is read in step. Dovecot's lib-imap parser has the same contract.
 */
#include "expresso/imap_parser.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_chars.h"
#include "expresso/imap_mailbox.h"

/* Arena headroom for the argument nodes and lines of one command, beyond its literals. */
#define EX_IMAP_ARENA_LINE_FACTOR 8

typedef enum {
	ST_FRESH = 0,     /* the next byte starts a command */
	ST_TAG,
	ST_NAME,
	ST_ARG_START,     /* before an argument, a ')' or the end of the line */
	ST_AFTER_ARG,     /* after an argument: SP, ')' or the end of the line */
	ST_ATOM,
	ST_QUOTED,
	ST_QUOTED_ESCAPE,
	ST_LITERAL8_BRACE, /* after '~' */
	ST_LITERAL_SIZE,
	ST_LITERAL_CLOSE,  /* after '+' */
	ST_LITERAL_CR,     /* after '}' */
	ST_LITERAL_LF,
	ST_LITERAL_DATA,
	ST_END_LF,         /* after the CR that ends the command */
	ST_SKIP,           /* discarding the rest of a failed line */
	ST_RAW,
	ST_RAW_LF,
} parser_state;

struct ex_imap_parser {
	ex_imap_parser_limits limits;
	ex_imap_arena arena;
	parser_state state;
	bool raw_requested;

	char *token;
	size_t token_length;
	size_t token_capacity;
	size_t line_size;
	unsigned bracket_depth;

	ex_imap_arg **open_lists;  /* [0] is unused: depth 0 is the command itself */
	ex_imap_arg **tails;       /* last element at each depth */
	unsigned depth;
	unsigned arg_total;

	uint64_t literal_size;
	uint64_t literal_read;
	unsigned literal_digits;
	bool literal8;
	bool literal_nonsync;
	ex_imap_arg *literal_arg;

	ex_imap_command command;
	ex_imap_parse_error error;
	char error_text[192];

	const char *raw_line;
	size_t raw_length;

	const char *chunk;
	size_t chunk_length;
	uint64_t chunk_offset;
};

void ex_imap_parser_limits_default(ex_imap_parser_limits *limits)
{
	limits->max_line_size = EX_IMAP_DEFAULT_MAX_LINE_SIZE;
	limits->max_literal_size = EX_IMAP_DEFAULT_MAX_LITERAL_SIZE;
	limits->max_nonsync_literal_size = EX_IMAP_DEFAULT_MAX_NONSYNC_LITERAL_SIZE;
	limits->max_args = EX_IMAP_DEFAULT_MAX_ARGS;
	limits->max_list_depth = EX_IMAP_DEFAULT_MAX_LIST_DEPTH;
	limits->max_auth_line_size = EX_IMAP_DEFAULT_MAX_AUTH_LINE_SIZE;
	limits->literal_plus = true;
	limits->stream_append_literals = false;
}

ex_imap_parser *ex_imap_parser_new(const ex_imap_parser_limits *limits)
{
	ex_imap_parser *parser = calloc(1, sizeof(*parser));
	if (parser == NULL)
		return NULL;
	if (limits != NULL)
		parser->limits = *limits;
	else
		ex_imap_parser_limits_default(&parser->limits);
	if (parser->limits.max_list_depth == 0)
		parser->limits.max_list_depth = 1;

	size_t levels = (size_t)parser->limits.max_list_depth + 1;
	parser->open_lists = calloc(levels, sizeof(ex_imap_arg *));
	parser->tails = calloc(levels, sizeof(ex_imap_arg *));
	if (parser->open_lists == NULL || parser->tails == NULL) {
		ex_imap_parser_free(parser);
		return NULL;
	}

	/* Literal octets, plus the lines between them and the argument nodes. */
	uint64_t budget = (parser->limits.stream_append_literals ? 0 : parser->limits.max_literal_size) +
			  (uint64_t)parser->limits.max_line_size * EX_IMAP_ARENA_LINE_FACTOR +
			  (uint64_t)parser->limits.max_args * 2 * sizeof(ex_imap_arg);
	if (budget > SIZE_MAX)
		budget = SIZE_MAX;
	ex_imap_arena_init(&parser->arena, (size_t)budget);
	parser->state = ST_FRESH;
	return parser;
}

void ex_imap_parser_free(ex_imap_parser *parser)
{
	if (parser == NULL)
		return;
	ex_imap_arena_clear(&parser->arena);
	free(parser->token);
	free(parser->open_lists);
	free(parser->tails);
	free(parser);
}

const ex_imap_command *ex_imap_parser_command(const ex_imap_parser *parser)
{
	return &parser->command;
}

const ex_imap_parse_error *ex_imap_parser_error(const ex_imap_parser *parser)
{
	return &parser->error;
}

ex_imap_arena *ex_imap_parser_arena(ex_imap_parser *parser)
{
	return &parser->arena;
}

void ex_imap_parser_expect_raw_line(ex_imap_parser *parser)
{
	parser->raw_requested = true;
}

const char *ex_imap_parser_literal_chunk(const ex_imap_parser *parser, size_t *length,
					 uint64_t *offset, uint64_t *total)
{
	if (length != NULL)
		*length = parser->chunk_length;
	if (offset != NULL)
		*offset = parser->chunk_offset;
	if (total != NULL)
		*total = parser->literal_arg != NULL ? parser->literal_arg->length : 0;
	return parser->chunk;
}

const char *ex_imap_parser_raw_line(const ex_imap_parser *parser, size_t *length)
{
	if (length != NULL)
		*length = parser->raw_length;
	return parser->raw_line;
}

/* Forgets the previous command. The token buffer shrinks back after a long line, so idle connections stay small. */
static void begin_command(ex_imap_parser *parser)
{
	ex_imap_arena_clear(&parser->arena);
	memset(&parser->command, 0, sizeof(parser->command));
	memset(&parser->error, 0, sizeof(parser->error));
	parser->token_length = 0;
	if (parser->token_capacity > 1024) {
		free(parser->token);
		parser->token = NULL;
		parser->token_capacity = 0;
	}
	parser->line_size = 0;
	parser->bracket_depth = 0;
	parser->depth = 0;
	parser->arg_total = 0;
	parser->tails[0] = NULL;
	parser->literal_arg = NULL;
	parser->raw_line = NULL;
	parser->raw_length = 0;
	parser->chunk = NULL;
	parser->chunk_length = 0;
	parser->chunk_offset = 0;

	if (parser->raw_requested) {
		parser->raw_requested = false;
		parser->state = ST_RAW;
	} else {
		parser->state = ST_TAG;
	}
}

void ex_imap_parser_release(ex_imap_parser *parser)
{
	if (parser->state != ST_FRESH && parser->state != ST_SKIP)
		return;
	parser_state state = parser->state;
	bool raw_requested = parser->raw_requested;
	begin_command(parser);
	parser->state = state;
	parser->raw_requested = raw_requested;
	free(parser->token);
	parser->token = NULL;
	parser->token_capacity = 0;
}

/* Records an error. LINE_ENDED is true when the byte that failed was the line's LF. */
static ex_imap_parse_result fail(ex_imap_parser *parser, const char *code, bool line_ended,
				 const char *format, ...) __attribute__((format(printf, 4, 5)));

static ex_imap_parse_result fail(ex_imap_parser *parser, const char *code, bool line_ended,
				 const char *format, ...)
{
	va_list ap;
	va_start(ap, format);
	vsnprintf(parser->error_text, sizeof(parser->error_text), format, ap);
	va_end(ap);

	parser->error.tag = parser->command.tag;
	parser->error.name = parser->command.name;
	if (parser->error.status == NULL)
		parser->error.status = "BAD";
	parser->error.code = code;
	parser->error.text = parser->error_text;
	parser->state = line_ended ? ST_FRESH : ST_SKIP;
	return EX_IMAP_PARSE_ERROR;
}

static bool token_append(ex_imap_parser *parser, char c)
{
	if (parser->token_length + 1 >= parser->token_capacity) {
		size_t capacity = parser->token_capacity == 0 ? 64 : parser->token_capacity * 2;
		char *grown = realloc(parser->token, capacity);
		if (grown == NULL)
			return false;
		parser->token = grown;
		parser->token_capacity = capacity;
	}
	parser->token[parser->token_length++] = c;
	return true;
}

/* Appends a new argument of TYPE at the current depth; NULL when over a limit (the error is set). */
static ex_imap_arg *add_arg(ex_imap_parser *parser, ex_imap_arg_type type, ex_imap_parse_result *result)
{
	if (parser->arg_total >= parser->limits.max_args) {
		*result = fail(parser, "LIMIT", false, "Too many arguments (the limit is %u)",
			       parser->limits.max_args);
		return NULL;
	}
	ex_imap_arg *arg = ex_imap_arena_alloc(&parser->arena, sizeof(*arg));
	if (arg == NULL) {
		*result = fail(parser, "TOOBIG", false, "Command too large");
		return NULL;
	}
	arg->type = type;
	parser->arg_total++;

	unsigned depth = parser->depth;
	if (parser->tails[depth] != NULL)
		parser->tails[depth]->next = arg;
	else if (depth == 0)
		parser->command.args = arg;
	else
		parser->open_lists[depth]->list = arg;
	parser->tails[depth] = arg;
	if (depth == 0)
		parser->command.arg_count++;
	else
		parser->open_lists[depth]->list_count++;
	return arg;
}

/* Turns the token buffer into an argument of TYPE. */
static bool finish_token(ex_imap_parser *parser, ex_imap_arg_type type, ex_imap_parse_result *result)
{
	if (type == EX_IMAP_ARG_ATOM && parser->token_length == 3 &&
	    ex_imap_ascii_casecmp_n(parser->token, "NIL", 3))
		type = EX_IMAP_ARG_NIL;
	ex_imap_arg *arg = add_arg(parser, type, result);
	if (arg == NULL)
		return false;
	arg->str = ex_imap_arena_strndup(&parser->arena, parser->token, parser->token_length);
	if (arg->str == NULL) {
		*result = fail(parser, "TOOBIG", false, "Command too large");
		return false;
	}
	arg->length = parser->token_length;
	parser->token_length = 0;
	return true;
}

static ex_imap_parse_result end_of_line(ex_imap_parser *parser, bool at_lf)
{
	if (parser->depth > 0)
		return fail(parser, NULL, at_lf, "Missing ')'");
	if (!at_lf) {
		parser->state = ST_END_LF;
		return EX_IMAP_PARSE_NEED_MORE;
	}
	parser->state = ST_FRESH;
	return EX_IMAP_PARSE_DONE;
}

/*
 * True when the literal being read is an APPEND message: a top-level
 * argument after the mailbox name. The mailbox name itself may also be a
 * literal, and is bounded like any other argument.
 */
static bool is_message_literal(const ex_imap_parser *parser)
{
	return parser->command.name != NULL && strcmp(parser->command.name, "APPEND") == 0 &&
	       parser->depth == 0 && parser->command.arg_count >= 1;
}

/* Checks the announced literal against the limits and reserves its storage. */
static ex_imap_parse_result begin_literal(ex_imap_parser *parser, bool at_lf)
{
	uint64_t size = parser->literal_size;
	bool nonsync = parser->literal_nonsync;
	bool message = is_message_literal(parser);

	if (parser->literal8 && !message)
		return fail(parser, NULL, at_lf, "literal8 (~{n}) is only allowed for APPEND messages");

	if (message && size > parser->limits.max_literal_size) {
		parser->error.status = "NO";
		parser->error.fatal = nonsync;
		return fail(parser, "TOOBIG", at_lf,
			    "Message too large: %llu octets, the limit is %llu",
			    (unsigned long long)size, (unsigned long long)parser->limits.max_literal_size);
	}
	if (!message && size > parser->limits.max_line_size) {
		parser->error.fatal = nonsync;
		return fail(parser, "TOOBIG", at_lf,
			    "Literal size too large: %llu octets, the limit outside APPEND messages is %zu",
			    (unsigned long long)size, parser->limits.max_line_size);
	}
	if (nonsync && !parser->limits.literal_plus &&
	    size > parser->limits.max_nonsync_literal_size) {
		parser->error.fatal = true;
		return fail(parser, "TOOBIG", at_lf,
			    "Non-synchronizing literal too large: %llu octets, use {n} above %llu",
			    (unsigned long long)size,
			    (unsigned long long)parser->limits.max_nonsync_literal_size);
	}

	ex_imap_parse_result result = EX_IMAP_PARSE_NEED_MORE;
	ex_imap_arg *arg = add_arg(parser, parser->literal8 ? EX_IMAP_ARG_LITERAL8 : EX_IMAP_ARG_LITERAL,
				   &result);
	if (arg == NULL) {
		parser->error.fatal = nonsync;
		parser->state = at_lf ? ST_FRESH : ST_SKIP;
		return result;
	}
	if (parser->limits.stream_append_literals && message) {
		arg->streamed = true;
	} else {
		char *data = ex_imap_arena_alloc(&parser->arena, (size_t)size + 1);
		if (data == NULL) {
			parser->error.fatal = nonsync;
			return fail(parser, "TOOBIG", at_lf, "Command too large: its literals exceed %zu octets",
				    parser->arena.max_bytes);
		}
		arg->str = data;
	}
	arg->length = (size_t)size;
	parser->literal_arg = arg;
	parser->literal_read = 0;
	parser->line_size = 0;
	parser->state = size == 0 ? ST_AFTER_ARG : ST_LITERAL_DATA;
	return nonsync ? EX_IMAP_PARSE_NEED_MORE : EX_IMAP_PARSE_LITERAL;
}

/* Handles a byte between arguments; C is never CR or LF here. */
static ex_imap_parse_result arg_start(ex_imap_parser *parser, unsigned char c)
{
	ex_imap_parse_result result = EX_IMAP_PARSE_NEED_MORE;

	switch (c) {
	case ' ':
		return result;
	case '(': {
		if (parser->depth >= parser->limits.max_list_depth)
			return fail(parser, "LIMIT", false, "Lists nested too deep (the limit is %u)",
				    parser->limits.max_list_depth);
		ex_imap_arg *list = add_arg(parser, EX_IMAP_ARG_LIST, &result);
		if (list == NULL)
			return result;
		parser->depth++;
		parser->open_lists[parser->depth] = list;
		parser->tails[parser->depth] = NULL;
		return result;
	}
	case ')':
		if (parser->depth == 0)
			return fail(parser, NULL, false, "Unexpected ')'");
		parser->depth--;
		parser->state = ST_AFTER_ARG;
		return result;
	case '"':
		parser->token_length = 0;
		parser->state = ST_QUOTED;
		return result;
	case '{':
		parser->literal8 = false;
		parser->literal_size = 0;
		parser->literal_digits = 0;
		parser->literal_nonsync = false;
		parser->state = ST_LITERAL_SIZE;
		return result;
	case '~':
		parser->literal8 = true;
		parser->literal_size = 0;
		parser->literal_digits = 0;
		parser->literal_nonsync = false;
		parser->state = ST_LITERAL8_BRACE;
		return result;
	default:
		break;
	}

	if (c >= 0x80)
		return fail(parser, NULL, false,
			    "8-bit characters are not allowed in atoms; send them as a quoted string or literal");
	if (!ex_imap_is_atom_char(c) && c != ']')
		return fail(parser, NULL, false, "Invalid character 0x%02x at the start of an argument", c);
	parser->token_length = 0;
	parser->bracket_depth = 0;
	if (c == '[')
		parser->bracket_depth = 1;
	if (!token_append(parser, (char)c))
		return fail(parser, NULL, false, "Out of memory");
	parser->state = ST_ATOM;
	return result;
}

/*
 * Handles a byte of an atom. Inside [...] spaces, parentheses and quotes
 * belong to the atom, so BODY[HEADER.FIELDS (From To)]<0.100> is one atom
 * that imap_fetch.h takes apart.
 */
static ex_imap_parse_result atom_byte(ex_imap_parser *parser, unsigned char c, bool *reprocess)
{
	ex_imap_parse_result result = EX_IMAP_PARSE_NEED_MORE;

	if (c >= 0x80)
		return fail(parser, NULL, false,
			    "8-bit characters are not allowed in atoms; send them as a quoted string or literal");
	if (parser->bracket_depth > 0) {
		if (c == '{')
			return fail(parser, NULL, false, "Literals inside [...] are not supported");
		if (c < 0x20 || c == 0x7f)
			return fail(parser, NULL, false, "Invalid character 0x%02x inside [...]", c);
		if (c == '[')
			parser->bracket_depth++;
		else if (c == ']')
			parser->bracket_depth--;
		if (!token_append(parser, (char)c))
			return fail(parser, NULL, false, "Out of memory");
		return result;
	}

	if (c == ' ' || c == ')') {
		if (!finish_token(parser, EX_IMAP_ARG_ATOM, &result))
			return result;
		parser->state = ST_AFTER_ARG;
		*reprocess = true;
		return result;
	}
	if (c == '[')
		parser->bracket_depth = 1;
	else if (!ex_imap_is_atom_char(c) && c != ']')
		return fail(parser, NULL, false, "Invalid character 0x%02x in atom", c);
	if (!token_append(parser, (char)c))
		return fail(parser, NULL, false, "Out of memory");
	return result;
}

/*
 * Turns a '~' that is not followed by '{' into the start of an atom: '~'
 * is an ATOM-CHAR, as in the mailbox name ~peter/mail.
 */
static bool tilde_to_atom(ex_imap_parser *parser)
{
	parser->token_length = 0;
	parser->bracket_depth = 0;
	parser->state = ST_ATOM;
	return token_append(parser, '~');
}

static ex_imap_parse_result literal_size_byte(ex_imap_parser *parser, unsigned char c)
{
	if (c >= '0' && c <= '9') {
		uint64_t digit = (uint64_t)(c - '0');
		if (parser->literal_size > (UINT64_MAX - digit) / 10)
			return fail(parser, "TOOBIG", false, "Literal size too large");
		parser->literal_size = parser->literal_size * 10 + digit;
		parser->literal_digits++;
		return EX_IMAP_PARSE_NEED_MORE;
	}
	if (parser->literal_digits == 0)
		return fail(parser, NULL, false, "Missing literal size after '{'");
	if (c == '+') {
		parser->literal_nonsync = true;
		parser->state = ST_LITERAL_CLOSE;
		return EX_IMAP_PARSE_NEED_MORE;
	}
	if (c == '}') {
		parser->state = ST_LITERAL_CR;
		return EX_IMAP_PARSE_NEED_MORE;
	}
	if (c == '-')
		return fail(parser, NULL, false,
			    "Invalid literal: {n-} is not IMAP syntax, LITERAL- uses {n+}");
	return fail(parser, NULL, false, "Invalid character 0x%02x in literal size", c);
}

/* Handles CR or LF outside quoted strings and literal data. */
static ex_imap_parse_result line_end(ex_imap_parser *parser, unsigned char c)
{
	bool at_lf = c == '\n';
	ex_imap_parse_result result = EX_IMAP_PARSE_NEED_MORE;

	switch (parser->state) {
	case ST_TAG:
		if (parser->token_length == 0) {
			/* An empty line is ignored, as telnet users send them. */
			parser->state = at_lf ? ST_FRESH : ST_END_LF;
			return EX_IMAP_PARSE_NEED_MORE;
		}
		return fail(parser, NULL, at_lf, "Missing command name after the tag");
	case ST_NAME:
		if (parser->token_length == 0)
			return fail(parser, NULL, at_lf, "Missing command name");
		parser->token[parser->token_length] = '\0';
		ex_imap_ascii_upper(parser->token);
		parser->command.name = ex_imap_arena_strndup(&parser->arena, parser->token,
							     parser->token_length);
		if (parser->command.name == NULL)
			return fail(parser, NULL, at_lf, "Out of memory");
		parser->token_length = 0;
		return end_of_line(parser, at_lf);
	case ST_ARG_START:
	case ST_AFTER_ARG:
		return end_of_line(parser, at_lf);
	case ST_ATOM:
		if (parser->bracket_depth > 0)
			return fail(parser, NULL, at_lf, "Missing ']'");
		if (!finish_token(parser, EX_IMAP_ARG_ATOM, &result)) {
			parser->state = at_lf ? ST_FRESH : ST_SKIP;
			return result;
		}
		return end_of_line(parser, at_lf);
	case ST_QUOTED:
	case ST_QUOTED_ESCAPE:
		return fail(parser, NULL, at_lf, "Missing '\"' at the end of a quoted string");
	case ST_LITERAL8_BRACE:
		if (!tilde_to_atom(parser))
			return fail(parser, NULL, at_lf, "Out of memory");
		return line_end(parser, c);
	case ST_LITERAL_SIZE:
	case ST_LITERAL_CLOSE:
		return fail(parser, NULL, at_lf, "Missing '}' in literal");
	case ST_LITERAL_CR:
		if (at_lf)
			return begin_literal(parser, true);
		parser->state = ST_LITERAL_LF;
		return result;
	default:
		break;
	}
	return fail(parser, NULL, at_lf, "Internal parser error");
}

/* Handles one byte of the command line outside literal data. */
static ex_imap_parse_result line_byte(ex_imap_parser *parser, unsigned char c, bool *reprocess)
{
	if (c != '\r' && c != '\n') {
		parser->line_size++;
		if (parser->line_size > parser->limits.max_line_size)
			return fail(parser, "TOOBIG", false, "Command line too long (the limit is %zu octets)",
				    parser->limits.max_line_size);
		if (c == '\0')
			return fail(parser, NULL, false, "NUL characters are not allowed in commands");
	}

	switch (parser->state) {
	case ST_END_LF:
		if (c != '\n')
			return fail(parser, NULL, false, "CR not followed by LF");
		if (parser->command.tag == NULL) {
			parser->state = ST_FRESH; /* an empty line */
			return EX_IMAP_PARSE_NEED_MORE;
		}
		return end_of_line(parser, true);
	case ST_LITERAL_LF:
		if (c != '\n')
			return fail(parser, NULL, false, "CR not followed by LF");
		return begin_literal(parser, true);
	case ST_QUOTED:
		if (c == '\r' || c == '\n')
			return line_end(parser, c);
		if (c == '\\') {
			parser->state = ST_QUOTED_ESCAPE;
			return EX_IMAP_PARSE_NEED_MORE;
		}
		if (c == '"') {
			ex_imap_parse_result result = EX_IMAP_PARSE_NEED_MORE;
			if (!ex_imap_utf8_valid(parser->token, parser->token_length))
				return fail(parser, NULL, false,
					    "Invalid UTF-8 in quoted string; send other charsets as a literal");
			if (!finish_token(parser, EX_IMAP_ARG_QUOTED, &result))
				return result;
			parser->state = ST_AFTER_ARG;
			return result;
		}
		if (!token_append(parser, (char)c))
			return fail(parser, NULL, false, "Out of memory");
		return EX_IMAP_PARSE_NEED_MORE;
	case ST_QUOTED_ESCAPE:
		if (c != '"' && c != '\\') {
			if (c == '\r' || c == '\n')
				return line_end(parser, c);
			return fail(parser, NULL, false,
				    "Invalid escape in quoted string: only \\\" and \\\\ are allowed");
		}
		if (!token_append(parser, (char)c))
			return fail(parser, NULL, false, "Out of memory");
		parser->state = ST_QUOTED;
		return EX_IMAP_PARSE_NEED_MORE;
	default:
		break;
	}

	if (c == '\r' || c == '\n')
		return line_end(parser, c);

	switch (parser->state) {
	case ST_TAG:
		if (c == ' ') {
			if (parser->token_length == 0)
				return fail(parser, NULL, false, "Missing tag");
			parser->command.tag = ex_imap_arena_strndup(&parser->arena, parser->token,
								    parser->token_length);
			if (parser->command.tag == NULL)
				return fail(parser, NULL, false, "Out of memory");
			parser->token_length = 0;
			parser->state = ST_NAME;
			return EX_IMAP_PARSE_NEED_MORE;
		}
		if (!ex_imap_is_tag_char(c))
			return fail(parser, NULL, false, "Invalid character 0x%02x in tag", c);
		if (!token_append(parser, (char)c))
			return fail(parser, NULL, false, "Out of memory");
		return EX_IMAP_PARSE_NEED_MORE;
	case ST_NAME:
		if (c == ' ') {
			if (parser->token_length == 0)
				return fail(parser, NULL, false, "Missing command name");
			parser->token[parser->token_length] = '\0';
			ex_imap_ascii_upper(parser->token);
			parser->command.name = ex_imap_arena_strndup(&parser->arena, parser->token,
								     parser->token_length);
			if (parser->command.name == NULL)
				return fail(parser, NULL, false, "Out of memory");
			parser->token_length = 0;
			parser->state = ST_ARG_START;
			return EX_IMAP_PARSE_NEED_MORE;
		}
		if (!ex_imap_is_atom_char(c))
			return fail(parser, NULL, false, "Invalid character 0x%02x in command name", c);
		if (!token_append(parser, (char)c))
			return fail(parser, NULL, false, "Out of memory");
		return EX_IMAP_PARSE_NEED_MORE;
	case ST_ARG_START:
		return arg_start(parser, c);
	case ST_AFTER_ARG:
		if (c == ' ') {
			parser->state = ST_ARG_START;
			return EX_IMAP_PARSE_NEED_MORE;
		}
		if (c == ')') {
			if (parser->depth == 0)
				return fail(parser, NULL, false, "Unexpected ')'");
			parser->depth--;
			return EX_IMAP_PARSE_NEED_MORE;
		}
		return fail(parser, NULL, false, "Missing space between arguments");
	case ST_ATOM:
		return atom_byte(parser, c, reprocess);
	case ST_LITERAL8_BRACE:
		if (c != '{') {
			if (!tilde_to_atom(parser))
				return fail(parser, NULL, false, "Out of memory");
			return atom_byte(parser, c, reprocess);
		}
		parser->state = ST_LITERAL_SIZE;
		return EX_IMAP_PARSE_NEED_MORE;
	case ST_LITERAL_SIZE:
		return literal_size_byte(parser, c);
	case ST_LITERAL_CLOSE:
		if (c != '}')
			return fail(parser, NULL, false, "Missing '}' after '+' in literal");
		parser->state = ST_LITERAL_CR;
		return EX_IMAP_PARSE_NEED_MORE;
	case ST_LITERAL_CR:
		return fail(parser, NULL, false, "A literal {n} must be followed by CRLF");
	default:
		return fail(parser, NULL, false, "Internal parser error");
	}
}

static ex_imap_parse_result raw_byte(ex_imap_parser *parser, unsigned char c)
{
	if (parser->state == ST_RAW_LF) {
		if (c != '\n')
			return fail(parser, NULL, false, "CR not followed by LF");
	} else if (c == '\r') {
		parser->state = ST_RAW_LF;
		return EX_IMAP_PARSE_NEED_MORE;
	} else if (c != '\n') {
		if (c == '\0')
			return fail(parser, NULL, false, "NUL characters are not allowed in a response line");
		if (parser->token_length >= parser->limits.max_auth_line_size)
			return fail(parser, "TOOBIG", false, "Line too long (the limit is %zu octets)",
				    parser->limits.max_auth_line_size);
		if (!token_append(parser, (char)c))
			return fail(parser, NULL, false, "Out of memory");
		return EX_IMAP_PARSE_NEED_MORE;
	}

	char *line = ex_imap_arena_strndup(&parser->arena, parser->token != NULL ? parser->token : "",
					   parser->token_length);
	if (line == NULL)
		return fail(parser, NULL, true, "Out of memory");
	parser->raw_line = line;
	parser->raw_length = parser->token_length;
	parser->token_length = 0;
	parser->state = ST_FRESH;
	return EX_IMAP_PARSE_DONE;
}

ex_imap_parse_result ex_imap_parser_feed(ex_imap_parser *parser, const void *data,
					 size_t length, size_t *consumed)
{
	const unsigned char *bytes = data;
	size_t i = 0;
	ex_imap_parse_result result = EX_IMAP_PARSE_NEED_MORE;

	while (i < length) {
		if (parser->state == ST_FRESH)
			begin_command(parser);

		if (parser->state == ST_SKIP) {
			const unsigned char *lf = memchr(bytes + i, '\n', length - i);
			if (lf == NULL) {
				i = length;
				break;
			}
			i = (size_t)(lf - bytes) + 1;
			parser->state = ST_FRESH;
			continue;
		}

		if (parser->state == ST_LITERAL_DATA) {
			ex_imap_arg *arg = parser->literal_arg;
			uint64_t remaining = arg->length - parser->literal_read;
			size_t chunk = length - i < remaining ? length - i : (size_t)remaining;
			if (arg->type == EX_IMAP_ARG_LITERAL && memchr(bytes + i, '\0', chunk) != NULL) {
				parser->error.fatal = true;
				*consumed = i + chunk;
				return fail(parser, NULL, false,
					    "NUL in literal; binary data needs literal8 (~{n})");
			}
			if (!arg->streamed)
				memcpy((char *)arg->str + parser->literal_read, bytes + i, chunk);
			parser->chunk = (const char *)bytes + i;
			parser->chunk_length = chunk;
			parser->chunk_offset = parser->literal_read;
			parser->literal_read += chunk;
			i += chunk;
			if (parser->literal_read == arg->length)
				parser->state = ST_AFTER_ARG;
			if (arg->streamed) {
				*consumed = i;
				return EX_IMAP_PARSE_LITERAL_DATA;
			}
			continue;
		}

		unsigned char c = bytes[i];
		bool reprocess = false;
		if (parser->state == ST_RAW || parser->state == ST_RAW_LF)
			result = raw_byte(parser, c);
		else
			result = line_byte(parser, c, &reprocess);

		if (result == EX_IMAP_PARSE_NEED_MORE && reprocess) {
			parser->line_size--; /* the byte is counted again */
			continue;
		}
		i++;
		if (result != EX_IMAP_PARSE_NEED_MORE)
			break;
	}

	*consumed = i;
	return result;
}

bool ex_imap_arg_is_astring(const ex_imap_arg *arg)
{
	return arg != NULL && !arg->streamed && (arg->type == EX_IMAP_ARG_ATOM || arg->type == EX_IMAP_ARG_QUOTED ||
			       arg->type == EX_IMAP_ARG_LITERAL || arg->type == EX_IMAP_ARG_NIL);
}

bool ex_imap_arg_atom_equals(const ex_imap_arg *arg, const char *word)
{
	if (arg == NULL || (arg->type != EX_IMAP_ARG_ATOM && arg->type != EX_IMAP_ARG_NIL))
		return false;
	size_t word_length = strlen(word);
	return arg->length == word_length && ex_imap_ascii_casecmp_n(arg->str, word, word_length);
}
