/*
 * Table-driven tests of the MAIL and RCPT argument parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "smtp_address.h"

typedef struct {
	const char *arguments;
	ex_smtp_path_status status;
	const char *mailbox; /* expected on OK */
	const char *domain;
} path_case;

static const path_case mail_cases[] = {
	{ "FROM:<alice@demo.expresso.test>", EX_SMTP_PATH_OK, "alice@demo.expresso.test", "demo.expresso.test" },
	{ "from:<a@b.c>", EX_SMTP_PATH_OK, "a@b.c", "b.c" },
	{ "FROM: <a@b.c>", EX_SMTP_PATH_OK, "a@b.c", "b.c" },
	{ "FROM:<>", EX_SMTP_PATH_OK, "", "" },
	{ "FROM:<@relay.example,@other.example:a@b.c>", EX_SMTP_PATH_OK, "a@b.c", "b.c" },
	{ "FROM:<\"john doe\"@b.c>", EX_SMTP_PATH_OK, "\"john doe\"@b.c", "b.c" },
	{ "FROM:<a@[192.0.2.1]>", EX_SMTP_PATH_OK, "a@[192.0.2.1]", "[192.0.2.1]" },
	{ "FROM:<a@b.c> SIZE=1000 BODY=8BITMIME", EX_SMTP_PATH_OK, "a@b.c", "b.c" },
	{ "FROM:<a@b.c> AUTH=<>", EX_SMTP_PATH_OK, "a@b.c", "b.c" },
	{ "FROM:<jo\xc3\xa3o@b.c> SMTPUTF8", EX_SMTP_PATH_OK, "jo\xc3\xa3o@b.c", "b.c" },
	{ "FROM:<jo\xc3\xa3o@b.c>", EX_SMTP_PATH_NON_ASCII, NULL, NULL },
	{ "FROM:<jo\xc3o@b.c> SMTPUTF8", EX_SMTP_PATH_SYNTAX, NULL, NULL },
	{ "FROM:a@b.c", EX_SMTP_PATH_SYNTAX, NULL, NULL },
	{ "FROM:<a@b.c", EX_SMTP_PATH_SYNTAX, NULL, NULL },
	{ "TO:<a@b.c>", EX_SMTP_PATH_SYNTAX, NULL, NULL },
	{ "FROM:<a..b@c.d>", EX_SMTP_PATH_SYNTAX, NULL, NULL },
	{ "FROM:<.a@c.d>", EX_SMTP_PATH_SYNTAX, NULL, NULL },
	{ "FROM:<a@-c.d>", EX_SMTP_PATH_SYNTAX, NULL, NULL },
	{ "FROM:<a@c-.d>", EX_SMTP_PATH_SYNTAX, NULL, NULL },
	{ "FROM:<a@c..d>", EX_SMTP_PATH_SYNTAX, NULL, NULL },
	{ "FROM:<a b@c.d>", EX_SMTP_PATH_SYNTAX, NULL, NULL },
	{ "FROM:<a@b.c> SIZE=", EX_SMTP_PATH_BAD_PARAMETER, NULL, NULL },
	{ "FROM:<a@b.c> SIZE=12x", EX_SMTP_PATH_BAD_PARAMETER, NULL, NULL },
	{ "FROM:<a@b.c> SIZE=99999999999999999999999", EX_SMTP_PATH_BAD_PARAMETER, NULL, NULL },
	{ "FROM:<a@b.c> BODY=BINARYMIME", EX_SMTP_PATH_OK, "a@b.c", "b.c" },
	{ "FROM:<a@b.c> BODY=QUOTED", EX_SMTP_PATH_BAD_PARAMETER, NULL, NULL },
	{ "FROM:<a@b.c> RET=HDRS", EX_SMTP_PATH_OK, "a@b.c", "b.c" },
	{ "FROM:<a@b.c> RET=full ENVID=abc+2B1", EX_SMTP_PATH_OK, "a@b.c", "b.c" },
	{ "FROM:<a@b.c> RET=BODY", EX_SMTP_PATH_BAD_PARAMETER, NULL, NULL },
	{ "FROM:<a@b.c> ENVID=", EX_SMTP_PATH_BAD_PARAMETER, NULL, NULL },
	{ "FROM:<a@b.c> ENVID=a+2", EX_SMTP_PATH_BAD_PARAMETER, NULL, NULL },
	{ "FROM:<a@b.c> ENVID=a+2b", EX_SMTP_PATH_BAD_PARAMETER, NULL, NULL },
	{ "FROM:<a@b.c> XFOO=1", EX_SMTP_PATH_UNKNOWN_PARAMETER, NULL, NULL },
	{ "FROM:<a@b.c>x", EX_SMTP_PATH_SYNTAX, NULL, NULL },
};

static void mail_from_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++) {
		const path_case *test = &mail_cases[i];
		ex_smtp_path path;
		ex_smtp_mail_parameters parameters;
		print_message("MAIL %s\n", test->arguments);
		assert_int_equal(ex_smtp_parse_mail_from(test->arguments, &path, &parameters), test->status);
		if (test->status == EX_SMTP_PATH_OK) {
			assert_string_equal(path.mailbox, test->mailbox);
			assert_string_equal(ex_smtp_path_domain(&path), test->domain);
		}
	}
}

static void mail_from_parameters(void **state)
{
	(void)state;
	ex_smtp_path path;
	ex_smtp_mail_parameters parameters;

	assert_int_equal(ex_smtp_parse_mail_from("FROM:<a@b.c> size=2048 body=8bitmime smtputf8", &path, &parameters),
			 EX_SMTP_PATH_OK);
	assert_true(parameters.has_size);
	assert_int_equal(parameters.size, 2048);
	assert_int_equal(parameters.body, EX_SMTP_BODY_8BITMIME);
	assert_true(parameters.smtputf8);
}

static void rcpt_to_cases(void **state)
{
	(void)state;
	ex_smtp_path path;

	assert_int_equal(ex_smtp_parse_rcpt_to("TO:<bob@demo.expresso.test>", false, &path), EX_SMTP_PATH_OK);
	assert_string_equal(path.mailbox, "bob@demo.expresso.test");
	assert_int_equal(ex_smtp_parse_rcpt_to("TO:<>", false, &path), EX_SMTP_PATH_SYNTAX);
	assert_int_equal(ex_smtp_parse_rcpt_to("TO:<b@c.d> NOTIFY=NEVER", false, &path),
			 EX_SMTP_PATH_UNKNOWN_PARAMETER);
	assert_int_equal(ex_smtp_parse_rcpt_to("TO:<jo\xc3\xa3o@c.d>", false, &path), EX_SMTP_PATH_NON_ASCII);
	assert_int_equal(ex_smtp_parse_rcpt_to("TO:<jo\xc3\xa3o@c.d>", true, &path), EX_SMTP_PATH_OK);
	assert_true(path.non_ascii);
	assert_int_equal(ex_smtp_parse_rcpt_to("FROM:<b@c.d>", false, &path), EX_SMTP_PATH_SYNTAX);
}

static void dsn_parameters(void **state)
{
	(void)state;
	ex_smtp_path path;
	ex_smtp_mail_parameters mail;
	ex_smtp_rcpt_parameters rcpt;
	char envid[EX_SMTP_DSN_MAX_ENVID + 2];
	char arguments[700];

	assert_int_equal(ex_smtp_parse_mail_from("FROM:<a@b.c> RET=full ENVID=QQ+2B1", &path, &mail), EX_SMTP_PATH_OK);
	assert_string_equal(mail.ret, "FULL");
	assert_string_equal(mail.envid, "QQ+2B1");

	/* An ENVID of 100 characters is the maximum, 101 is one past. */
	memset(envid, 'e', EX_SMTP_DSN_MAX_ENVID);
	envid[EX_SMTP_DSN_MAX_ENVID] = '\0';
	snprintf(arguments, sizeof(arguments), "FROM:<a@b.c> ENVID=%s", envid);
	assert_int_equal(ex_smtp_parse_mail_from(arguments, &path, &mail), EX_SMTP_PATH_OK);
	snprintf(arguments, sizeof(arguments), "FROM:<a@b.c> ENVID=%se", envid);
	assert_int_equal(ex_smtp_parse_mail_from(arguments, &path, &mail), EX_SMTP_PATH_BAD_PARAMETER);

	assert_int_equal(ex_smtp_parse_rcpt_to_dsn("TO:<b@c.d> NOTIFY=delay,FAILURE ORCPT=rfc822;b+40c.d", false, &path,
						   &rcpt),
			 EX_SMTP_PATH_OK);
	assert_string_equal(path.mailbox, "b@c.d");
	assert_string_equal(rcpt.notify, "FAILURE,DELAY");
	assert_string_equal(rcpt.orcpt, "rfc822;b+40c.d");
	assert_int_equal(ex_smtp_parse_rcpt_to_dsn("TO:<b@c.d>", false, &path, &rcpt), EX_SMTP_PATH_OK);
	assert_string_equal(rcpt.notify, "");
	assert_int_equal(ex_smtp_parse_rcpt_to_dsn("TO:<b@c.d> NOTIFY=NEVER", false, &path, &rcpt), EX_SMTP_PATH_OK);
	assert_string_equal(rcpt.notify, "NEVER");

	const char *bad[] = { "TO:<b@c.d> NOTIFY=NEVER,SUCCESS", "TO:<b@c.d> NOTIFY=", "TO:<b@c.d> NOTIFY=SUCCESS,",
			      "TO:<b@c.d> NOTIFY=FAILURE,FAILURE", "TO:<b@c.d> NOTIFY=SOMETIMES", "TO:<b@c.d> ORCPT=b@c.d",
			      "TO:<b@c.d> ORCPT=;b@c.d", "TO:<b@c.d> ORCPT=rfc822;", "TO:<b@c.d> ORCPT=rfc822;a=b" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("RCPT %s\n", bad[i]);
		assert_int_equal(ex_smtp_parse_rcpt_to_dsn(bad[i], false, &path, &rcpt), EX_SMTP_PATH_BAD_PARAMETER);
	}
	assert_int_equal(ex_smtp_parse_rcpt_to_dsn("TO:<b@c.d> NOTIFY", false, &path, &rcpt),
			 EX_SMTP_PATH_UNKNOWN_PARAMETER);
	assert_int_equal(ex_smtp_parse_rcpt_to_dsn("TO:<b@c.d> XFOO=1", false, &path, &rcpt),
			 EX_SMTP_PATH_UNKNOWN_PARAMETER);

	/* An ORCPT of 500 characters is the maximum, 501 is one past. */
	char orcpt[EX_SMTP_DSN_MAX_ORCPT + 2];
	memcpy(orcpt, "rfc822;", 7);
	memset(orcpt + 7, 'o', EX_SMTP_DSN_MAX_ORCPT - 7);
	orcpt[EX_SMTP_DSN_MAX_ORCPT] = '\0';
	snprintf(arguments, sizeof(arguments), "TO:<b@c.d> ORCPT=%s", orcpt);
	assert_int_equal(ex_smtp_parse_rcpt_to_dsn(arguments, false, &path, &rcpt), EX_SMTP_PATH_OK);
	snprintf(arguments, sizeof(arguments), "TO:<b@c.d> ORCPT=%so", orcpt);
	assert_int_equal(ex_smtp_parse_rcpt_to_dsn(arguments, false, &path, &rcpt), EX_SMTP_PATH_BAD_PARAMETER);
}

static void path_length_limits(void **state)
{
	(void)state;
	char arguments[600];
	char local[80];
	ex_smtp_path path;

	/* A local part of 64 octets is the maximum, 65 is one past. */
	memset(local, 'a', 64);
	local[64] = '\0';
	snprintf(arguments, sizeof(arguments), "TO:<%s@b.c>", local);
	assert_int_equal(ex_smtp_parse_rcpt_to(arguments, false, &path), EX_SMTP_PATH_OK);
	memset(local, 'a', 65);
	local[65] = '\0';
	snprintf(arguments, sizeof(arguments), "TO:<%s@b.c>", local);
	assert_int_equal(ex_smtp_parse_rcpt_to(arguments, false, &path), EX_SMTP_PATH_TOO_LONG);

	/* A path of 256 octets with the brackets is the maximum. */
	char domain[300];
	size_t domain_length = 256 - 2 - 2; /* brackets, "a@" */
	for (size_t i = 0; i < domain_length; i++)
		domain[i] = (i % 50 == 49) ? '.' : 'd';
	domain[domain_length] = '\0';
	snprintf(arguments, sizeof(arguments), "TO:<a@%s>", domain);
	assert_int_equal(ex_smtp_parse_rcpt_to(arguments, false, &path), EX_SMTP_PATH_OK);
	snprintf(arguments, sizeof(arguments), "TO:<ab@%s>", domain);
	assert_int_equal(ex_smtp_parse_rcpt_to(arguments, false, &path), EX_SMTP_PATH_TOO_LONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mail_from_cases),
		cmocka_unit_test(dsn_parameters),
		cmocka_unit_test(mail_from_parameters),
		cmocka_unit_test(rcpt_to_cases),
		cmocka_unit_test(path_length_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
