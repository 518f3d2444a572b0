/* Unit tests of mail_search_text.c: folding, header and body text, the size cap and LIKE patterns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <gmime/gmime.h>
#include <string.h>

#include "mail_search_text.h"

static GMimeMessage *parse(const char *text)
{
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(text, strlen(text));
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *message = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	assert_non_null(message);
	return message;
}

static void fold_strips_accents_and_case(void **state)
{
	static const struct {
		const char *input;
		const char *expected;
	} cases[] = {
		{ "Conceição", "conceicao" },
		{ "AÇÃO", "acao" },
		{ "Xilofone", "xilofone" },
		{ "Straße", "strasse" },
		{ "", "" },
		{ "a\xff" "b", "a\xef\xbf\xbd" "b" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *folded = ex_mail_search_fold(cases[i].input);
		assert_string_equal(folded, cases[i].expected);
		g_free(folded);
	}
}

static const char MULTIPART[] =
	"From: =?UTF-8?Q?Jo=C3=A3o?= <joao@example.org>\r\n"
	"Subject: =?UTF-8?B?UmV1bmnDo28=?=\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=b\r\n"
	"\r\n"
	"--b\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Concei=C3=A7=C3=A3o do XILOFONE\r\n"
	"--b\r\n"
	"Content-Type: application/octet-stream\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"c2VncmVkbw==\r\n"
	"--b--\r\n";

static void body_text_has_text_parts_only(void **state)
{
	(void)state;
	GMimeMessage *message = parse(MULTIPART);
	char *body = ex_mail_search_body_text(message);
	assert_non_null(strstr(body, "conceicao do xilofone"));
	assert_null(strstr(body, "segredo"));
	assert_null(strstr(body, "reuniao"));
	g_free(body);
	g_object_unref(message);
}

static void header_text_has_decoded_values(void **state)
{
	(void)state;
	GMimeMessage *message = parse(MULTIPART);
	char *headers = ex_mail_search_header_text(message);
	assert_non_null(strstr(headers, "joao <joao@example.org>\n"));
	assert_non_null(strstr(headers, "reuniao\n"));
	assert_non_null(strstr(headers, "1.0\n"));
	assert_null(strstr(headers, "conceicao"));
	assert_null(strstr(headers, "subject"));
	g_free(headers);
	g_object_unref(message);
}

static void text_fits_at_limit(void **state)
{
	(void)state;
	assert_true(ex_mail_search_text_fits(100, 156, 256));
	assert_true(ex_mail_search_text_fits(0, 256, 256));
	assert_true(ex_mail_search_text_fits(256, 0, 256));
	assert_false(ex_mail_search_text_fits(100, 157, 256));
	assert_false(ex_mail_search_text_fits(257, 0, 256));
	assert_false(ex_mail_search_text_fits(0, 257, 256));
	assert_false(ex_mail_search_text_fits(SIZE_MAX, SIZE_MAX, 256));
	assert_false(ex_mail_search_text_fits(0, 0, 0));
}

static void needle_indexable_cases(void **state)
{
	(void)state;
	assert_true(ex_mail_search_needle_indexable("xilo"));
	assert_true(ex_mail_search_needle_indexable("a"));
	assert_false(ex_mail_search_needle_indexable(""));
	assert_false(ex_mail_search_needle_indexable("a\nb"));
}

static void like_pattern_escapes(void **state)
{
	static const struct {
		const char *needle;
		const char *expected;
	} cases[] = {
		{ "xilo", "%xilo%" },
		{ "100%", "%100\\%%" },
		{ "a_b", "%a\\_b%" },
		{ "c:\\x", "%c:\\\\x%" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *pattern = ex_mail_search_like_pattern(cases[i].needle);
		assert_string_equal(pattern, cases[i].expected);
		g_free(pattern);
	}
}

int main(void)
{
	g_mime_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fold_strips_accents_and_case),
		cmocka_unit_test(body_text_has_text_parts_only),
		cmocka_unit_test(header_text_has_decoded_values),
		cmocka_unit_test(text_fits_at_limit),
		cmocka_unit_test(needle_indexable_cases),
		cmocka_unit_test(like_pattern_escapes),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	g_mime_shutdown();
	return failed;
}
