/*
 * Table-driven tests of the argument grammars: sequence sets, FETCH items,
 * SEARCH programs, flag lists and dates. Arguments come from the real
 * command parser, as the server will get them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "expresso/imap_date.h"
#include "expresso/imap_fetch.h"
#include "expresso/imap_flags.h"
#include "expresso/imap_parser.h"
#include "expresso/imap_search.h"
#include "expresso/imap_seqset.h"

/* Parses LINE (with its CRLF) and returns the parser; the command must be complete. */
static ex_imap_parser *parse_line(const char *line)
{
	ex_imap_parser *parser = ex_imap_parser_new(NULL);
	size_t length = strlen(line);
	size_t offset = 0;
	for (;;) {
		size_t consumed;
		ex_imap_parse_result result = ex_imap_parser_feed(parser, line + offset, length - offset, &consumed);
		offset += consumed;
		if (result == EX_IMAP_PARSE_DONE)
			return parser;
		if (result != EX_IMAP_PARSE_LITERAL)
			fail_msg("%s did not parse: %s", line, ex_imap_parser_error(parser)->text);
	}
}

/* ---- sequence sets ---- */

static void test_seqset_ranges(void **state)
{
	(void)state;
	ex_imap_arena arena;
	ex_imap_arena_init(&arena, 0);
	ex_imap_seqset set;

	assert_null(ex_imap_seqset_parse(&arena, "2,4:7,9", 7, &set));
	assert_int_equal(set.count, 3);
	assert_int_equal(set.ranges[1].first, 4);
	assert_int_equal(set.ranges[1].last, 7);
	ex_imap_seqset_resolve(&set, 100);
	assert_true(ex_imap_seqset_contains(&set, 5));
	assert_false(ex_imap_seqset_contains(&set, 8));

	assert_null(ex_imap_seqset_parse(&arena, "1:*", 3, &set));
	ex_imap_seqset_resolve(&set, 42);
	assert_int_equal(set.ranges[0].first, 1);
	assert_int_equal(set.ranges[0].last, 42);

	/* "*:5" and "9:3" are ranges written backwards */
	assert_null(ex_imap_seqset_parse(&arena, "*:5,9:3", 7, &set));
	ex_imap_seqset_resolve(&set, 2);
	assert_int_equal(set.ranges[0].first, 2);
	assert_int_equal(set.ranges[0].last, 5);
	assert_int_equal(set.ranges[1].first, 3);
	assert_int_equal(set.ranges[1].last, 9);

	/* an empty mailbox: ranges with '*' match nothing */
	assert_null(ex_imap_seqset_parse(&arena, "1:*,7", 5, &set));
	ex_imap_seqset_resolve(&set, 0);
	assert_int_equal(set.count, 1);
	assert_false(ex_imap_seqset_contains(&set, 1));

	assert_null(ex_imap_seqset_parse(&arena, "$", 1, &set));
	assert_true(set.searchres);
	assert_int_equal(set.count, 0);

	assert_null(ex_imap_seqset_parse(&arena, "4294967295", 10, &set));
	assert_int_equal(set.ranges[0].first, UINT32_MAX);

	assert_null(ex_imap_seqset_parse(&arena, "5:9,1:3,4,10:12,20", 18, &set));
	ex_imap_seqset_resolve(&set, 100);
	ex_imap_seqset_normalize(&set);
	assert_int_equal(set.count, 2);
	assert_int_equal(set.ranges[0].first, 1);
	assert_int_equal(set.ranges[0].last, 12);
	assert_int_equal(set.ranges[1].first, 20);

	ex_imap_arena_clear(&arena);
}

static void test_seqset_invalid(void **state)
{
	(void)state;
	static const char *const invalid[] = {
		"", "0", "01", "1:", ":1", "1,", ",1", "1::2", "4294967296", "99999999999999999999",
		"1,$", "$,1", "$$", "a", "1-3", "1 2", "*:", "1:0",
	};
	ex_imap_arena arena;
	ex_imap_arena_init(&arena, 0);
	ex_imap_seqset set;
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		if (ex_imap_seqset_parse(&arena, invalid[i], strlen(invalid[i]), &set) == NULL)
			fail_msg("sequence set \"%s\" was accepted", invalid[i]);
	}
	ex_imap_arena_clear(&arena);
}

/* ---- FETCH items ---- */

static void test_fetch_thunderbird_headers(void **state)
{
	(void)state;
	ex_imap_parser *parser = parse_line(
		"a1 UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date "
		"Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])\r\n");
	const ex_imap_arg *items = ex_imap_parser_command(parser)->args->next->next;
	ex_imap_fetch_list list;

	assert_null(ex_imap_fetch_parse(ex_imap_parser_arena(parser), items, &list));
	assert_int_equal(list.count, 4);
	const ex_imap_fetch_item *item = list.items;
	assert_int_equal(item->kind, EX_IMAP_FETCH_UID);
	item = item->next;
	assert_int_equal(item->kind, EX_IMAP_FETCH_RFC822_SIZE);
	item = item->next;
	assert_int_equal(item->kind, EX_IMAP_FETCH_FLAGS);
	item = item->next;
	assert_int_equal(item->kind, EX_IMAP_FETCH_BODY_SECTION);
	assert_true(item->peek);
	assert_int_equal(item->section.text, EX_IMAP_SECTION_HEADER_FIELDS);
	assert_int_equal(item->section.field_count, 14);
	assert_string_equal(item->section.fields[0], "From");
	assert_string_equal(item->section.fields[13], "Reply-To");
	assert_false(item->partial);
	ex_imap_parser_free(parser);
}

typedef struct {
	const char *items;
	ex_imap_fetch_kind kind;
	bool peek;
	size_t part_count;
	uint32_t last_part;
	ex_imap_section_text text;
	bool partial;
	uint32_t offset;
	uint32_t length;
} fetch_case;

static const fetch_case fetch_cases[] = {
	{ "BODY[]", EX_IMAP_FETCH_BODY_SECTION, false, 0, 0, EX_IMAP_SECTION_ALL, false, 0, 0 },
	{ "body.peek[]<0.2048>", EX_IMAP_FETCH_BODY_SECTION, true, 0, 0, EX_IMAP_SECTION_ALL, true, 0, 2048 },
	{ "BODY[1.2.3]", EX_IMAP_FETCH_BODY_SECTION, false, 3, 3, EX_IMAP_SECTION_ALL, false, 0, 0 },
	{ "BODY[2.MIME]", EX_IMAP_FETCH_BODY_SECTION, false, 1, 2, EX_IMAP_SECTION_MIME, false, 0, 0 },
	{ "BODY[1.TEXT]<100.5>", EX_IMAP_FETCH_BODY_SECTION, false, 1, 1, EX_IMAP_SECTION_TEXT, true, 100, 5 },
	{ "BODY.PEEK[HEADER]", EX_IMAP_FETCH_BODY_SECTION, true, 0, 0, EX_IMAP_SECTION_HEADER, false, 0, 0 },
	{ "BODY[HEADER.FIELDS.NOT (Received \"X-Spam\")]", EX_IMAP_FETCH_BODY_SECTION, false, 0, 0,
	  EX_IMAP_SECTION_HEADER_FIELDS_NOT, false, 0, 0 },
	{ "BINARY[1]", EX_IMAP_FETCH_BINARY, false, 1, 1, EX_IMAP_SECTION_ALL, false, 0, 0 },
	{ "BINARY.PEEK[1.2]<0.10>", EX_IMAP_FETCH_BINARY, true, 2, 2, EX_IMAP_SECTION_ALL, true, 0, 10 },
	{ "BINARY.SIZE[3]", EX_IMAP_FETCH_BINARY_SIZE, false, 1, 3, EX_IMAP_SECTION_ALL, false, 0, 0 },
	{ "BINARY[]", EX_IMAP_FETCH_BINARY, false, 0, 0, EX_IMAP_SECTION_ALL, false, 0, 0 },
	{ "RFC822.HEADER", EX_IMAP_FETCH_RFC822_HEADER, false, 0, 0, EX_IMAP_SECTION_ALL, false, 0, 0 },
	{ "RFC822.TEXT", EX_IMAP_FETCH_RFC822_TEXT, false, 0, 0, EX_IMAP_SECTION_ALL, false, 0, 0 },
	{ "RFC822", EX_IMAP_FETCH_RFC822, false, 0, 0, EX_IMAP_SECTION_ALL, false, 0, 0 },
	{ "INTERNALDATE", EX_IMAP_FETCH_INTERNALDATE, false, 0, 0, EX_IMAP_SECTION_ALL, false, 0, 0 },
	{ "ENVELOPE", EX_IMAP_FETCH_ENVELOPE, false, 0, 0, EX_IMAP_SECTION_ALL, false, 0, 0 },
	{ "BODYSTRUCTURE", EX_IMAP_FETCH_BODYSTRUCTURE, false, 0, 0, EX_IMAP_SECTION_ALL, false, 0, 0 },
	{ "BODY", EX_IMAP_FETCH_BODY, false, 0, 0, EX_IMAP_SECTION_ALL, false, 0, 0 },
	{ "MODSEQ", EX_IMAP_FETCH_MODSEQ, false, 0, 0, EX_IMAP_SECTION_ALL, false, 0, 0 },
	{ "BODY[4294967295]<4294967295.4294967295>", EX_IMAP_FETCH_BODY_SECTION, false, 1, UINT32_MAX,
	  EX_IMAP_SECTION_ALL, true, UINT32_MAX, UINT32_MAX },
};

static void test_fetch_items(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(fetch_cases) / sizeof(fetch_cases[0]); i++) {
		const fetch_case *c = &fetch_cases[i];
		char line[256];
		snprintf(line, sizeof(line), "t FETCH 1 %s\r\n", c->items);
		ex_imap_parser *parser = parse_line(line);
		ex_imap_fetch_list list;
		const char *error = ex_imap_fetch_parse(ex_imap_parser_arena(parser),
							ex_imap_parser_command(parser)->args->next, &list);
		if (error != NULL)
			fail_msg("%s: %s", c->items, error);
		assert_int_equal(list.count, 1);
		const ex_imap_fetch_item *item = list.items;
		assert_int_equal(item->kind, c->kind);
		assert_int_equal(item->peek, c->peek);
		assert_int_equal(item->section.part_count, c->part_count);
		if (c->part_count > 0)
			assert_int_equal(item->section.parts[c->part_count - 1], c->last_part);
		assert_int_equal(item->section.text, c->text);
		assert_int_equal(item->partial, c->partial);
		assert_int_equal(item->partial_offset, c->offset);
		assert_int_equal(item->partial_length, c->length);
		ex_imap_parser_free(parser);
	}
}

static void test_fetch_macros(void **state)
{
	(void)state;
	static const struct {
		const char *macro;
		size_t count;
	} macros[] = { { "ALL", 4 }, { "fast", 3 }, { "FULL", 5 } };

	for (size_t i = 0; i < 3; i++) {
		char line[64];
		snprintf(line, sizeof(line), "t FETCH 1:* %s\r\n", macros[i].macro);
		ex_imap_parser *parser = parse_line(line);
		ex_imap_fetch_list list;
		assert_null(ex_imap_fetch_parse(ex_imap_parser_arena(parser),
						ex_imap_parser_command(parser)->args->next, &list));
		assert_int_equal(list.count, macros[i].count);
		assert_int_equal(list.items->kind, EX_IMAP_FETCH_FLAGS);
		ex_imap_parser_free(parser);
	}
}

static void test_fetch_invalid(void **state)
{
	(void)state;
	static const char *const invalid[] = {
		"BODY[", "BODY[1.]", "BODY[0]", "BODY[01]", "BODY[MIME]", "BODY[1.FOO]", "BODY[HEADER.FIELDS]",
		"BODY[HEADER.FIELDS ()]", "BODY[HEADER.FIELDS (A:B)]", "BODY[]<1>", "BODY[]<0.0>", "BODY[]<.1>",
		"BINARY[HEADER]", "BINARY[1.TEXT]", "BINARY.SIZE[1]<0.1>", "BODY[4294967296]", "FOO",
		"(ALL)", "()", "\"FLAGS\"", "BODY[]x", "BODY[1TEXT]",
		("BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.25.26.27.28.29.30.31.32.33]"),
	};
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		char line[256];
		snprintf(line, sizeof(line), "t FETCH 1 %s\r\n", invalid[i]);
		ex_imap_parser *parser = ex_imap_parser_new(NULL);
		size_t consumed;
		if (ex_imap_parser_feed(parser, line, strlen(line), &consumed) != EX_IMAP_PARSE_DONE) {
			ex_imap_parser_free(parser);
			continue; /* rejected by the command parser already */
		}
		ex_imap_fetch_list list;
		if (ex_imap_fetch_parse(ex_imap_parser_arena(parser), ex_imap_parser_command(parser)->args->next,
					&list) == NULL)
			fail_msg("FETCH items %s were accepted", invalid[i]);
		ex_imap_parser_free(parser);
	}
}

/* ---- SEARCH ---- */

static void test_search_charset_or_literal(void **state)
{
	(void)state;
	ex_imap_parser *parser =
		parse_line("a UID SEARCH CHARSET UTF-8 OR FROM \"jo\xc3\xa3o\" SUBJECT {5+}\r\nol\xc3\xa1!\r\n");
	ex_imap_search search;
	ex_imap_search_error error;

	assert_true(ex_imap_search_parse(ex_imap_parser_arena(parser), ex_imap_parser_command(parser)->args->next,
					 0, &search, &error));
	assert_string_equal(search.charset, "UTF-8");
	assert_false(search.has_return);
	assert_int_equal(search.root->kind, EX_IMAP_SEARCH_AND);
	assert_int_equal(search.root->child_count, 1);
	const ex_imap_search_key *or_key = search.root->children;
	assert_int_equal(or_key->kind, EX_IMAP_SEARCH_OR);
	assert_int_equal(or_key->child_count, 2);
	assert_int_equal(or_key->children->kind, EX_IMAP_SEARCH_FROM);
	assert_string_equal(or_key->children->value, "jo\xc3\xa3o");
	assert_int_equal(or_key->children->next->kind, EX_IMAP_SEARCH_SUBJECT);
	assert_string_equal(or_key->children->next->value, "ol\xc3\xa1!");
	ex_imap_parser_free(parser);
}

static void test_search_every_key(void **state)
{
	(void)state;
	ex_imap_parser *parser = parse_line(
		"t SEARCH RETURN (MIN COUNT SAVE) ALL ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED "
		"UNDELETED UNDRAFT UNFLAGGED UNSEEN KEYWORD $Forwarded UNKEYWORD Junk BCC a CC b FROM c SUBJECT d "
		"TEXT e TO f BODY g HEADER X-Mailer \"Apple Mail\" BEFORE 1-Feb-2026 ON 29-Feb-2024 SINCE 31-Dec-2025 "
		"SENTBEFORE 2-Jan-2026 SENTON 3-Jan-2026 SENTSINCE 4-Jan-2026 LARGER 1024 SMALLER 4096 UID 1:5,9 "
		"2:* NOT (SEEN FLAGGED) MODSEQ 620162338 MODSEQ \"/flags/\\\\Draft\" all 620162339 $\r\n");
	ex_imap_search search;
	ex_imap_search_error error;

	if (!ex_imap_search_parse(ex_imap_parser_arena(parser), ex_imap_parser_command(parser)->args, 0, &search,
				  &error))
		fail_msg("%s", error.text);
	assert_true(search.has_return);
	assert_int_equal(search.return_options,
			 EX_IMAP_SEARCH_RETURN_MIN | EX_IMAP_SEARCH_RETURN_COUNT | EX_IMAP_SEARCH_RETURN_SAVE);

	static const ex_imap_search_kind expected[] = {
		EX_IMAP_SEARCH_ALL, EX_IMAP_SEARCH_ANSWERED, EX_IMAP_SEARCH_DELETED, EX_IMAP_SEARCH_DRAFT,
		EX_IMAP_SEARCH_FLAGGED, EX_IMAP_SEARCH_NEW, EX_IMAP_SEARCH_OLD, EX_IMAP_SEARCH_RECENT,
		EX_IMAP_SEARCH_SEEN, EX_IMAP_SEARCH_UNANSWERED, EX_IMAP_SEARCH_UNDELETED, EX_IMAP_SEARCH_UNDRAFT,
		EX_IMAP_SEARCH_UNFLAGGED, EX_IMAP_SEARCH_UNSEEN, EX_IMAP_SEARCH_KEYWORD, EX_IMAP_SEARCH_UNKEYWORD,
		EX_IMAP_SEARCH_BCC, EX_IMAP_SEARCH_CC, EX_IMAP_SEARCH_FROM, EX_IMAP_SEARCH_SUBJECT,
		EX_IMAP_SEARCH_TEXT, EX_IMAP_SEARCH_TO, EX_IMAP_SEARCH_BODY, EX_IMAP_SEARCH_HEADER,
		EX_IMAP_SEARCH_BEFORE, EX_IMAP_SEARCH_ON, EX_IMAP_SEARCH_SINCE, EX_IMAP_SEARCH_SENTBEFORE,
		EX_IMAP_SEARCH_SENTON, EX_IMAP_SEARCH_SENTSINCE, EX_IMAP_SEARCH_LARGER, EX_IMAP_SEARCH_SMALLER,
		EX_IMAP_SEARCH_UID, EX_IMAP_SEARCH_SEQSET, EX_IMAP_SEARCH_NOT, EX_IMAP_SEARCH_MODSEQ,
		EX_IMAP_SEARCH_MODSEQ, EX_IMAP_SEARCH_SEQSET,
	};
	const ex_imap_search_key *key = search.root->children;
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		assert_non_null(key);
		if (key->kind != expected[i])
			fail_msg("key %zu: kind %d, expected %d", i, key->kind, expected[i]);
		key = key->next;
	}
	assert_null(key);

	key = search.root->children;
	while (key->kind != EX_IMAP_SEARCH_HEADER)
		key = key->next;
	assert_string_equal(key->header_name, "X-Mailer");
	assert_string_equal(key->value, "Apple Mail");
	key = key->next->next;
	assert_int_equal(key->date.year, 2024);
	assert_int_equal(key->date.month, 2);
	assert_int_equal(key->date.day, 29);
	while (key->kind != EX_IMAP_SEARCH_LARGER)
		key = key->next;
	assert_int_equal(key->number, 1024);
	while (key->kind != EX_IMAP_SEARCH_NOT)
		key = key->next;
	assert_int_equal(key->children->kind, EX_IMAP_SEARCH_AND);
	assert_int_equal(key->children->child_count, 2);
	key = key->next->next;
	assert_string_equal(key->modseq_entry, "/flags/\\Draft");
	assert_int_equal(key->number, 620162339);
	assert_true(key->next->set.searchres);
	ex_imap_parser_free(parser);
}

typedef struct {
	const char *args;
	const char *code;
	const char *text;
} search_error_case;

static const search_error_case search_errors[] = {
	{ "CHARSET KOI8-R FROM x", "BADCHARSET (US-ASCII UTF-8)", "Unsupported charset" },
	{ "CHARSET UTF-8", NULL, "missing search keys" },
	{ "FROM", NULL, "missing the value" },
	{ "OR SEEN", NULL, "OR needs two" },
	{ "NOT", NULL, "NOT needs" },
	{ "BEFORE 30-Feb-2026", NULL, "day out of range" },
	{ "BEFORE 1-Foo-2026", NULL, "unknown month" },
	{ "LARGER -1", NULL, "size" },
	{ "LARGER 9223372036854775808", NULL, "size" },
	{ "UID x", NULL, "Invalid sequence set" },
	{ "BOGUS", NULL, "unknown search key" },
	{ "()", NULL, "empty group" },
	{ "KEYWORD \"a b\"", NULL, "keyword" },
	{ "MODSEQ \"/flags/\\\\Seen\" mine 5", NULL, "entry type" },
	{ "RETURN (FOO) ALL", NULL, "RETURN option" },
	{ "0", NULL, "Invalid sequence set" },
};

static void test_search_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(search_errors) / sizeof(search_errors[0]); i++) {
		const search_error_case *c = &search_errors[i];
		char line[256];
		snprintf(line, sizeof(line), "t SEARCH %s\r\n", c->args);
		ex_imap_parser *parser = parse_line(line);
		ex_imap_search search;
		ex_imap_search_error error;
		if (ex_imap_search_parse(ex_imap_parser_arena(parser), ex_imap_parser_command(parser)->args, 0,
					 &search, &error))
			fail_msg("SEARCH %s was accepted", c->args);
		if (strstr(error.text, c->text) == NULL)
			fail_msg("SEARCH %s: \"%s\" lacks \"%s\"", c->args, error.text, c->text);
		if (c->code == NULL)
			assert_null(error.code);
		else
			assert_string_equal(error.code, c->code);
		ex_imap_parser_free(parser);
	}
}

/* Builds "t SEARCH NOT NOT ... SEEN" with COUNT NOTs. */
static void test_search_depth_limit(void **state)
{
	(void)state;
	char line[512];
	ex_imap_search search;
	ex_imap_search_error error;

	for (unsigned count = EX_IMAP_DEFAULT_MAX_SEARCH_DEPTH; count <= EX_IMAP_DEFAULT_MAX_SEARCH_DEPTH + 1;
	     count++) {
		strcpy(line, "t SEARCH");
		for (unsigned i = 0; i < count; i++)
			strcat(line, " NOT");
		strcat(line, " SEEN\r\n");
		ex_imap_parser *parser = parse_line(line);
		bool ok = ex_imap_search_parse(ex_imap_parser_arena(parser), ex_imap_parser_command(parser)->args, 0,
					       &search, &error);
		if (count == EX_IMAP_DEFAULT_MAX_SEARCH_DEPTH) {
			assert_true(ok);
		} else {
			assert_false(ok);
			assert_string_equal(error.code, "LIMIT");
		}
		ex_imap_parser_free(parser);
	}
}

/* ---- flags ---- */

static void test_flags_lists(void **state)
{
	(void)state;
	ex_imap_parser *parser =
		parse_line("t STORE 1 +FLAGS (\\Seen \\ANSWERED \\Flagged \\Deleted \\Draft $Forwarded NonJunk)\r\n");
	const ex_imap_arg *list = ex_imap_parser_command(parser)->args->next->next;
	ex_imap_flags flags;

	assert_null(ex_imap_flags_parse(ex_imap_parser_arena(parser), list->list, list->list_count, 0, &flags));
	assert_int_equal(flags.system, EX_IMAP_FLAG_SEEN | EX_IMAP_FLAG_ANSWERED | EX_IMAP_FLAG_FLAGGED |
					       EX_IMAP_FLAG_DELETED | EX_IMAP_FLAG_DRAFT);
	assert_int_equal(flags.keyword_count, 2);
	assert_string_equal(flags.keywords[0], "$Forwarded");
	assert_string_equal(flags.keywords[1], "NonJunk");
	ex_imap_parser_free(parser);

	/* STORE also takes flags without parentheses */
	parser = parse_line("t STORE 1 FLAGS \\Seen $label1\r\n");
	const ex_imap_arg *first = ex_imap_parser_command(parser)->args->next->next;
	assert_null(ex_imap_flags_parse(ex_imap_parser_arena(parser), first, 2, 0, &flags));
	assert_int_equal(flags.system, EX_IMAP_FLAG_SEEN);
	assert_int_equal(flags.keyword_count, 1);
	ex_imap_parser_free(parser);

	parser = parse_line("t X (\\* \\Recent)\r\n");
	list = ex_imap_parser_command(parser)->args;
	assert_non_null(ex_imap_flags_parse(ex_imap_parser_arena(parser), list->list, 2, 0, &flags));
	assert_null(ex_imap_flags_parse(ex_imap_parser_arena(parser), list->list, 2,
					EX_IMAP_FLAGS_ALLOW_STAR | EX_IMAP_FLAGS_ALLOW_RECENT, &flags));
	assert_true(flags.star);
	assert_int_equal(flags.system, EX_IMAP_FLAG_RECENT);
	ex_imap_parser_free(parser);

	static const char *const invalid[] = { "(\\Bogus)", "(\\Recent)", "(\\*)", "(\"Seen\")", "(a%b)", "((x))" };
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		char line[64];
		snprintf(line, sizeof(line), "t X %s\r\n", invalid[i]);
		parser = parse_line(line);
		list = ex_imap_parser_command(parser)->args;
		if (ex_imap_flags_parse(ex_imap_parser_arena(parser), list->list, list->list_count, 0, &flags) == NULL)
			fail_msg("flags %s were accepted", invalid[i]);
		ex_imap_parser_free(parser);
	}
	assert_string_equal(ex_imap_flag_name(EX_IMAP_FLAG_DRAFT), "\\Draft");
}

/* ---- dates ---- */

static void test_dates(void **state)
{
	(void)state;
	ex_imap_date date;
	ex_imap_datetime datetime;
	char formatted[EX_IMAP_DATETIME_LENGTH + 1];

	assert_null(ex_imap_date_parse("5-Dec-2026", 10, &date));
	assert_int_equal(date.day, 5);
	assert_int_equal(date.month, 12);
	assert_int_equal(date.year, 2026);
	assert_null(ex_imap_date_parse("05-dec-2026", 11, &date));
	assert_int_equal(ex_imap_date_to_days(&(ex_imap_date){ 1970, 1, 1 }), 0);
	assert_int_equal(ex_imap_date_to_days(&(ex_imap_date){ 2000, 3, 1 }), 11017);

	static const char *const bad_dates[] = { "", "5-Dec-26", "5-Dec-2026x", "32-Jan-2026", "29-Feb-2026",
						 "0-Jan-2026", "5 Dec 2026", "123-Dec-2026", "5-Dez-2026" };
	for (size_t i = 0; i < sizeof(bad_dates) / sizeof(bad_dates[0]); i++)
		assert_non_null(ex_imap_date_parse(bad_dates[i], strlen(bad_dates[i]), &date));

	assert_null(ex_imap_datetime_parse("05-Dec-2026 10:00:00 -0300", 26, &datetime));
	assert_int_equal(datetime.time, 1796475600); /* 2026-12-05T13:00:00Z */
	assert_int_equal(datetime.offset_minutes, -180);
	ex_imap_datetime_format(datetime.time, datetime.offset_minutes, formatted);
	assert_string_equal(formatted, "05-Dec-2026 10:00:00 -0300");

	assert_null(ex_imap_datetime_parse(" 5-Dec-2026 23:59:60 +0530", 26, &datetime));
	ex_imap_datetime_format(0, 0, formatted);
	assert_string_equal(formatted, "01-Jan-1970 00:00:00 +0000");
	ex_imap_datetime_format(-1, 60, formatted);
	assert_string_equal(formatted, "01-Jan-1970 00:59:59 +0100");

	static const char *const bad_times[] = {
		"05-Dec-2026 24:00:00 +0000", "05-Dec-2026 10:60:00 +0000", "05-Dec-2026 10:00:00 0000",
		"05-Dec-2026 10:00:00 +00", "05-Dec-2026 10:00 +0000", "05-Dec-2026 10:00:00 +0060",
		"05-Dec-2026 10:00:00 +0000 ", "05-Dec-2026",
	};
	for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++)
		assert_non_null(ex_imap_datetime_parse(bad_times[i], strlen(bad_times[i]), &datetime));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seqset_ranges),
		cmocka_unit_test(test_seqset_invalid),
		cmocka_unit_test(test_fetch_thunderbird_headers),
		cmocka_unit_test(test_fetch_items),
		cmocka_unit_test(test_fetch_macros),
		cmocka_unit_test(test_fetch_invalid),
		cmocka_unit_test(test_search_charset_or_literal),
		cmocka_unit_test(test_search_every_key),
		cmocka_unit_test(test_search_errors),
		cmocka_unit_test(test_search_depth_limit),
		cmocka_unit_test(test_flags_lists),
		cmocka_unit_test(test_dates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
