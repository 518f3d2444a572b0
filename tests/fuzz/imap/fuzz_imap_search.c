/*
 * libFuzzer target: the input is the argument text of a SEARCH command.
 * It goes through the command parser and then the SEARCH program parser,
 * which must never recurse deeper than its depth limit.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/imap_parser.h"
#include "expresso/imap_search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Counts the nesting of a parsed program, to check the limit held. */
static unsigned key_depth(const ex_imap_search_key *key)
{
	unsigned deepest = 0;
	for (const ex_imap_search_key *child = key->children; child != NULL; child = child->next) {
		unsigned depth = key_depth(child);
		if (depth > deepest)
			deepest = depth;
	}
	return key->children != NULL ? deepest + 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char prefix[] = "t UID SEARCH ";
	if (size > 60000)
		return 0;
	size_t length = sizeof(prefix) - 1 + size + 2;
	char *line = malloc(length);
	memcpy(line, prefix, sizeof(prefix) - 1);
	memcpy(line + sizeof(prefix) - 1, data, size);
	memcpy(line + length - 2, "\r\n", 2);

	ex_imap_parser *parser = ex_imap_parser_new(NULL);
	size_t offset = 0;
	ex_imap_parse_result result = EX_IMAP_PARSE_LITERAL;
	while (result == EX_IMAP_PARSE_LITERAL && offset < length) {
		size_t consumed;
		result = ex_imap_parser_feed(parser, line + offset, length - offset, &consumed);
		offset += consumed;
	}
	if (result == EX_IMAP_PARSE_DONE) {
		const ex_imap_command *command = ex_imap_parser_command(parser);
		ex_imap_search search;
		ex_imap_search_error error;
		if (ex_imap_search_parse(ex_imap_parser_arena(parser), command->args->next, 0, &search, &error)) {
			/* the root AND adds one level above the limit */
			if (key_depth(search.root) > EX_IMAP_DEFAULT_MAX_SEARCH_DEPTH + 1)
				abort();
		} else if (error.text == NULL) {
			abort();
		}
	}
	ex_imap_parser_free(parser);
	free(line);
	return 0;
}
