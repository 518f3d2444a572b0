/* ManageSieve command parser: atoms, quoted strings, literals, incomplete input and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "managesieve_parse.h"

enum { MAX_LITERAL = 1024 };

static ex_managesieve_parse_status parse(const char *text, bool string_line, ex_managesieve_command *command,
					 size_t *consumed)
{
	return ex_managesieve_parse(text, strlen(text), MAX_LITERAL, string_line, command, consumed);
}

static void command_with_quoted_arguments(void **state)
{
	(void)state;
	ex_managesieve_command command;
	size_t consumed = 0;
	const char *text = "renamescript \"a\\\"b\" \"c\\\\d\"\r\nNOOP\r\n";
	assert_int_equal(parse(text, false, &command, &consumed), EX_MANAGESIEVE_PARSE_OK);
	assert_string_equal(command.name, "RENAMESCRIPT");
	assert_int_equal(command.arg_count, 2);
	assert_string_equal(command.args[0], "a\"b");
	assert_string_equal(command.args[1], "c\\d");
	assert_int_equal(consumed, strlen("renamescript \"a\\\"b\" \"c\\\\d\"\r\n"));
	ex_managesieve_command_clear(&command);
}

static void literal_both_forms(void **state)
{
	(void)state;
	const char *forms[] = { "PUTSCRIPT \"s\" {7+}\r\nkeep;\r\n\r\n", "PUTSCRIPT \"s\" {7}\r\nkeep;\r\n\r\n" };
	for (size_t i = 0; i < 2; i++) {
		ex_managesieve_command command;
		size_t consumed = 0;
		assert_int_equal(parse(forms[i], false, &command, &consumed), EX_MANAGESIEVE_PARSE_OK);
		assert_int_equal(command.arg_count, 2);
		assert_int_equal(command.arg_lengths[1], 7);
		assert_memory_equal(command.args[1], "keep;\r\n", 7);
		assert_int_equal(consumed, strlen(forms[i]));
		ex_managesieve_command_clear(&command);
	}
}

static void every_prefix_incomplete(void **state)
{
	(void)state;
	const char *text = "PUTSCRIPT \"name\" {5+}\r\nkeep;\r\n";
	for (size_t length = 0; length < strlen(text); length++) {
		ex_managesieve_command command;
		size_t consumed = 0;
		assert_int_equal(ex_managesieve_parse(text, length, MAX_LITERAL, false, &command, &consumed),
				 EX_MANAGESIEVE_PARSE_INCOMPLETE);
		ex_managesieve_command_clear(&command);
	}
}

static void literal_limit_and_past(void **state)
{
	(void)state;
	ex_managesieve_command command;
	size_t consumed = 0;
	assert_int_equal(parse("PUTSCRIPT \"s\" {1024+}\r\n", false, &command, &consumed),
			 EX_MANAGESIEVE_PARSE_INCOMPLETE);
	ex_managesieve_command_clear(&command);
	assert_int_equal(parse("PUTSCRIPT \"s\" {1025+}\r\n", false, &command, &consumed),
			 EX_MANAGESIEVE_PARSE_TOO_LONG);
	ex_managesieve_command_clear(&command);
	assert_int_equal(parse("PUTSCRIPT \"s\" {99999999999999999999+}\r\n", false, &command, &consumed),
			 EX_MANAGESIEVE_PARSE_TOO_LONG);
	ex_managesieve_command_clear(&command);
}

static void invalid_inputs(void **state)
{
	(void)state;
	const char *cases[] = {
		"PUTSCRIPT \"unterminated\r\n",
		"PUTSCRIPT \"bad \\n escape\"\r\n",
		"\"no command\"\r\n",
		"NOOP \"a\"x\r\n",
		"PUTSCRIPT {x}\r\n",
		"A 1 2 3 4 5\r\n",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ex_managesieve_command command;
		size_t consumed = 0;
		assert_int_equal(parse(cases[i], false, &command, &consumed), EX_MANAGESIEVE_PARSE_INVALID);
		assert_true(command.error[0] != '\0');
		ex_managesieve_command_clear(&command);
	}
}

static void sasl_string_line(void **state)
{
	(void)state;
	ex_managesieve_command command;
	size_t consumed = 0;
	assert_int_equal(parse("\"AGEAYg==\"\r\n", true, &command, &consumed), EX_MANAGESIEVE_PARSE_OK);
	assert_string_equal(command.name, "");
	assert_string_equal(command.args[0], "AGEAYg==");
	ex_managesieve_command_clear(&command);
	assert_int_equal(parse("*\r\n", true, &command, &consumed), EX_MANAGESIEVE_PARSE_OK);
	assert_string_equal(command.args[0], "*");
	ex_managesieve_command_clear(&command);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(command_with_quoted_arguments),
		cmocka_unit_test(literal_both_forms),
		cmocka_unit_test(every_prefix_incomplete),
		cmocka_unit_test(literal_limit_and_past),
		cmocka_unit_test(invalid_inputs),
		cmocka_unit_test(sasl_string_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
