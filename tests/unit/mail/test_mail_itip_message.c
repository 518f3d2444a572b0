/*
 * The iMIP message of an outbox row (mail_itip_message.c): the header
 * fields, the RFC 2047 subject, the METHOD parameter of the text/calendar
 * part, and the base64 parts decoding back to the texts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "mail_itip_message.h"

#define ICAL "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:u1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

/* Decodes the base64 lines that follow MARKER's blank line in MESSAGE up to the next boundary. */
static char *decode_part(const char *message, const char *marker)
{
	const char *start = strstr(message, marker);
	assert_non_null(start);
	start = strstr(start, "\r\n\r\n");
	assert_non_null(start);
	start += 4;
	const char *end = strstr(start, "\r\n--");
	assert_non_null(end);

	char *joined = calloc(1, (size_t)(end - start) + 1);
	size_t length = 0;
	for (const char *c = start; c < end; c++) {
		if (*c != '\r' && *c != '\n')
			joined[length++] = *c;
	}
	unsigned char *decoded = calloc(1, length + 1);
	int written = EVP_DecodeBlock(decoded, (const unsigned char *)joined, (int)length);
	assert_true(written >= 0);
	while (length > 0 && joined[length - 1] == '=') {
		written--;
		length--;
	}
	decoded[written] = '\0';
	free(joined);
	return (char *)decoded;
}

static void test_request_message(void **unused)
{
	(void)unused;
	size_t length = 0;
	char *message = ex_mail_itip_build("mx.example.org", "row-1", "alice@example.org", "guest@remote.test", "REQUEST",
					   "Reunião", ICAL, &length);
	assert_non_null(message);
	assert_int_equal(length, strlen(message));

	assert_non_null(strstr(message, "From: <alice@example.org>\r\n"));
	assert_non_null(strstr(message, "To: <guest@remote.test>\r\n"));
	assert_non_null(strstr(message, "Message-ID: <itip.row-1@mx.example.org>\r\n"));
	assert_non_null(strstr(message, "Subject: =?UTF-8?B?"));
	assert_non_null(strstr(message, "Content-Type: multipart/alternative;\r\n boundary=\"=_itip_row-1\"\r\n"));
	assert_non_null(strstr(message, "Content-Type: text/calendar; charset=utf-8; method=REQUEST\r\n"));
	assert_non_null(strstr(message, "\r\n--=_itip_row-1--\r\n"));
	assert_null(strstr(message, "\n\n"));

	char *calendar = decode_part(message, "Content-Type: text/calendar");
	assert_string_equal(calendar, ICAL);
	char *text = decode_part(message, "Content-Type: text/plain");
	assert_non_null(strstr(text, "convite"));
	assert_non_null(strstr(text, "Reunião"));
	free(calendar);
	free(text);
	free(message);
}

static void test_methods(void **unused)
{
	(void)unused;
	size_t length = 0;
	static const char *const methods[] = { "REQUEST", "CANCEL", "REPLY" };
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		char *message = ex_mail_itip_build("h", "r", "a@b.c", "d@e.f", methods[i], "", ICAL, &length);
		assert_non_null(message);
		free(message);
	}
	assert_null(ex_mail_itip_build("h", "r", "a@b.c", "d@e.f", "PUBLISH", "x", ICAL, &length));
	assert_null(ex_mail_itip_build("h", "r", "a@b.c", "d@e.f", "request", "x", ICAL, &length));
}

static void test_long_subject(void **unused)
{
	(void)unused;
	char summary[600];
	memset(summary, 'x', sizeof(summary) - 1);
	summary[sizeof(summary) - 1] = '\0';
	size_t length = 0;
	char *message = ex_mail_itip_build("h", "8f915679-1de3-45bc-b611-6cb76de4bc4b", "a@b.c", "d@e.f", "CANCEL", summary,
					   ICAL, &length);
	assert_non_null(message);
	/* Every header line stays within the 78 characters of RFC 5322 section 2.1.1. */
	const char *body = strstr(message, "\r\n\r\n");
	for (const char *line = message; line < body;) {
		const char *end = strstr(line, "\r\n");
		assert_true(end - line <= 78);
		line = end + 2;
	}
	free(message);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_message),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_long_subject),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
