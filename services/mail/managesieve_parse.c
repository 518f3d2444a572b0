/* ManageSieve command parser (RFC 5804 section 4). */
#include "managesieve_parse.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const char *data;
	size_t length;
	size_t position;
	size_t max_literal;
	ex_managesieve_command *command;
} parser;

static ex_managesieve_parse_status invalid(parser *state, const char *message)
{
	snprintf(state->command->error, sizeof(state->command->error), "%s", message);
	return EX_MANAGESIEVE_PARSE_INVALID;
}

static ex_managesieve_parse_status add_arg(parser *state, const char *bytes, size_t length, bool unescape)
{
	ex_managesieve_command *command = state->command;
	if (command->arg_count == EX_MANAGESIEVE_MAX_ARGS)
		return invalid(state, "too many arguments");
	char *copy = malloc(length + 1);
	if (copy == NULL)
		return invalid(state, "out of memory");
	size_t used = 0;
	for (size_t i = 0; i < length; i++) {
		if (unescape && bytes[i] == '\\' && i + 1 < length)
			i++;
		copy[used++] = bytes[i];
	}
	copy[used] = '\0';
	command->args[command->arg_count] = copy;
	command->arg_lengths[command->arg_count] = used;
	command->arg_count++;
	return EX_MANAGESIEVE_PARSE_OK;
}

/* A quoted string: '"', then characters with \\ and \" as the only escapes, then '"'. */
static ex_managesieve_parse_status parse_quoted(parser *state)
{
	size_t start = ++state->position;
	while (state->position < state->length) {
		char c = state->data[state->position];
		if (c == '"')
			break;
		if (c == '\r' || c == '\n' || c == '\0')
			return invalid(state, "quoted string contains CR, LF or NUL");
		if (c == '\\') {
			if (state->position + 1 >= state->length)
				return EX_MANAGESIEVE_PARSE_INCOMPLETE;
			char next = state->data[state->position + 1];
			if (next != '\\' && next != '"')
				return invalid(state, "a backslash in a quoted string may only escape \\ or \"");
			state->position++;
		}
		state->position++;
		if (state->position - start > EX_MANAGESIEVE_MAX_QUOTED)
			return invalid(state, "quoted string too long; send it as a literal");
	}
	if (state->position >= state->length)
		return EX_MANAGESIEVE_PARSE_INCOMPLETE;
	ex_managesieve_parse_status status = add_arg(state, state->data + start, state->position - start, true);
	state->position++;
	return status;
}

/* A literal: "{" number ["+"] "}" CRLF and that many octets. */
static ex_managesieve_parse_status parse_literal(parser *state)
{
	size_t position = state->position + 1;
	size_t count = 0;
	size_t digits = 0;
	while (position < state->length && isdigit((unsigned char)state->data[position])) {
		if (count > state->max_literal)
			return EX_MANAGESIEVE_PARSE_TOO_LONG;
		count = count * 10 + (size_t)(state->data[position] - '0');
		digits++;
		position++;
	}
	if (position < state->length && state->data[position] == '+')
		position++;
	if (position + 3 > state->length)
		return EX_MANAGESIEVE_PARSE_INCOMPLETE;
	if (digits == 0 || digits > 10 || state->data[position] != '}' || state->data[position + 1] != '\r' ||
	    state->data[position + 2] != '\n')
		return invalid(state, "malformed literal; expected {length+} and CRLF");
	if (count > state->max_literal)
		return EX_MANAGESIEVE_PARSE_TOO_LONG;
	position += 3;
	if (state->length - position < count)
		return EX_MANAGESIEVE_PARSE_INCOMPLETE;
	state->position = position + count;
	return add_arg(state, state->data + position, count, false);
}

/* An atom argument (a number for HAVESPACE, a tag for NOOP): up to SP or CRLF. */
static ex_managesieve_parse_status parse_atom(parser *state)
{
	size_t start = state->position;
	while (state->position < state->length) {
		char c = state->data[state->position];
		if (c == ' ' || c == '\r' || c == '\n')
			break;
		if (c == '"' || c == '{' || c == '\0' || (unsigned char)c < 0x20)
			return invalid(state, "invalid character in an atom");
		state->position++;
		if (state->position - start > EX_MANAGESIEVE_MAX_QUOTED)
			return invalid(state, "atom too long");
	}
	if (state->position >= state->length)
		return EX_MANAGESIEVE_PARSE_INCOMPLETE;
	return add_arg(state, state->data + start, state->position - start, false);
}

static ex_managesieve_parse_status parse_argument(parser *state)
{
	char c = state->data[state->position];
	if (c == '"')
		return parse_quoted(state);
	if (c == '{')
		return parse_literal(state);
	return parse_atom(state);
}

/* Parses "CRLF" at the position: OK and past it, INCOMPLETE, or INVALID. */
static ex_managesieve_parse_status parse_end(parser *state, size_t *consumed)
{
	if (state->position + 2 > state->length)
		return EX_MANAGESIEVE_PARSE_INCOMPLETE;
	if (state->data[state->position] != '\r' || state->data[state->position + 1] != '\n')
		return invalid(state, "expected CRLF");
	*consumed = state->position + 2;
	return EX_MANAGESIEVE_PARSE_OK;
}

ex_managesieve_parse_status ex_managesieve_parse(const char *data, size_t length, size_t max_literal,
						 bool string_line, ex_managesieve_command *command, size_t *consumed)
{
	memset(command, 0, sizeof(*command));
	parser state = { .data = data, .length = length, .max_literal = max_literal, .command = command };
	*consumed = 0;

	if (string_line) {
		if (length == 0)
			return EX_MANAGESIEVE_PARSE_INCOMPLETE;
		ex_managesieve_parse_status status = parse_argument(&state);
		return status == EX_MANAGESIEVE_PARSE_OK ? parse_end(&state, consumed) : status;
	}

	size_t name_length = 0;
	while (state.position < length && isalpha((unsigned char)data[state.position])) {
		if (name_length == EX_MANAGESIEVE_MAX_NAME)
			return invalid(&state, "command name too long");
		command->name[name_length++] = (char)toupper((unsigned char)data[state.position]);
		state.position++;
	}
	if (state.position >= length)
		return EX_MANAGESIEVE_PARSE_INCOMPLETE;
	if (name_length == 0)
		return invalid(&state, "expected a command name");

	for (;;) {
		if (state.position >= length)
			return EX_MANAGESIEVE_PARSE_INCOMPLETE;
		if (data[state.position] != ' ')
			return parse_end(&state, consumed);
		state.position++;
		if (state.position >= length)
			return EX_MANAGESIEVE_PARSE_INCOMPLETE;
		ex_managesieve_parse_status status = parse_argument(&state);
		if (status != EX_MANAGESIEVE_PARSE_OK)
			return status;
	}
}

void ex_managesieve_command_clear(ex_managesieve_command *command)
{
	for (size_t i = 0; i < command->arg_count; i++)
		free(command->args[i]);
	command->arg_count = 0;
}
