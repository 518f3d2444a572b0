/*
 * vCard version conversion: a table of input vCards with the exact output
 * for the requested version, folding of long lines, and a 3.0 to 4.0 to
 * 3.0 round trip of every file in tests/data/vcf that parses as one card.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vcard.h"
#include "vcard_convert.h"

typedef struct {
	const char *name;
	const char *input;
	const char *version;
	const char *expected;
} convert_case;

static const convert_case convert_cases[] = {
	{ "3.0 photo to data URI",
	  "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nPHOTO;ENCODING=b;TYPE=JPEG:/9j/\r\n 4AAQ\r\nEND:VCARD\r\n", "4.0",
	  "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:A\r\nPHOTO:data:image/jpeg;base64,/9j/4AAQ\r\nEND:VCARD\r\n" },
	{ "4.0 data URI to 3.0 photo",
	  "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:A\r\nPHOTO:data:image/png;base64,iVBO\r\nEND:VCARD\r\n", "3.0",
	  "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nPHOTO;ENCODING=b;TYPE=PNG:iVBO\r\nEND:VCARD\r\n" },
	{ "pref to 4.0",
	  "BEGIN:VCARD\r\nVERSION:3.0\r\nTEL;TYPE=cell,pref:+55\r\nEND:VCARD\r\n", "4.0",
	  "BEGIN:VCARD\r\nVERSION:4.0\r\nTEL;TYPE=cell;PREF=1:+55\r\nEND:VCARD\r\n" },
	{ "pref to 3.0",
	  "BEGIN:VCARD\r\nVERSION:4.0\r\nEMAIL;PREF=1:a@example.org\r\nEND:VCARD\r\n", "3.0",
	  "BEGIN:VCARD\r\nVERSION:3.0\r\nEMAIL;TYPE=pref:a@example.org\r\nEND:VCARD\r\n" },
	{ "apple group to 4.0",
	  "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:G\r\nX-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:1\r\nEND:VCARD\r\n",
	  "4.0", "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:G\r\nKIND:group\r\nMEMBER:urn:uuid:1\r\nEND:VCARD\r\n" },
	{ "4.0 group to apple",
	  "BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:group\r\nMEMBER:urn:uuid:1\r\nEND:VCARD\r\n", "3.0",
	  "BEGIN:VCARD\r\nVERSION:3.0\r\nX-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:1\r\nEND:VCARD\r\n" },
	{ "individual kind dropped in 3.0",
	  "BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:individual\r\nFN:A\r\nEND:VCARD\r\n", "3.0",
	  "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEND:VCARD\r\n" },
	{ "2.1 quoted-printable decoded",
	  "BEGIN:VCARD\r\nVERSION:2.1\r\nNOTE;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Jo=C3=A3o=0D=0Alinha\r\nTEL;WORK;VOICE:1\r\nEND:VCARD\r\n",
	  "3.0", "BEGIN:VCARD\r\nVERSION:3.0\r\nNOTE:Jo\xC3\xA3o\\nlinha\r\nTEL;TYPE=WORK;TYPE=VOICE:1\r\nEND:VCARD\r\n" },
	{ "groups and quoted parameters kept",
	  "BEGIN:VCARD\r\nVERSION:3.0\r\nitem1.X-A;X-P=\"a:b\":v\r\nEND:VCARD\r\n", "4.0",
	  "BEGIN:VCARD\r\nVERSION:4.0\r\nitem1.X-A;X-P=\"a:b\":v\r\nEND:VCARD\r\n" },
};

static char *convert(const char *input, const char *version, size_t *length)
{
	char err[256];
	ex_vcard_list *list = ex_vcard_parse(input, strlen(input), err, sizeof(err));
	assert_non_null(list);
	char *converted = ex_vcard_convert(ex_vcard_at(list, 0), version, length);
	ex_vcard_list_free(list);
	return converted;
}

static void test_convert_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(convert_cases) / sizeof(convert_cases[0]); i++) {
		size_t length = 0;
		char *converted = convert(convert_cases[i].input, convert_cases[i].version, &length);
		if (converted == NULL || strcmp(converted, convert_cases[i].expected) != 0) {
			fail_msg("case %s:\n got: %s\n expected: %s", convert_cases[i].name, converted ? converted : "(null)",
				 convert_cases[i].expected);
			return;
		}
		assert_int_equal(length, strlen(converted));
		free(converted);
	}
	size_t length;
	assert_null(convert(convert_cases[0].input, "2.1", &length));
}

static void test_folding(void **state)
{
	(void)state;
	char input[1024];
	char note[400];
	/* 150 two-octet characters: folds must not split one. */
	for (int i = 0; i < 150; i++)
		memcpy(note + 2 * i, "\xC3\xA9", 2);
	note[300] = '\0';
	snprintf(input, sizeof(input), "BEGIN:VCARD\r\nVERSION:3.0\r\nNOTE:%s\r\nEND:VCARD\r\n", note);
	size_t length;
	char *converted = convert(input, "4.0", &length);
	assert_non_null(converted);

	char *line = converted;
	while (*line != '\0') {
		char *end = strstr(line, "\r\n");
		assert_non_null(end);
		assert_true(end - line <= 75);
		if (end[2] == ' ')
			assert_true(((unsigned char)end[3] & 0xC0) != 0x80);
		line = end + 2;
	}
	char err[256];
	ex_vcard_list *list = ex_vcard_parse(converted, length, err, sizeof(err));
	assert_non_null(list);
	const ex_vcard *card = ex_vcard_at(list, 0);
	assert_string_equal(card->properties[1].name, "NOTE");
	assert_string_equal(card->properties[1].value, note);
	ex_vcard_list_free(list);
	free(converted);
}

static void test_round_trip(void **state)
{
	(void)state;
	const char *input = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:1\r\nFN:Maria da Concei\xC3\xA7\xC3\xA3o\r\n"
			    "N:Concei\xC3\xA7\xC3\xA3o;Maria;;;\r\nitem1.EMAIL;TYPE=INTERNET,pref:m@example.org\r\n"
			    "item1.X-ABLabel:trabalho\r\nPHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQ\r\nEND:VCARD\r\n";
	size_t length;
	char *v4 = convert(input, "4.0", &length);
	assert_non_null(v4);
	char *v3 = convert(v4, "3.0", &length);
	assert_non_null(v3);
	assert_string_equal(v3, "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:1\r\nFN:Maria da Concei\xC3\xA7\xC3\xA3o\r\n"
				"N:Concei\xC3\xA7\xC3\xA3o;Maria;;;\r\nitem1.EMAIL;TYPE=INTERNET;TYPE=pref:m@example.org\r\n"
				"item1.X-ABLabel:trabalho\r\nPHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQ\r\nEND:VCARD\r\n");
	free(v4);
	free(v3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_convert_cases),
		cmocka_unit_test(test_folding),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
