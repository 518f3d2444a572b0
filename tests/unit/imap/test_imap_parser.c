/*
 * Table-driven tests of the incremental IMAP command parser: command lines
 * as Thunderbird, iOS Mail, mbsync and imapflow send them, fed whole and
 * byte by byte, every literal form, and each limit at the limit and one
 * octet past it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expresso/imap_parser.h"

/* Appends a readable form of the argument list to OUT: atoms bare, "quoted", {n}literal, ~{n}literal8, (lists). */
static void dump_args(const ex_imap_arg *arg, char *out, size_t size)
{
	for (; arg != NULL; arg = arg->next) {
		size_t used = strlen(out);
		switch (arg->type) {
		case EX_IMAP_ARG_ATOM:
			snprintf(out + used, size - used, "%s", arg->str);
			break;
		case EX_IMAP_ARG_NIL:
			snprintf(out + used, size - used, "NIL");
			break;
		case EX_IMAP_ARG_QUOTED:
			snprintf(out + used, size - used, "\"%s\"", arg->str);
			break;
		case EX_IMAP_ARG_LITERAL:
			snprintf(out + used, size - used, "{%zu}%.*s", arg->length, (int)arg->length, arg->str);
			break;
		case EX_IMAP_ARG_LITERAL8:
			snprintf(out + used, size - used, "~{%zu}", arg->length);
			break;
		case EX_IMAP_ARG_LIST:
			snprintf(out + used, size - used, "(");
			dump_args(arg->list, out, size);
			used = strlen(out);
			snprintf(out + used, size - used, ")");
			break;
		}
		if (arg->next != NULL) {
			used = strlen(out);
			snprintf(out + used, size - used, " ");
		}
	}
}

typedef struct {
	ex_imap_parse_result result;
	unsigned continuations;
	size_t consumed;
} feed_outcome;

/*
 * Feeds INPUT in pieces of STEP octets (0: all at once) until DONE or
 * ERROR, counting LITERAL continuation requests.
 */
static feed_outcome feed(ex_imap_parser *parser, const char *input, size_t length, size_t step)
{
	feed_outcome outcome = { EX_IMAP_PARSE_NEED_MORE, 0, 0 };
	size_t offset = 0;

	while (offset < length) {
		size_t piece = step == 0 || length - offset < step ? length - offset : step;
		size_t consumed = 0;
		ex_imap_parse_result result = ex_imap_parser_feed(parser, input + offset, piece, &consumed);
		assert_true(consumed <= piece);
		offset += consumed;
		if (result == EX_IMAP_PARSE_LITERAL) {
			outcome.continuations++;
			continue;
		}
		if (result == EX_IMAP_PARSE_DONE || result == EX_IMAP_PARSE_ERROR) {
			outcome.result = result;
			break;
		}
		assert_int_equal(consumed, piece);
	}
	outcome.consumed = offset;
	return outcome;
}

typedef struct {
	const char *input;
	const char *tag;
	const char *name;
	const char *args;            /* dump_args() form */
	unsigned continuations;
} good_case;

static const good_case good_cases[] = {
	{ "a1 CAPABILITY\r\n", "a1", "CAPABILITY", "", 0 },
	{ "a2 noop\r\n", "a2", "NOOP", "", 0 },
	{ "a3 LOGIN alice \"pa\\\"ss\\\\word\"\r\n", "a3", "LOGIN", "alice \"pa\"ss\\word\"", 0 },
	{ "a1 UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date "
	  "Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])\r\n",
	  "a1", "UID",
	  "FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID "
	  "Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])", 0 },
	{ "A003 APPEND INBOX (\\Seen) \"05-Dec-2026 10:00:00 -0300\" {11}\r\nHello world\r\n",
	  "A003", "APPEND", "INBOX (\\Seen) \"05-Dec-2026 10:00:00 -0300\" {11}Hello world", 1 },
	{ "a UID SEARCH CHARSET UTF-8 OR FROM \"jo\xc3\xa3o\" SUBJECT {5+}\r\nol\xc3\xa1!\r\n", "a", "UID",
	  "SEARCH CHARSET UTF-8 OR FROM \"jo\xc3\xa3o\" SUBJECT {5}ol\xc3\xa1!", 0 },
	{ "3 select \"INBOX\" (CONDSTORE)\r\n", "3", "SELECT", "\"INBOX\" (CONDSTORE)", 0 },
	{ "4 LIST \"\" \"*\" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))\r\n", "4", "LIST",
	  "\"\" \"*\" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))", 0 },
	{ "5 ID (\"name\" \"Thunderbird\" \"version\" \"128.0\")\r\n", "5", "ID",
	  "(\"name\" \"Thunderbird\" \"version\" \"128.0\")", 0 },
	{ "6 ID NIL\r\n", "6", "ID", "NIL", 0 },
	{ "7 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n", "7", "UID",
	  "FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)", 0 },
	{ "8 UID STORE 4:7 +FLAGS.SILENT (\\Seen $Forwarded)\r\n", "8", "UID",
	  "STORE 4:7 +FLAGS.SILENT (\\Seen $Forwarded)", 0 },
	{ "9 FETCH 1 BODY[1.2.MIME]<0.2048>\r\n", "9", "FETCH", "1 BODY[1.2.MIME]<0.2048>", 0 },
	{ "10 APPEND Drafts ~{3}\r\nab\0\r\n", "10", "APPEND", "Drafts ~{3}", 1 },
	{ "11 LOGIN {5}\r\nalice {6}\r\nsecret\r\n", "11", "LOGIN", "{5}alice {6}secret", 2 },
	{ "12 CREATE \"Caixa de entrada\"\r\n", "12", "CREATE", "\"Caixa de entrada\"", 0 },
	{ "13 CREATE &AMk-l&AOk-ments\r\n", "13", "CREATE", "&AMk-l&AOk-ments", 0 },
	{ "14 NOOP\n", "14", "NOOP", "", 0 },
	{ "15 SEARCH (OR (SEEN) (FLAGGED)) NOT DELETED\r\n", "15", "SEARCH",
	  "(OR (SEEN) (FLAGGED)) NOT DELETED", 0 },
	{ "16 APPEND INBOX {0}\r\n\r\n", "16", "APPEND", "INBOX {0}", 1 },
	{ "17 LIST \"\" %\r\n", "17", "LIST", "\"\" %", 0 },
	{ "18 STATUS Sent (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE)\r\n", "18", "STATUS",
	  "Sent (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE)", 0 },
	{ "19 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n", "19", "AUTHENTICATE",
	  "PLAIN AGFsaWNlAHNlY3JldA==", 0 },
	{ "20 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n", "20", "SELECT",
	  "INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))", 0 },
	{ "21 FETCH 1 (BODY[])\r\n", "21", "FETCH", "1 (BODY[])", 0 },
	{ "22 ENABLE CONDSTORE QRESYNC UTF8=ACCEPT\r\n", "22", "ENABLE", "CONDSTORE QRESYNC UTF8=ACCEPT", 0 },
	{ "23 X ()\r\n", "23", "X", "()", 0 },
	{ "24 LOGIN \"\" \"\"\r\n", "24", "LOGIN", "\"\" \"\"", 0 },
	{ "25 SELECT ~peter/mail/&U,BTFw-\r\n", "25", "SELECT", "~peter/mail/&U,BTFw-", 0 },
	{ "26 X ~ (~) ~\r\n", "26", "X", "~ (~) ~", 0 },
};

static void check_good_case(const good_case *c, size_t step)
{
	ex_imap_parser *parser = ex_imap_parser_new(NULL);
	assert_non_null(parser);

	size_t length = strlen(c->input);
	/* The literal8 case has a NUL inside: its length is written out. */
	if (strcmp(c->tag, "10") == 0)
		length = strlen("10 APPEND Drafts ~{3}\r\n") + 5;

	feed_outcome outcome = feed(parser, c->input, length, step);
	if (outcome.result != EX_IMAP_PARSE_DONE)
		fail_msg("input %s (step %zu): expected DONE, got %d: %s", c->input, step, outcome.result,
			 ex_imap_parser_error(parser)->text);
	assert_int_equal(outcome.consumed, length);
	assert_int_equal(outcome.continuations, c->continuations);

	const ex_imap_command *command = ex_imap_parser_command(parser);
	assert_string_equal(command->tag, c->tag);
	assert_string_equal(command->name, c->name);
	char dump[2048] = "";
	dump_args(command->args, dump, sizeof(dump));
	assert_string_equal(dump, c->args);
	ex_imap_parser_free(parser);
}

static void test_good_commands_whole(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++)
		check_good_case(&good_cases[i], 0);
}

static void test_good_commands_byte_by_byte(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
		check_good_case(&good_cases[i], 1);
		check_good_case(&good_cases[i], 7);
	}
}

typedef struct {
	const char *input;
	const char *tag;            /* NULL: untagged */
	const char *status;
	const char *code;           /* NULL: none */
	const char *text;           /* substring of the error text */
	bool fatal;
} bad_case;

static const bad_case bad_cases[] = {
	{ "a1 FETCH 1 (FLAGS\r\n", "a1", "BAD", NULL, "Missing ')'", false },
	{ "a2 FETCH 1 FLAGS)\r\n", "a2", "BAD", NULL, "Unexpected ')'", false },
	{ "a3 LOGIN \"alice\r\n", "a3", "BAD", NULL, "Missing '\"'", false },
	{ "a4 LOGIN \"al\\ice\" x\r\n", "a4", "BAD", NULL, "Invalid escape", false },
	{ "a5 LOGIN al\xc3\xa7" "e x\r\n", "a5", "BAD", NULL, "8-bit", false },
	{ "a6 LOGIN \"\xff\xfe\" x\r\n", "a6", "BAD", NULL, "Invalid UTF-8", false },
	{ "a7 LOGIN {99999999999999999999999}\r\n", "a7", "BAD", "TOOBIG", "Literal size too large", false },
	{ "a8 LOGIN {5-}\r\nalice\r\n", "a8", "BAD", NULL, "{n-}", false },
	{ "a9 LOGIN {}\r\n", "a9", "BAD", NULL, "Missing literal size", false },
	{ "a10 LOGIN {5} x\r\n", "a10", "BAD", NULL, "CRLF", false },
	{ "a11 LOGIN ~{5}\r\n", "a11", "BAD", NULL, "only allowed for APPEND messages", false },
	{ "a25 APPEND ~{5}\r\n", "a25", "BAD", NULL, "only allowed for APPEND messages", false },
	{ "a26 APPEND {65537}\r\n", "a26", "BAD", "TOOBIG", "Literal size too large", false },
	{ "a12 APPEND INBOX {67108865}\r\n", "a12", "NO", "TOOBIG", "Message too large", false },
	{ "a13 APPEND INBOX {67108865+}\r\n", "a13", "NO", "TOOBIG", "Message too large", true },
	{ "a14 LOGIN {65537}\r\n", "a14", "BAD", "TOOBIG", "Literal size too large", false },
	{ "* NOOP\r\n", NULL, "BAD", NULL, "Invalid character", false },
	{ "+tag NOOP\r\n", NULL, "BAD", NULL, "Invalid character", false },
	{ " NOOP\r\n", NULL, "BAD", NULL, "Missing tag", false },
	{ "a15\r\n", NULL, "BAD", NULL, "Missing command name", false },
	{ "a16 \r\n", "a16", "BAD", NULL, "Missing command name", false },
	{ "a17 NOOP\rX\n", "a17", "BAD", NULL, "CR not followed by LF", false },
	{ "a18 FETCH 1 BODY[HEADER\r\n", "a18", "BAD", NULL, "Missing ']'", false },
	{ "a19 LOGIN \"a\"\"b\"\r\n", "a19", "BAD", NULL, "Missing space", false },
	{ "a20 LOGIN a\"b\r\n", "a20", "BAD", NULL, "Invalid character", false },
	{ "a21 FETCH 1 BODY[{5}]\r\n", "a21", "BAD", NULL, "Literals inside", false },
	{ "a22 LOGIN {3}\r\na\0c\r\n", "a22", "BAD", NULL, "NUL in literal", true },
	{ "a23 NO\0OP\r\n", "a23", "BAD", NULL, "NUL", false },
	{ "a24 LOGIN ~(\r\n", "a24", "BAD", NULL, "Invalid character", false },
};

static size_t bad_case_length(const bad_case *c)
{
	if (strcmp(c->tag != NULL ? c->tag : "", "a22") == 0)
		return strlen("a22 LOGIN {3}\r\n") + 5;
	if (strcmp(c->tag != NULL ? c->tag : "", "a23") == 0)
		return 11;
	return strlen(c->input);
}

static void check_bad_case(const bad_case *c, size_t step)
{
	ex_imap_parser *parser = ex_imap_parser_new(NULL);
	assert_non_null(parser);

	feed_outcome outcome = feed(parser, c->input, bad_case_length(c), step);
	if (outcome.result != EX_IMAP_PARSE_ERROR)
		fail_msg("input %s (step %zu): expected ERROR, got %d", c->input, step, outcome.result);

	const ex_imap_parse_error *error = ex_imap_parser_error(parser);
	if (c->tag == NULL)
		assert_null(error->tag);
	else
		assert_string_equal(error->tag, c->tag);
	assert_string_equal(error->status, c->status);
	if (c->code == NULL)
		assert_null(error->code);
	else
		assert_string_equal(error->code, c->code);
	if (strstr(error->text, c->text) == NULL)
		fail_msg("input %s: error text \"%s\" lacks \"%s\"", c->input, error->text, c->text);
	assert_int_equal(error->fatal, c->fatal);
	ex_imap_parser_free(parser);
}

static void test_bad_commands(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		check_bad_case(&bad_cases[i], 0);
		check_bad_case(&bad_cases[i], 1);
	}
}

/* After a non-fatal error the rest of the line is skipped and the next command parses. */
static void test_recovery_after_error(void **state)
{
	(void)state;
	static const char input[] = "a1 FETCH 1 (FLAGS))) junk \"x\r\na2 NOOP\r\n";
	ex_imap_parser *parser = ex_imap_parser_new(NULL);
	size_t consumed;
	size_t offset = 0;

	assert_int_equal(ex_imap_parser_feed(parser, input, sizeof(input) - 1, &consumed), EX_IMAP_PARSE_ERROR);
	offset += consumed;
	assert_int_equal(ex_imap_parser_feed(parser, input + offset, sizeof(input) - 1 - offset, &consumed),
			 EX_IMAP_PARSE_DONE);
	offset += consumed;
	assert_int_equal(offset, sizeof(input) - 1);
	assert_string_equal(ex_imap_parser_command(parser)->tag, "a2");
	assert_string_equal(ex_imap_parser_command(parser)->name, "NOOP");
	ex_imap_parser_free(parser);
}

/* Pipelined commands come out one per DONE, each with its consumed count. */
static void test_pipelined_commands(void **state)
{
	(void)state;
	static const char input[] = "a1 NOOP\r\n\r\na2 CHECK\r\na3 LOGOUT\r\n";
	const char *expected[] = { "a1", "a2", "a3" };
	ex_imap_parser *parser = ex_imap_parser_new(NULL);
	size_t offset = 0;

	for (size_t i = 0; i < 3; i++) {
		size_t consumed;
		assert_int_equal(ex_imap_parser_feed(parser, input + offset, sizeof(input) - 1 - offset, &consumed),
				 EX_IMAP_PARSE_DONE);
		offset += consumed;
		assert_string_equal(ex_imap_parser_command(parser)->tag, expected[i]);
	}
	assert_int_equal(offset, sizeof(input) - 1);
	ex_imap_parser_free(parser);
}

static ex_imap_parse_result parse_string(ex_imap_parser *parser, const char *input, size_t length)
{
	return feed(parser, input, length, 0).result;
}

/* Builds "t NOOP xxx...\r\n" whose line, CRLF excluded, is LINE_SIZE octets. */
static char *line_of_size(size_t line_size)
{
	char *line = malloc(line_size + 3);
	memcpy(line, "t NOOP ", 7);
	memset(line + 7, 'x', line_size - 7);
	line[line_size] = '\r';
	line[line_size + 1] = '\n';
	line[line_size + 2] = '\0';
	return line;
}

static void test_limit_line_size(void **state)
{
	(void)state;
	ex_imap_parser_limits limits;
	ex_imap_parser_limits_default(&limits);

	char *at_limit = line_of_size(limits.max_line_size);
	ex_imap_parser *parser = ex_imap_parser_new(&limits);
	assert_int_equal(parse_string(parser, at_limit, strlen(at_limit)), EX_IMAP_PARSE_DONE);
	ex_imap_parser_free(parser);

	char *past_limit = line_of_size(limits.max_line_size + 1);
	parser = ex_imap_parser_new(&limits);
	assert_int_equal(parse_string(parser, past_limit, strlen(past_limit)), EX_IMAP_PARSE_ERROR);
	assert_string_equal(ex_imap_parser_error(parser)->code, "TOOBIG");
	assert_string_equal(ex_imap_parser_error(parser)->tag, "t");
	ex_imap_parser_free(parser);

	free(at_limit);
	free(past_limit);
}

/* Builds a command with DEPTH nested lists. */
static void nested_lists(char *out, unsigned depth)
{
	strcpy(out, "t X ");
	for (unsigned i = 0; i < depth; i++)
		strcat(out, "(");
	for (unsigned i = 0; i < depth; i++)
		strcat(out, ")");
	strcat(out, "\r\n");
}

static void test_limit_list_depth(void **state)
{
	(void)state;
	char input[256];
	ex_imap_parser *parser = ex_imap_parser_new(NULL);

	nested_lists(input, EX_IMAP_DEFAULT_MAX_LIST_DEPTH);
	assert_int_equal(parse_string(parser, input, strlen(input)), EX_IMAP_PARSE_DONE);

	nested_lists(input, EX_IMAP_DEFAULT_MAX_LIST_DEPTH + 1);
	assert_int_equal(parse_string(parser, input, strlen(input)), EX_IMAP_PARSE_ERROR);
	assert_string_equal(ex_imap_parser_error(parser)->code, "LIMIT");
	ex_imap_parser_free(parser);
}

static char *command_with_args(unsigned count)
{
	char *input = malloc(16 + (size_t)count * 2 + 3);
	strcpy(input, "t X");
	size_t length = strlen(input);
	for (unsigned i = 0; i < count; i++) {
		input[length++] = ' ';
		input[length++] = 'a';
	}
	memcpy(input + length, "\r\n", 3);
	return input;
}

static void test_limit_arg_count(void **state)
{
	(void)state;
	ex_imap_parser *parser = ex_imap_parser_new(NULL);

	char *at_limit = command_with_args(EX_IMAP_DEFAULT_MAX_ARGS);
	assert_int_equal(parse_string(parser, at_limit, strlen(at_limit)), EX_IMAP_PARSE_DONE);
	assert_int_equal(ex_imap_parser_command(parser)->arg_count, EX_IMAP_DEFAULT_MAX_ARGS);

	char *past_limit = command_with_args(EX_IMAP_DEFAULT_MAX_ARGS + 1);
	assert_int_equal(parse_string(parser, past_limit, strlen(past_limit)), EX_IMAP_PARSE_ERROR);
	assert_string_equal(ex_imap_parser_error(parser)->code, "LIMIT");

	free(at_limit);
	free(past_limit);
	ex_imap_parser_free(parser);
}

static void test_limit_literal_size(void **state)
{
	(void)state;
	ex_imap_parser_limits limits;
	ex_imap_parser_limits_default(&limits);
	limits.max_literal_size = 100;
	ex_imap_parser *parser = ex_imap_parser_new(&limits);
	size_t consumed;

	static const char at_limit[] = "t APPEND INBOX {100}\r\n";
	assert_int_equal(ex_imap_parser_feed(parser, at_limit, sizeof(at_limit) - 1, &consumed),
			 EX_IMAP_PARSE_LITERAL);
	char data[102];
	memset(data, 'm', 100);
	data[100] = '\r';
	data[101] = '\n';
	assert_int_equal(parse_string(parser, data, sizeof(data)), EX_IMAP_PARSE_DONE);
	assert_int_equal(ex_imap_parser_command(parser)->args->next->length, 100);

	static const char past_limit[] = "t APPEND INBOX {101}\r\n";
	assert_int_equal(parse_string(parser, past_limit, sizeof(past_limit) - 1), EX_IMAP_PARSE_ERROR);
	assert_string_equal(ex_imap_parser_error(parser)->status, "NO");
	assert_string_equal(ex_imap_parser_error(parser)->code, "TOOBIG");
	assert_false(ex_imap_parser_error(parser)->fatal);

	/* The client did not get a continuation, so the next line is a new command. */
	static const char next[] = "u NOOP\r\n";
	assert_int_equal(parse_string(parser, next, sizeof(next) - 1), EX_IMAP_PARSE_DONE);
	assert_string_equal(ex_imap_parser_command(parser)->tag, "u");
	ex_imap_parser_free(parser);
}

static void test_limit_literal_minus(void **state)
{
	(void)state;
	ex_imap_parser_limits limits;
	ex_imap_parser_limits_default(&limits);
	limits.literal_plus = false;
	ex_imap_parser *parser = ex_imap_parser_new(&limits);

	size_t size = EX_IMAP_DEFAULT_MAX_NONSYNC_LITERAL_SIZE;
	char *input = malloc(size + 64);
	int header = snprintf(input, 64, "t APPEND INBOX {%zu+}\r\n", size);
	memset(input + header, 'm', size);
	input[header + size] = '\r';
	input[header + size + 1] = '\n';
	feed_outcome outcome = feed(parser, input, (size_t)header + size + 2, 0);
	assert_int_equal(outcome.result, EX_IMAP_PARSE_DONE);
	assert_int_equal(outcome.continuations, 0);

	header = snprintf(input, 64, "t APPEND INBOX {%zu+}\r\n", size + 1);
	assert_int_equal(parse_string(parser, input, (size_t)header), EX_IMAP_PARSE_ERROR);
	assert_string_equal(ex_imap_parser_error(parser)->code, "TOOBIG");
	assert_true(ex_imap_parser_error(parser)->fatal);
	free(input);
	ex_imap_parser_free(parser);
}

static void test_raw_line_auth(void **state)
{
	(void)state;
	ex_imap_parser *parser = ex_imap_parser_new(NULL);
	size_t length;

	/* an OAUTHBEARER response exactly at the limit */
	char *line = malloc(EX_IMAP_DEFAULT_MAX_AUTH_LINE_SIZE + 3);
	memset(line, 'b', EX_IMAP_DEFAULT_MAX_AUTH_LINE_SIZE);
	memcpy(line + EX_IMAP_DEFAULT_MAX_AUTH_LINE_SIZE, "\r\n", 3);
	ex_imap_parser_expect_raw_line(parser);
	assert_int_equal(feed(parser, line, strlen(line), 1000).result, EX_IMAP_PARSE_DONE);
	assert_non_null(ex_imap_parser_raw_line(parser, &length));
	assert_int_equal(length, EX_IMAP_DEFAULT_MAX_AUTH_LINE_SIZE);

	/* the mode lasts one line */
	static const char noop[] = "a NOOP\r\n";
	assert_int_equal(parse_string(parser, noop, sizeof(noop) - 1), EX_IMAP_PARSE_DONE);
	assert_string_equal(ex_imap_parser_command(parser)->name, "NOOP");

	free(line);
	line = malloc(EX_IMAP_DEFAULT_MAX_AUTH_LINE_SIZE + 4);
	memset(line, 'b', EX_IMAP_DEFAULT_MAX_AUTH_LINE_SIZE + 1);
	memcpy(line + EX_IMAP_DEFAULT_MAX_AUTH_LINE_SIZE + 1, "\r\n", 3);
	ex_imap_parser_expect_raw_line(parser);
	feed_outcome outcome = feed(parser, line, strlen(line), 0);
	assert_int_equal(outcome.result, EX_IMAP_PARSE_ERROR);
	assert_string_equal(ex_imap_parser_error(parser)->code, "TOOBIG");
	/* the rest of the long line is discarded without being stored */
	size_t consumed;
	assert_int_equal(ex_imap_parser_feed(parser, line + outcome.consumed, strlen(line) - outcome.consumed,
					     &consumed), EX_IMAP_PARSE_NEED_MORE);
	assert_int_equal(consumed, strlen(line) - outcome.consumed);

	ex_imap_parser_expect_raw_line(parser);
	static const char done[] = "DONE\r\n";
	assert_int_equal(parse_string(parser, done, sizeof(done) - 1), EX_IMAP_PARSE_DONE);
	assert_string_equal(ex_imap_parser_raw_line(parser, NULL), "DONE");
	free(line);
	ex_imap_parser_free(parser);
}

static void test_nil_and_astring_helpers(void **state)
{
	(void)state;
	static const char input[] = "t X nil \"NIL\" Nil\r\n";
	ex_imap_parser *parser = ex_imap_parser_new(NULL);
	assert_int_equal(parse_string(parser, input, sizeof(input) - 1), EX_IMAP_PARSE_DONE);
	const ex_imap_arg *arg = ex_imap_parser_command(parser)->args;
	assert_int_equal(arg->type, EX_IMAP_ARG_NIL);
	assert_true(ex_imap_arg_is_astring(arg));
	assert_int_equal(arg->next->type, EX_IMAP_ARG_QUOTED);
	assert_int_equal(arg->next->next->type, EX_IMAP_ARG_NIL);
	assert_true(ex_imap_arg_atom_equals(arg->next->next, "NIL"));
	assert_false(ex_imap_arg_atom_equals(arg->next, "NIL"));
	ex_imap_parser_free(parser);
}

static void test_release_between_commands(void **state)
{
	(void)state;
	static const char append[] = "a APPEND INBOX {5}\r\nhello\r\n";
	static const char idle[] = "b IDLE\r\n";
	static const char done[] = "DONE\r\n";
	ex_imap_parser *parser = ex_imap_parser_new(NULL);

	assert_int_equal(feed(parser, append, sizeof(append) - 1, 0).result, EX_IMAP_PARSE_DONE);
	assert_string_equal(ex_imap_parser_command(parser)->args->next->str, "hello");
	ex_imap_parser_release(parser);
	assert_int_equal(ex_imap_parser_arena(parser)->used, 0);
	assert_null(ex_imap_parser_command(parser)->tag);

	assert_int_equal(parse_string(parser, idle, sizeof(idle) - 1), EX_IMAP_PARSE_DONE);
	ex_imap_parser_expect_raw_line(parser);
	ex_imap_parser_release(parser);
	assert_int_equal(parse_string(parser, done, sizeof(done) - 1), EX_IMAP_PARSE_DONE);
	assert_string_equal(ex_imap_parser_raw_line(parser, NULL), "DONE");

	/* in the middle of a command, release keeps everything */
	size_t consumed;
	assert_int_equal(ex_imap_parser_feed(parser, "c LOGIN x", 9, &consumed), EX_IMAP_PARSE_NEED_MORE);
	ex_imap_parser_release(parser);
	assert_int_equal(ex_imap_parser_feed(parser, " y\r\n", 4, &consumed), EX_IMAP_PARSE_DONE);
	assert_string_equal(ex_imap_parser_command(parser)->tag, "c");
	assert_int_equal(ex_imap_parser_command(parser)->arg_count, 2);
	ex_imap_parser_free(parser);
}

/* Streams the APPEND literals of INPUT in pieces of STEP octets and collects their data into OUT. */
static ex_imap_parse_result stream_input(ex_imap_parser *parser, const char *input, size_t length, size_t step,
					 char *out, size_t *out_length, unsigned *literal_starts)
{
	size_t offset = 0;
	*out_length = 0;
	*literal_starts = 0;

	while (offset < length) {
		size_t piece = step == 0 || length - offset < step ? length - offset : step;
		size_t consumed = 0;
		ex_imap_parse_result result = ex_imap_parser_feed(parser, input + offset, piece, &consumed);
		offset += consumed;
		if (result == EX_IMAP_PARSE_LITERAL_DATA) {
			size_t chunk_length;
			uint64_t chunk_offset;
			uint64_t total;
			const char *chunk = ex_imap_parser_literal_chunk(parser, &chunk_length, &chunk_offset, &total);
			assert_non_null(chunk);
			assert_true(chunk_length > 0);
			assert_true(chunk_offset + chunk_length <= total);
			assert_ptr_equal(chunk + chunk_length, input + offset);
			if (chunk_offset == 0)
				(*literal_starts)++;
			memcpy(out + *out_length, chunk, chunk_length);
			*out_length += chunk_length;
			continue;
		}
		if (result == EX_IMAP_PARSE_DONE || result == EX_IMAP_PARSE_ERROR)
			return result;
	}
	return EX_IMAP_PARSE_NEED_MORE;
}

static void test_streamed_append_literals(void **state)
{
	(void)state;
	static const char input[] = "m APPEND {4}\r\nSent (\\Seen) {5+}\r\nhello \"05-Dec-2026 10:00:00 -0300\" ~{4}\r\nw\0rd\r\n";
	static const char expected[] = "hellow\0rd";
	ex_imap_parser_limits limits;
	ex_imap_parser_limits_default(&limits);
	limits.stream_append_literals = true;

	static const size_t steps[] = { 0, 1, 3 };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		ex_imap_parser *parser = ex_imap_parser_new(&limits);
		char data[64];
		size_t data_length;
		unsigned literal_starts;

		ex_imap_parse_result result = stream_input(parser, input, sizeof(input) - 1, steps[i], data,
							   &data_length, &literal_starts);
		assert_int_equal(result, EX_IMAP_PARSE_DONE);
		assert_int_equal(literal_starts, 2);
		assert_int_equal(data_length, sizeof(expected) - 1);
		assert_memory_equal(data, expected, data_length);

		const ex_imap_command *command = ex_imap_parser_command(parser);
		assert_int_equal(command->arg_count, 5);
		/* the mailbox name is a literal too, but not a message: it is kept */
		assert_false(command->args->streamed);
		assert_string_equal(command->args->str, "Sent");
		const ex_imap_arg *literal = command->args->next->next;
		assert_int_equal(literal->type, EX_IMAP_ARG_LITERAL);
		assert_true(literal->streamed);
		assert_null(literal->str);
		assert_int_equal(literal->length, 5);
		assert_false(ex_imap_arg_is_astring(literal));
		const ex_imap_arg *literal8 = literal->next->next;
		assert_int_equal(literal8->type, EX_IMAP_ARG_LITERAL8);
		assert_true(literal8->streamed);
		assert_int_equal(literal8->length, 4);
		ex_imap_parser_free(parser);
	}
}

/* Streaming keeps the limit: a large APPEND is rejected before its data. */
static void test_streamed_append_limit(void **state)
{
	(void)state;
	ex_imap_parser_limits limits;
	ex_imap_parser_limits_default(&limits);
	limits.stream_append_literals = true;
	limits.max_literal_size = 10;
	ex_imap_parser *parser = ex_imap_parser_new(&limits);

	static const char too_big[] = "m APPEND INBOX {11}\r\n";
	assert_int_equal(parse_string(parser, too_big, sizeof(too_big) - 1), EX_IMAP_PARSE_ERROR);
	assert_string_equal(ex_imap_parser_error(parser)->code, "TOOBIG");

	static const char with_nul[] = "n APPEND INBOX {3+}\r\na\0b\r\n";
	char data[16];
	size_t data_length;
	unsigned literal_starts;
	assert_int_equal(stream_input(parser, with_nul, sizeof(with_nul) - 1, 0, data, &data_length, &literal_starts),
			 EX_IMAP_PARSE_ERROR);
	assert_true(ex_imap_parser_error(parser)->fatal);
	ex_imap_parser_free(parser);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_commands_whole),
		cmocka_unit_test(test_good_commands_byte_by_byte),
		cmocka_unit_test(test_bad_commands),
		cmocka_unit_test(test_recovery_after_error),
		cmocka_unit_test(test_pipelined_commands),
		cmocka_unit_test(test_limit_line_size),
		cmocka_unit_test(test_limit_list_depth),
		cmocka_unit_test(test_limit_arg_count),
		cmocka_unit_test(test_limit_literal_size),
		cmocka_unit_test(test_limit_literal_minus),
		cmocka_unit_test(test_raw_line_auth),
		cmocka_unit_test(test_nil_and_astring_helpers),
		cmocka_unit_test(test_release_between_commands),
		cmocka_unit_test(test_streamed_append_literals),
		cmocka_unit_test(test_streamed_append_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
