/*
 * libFuzzer target: drives the IMAP command parser over arbitrary bytes,
 * split into chunks whose sizes come from the input, the way a session
 * reads from a socket. Every parsed command goes through the argument
 * helpers (sequence sets, FETCH, SEARCH, flags, dates, mailbox names) and
 * every string argument through the response writer.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/imap_date.h"
#include "expresso/imap_fetch.h"
#include "expresso/imap_flags.h"
#include "expresso/imap_mailbox.h"
#include "expresso/imap_parser.h"
#include "expresso/imap_search.h"
#include "expresso/imap_seqset.h"
#include "expresso/imap_writer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes STRING as an astring in a command and checks that the parser reads back the same octets. */
static void check_round_trip(const ex_imap_arg *arg, bool utf8)
{
	ex_imap_writer writer;
	ex_imap_writer_init(&writer, 0, utf8);
	ex_imap_write_text(&writer, "t X ");
	ex_imap_write_astring(&writer, arg->str, arg->length);
	ex_imap_write_raw(&writer, "\r\n", 2);

	ex_imap_parser *parser = ex_imap_parser_new(NULL);
	size_t offset = 0;
	ex_imap_parse_result result;
	do {
		size_t consumed;
		result = ex_imap_parser_feed(parser, writer.data + offset, writer.length - offset, &consumed);
		offset += consumed;
	} while (result == EX_IMAP_PARSE_LITERAL);

	const ex_imap_arg *parsed = ex_imap_parser_command(parser)->args;
	if (result != EX_IMAP_PARSE_DONE || offset != writer.length || parsed == NULL ||
	    parsed->length != arg->length || memcmp(parsed->str, arg->str, arg->length) != 0)
		abort();
	ex_imap_parser_free(parser);
	ex_imap_writer_free(&writer);
}

static void check_strings(ex_imap_arena *arena, const ex_imap_arg *arg, ex_imap_writer *writer)
{
	for (; arg != NULL; arg = arg->next) {
		if (arg->type == EX_IMAP_ARG_LIST) {
			ex_imap_flags flags;
			ex_imap_flags_parse(arena, arg->list, arg->list_count,
					    EX_IMAP_FLAGS_ALLOW_STAR | EX_IMAP_FLAGS_ALLOW_RECENT, &flags);
			ex_imap_fetch_list fetch;
			ex_imap_fetch_parse(arena, arg, &fetch);
			check_strings(arena, arg->list, writer);
			continue;
		}
		if (arg->streamed)
			continue;
		ex_imap_write_astring(writer, arg->str, arg->length);
		if (arg->type != EX_IMAP_ARG_LITERAL8) {
			check_round_trip(arg, true);
			check_round_trip(arg, false);
		}
		if (arg->type == EX_IMAP_ARG_ATOM) {
			ex_imap_seqset set;
			if (ex_imap_seqset_parse(arena, arg->str, arg->length, &set) == NULL && !set.searchres) {
				ex_imap_seqset_resolve(&set, 1000);
				ex_imap_seqset_normalize(&set);
				ex_imap_seqset_contains(&set, 7);
			}
			ex_imap_fetch_list fetch;
			ex_imap_fetch_parse(arena, arg, &fetch);
		}
		if (arg->type == EX_IMAP_ARG_QUOTED) {
			ex_imap_datetime datetime;
			if (ex_imap_datetime_parse(arg->str, arg->length, &datetime) == NULL) {
				char text[EX_IMAP_DATETIME_LENGTH + 1];
				ex_imap_datetime_format(datetime.time, datetime.offset_minutes, text);
			}
		}
		char name[EX_IMAP_MAX_MAILBOX_NAME * 4];
		if (ex_imap_mailbox_from_wire(arg->str, arg->length, false, name, sizeof(name)) == NULL)
			ex_imap_mailbox_name_check(name);
	}
}

static void check_command(ex_imap_parser *parser)
{
	const ex_imap_command *command = ex_imap_parser_command(parser);
	ex_imap_arena *arena = ex_imap_parser_arena(parser);
	ex_imap_writer writer;
	ex_imap_writer_init(&writer, 1 << 20, true);

	const ex_imap_arg *args = command->args;
	if (strcmp(command->name, "UID") == 0 && args != NULL)
		args = args->next;
	ex_imap_search search;
	ex_imap_search_error error;
	ex_imap_search_parse(arena, args, 0, &search, &error);
	check_strings(arena, command->args, &writer);
	ex_imap_write_status(&writer, command->tag, "OK", NULL, command->name);
	ex_imap_writer_free(&writer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ex_imap_parser_limits limits;
	ex_imap_parser_limits_default(&limits);
	limits.max_literal_size = 1 << 20;
	limits.max_line_size = 8192;
	limits.literal_plus = size > 0 && (data[0] & 1) != 0;
	limits.stream_append_literals = size > 0 && (data[0] & 2) != 0;

	ex_imap_parser *parser = ex_imap_parser_new(&limits);
	if (parser == NULL || size == 0) {
		ex_imap_parser_free(parser);
		return 0;
	}
	/* The first byte sets the read size, so splits at every offset get explored. */
	size_t chunk = (size_t)(data[0] >> 2) + 1;
	size_t offset = 1;

	while (offset < size) {
		size_t piece = size - offset < chunk ? size - offset : chunk;
		size_t consumed = 0;
		ex_imap_parse_result result = ex_imap_parser_feed(parser, data + offset, piece, &consumed);
		if (consumed > piece)
			abort();
		offset += consumed;

		if (result == EX_IMAP_PARSE_DONE) {
			size_t length;
			if (ex_imap_parser_raw_line(parser, &length) == NULL)
				check_command(parser);
			if (offset < size && data[offset - 1] == '\n' && (data[offset] & 0x80) != 0)
				ex_imap_parser_expect_raw_line(parser);
		} else if (result == EX_IMAP_PARSE_ERROR) {
			const ex_imap_parse_error *error = ex_imap_parser_error(parser);
			if (error->text == NULL || error->status == NULL)
				abort();
			if (error->fatal)
				break;
		} else if (result == EX_IMAP_PARSE_LITERAL_DATA) {
			size_t length;
			uint64_t position;
			uint64_t total;
			const char *bytes = ex_imap_parser_literal_chunk(parser, &length, &position, &total);
			if (bytes + length != (const char *)data + offset || length == 0 || position + length > total)
				abort();
		} else if (result == EX_IMAP_PARSE_NEED_MORE && consumed != piece) {
			abort();
		}
	}
	ex_imap_parser_free(parser);
	return 0;
}
