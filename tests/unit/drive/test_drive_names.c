/*
 * File name rules, media types and Content-Disposition, table-driven.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "drive_parse.h"

typedef struct {
	const char *name;
	size_t length; /* 0: strlen(name) */
	ex_drive_name_status status;
} name_case;

static const name_case name_cases[] = {
	{ "report.pdf", 0, EX_DRIVE_NAME_OK },
	{ "Concei\xc3\xa7\xc3\xa3o.txt", 0, EX_DRIVE_NAME_OK },
	{ "..hidden", 0, EX_DRIVE_NAME_OK },
	{ "a..b", 0, EX_DRIVE_NAME_OK },
	{ "\xf0\x9f\x93\x84", 0, EX_DRIVE_NAME_OK },
	{ "", 0, EX_DRIVE_NAME_EMPTY },
	{ ".", 0, EX_DRIVE_NAME_DOT },
	{ "..", 0, EX_DRIVE_NAME_DOT },
	{ "../etc/passwd", 0, EX_DRIVE_NAME_FORBIDDEN_CHARACTER },
	{ "a/b", 0, EX_DRIVE_NAME_FORBIDDEN_CHARACTER },
	{ "a\\b", 0, EX_DRIVE_NAME_FORBIDDEN_CHARACTER },
	{ "a\nb", 0, EX_DRIVE_NAME_FORBIDDEN_CHARACTER },
	{ "a\x7f", 0, EX_DRIVE_NAME_FORBIDDEN_CHARACTER },
	{ "a\0b", 3, EX_DRIVE_NAME_FORBIDDEN_CHARACTER },
	{ "a\xc2\x85", 0, EX_DRIVE_NAME_FORBIDDEN_CHARACTER }, /* U+0085 NEXT LINE */
	{ "\xff", 0, EX_DRIVE_NAME_INVALID_UTF8 },
	{ "\xc3", 0, EX_DRIVE_NAME_INVALID_UTF8 },
	{ "\xc0\xaf", 0, EX_DRIVE_NAME_INVALID_UTF8 },     /* overlong '/' */
	{ "\xed\xa0\x80", 0, EX_DRIVE_NAME_INVALID_UTF8 }, /* surrogate */
	{ "\xf4\x90\x80\x80", 0, EX_DRIVE_NAME_INVALID_UTF8 },
};

static void name_table(void **state)
{
	(void)state;

	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		const name_case *c = &name_cases[i];
		size_t length = c->length ? c->length : strlen(c->name);
		ex_drive_name_status status = ex_drive_name_check(c->name, length);
		if (status != c->status)
			fail_msg("case %zu: status %d, expected %d", i, (int)status, (int)c->status);
	}
}

static void name_length_limit(void **state)
{
	(void)state;
	char name[EX_DRIVE_NAME_MAX + 2];

	memset(name, 'n', sizeof(name));
	assert_int_equal(ex_drive_name_check(name, EX_DRIVE_NAME_MAX), EX_DRIVE_NAME_OK);
	assert_int_equal(ex_drive_name_check(name, EX_DRIVE_NAME_MAX + 1), EX_DRIVE_NAME_TOO_LONG);
}

typedef struct {
	const char *text;
	bool valid;
} media_type_case;

static const media_type_case media_type_cases[] = {
	{ "text/plain", true },
	{ "application/vnd.openxmlformats-officedocument.wordprocessingml.document", true },
	{ "text/plain; charset=utf-8", true },
	{ "text/plain;charset=\"utf-8\"", true },
	{ "image/svg+xml", true },
	{ "", false },
	{ "text", false },
	{ "text/", false },
	{ "/plain", false },
	{ "text/plain;", false },
	{ "text/plain; charset", false },
	{ "text/pl ain", false },
	{ "text/plain\r\nX-Injected: 1", false },
	{ "text/plain; a=\"unterminated", false },
};

static void media_type_table(void **state)
{
	(void)state;

	for (size_t i = 0; i < sizeof(media_type_cases) / sizeof(media_type_cases[0]); i++) {
		const media_type_case *c = &media_type_cases[i];
		if (ex_drive_media_type_is_valid(c->text, strlen(c->text)) != c->valid)
			fail_msg("case %zu \"%s\": expected %s", i, c->text, c->valid ? "valid" : "invalid");
	}
}

static void media_type_length_limit(void **state)
{
	(void)state;
	char text[EX_DRIVE_MEDIA_TYPE_MAX + 2];

	memset(text, 'x', sizeof(text));
	text[4] = '/';
	assert_true(ex_drive_media_type_is_valid(text, EX_DRIVE_MEDIA_TYPE_MAX));
	assert_false(ex_drive_media_type_is_valid(text, EX_DRIVE_MEDIA_TYPE_MAX + 1));
}

static void content_disposition_encodes_name(void **state)
{
	(void)state;
	char out[256];

	assert_true(ex_drive_content_disposition(out, sizeof(out), "attachment", "Relat\xc3\xb3rio \"final\".pdf") > 0);
	assert_string_equal(out, "attachment; filename=\"Relat__rio _final_.pdf\"; "
				 "filename*=UTF-8''Relat%C3%B3rio%20%22final%22.pdf");
	assert_true(ex_drive_content_disposition(out, sizeof(out), "attachment", "100%.txt") > 0);
	assert_string_equal(out, "attachment; filename=\"100_.txt\"; filename*=UTF-8''100%25.txt");
}

static void content_disposition_too_small(void **state)
{
	(void)state;
	char out[40];

	assert_int_equal(ex_drive_content_disposition(out, sizeof(out), "attachment", "a-rather-long-name.txt"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(name_table),
		cmocka_unit_test(name_length_limit),
		cmocka_unit_test(media_type_table),
		cmocka_unit_test(media_type_length_limit),
		cmocka_unit_test(content_disposition_encodes_name),
		cmocka_unit_test(content_disposition_too_small),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
