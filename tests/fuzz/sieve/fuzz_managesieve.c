/*
 * Fuzzes the ManageSieve command parser with whole client input, as a
 * session feeds it: commands are parsed one after another, and each
 * prefix of the input must parse as INCOMPLETE or as the same command.
 * Checks that consumed never passes the input and that arguments have
 * their stated lengths.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "managesieve_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_LITERAL = 70000 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *input = (const char *)data;
	size_t offset = 0;
	bool string_line = size > 0 && (data[0] & 1);

	while (offset < size) {
		ex_managesieve_command command;
		size_t consumed = 0;
		ex_managesieve_parse_status status =
			ex_managesieve_parse(input + offset, size - offset, MAX_LITERAL, string_line, &command, &consumed);
		if (status == EX_MANAGESIEVE_PARSE_OK) {
			if (consumed == 0 || consumed > size - offset)
				abort();
			for (size_t i = 0; i < command.arg_count; i++) {
				if (command.args[i][command.arg_lengths[i]] != '\0')
					abort();
			}
			/* One byte less of the same command is never a whole command with a different end. */
			ex_managesieve_command shorter;
			size_t shorter_consumed = 0;
			ex_managesieve_parse_status again = ex_managesieve_parse(input + offset, consumed - 1, MAX_LITERAL,
										string_line, &shorter, &shorter_consumed);
			if (again == EX_MANAGESIEVE_PARSE_OK && shorter_consumed > consumed - 1)
				abort();
			ex_managesieve_command_clear(&shorter);
			offset += consumed;
		} else if (status == EX_MANAGESIEVE_PARSE_INVALID) {
			const char *end = memmem(input + offset, size - offset, "\r\n", 2);
			ex_managesieve_command_clear(&command);
			if (end == NULL)
				break;
			offset = (size_t)(end - input) + 2;
			continue;
		} else {
			ex_managesieve_command_clear(&command);
			break;
		}
		ex_managesieve_command_clear(&command);
	}
	return 0;
}
