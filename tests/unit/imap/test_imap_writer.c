/*
 * Tests of the response writer: the atom, quoted and literal choice for
 * each kind of string, escaping, NIL, mailbox names in both wire forms,
 * status lines and the output limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "expresso/imap_flags.h"
#include "expresso/imap_parser.h"
#include "expresso/imap_writer.h"

typedef struct {
	const char *input;
	size_t length;
	bool utf8;
	bool allow_atom;
	ex_imap_string_form form;
} form_case;

static const form_case form_cases[] = {
	{ "INBOX", 5, false, true, EX_IMAP_FORM_ATOM },
	{ "INBOX", 5, false, false, EX_IMAP_FORM_QUOTED },
	{ "NIL", 3, false, true, EX_IMAP_FORM_QUOTED },
	{ "nil", 3, false, true, EX_IMAP_FORM_QUOTED },
	{ "", 0, false, true, EX_IMAP_FORM_QUOTED },
	{ "Caixa de entrada", 16, false, true, EX_IMAP_FORM_QUOTED },
	{ "a(b", 3, false, true, EX_IMAP_FORM_QUOTED },
	{ "50%", 3, false, true, EX_IMAP_FORM_QUOTED },
	{ "a]b", 3, false, true, EX_IMAP_FORM_ATOM },
	{ "a[b", 3, false, true, EX_IMAP_FORM_QUOTED },
	{ "[Gmail]", 7, false, true, EX_IMAP_FORM_QUOTED },
	{ "say \"hi\"", 8, false, true, EX_IMAP_FORM_QUOTED },
	{ "line\r\nbreak", 11, false, true, EX_IMAP_FORM_LITERAL },
	{ "a\nb", 3, true, true, EX_IMAP_FORM_LITERAL },
	{ "a\0b", 3, false, false, EX_IMAP_FORM_LITERAL8 },
	{ "tab\there", 8, false, false, EX_IMAP_FORM_LITERAL },
	{ "Jo\xc3\xa3o", 5, false, true, EX_IMAP_FORM_LITERAL },
	{ "Jo\xc3\xa3o", 5, true, true, EX_IMAP_FORM_QUOTED },
	{ "Jo\xe3o", 4, true, true, EX_IMAP_FORM_LITERAL },
};

static void test_string_forms(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(form_cases) / sizeof(form_cases[0]); i++) {
		const form_case *c = &form_cases[i];
		ex_imap_string_form form = ex_imap_string_form_for(c->input, c->length, c->utf8, c->allow_atom);
		if (form != c->form)
			fail_msg("case %zu (%s): form %d, expected %d", i, c->input, form, c->form);
	}
}

static void test_quoted_length_limit(void **state)
{
	(void)state;
	char text[EX_IMAP_MAX_QUOTED_LENGTH + 1];
	memset(text, 'q', sizeof(text));
	text[0] = ' ';
	assert_int_equal(ex_imap_string_form_for(text, EX_IMAP_MAX_QUOTED_LENGTH, false, true), EX_IMAP_FORM_QUOTED);
	assert_int_equal(ex_imap_string_form_for(text, EX_IMAP_MAX_QUOTED_LENGTH + 1, false, true),
			 EX_IMAP_FORM_LITERAL);
}

static void test_write_strings(void **state)
{
	(void)state;
	ex_imap_writer writer;
	ex_imap_writer_init(&writer, 0, false);

	ex_imap_write_text(&writer, "* LIST () \"/\" ");
	ex_imap_write_mailbox(&writer, "Reuni\xc3\xa3o & Notas");
	ex_imap_write_raw(&writer, " ", 1);
	ex_imap_write_astring(&writer, "INBOX", 5);
	ex_imap_write_raw(&writer, " ", 1);
	ex_imap_write_string(&writer, "a\"b\\c", 5);
	ex_imap_write_raw(&writer, " ", 1);
	ex_imap_write_nstring(&writer, NULL, 0);
	ex_imap_write_raw(&writer, " ", 1);
	ex_imap_write_nstring(&writer, "x\r\ny", 4);
	ex_imap_write_raw(&writer, " ", 1);
	ex_imap_write_literal8(&writer, "a\0b", 3);
	ex_imap_write_raw(&writer, " ", 1);
	ex_imap_write_number(&writer, UINT64_MAX);

	static const char expected[] = "* LIST () \"/\" \"Reuni&AOM-o &- Notas\" INBOX \"a\\\"b\\\\c\" NIL "
				       "{4}\r\nx\r\ny ~{3}\r\na\0b 18446744073709551615";
	assert_int_equal(writer.length, sizeof(expected) - 1);
	assert_memory_equal(writer.data, expected, sizeof(expected) - 1);
	assert_false(writer.overflow);
	ex_imap_writer_free(&writer);

	ex_imap_writer_init(&writer, 0, true);
	ex_imap_write_mailbox(&writer, "Reuni\xc3\xa3o");
	assert_string_equal(writer.data, "\"Reuni\xc3\xa3o\"");
	ex_imap_writer_reset(&writer);
	ex_imap_write_mailbox(&writer, "Enviados");
	assert_string_equal(writer.data, "Enviados");
	ex_imap_writer_free(&writer);
}

static void test_write_status(void **state)
{
	(void)state;
	ex_imap_writer writer;
	ex_imap_writer_init(&writer, 0, false);

	ex_imap_write_status(&writer, "a1", "NO", "TOOBIG", "Message too large");
	assert_string_equal(writer.data, "a1 NO [TOOBIG] Message too large\r\n");
	ex_imap_writer_reset(&writer);
	ex_imap_write_status(&writer, NULL, "BAD", NULL, "bad\r\ninjected");
	assert_string_equal(writer.data, "* BAD bad  injected\r\n");
	ex_imap_writer_free(&writer);
}

static void test_writer_limit(void **state)
{
	(void)state;
	ex_imap_writer writer;
	ex_imap_writer_init(&writer, 8, false);

	ex_imap_write_raw(&writer, "12345678", 8);
	assert_false(writer.overflow);
	ex_imap_write_raw(&writer, "9", 1);
	assert_true(writer.overflow);
	assert_int_equal(writer.length, 8);
	ex_imap_writer_reset(&writer);
	assert_false(writer.overflow);
	ex_imap_write_raw(&writer, "ok", 2);
	assert_string_equal(writer.data, "ok");
	ex_imap_writer_free(&writer);
}

static void test_write_flags(void **state)
{
	(void)state;
	ex_imap_writer writer;
	ex_imap_writer_init(&writer, 0, false);
	const char *keywords[] = { "$Forwarded", "NonJunk" };

	ex_imap_write_flags(&writer, EX_IMAP_FLAG_DRAFT | EX_IMAP_FLAG_SEEN, keywords, 2, false);
	assert_string_equal(writer.data, "(\\Seen \\Draft $Forwarded NonJunk)");
	ex_imap_writer_reset(&writer);
	ex_imap_write_flags(&writer, 0, NULL, 0, false);
	assert_string_equal(writer.data, "()");
	ex_imap_writer_reset(&writer);
	ex_imap_write_flags(&writer, 0, NULL, 0, true);
	assert_string_equal(writer.data, "(\\*)");
	ex_imap_writer_reset(&writer);
	ex_imap_write_flags(&writer, EX_IMAP_FLAG_ANSWERED, NULL, 0, true);
	assert_string_equal(writer.data, "(\\Answered \\*)");
	ex_imap_writer_free(&writer);
}

/* Whatever the writer chooses, the command parser reads back the same octets. */
static void test_write_parse_round_trip(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		bool utf8;
	} cases[] = {
		{ "INBOX", false }, { "NIL", false }, { "", false }, { "a \"quoted\" \\ text", false },
		{ "line\r\nbreak", false }, { "Reuni\xc3\xa3o", false }, { "Reuni\xc3\xa3o", true },
		{ "bad \xff utf8", true }, { "(parens) {braces} [brackets] %*", false }, { "tab\t", false }, { "05-Dec-[20", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ex_imap_writer writer;
		ex_imap_writer_init(&writer, 0, cases[i].utf8);
		ex_imap_write_text(&writer, "t X ");
		ex_imap_write_astring(&writer, cases[i].text, strlen(cases[i].text));
		ex_imap_write_raw(&writer, "\r\n", 2);

		ex_imap_parser *parser = ex_imap_parser_new(NULL);
		size_t offset = 0;
		ex_imap_parse_result result;
		do {
			size_t consumed;
			result = ex_imap_parser_feed(parser, writer.data + offset, writer.length - offset, &consumed);
			offset += consumed;
		} while (result == EX_IMAP_PARSE_LITERAL);
		if (result != EX_IMAP_PARSE_DONE)
			fail_msg("case %zu: %s did not parse back: %s", i, writer.data, ex_imap_parser_error(parser)->text);
		const ex_imap_arg *arg = ex_imap_parser_command(parser)->args;
		assert_true(ex_imap_arg_is_astring(arg));
		assert_int_equal(arg->length, strlen(cases[i].text));
		assert_memory_equal(arg->str, cases[i].text, arg->length);
		ex_imap_parser_free(parser);
		ex_imap_writer_free(&writer);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_string_forms),
		cmocka_unit_test(test_quoted_length_limit),
		cmocka_unit_test(test_write_strings),
		cmocka_unit_test(test_write_status),
		cmocka_unit_test(test_writer_limit),
		cmocka_unit_test(test_write_flags),
		cmocka_unit_test(test_write_parse_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
