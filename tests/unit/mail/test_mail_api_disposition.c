/*
 * Tests of the attachment download headers: Content-Disposition with
 * filename and filename* (RFC 6266, RFC 8187) and the Content-Type check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "mail_api_disposition.h"

static void disposition_cases(void **state)
{
	static const struct {
		const char *name;
		const char *expected;
	} cases[] = {
		{ NULL, "attachment" },
		{ "", "attachment" },
		{ "report.pdf", "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf" },
		{ "relat\xc3\xb3rio final.pdf",
		  "attachment; filename=\"relat__rio final.pdf\"; filename*=UTF-8''relat%C3%B3rio%20final.pdf" },
		{ "a\"b\\c.txt", "attachment; filename=\"a_b_c.txt\"; filename*=UTF-8''a%22b%5Cc.txt" },
		{ "../../etc/passwd", "attachment; filename=\".._.._etc_passwd\"; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd" },
		{ "x\r\nSet-Cookie: a=b", "attachment; filename=\"x__Set-Cookie: a=b\"; "
					   "filename*=UTF-8''x%0D%0ASet-Cookie%3A%20a%3Db" },
		{ "bad\xff.txt", "attachment; filename=\"bad_.txt\"" },
		{ "a;b'c%.txt", "attachment; filename=\"a;b'c%.txt\"; filename*=UTF-8''a%3Bb%27c%25.txt" },
	};
	char out[EX_MAIL_DISPOSITION_MAX];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case %zu\n", i);
		assert_true(ex_mail_content_disposition(out, sizeof(out), cases[i].name) > 0);
		assert_string_equal(out, cases[i].expected);
	}
}

static void disposition_long_name(void **state)
{
	char name[600];
	char out[EX_MAIL_DISPOSITION_MAX];
	(void)state;
	/* 300 two-byte characters: the name is cut to 127 whole characters (254 bytes). */
	for (size_t i = 0; i < 300; i++)
		memcpy(name + i * 2, "\xc3\xa9", 2);
	name[598] = '\0';
	int length = ex_mail_content_disposition(out, sizeof(out), name);
	assert_true(length > 0);
	assert_true((size_t)length < sizeof(out));
	const char *encoded = strstr(out, "UTF-8''");
	assert_non_null(encoded);
	assert_int_equal(strlen(encoded + 7), 127 * 6);
	assert_int_equal(ex_mail_content_disposition(out, 20, "report.pdf"), -1);
}

static void content_type_cases(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "application/pdf", "application/pdf" },
		{ "Text/HTML", "text/html" },
		{ "image/svg+xml", "image/svg+xml" },
		{ "text/plain; charset=utf-8", "text/plain" },
		{ "text", "application/octet-stream" },
		{ "text/", "application/octet-stream" },
		{ "/plain", "application/octet-stream" },
		{ "a/b/c", "application/octet-stream" },
		{ "text/pl\"ain", "application/octet-stream" },
		{ "text/plain\r\nX: y", "application/octet-stream" },
		{ NULL, "application/octet-stream" },
	};
	char out[256];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case %zu\n", i);
		ex_mail_safe_content_type(out, sizeof(out), cases[i].in);
		assert_string_equal(out, cases[i].out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(disposition_cases),
		cmocka_unit_test(disposition_long_name),
		cmocka_unit_test(content_type_cases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
