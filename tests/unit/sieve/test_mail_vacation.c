/* Delivery-side Sieve helpers: header parsing for scripts, vacation suppression and the reply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

#include "mail_sieve_headers.h"
#include "mail_vacation.h"

static void parse(const char *text, ex_mail_sieve_headers *headers)
{
	assert_int_equal(ex_mail_sieve_headers_parse(text, strlen(text), headers), 0);
}

static void headers_unfolded_and_decoded(void **state)
{
	(void)state;
	ex_mail_sieve_headers headers;
	parse("Subject: =?utf-8?q?Relat=C3=B3rio?=\r\n mensal\r\nX-A: 1\r\nx-a: 2\r\nbad line\r\n\r\nX-A: body\r\n",
	      &headers);
	assert_string_equal(ex_mail_sieve_headers_first(&headers, "subject"), "Relatório mensal");
	assert_int_equal(ex_mail_sieve_headers_count(&headers, "X-A"), 2);
	const char **all = ex_mail_sieve_headers_all(&headers, "x-a");
	assert_non_null(all);
	assert_string_equal(all[0], "1");
	assert_string_equal(all[1], "2");
	assert_null(all[2]);
	free(all);
	assert_null(ex_mail_sieve_headers_all(&headers, "Missing"));
	ex_mail_sieve_headers_clear(&headers);
}

static void vacation_suppression_cases(void **state)
{
	(void)state;
	static const struct {
		const char *sender;
		const char *header;
		bool suppressed;
	} cases[] = {
		{ "bob@example.org", "Subject: hi\r\n", false },
		{ "", "Subject: hi\r\n", true },
		{ "alice@demo.expresso.test", "Subject: hi\r\n", true },
		{ "MAILER-DAEMON@example.org", "Subject: hi\r\n", true },
		{ "owner-list@example.org", "Subject: hi\r\n", true },
		{ "list-request@example.org", "Subject: hi\r\n", true },
		{ "bob@example.org", "List-Id: <team.example.org>\r\n", true },
		{ "bob@example.org", "Precedence: bulk\r\n", true },
		{ "bob@example.org", "Precedence: junk\r\n", true },
		{ "bob@example.org", "Auto-Submitted: auto-replied\r\n", true },
		{ "bob@example.org", "Auto-Submitted: no\r\n", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ex_mail_sieve_headers headers;
		parse(cases[i].header, &headers);
		const char *reason = ex_mail_vacation_suppressed(cases[i].sender, "alice@demo.expresso.test", &headers);
		if (cases[i].suppressed)
			assert_non_null(reason);
		else
			assert_null(reason);
		ex_mail_sieve_headers_clear(&headers);
	}
}

static void vacation_reply_fields(void **state)
{
	(void)state;
	ex_mail_sieve_headers headers;
	parse("Subject: Pergunta\r\nMessage-ID: <m1@x>\r\nReferences: <m0@x>\r\n\r\n", &headers);
	const ex_mail_vacation_reply reply = {
		.hostname = "mx.test.invalid",
		.from = "alice@demo.expresso.test",
		.to = "bob@example.org\r\nBcc: evil@example.org",
		.subject = NULL,
		.text = "Volto segunda.\nAté!",
		.original = &headers,
	};
	size_t length = 0;
	char *message = ex_mail_vacation_build(&reply, &length);
	assert_non_null(message);
	assert_int_equal(strlen(message), length);
	assert_non_null(strstr(message, "To: bob@example.org\r\n"));
	assert_null(strstr(message, "Bcc:"));
	assert_non_null(strstr(message, "Subject: Auto: Pergunta\r\n"));
	assert_non_null(strstr(message, "Auto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(message, "In-Reply-To: <m1@x>\r\n"));
	assert_non_null(strstr(message, "References: <m0@x> <m1@x>\r\n"));
	assert_non_null(strstr(message, "\r\n\r\nVolto segunda.\r\nAté!\r\n"));
	free(message);
	ex_mail_sieve_headers_clear(&headers);
}

int main(void)
{
	g_mime_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(headers_unfolded_and_decoded),
		cmocka_unit_test(vacation_suppression_cases),
		cmocka_unit_test(vacation_reply_fields),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	g_mime_shutdown();
	return failed;
}
