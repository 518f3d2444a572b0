/*
 * Tests of the RFC 3464 DSN builder: the report's structure, the
 * per-recipient fields, header-only and full returns, and that values
 * from a remote server cannot add header fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "mail_dsn.h"

static const char original[] = "From: alice@demo.test\r\nTo: x@remote.example\r\nSubject: hi\r\n\r\nbody line\r\n";

static ex_mail_dsn base_dsn(const ex_mail_dsn_recipient *recipients, size_t count)
{
	return (ex_mail_dsn){
		.reporting_mta = "mx.demo.test",
		.sender = "alice@demo.test",
		.arrival_date = "Sat, 05 Dec 2026 00:00:00 +0000",
		.date = "Sat, 05 Dec 2026 00:05:00 +0000",
		.message_id = "dsn.1@mx.demo.test",
		.boundary = "=_b1",
		.recipients = recipients,
		.recipient_count = count,
		.original = original,
		.original_length = sizeof(original) - 1,
	};
}

static void test_failed_recipient_report(void **state)
{
	(void)state;
	const ex_mail_dsn_recipient recipients[] = {
		{ .address = "x@remote.example", .action = "failed", .status = "5.1.1", .remote_mta = "mx.remote.example",
		  .diagnostic = "550 5.1.1 no such user" },
	};
	ex_mail_dsn dsn = base_dsn(recipients, 1);
	size_t length = 0;
	char *report = ex_mail_dsn_build(&dsn, &length);
	assert_non_null(report);
	assert_int_equal(strlen(report), length);
	assert_non_null(strstr(report, "To: <alice@demo.test>\r\n"));
	assert_non_null(strstr(report, "Subject: Undelivered Mail Returned to Sender\r\n"));
	assert_non_null(strstr(report, "Auto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(report, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"=_b1\""));
	assert_non_null(strstr(report, "--=_b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.demo.test\r\n"));
	assert_non_null(strstr(report, "Arrival-Date: Sat, 05 Dec 2026 00:00:00 +0000\r\n"));
	assert_non_null(strstr(report, "\r\n\r\nFinal-Recipient: rfc822; x@remote.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
				       "Remote-MTA: dns; mx.remote.example\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n"));
	assert_non_null(strstr(report, "Content-Type: text/rfc822-headers\r\n\r\nFrom: alice@demo.test\r\n"));
	assert_null(strstr(report, "body line"));
	assert_true(length > 10);
	assert_string_equal(report + length - 10, "--=_b1--\r\n");
	free(report);
}

static void test_full_return(void **state)
{
	(void)state;
	const ex_mail_dsn_recipient recipients[] = { { .address = "x@remote.example", .action = "failed", .status = "4.4.7" } };
	ex_mail_dsn dsn = base_dsn(recipients, 1);
	dsn.return_full = true;
	dsn.envelope_id = "env-42";
	size_t length = 0;
	char *report = ex_mail_dsn_build(&dsn, &length);
	assert_non_null(report);
	assert_non_null(strstr(report, "Original-Envelope-Id: env-42\r\n"));
	assert_non_null(strstr(report, "Content-Type: message/rfc822\r\n\r\nFrom: alice@demo.test"));
	assert_non_null(strstr(report, "body line\r\n\r\n--=_b1--\r\n"));
	assert_null(strstr(report, "Remote-MTA"));
	free(report);
}

static void test_delay_report(void **state)
{
	(void)state;
	const ex_mail_dsn_recipient recipients[] = {
		{ .address = "x@remote.example", .action = "delayed", .status = "4.4.1",
		  .diagnostic = "connection to the remote host failed",
		  .will_retry_until = "Thu, 10 Dec 2026 00:00:00 +0000" },
	};
	ex_mail_dsn dsn = base_dsn(recipients, 1);
	size_t length = 0;
	char *report = ex_mail_dsn_build(&dsn, &length);
	assert_non_null(report);
	assert_non_null(strstr(report, "Subject: Delayed Mail (still being retried)\r\n"));
	assert_non_null(strstr(report, "has not been delivered yet"));
	assert_non_null(strstr(report, "Final-Recipient: rfc822; x@remote.example\r\nAction: delayed\r\nStatus: 4.4.1\r\n"
				       "Diagnostic-Code: smtp; connection to the remote host failed\r\n"
				       "Will-Retry-Until: Thu, 10 Dec 2026 00:00:00 +0000\r\n"));
	free(report);
}

static void test_injection_cleaned(void **state)
{
	(void)state;
	const ex_mail_dsn_recipient recipients[] = {
		{ .address = "x@remote.example", .action = "failed", .status = "5.0.0", .remote_mta = "mx\r\nBcc: evil",
		  .diagnostic = "550 bad\r\nX-Injected: yes" },
	};
	ex_mail_dsn dsn = base_dsn(recipients, 1);
	size_t length = 0;
	char *report = ex_mail_dsn_build(&dsn, &length);
	assert_non_null(report);
	assert_null(strstr(report, "\r\nX-Injected"));
	assert_null(strstr(report, "\r\nBcc"));
	assert_non_null(strstr(report, "Diagnostic-Code: smtp; 550 bad  X-Injected: yes\r\n"));
	free(report);
}

static void test_utf8_address_type(void **state)
{
	(void)state;
	const ex_mail_dsn_recipient recipients[] = {
		{ .address = "jo\xc3\xa3o@remote.example", .original_recipient = "rfc822;joao@remote.example",
		  .action = "failed", .status = "5.1.1" },
		{ .address = "b@remote.example", .action = "failed", .status = "5.2.2" },
	};
	ex_mail_dsn dsn = base_dsn(recipients, 2);
	size_t length = 0;
	char *report = ex_mail_dsn_build(&dsn, &length);
	assert_non_null(report);
	assert_non_null(strstr(report, "Final-Recipient: utf-8; jo\xc3\xa3o@remote.example\r\n"
				       "Original-Recipient: rfc822;joao@remote.example\r\n"));
	assert_non_null(strstr(report, "Final-Recipient: rfc822; b@remote.example\r\nAction: failed\r\nStatus: 5.2.2\r\n"));
	free(report);
}

static void test_missing_fields_rejected(void **state)
{
	(void)state;
	const ex_mail_dsn_recipient recipients[] = { { .address = "x@remote.example", .action = "failed", .status = "5.1.1" } };
	size_t length = 0;
	ex_mail_dsn dsn = base_dsn(recipients, 1);
	dsn.sender = "";
	assert_null(ex_mail_dsn_build(&dsn, &length));
	dsn = base_dsn(recipients, 0);
	assert_null(ex_mail_dsn_build(&dsn, &length));
}

static void test_header_length(void **state)
{
	(void)state;
	assert_int_equal(ex_mail_dsn_header_length(original, sizeof(original) - 1),
			 strstr(original, "\r\n\r\n") + 4 - original);
	assert_int_equal(ex_mail_dsn_header_length("\r\nbody", 6), 2);
	assert_int_equal(ex_mail_dsn_header_length("A: b\r\n", 6), 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failed_recipient_report),
		cmocka_unit_test(test_full_return),
		cmocka_unit_test(test_delay_report),
		cmocka_unit_test(test_injection_cleaned),
		cmocka_unit_test(test_utf8_address_type),
		cmocka_unit_test(test_missing_fields_rejected),
		cmocka_unit_test(test_header_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
