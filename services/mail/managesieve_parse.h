/*
 * The ManageSieve command grammar (RFC 5804 section 4): a command name,
 * then arguments that are atoms, quoted strings or literals ("{n}" or the
 * non-synchronizing "{n+}" followed by CRLF and n octets), ended by CRLF.
 * No I/O: the session passes what it has read and learns whether a whole
 * command is there.
 */
#ifndef EXPRESSO_MANAGESIEVE_PARSE_H
#define EXPRESSO_MANAGESIEVE_PARSE_H

#include <stdbool.h>
#include <stddef.h>

enum {
	EX_MANAGESIEVE_MAX_ARGS = 4,
	EX_MANAGESIEVE_MAX_NAME = 32,
	EX_MANAGESIEVE_MAX_QUOTED = 1024, /* bytes of a quoted string; longer values must be literals */
};

typedef enum {
	EX_MANAGESIEVE_PARSE_OK = 0,
	EX_MANAGESIEVE_PARSE_INCOMPLETE, /* read more and call again with the longer data */
	EX_MANAGESIEVE_PARSE_INVALID,    /* error names the problem; skip to the next CRLF */
	EX_MANAGESIEVE_PARSE_TOO_LONG,   /* a literal longer than max_literal */
} ex_managesieve_parse_status;

typedef struct {
	char name[EX_MANAGESIEVE_MAX_NAME + 1]; /* upper case; empty for a bare string line */
	size_t arg_count;
	char *args[EX_MANAGESIEVE_MAX_ARGS];    /* NUL-terminated copies; may contain NUL bytes */
	size_t arg_lengths[EX_MANAGESIEVE_MAX_ARGS];
	char error[128];
} ex_managesieve_command;

/*
 * Parses one command from DATA. With STRING_LINE the line is one bare
 * string (a SASL response after a server challenge) and name stays empty.
 * On OK *CONSUMED is the length of the command with its CRLF. Call
 * ex_managesieve_command_clear afterwards whatever the status.
 */
ex_managesieve_parse_status ex_managesieve_parse(const char *data, size_t length, size_t max_literal,
						 bool string_line, ex_managesieve_command *command, size_t *consumed);

void ex_managesieve_command_clear(ex_managesieve_command *command);

#endif
