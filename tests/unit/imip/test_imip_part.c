/*
 * Extraction of the text/calendar part of iMIP messages (imip_part.c):
 * where the part may sit, its transfer encodings, the method parameter,
 * the From address and the size limit at and one past its value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imip_part.h"

#define CALENDAR "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n"

static const char alternative[] =
	"From: Guest Person <Guest@Remote.Test>\r\n"
	"To: alice@demo.expresso.test\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"
	"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAccepted\r\n"
	"--b1\r\nContent-Type: text/calendar; charset=utf-8; method=reply\r\n\r\n" CALENDAR
	"\r\n--b1--\r\n"; /* the line break before a boundary belongs to the boundary */

static const char base64_single[] =
	"From: boss@remote.test\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/calendar; method=REQUEST\r\n"
	"Content-Transfer-Encoding: base64\r\n\r\n"
	"QkVHSU46VkNBTEVOREFSDQpNRVRIT0Q6UkVQTFkNCkVORDpWQ0FMRU5EQVINCg==\r\n";

static const char without_calendar[] =
	"From: friend@remote.test\r\n"
	"Content-Type: text/plain\r\n\r\nHello\r\n";

static const char nested[] =
	"From: a@remote.test\r\n"
	"Content-Type: multipart/mixed; boundary=x\r\n\r\n"
	"--x\r\nContent-Type: text/plain\r\n\r\nForwarded\r\n"
	"--x\r\nContent-Type: message/rfc822\r\n\r\n"
	"From: c@remote.test\r\nContent-Type: text/calendar; method=CANCEL\r\n\r\n" CALENDAR
	"--x--\r\n";

static const char quoted_printable[] =
	"From: <org@remote.test>\r\n"
	"Content-Type: multipart/mixed; boundary=o\r\n\r\n"
	"--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n"
	"--i\r\nContent-Type: text/plain\r\n\r\nText\r\n"
	"--i\r\nContent-Type: text/calendar; method=CANCEL\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	"BEGIN:VCALENDAR\r\nSUMMARY:Reuni=C3=A3o\r\nEND:VCALENDAR\r\n"
	"--i--\r\n--o--\r\n";

static void test_part_in_alternative(void **state)
{
	(void)state;
	imip_part part;
	assert_int_equal(imip_part_extract(alternative, strlen(alternative), 1024, &part), IMIP_PART_FOUND);
	assert_string_equal(part.calendar, CALENDAR);
	assert_int_equal(part.length, strlen(CALENDAR));
	assert_string_equal(part.method, "REPLY");
	assert_string_equal(part.from, "guest@remote.test");
	imip_part_clear(&part);
	assert_null(part.calendar);
}

static void test_part_base64_single(void **state)
{
	(void)state;
	imip_part part;
	assert_int_equal(imip_part_extract(base64_single, strlen(base64_single), 1024, &part), IMIP_PART_FOUND);
	assert_string_equal(part.calendar, CALENDAR);
	assert_string_equal(part.method, "REQUEST");
	assert_string_equal(part.from, "boss@remote.test");
	imip_part_clear(&part);
}

static void test_part_quoted_printable_nested(void **state)
{
	(void)state;
	imip_part part;
	assert_int_equal(imip_part_extract(quoted_printable, strlen(quoted_printable), 1024, &part), IMIP_PART_FOUND);
	assert_non_null(strstr(part.calendar, "SUMMARY:Reunião\r\n"));
	assert_string_equal(part.method, "CANCEL");
	imip_part_clear(&part);
}

static void test_part_absent(void **state)
{
	(void)state;
	imip_part part;
	assert_int_equal(imip_part_extract(without_calendar, strlen(without_calendar), 1024, &part), IMIP_PART_NONE);
	assert_null(part.calendar);
	assert_string_equal(part.from, "friend@remote.test");
	imip_part_clear(&part);
}

static void test_part_in_attached_message_skipped(void **state)
{
	(void)state;
	imip_part part;
	assert_int_equal(imip_part_extract(nested, strlen(nested), 1024, &part), IMIP_PART_NONE);
	assert_string_equal(part.from, "a@remote.test");
	imip_part_clear(&part);
}

static void test_part_size_limit(void **state)
{
	(void)state;
	imip_part part;
	size_t size = strlen(CALENDAR);
	assert_int_equal(imip_part_extract(alternative, strlen(alternative), size, &part), IMIP_PART_FOUND);
	imip_part_clear(&part);
	assert_int_equal(imip_part_extract(alternative, strlen(alternative), size - 1, &part), IMIP_PART_TOO_LARGE);
	assert_null(part.calendar);
	imip_part_clear(&part);
}

static void test_part_garbage(void **state)
{
	(void)state;
	static const char *const inputs[] = { "", "\r\n\r\n", "Content-Type: text/calendar\r\n\r\n", "From:\r\n\r\nx" };
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		imip_part part;
		imip_part_status status = imip_part_extract(inputs[i], strlen(inputs[i]), 1024, &part);
		assert_true(status == IMIP_PART_NONE || status == IMIP_PART_INVALID || status == IMIP_PART_FOUND);
		assert_true(status == IMIP_PART_FOUND || part.calendar == NULL);
		assert_string_equal(part.from, "");
		imip_part_clear(&part);
	}
}

static void test_part_empty(void **state)
{
	(void)state;
	static const char empty[] = "From: a@remote.test\r\nContent-Type: text/calendar; method=REPLY\r\n\r\n";
	imip_part part;
	assert_int_equal(imip_part_extract(empty, strlen(empty), 1024, &part), IMIP_PART_FOUND);
	assert_int_equal(part.length, 0);
	assert_string_equal(part.calendar, "");
	imip_part_clear(&part);
}

static void test_address_lower(void **state)
{
	(void)state;
	char out[8];
	assert_int_equal(imip_address_lower("A@B.C", out, sizeof(out)), 0);
	assert_string_equal(out, "a@b.c");
	assert_int_equal(imip_address_lower("abc@d.e", out, sizeof(out)), 0);
	assert_int_equal(imip_address_lower("abcd@e.f", out, sizeof(out)), -1);
	assert_int_equal(imip_address_lower("", out, sizeof(out)), -1);
	assert_int_equal(imip_address_lower(NULL, out, sizeof(out)), -1);
}

int main(void)
{
	imip_part_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_part_in_alternative),
		cmocka_unit_test(test_part_base64_single),
		cmocka_unit_test(test_part_quoted_printable_nested),
		cmocka_unit_test(test_part_absent),
		cmocka_unit_test(test_part_in_attached_message_skipped),
		cmocka_unit_test(test_part_size_limit),
		cmocka_unit_test(test_part_garbage),
		cmocka_unit_test(test_part_empty),
		cmocka_unit_test(test_address_lower),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
