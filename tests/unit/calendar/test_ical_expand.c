/*
 * CALDAV:expand and limit-recurrence-set on parsed calendar objects:
 * which instances come back, with which times and RECURRENCE-IDs, and
 * what the instance limit and floating times do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ical_expand.h"
#include "ical_object.h"

#define CAL(body) "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" body "END:VCALENDAR\r\n"

#define SAO_PAULO \
	"BEGIN:VTIMEZONE\r\nTZID:America/Sao_Paulo\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n" \
	"TZOFFSETFROM:-0300\r\nTZOFFSETTO:-0300\r\nTZNAME:-03\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"

/* A weekly series in Sao Paulo time with one instance moved, one excluded and one added by RDATE. */
static const char weekly[] = CAL(SAO_PAULO
	"BEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:weekly\r\n"
	"DTSTART;TZID=America/Sao_Paulo:20270104T090000\r\nDTEND;TZID=America/Sao_Paulo:20270104T100000\r\n"
	"RRULE:FREQ=WEEKLY;COUNT=5\r\nEXDATE;TZID=America/Sao_Paulo:20270118T090000\r\n"
	"RDATE;TZID=America/Sao_Paulo:20270106T090000\r\nEND:VEVENT\r\n"
	"BEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:moved\r\n"
	"RECURRENCE-ID;TZID=America/Sao_Paulo:20270111T090000\r\n"
	"DTSTART;TZID=America/Sao_Paulo:20270111T140000\r\nDTEND;TZID=America/Sao_Paulo:20270111T150000\r\nEND:VEVENT\r\n");

static int64_t utc(const char *text)
{
	int64_t seconds = 0;
	assert_int_equal(ex_ical_parse_utc(text, &seconds), 0);
	return seconds;
}

static icalcomponent *parse(const char *data)
{
	ex_ical_object object;
	char err[256];
	assert_int_equal(ex_ical_object_parse(data, strlen(data), EX_ICAL_COMPONENT_ALL, &object, err, sizeof(err)), EX_ICAL_OK);
	icalcomponent *calendar = object.calendar;
	object.calendar = NULL;
	ex_ical_object_free(&object);
	return calendar;
}

static size_t count_text(const char *text, const char *needle)
{
	size_t count = 0;
	for (const char *at = strstr(text, needle); at != NULL; at = strstr(at + 1, needle))
		count++;
	return count;
}

static char *expand(const char *data, const char *from, const char *to, const icaltimezone *floating, size_t max,
		    ex_ical_expand_status expected)
{
	icalcomponent *calendar = parse(data);
	char *text = NULL;
	assert_int_equal(ex_ical_expand(calendar, utc(from), utc(to), floating, max, &text), expected);
	icalcomponent_free(calendar);
	return text;
}

static void test_expand_weekly_series(void **state)
{
	(void)state;
	char *text = expand(weekly, "20270101T000000Z", "20270201T000000Z", NULL, 100, EX_ICAL_EXPAND_OK);

	/* Instances: Jan 4, the RDATE of Jan 6, Jan 11 moved to 14:00, Jan 25 and Feb 1 is out of range; Jan 18 is excluded. */
	assert_int_equal(count_text(text, "BEGIN:VEVENT"), 4);
	assert_int_equal(count_text(text, "RRULE"), 0);
	assert_int_equal(count_text(text, "RDATE"), 0);
	assert_int_equal(count_text(text, "EXDATE"), 0);
	assert_int_equal(count_text(text, "VTIMEZONE"), 0);
	assert_int_equal(count_text(text, "TZID"), 0);
	assert_non_null(strstr(text, "DTSTART:20270104T120000Z"));
	assert_non_null(strstr(text, "DTEND:20270104T130000Z"));
	assert_non_null(strstr(text, "RECURRENCE-ID:20270104T120000Z"));
	assert_non_null(strstr(text, "RECURRENCE-ID:20270106T120000Z"));
	assert_non_null(strstr(text, "RECURRENCE-ID:20270111T120000Z"));
	assert_non_null(strstr(text, "DTSTART:20270111T170000Z"));
	assert_non_null(strstr(text, "RECURRENCE-ID:20270125T120000Z"));
	assert_null(strstr(text, "20270118T120000Z"));
	assert_int_equal(count_text(text, "SUMMARY:moved"), 1);
	free(text);
}

static void test_expand_range_edges(void **state)
{
	(void)state;
	/* The instance ending at the range start is left out; the one starting at it is kept. */
	char *text = expand(weekly, "20270104T130000Z", "20270106T120000Z", NULL, 100, EX_ICAL_EXPAND_OK);
	assert_int_equal(count_text(text, "BEGIN:VEVENT"), 0);
	free(text);
	text = expand(weekly, "20270104T125959Z", "20270106T120001Z", NULL, 100, EX_ICAL_EXPAND_OK);
	assert_int_equal(count_text(text, "BEGIN:VEVENT"), 2);
	free(text);
}

static void test_expand_single_event_has_no_recurrence_id(void **state)
{
	static const char single[] = CAL("BEGIN:VEVENT\r\nUID:s1\r\nDTSTAMP:20260101T000000Z\r\n"
					 "DTSTART;TZID=America/Sao_Paulo:20270104T090000\r\nDURATION:PT1H\r\nEND:VEVENT\r\n");
	(void)state;
	char *text = expand(single, "20270101T000000Z", "20270201T000000Z", NULL, 100, EX_ICAL_EXPAND_OK);
	assert_int_equal(count_text(text, "BEGIN:VEVENT"), 1);
	assert_non_null(strstr(text, "DTSTART:20270104T120000Z"));
	assert_non_null(strstr(text, "DURATION:PT1H"));
	assert_null(strstr(text, "RECURRENCE-ID"));
	free(text);
}

static void test_expand_all_day_keeps_dates(void **state)
{
	static const char daily[] = CAL("BEGIN:VEVENT\r\nUID:d1\r\nDTSTAMP:20260101T000000Z\r\n"
					"DTSTART;VALUE=DATE:20270104\r\nDTEND;VALUE=DATE:20270105\r\n"
					"RRULE:FREQ=DAILY;COUNT=3\r\nEND:VEVENT\r\n");
	(void)state;
	char *text = expand(daily, "20270101T000000Z", "20270201T000000Z", NULL, 100, EX_ICAL_EXPAND_OK);
	assert_int_equal(count_text(text, "BEGIN:VEVENT"), 3);
	assert_non_null(strstr(text, "DTSTART;VALUE=DATE:20270105"));
	assert_non_null(strstr(text, "DTEND;VALUE=DATE:20270106"));
	assert_non_null(strstr(text, "RECURRENCE-ID;VALUE=DATE:20270106"));
	free(text);
}

static void test_expand_instance_limit(void **state)
{
	static const char hourly[] = CAL("BEGIN:VEVENT\r\nUID:h1\r\nDTSTAMP:20260101T000000Z\r\n"
					 "DTSTART:20270104T000000Z\r\nDURATION:PT30M\r\nRRULE:FREQ=HOURLY\r\nEND:VEVENT\r\n");
	(void)state;
	/* Ten hours hold ten instances: at a limit of ten they come back, at nine the expansion is refused. */
	char *text = expand(hourly, "20270104T000000Z", "20270104T100000Z", NULL, 10, EX_ICAL_EXPAND_OK);
	assert_int_equal(count_text(text, "BEGIN:VEVENT"), 10);
	free(text);
	assert_null(expand(hourly, "20270104T000000Z", "20270104T100000Z", NULL, 9, EX_ICAL_EXPAND_TOO_MANY));
}

static void test_floating_time_in_calendar_timezone(void **state)
{
	static const char floating[] = CAL("BEGIN:VEVENT\r\nUID:f1\r\nDTSTAMP:20260101T000000Z\r\n"
					   "DTSTART:20270104T090000\r\nDTEND:20270104T100000\r\nEND:VEVENT\r\n");
	(void)state;
	icaltimezone *zone = ex_ical_calendar_timezone(CAL(SAO_PAULO));
	assert_non_null(zone);
	icalcomponent *calendar = parse(floating);

	/* 09:00 floating is 12:00 UTC in Sao Paulo and 09:00 UTC without a calendar time zone. */
	assert_true(ex_ical_overlaps_in(calendar, EX_ICAL_COMPONENT_VEVENT, utc("20270104T120000Z"), utc("20270104T123000Z"), zone));
	assert_false(ex_ical_overlaps_in(calendar, EX_ICAL_COMPONENT_VEVENT, utc("20270104T090000Z"), utc("20270104T100000Z"), zone));
	assert_true(ex_ical_overlaps(calendar, EX_ICAL_COMPONENT_VEVENT, utc("20270104T090000Z"), utc("20270104T100000Z")));
	assert_false(ex_ical_overlaps(calendar, EX_ICAL_COMPONENT_VEVENT, utc("20270104T120000Z"), utc("20270104T123000Z")));

	char *text = NULL;
	assert_int_equal(ex_ical_expand(calendar, utc("20270101T000000Z"), utc("20270201T000000Z"), zone, 10, &text),
			 EX_ICAL_EXPAND_OK);
	assert_non_null(strstr(text, "DTSTART:20270104T120000Z"));
	free(text);
	icalcomponent_free(calendar);
	icaltimezone_free(zone, 1);
}

static void test_calendar_timezone_by_name_only(void **state)
{
	(void)state;
	/* A VTIMEZONE without observances is looked up by its TZID in the system tz data. */
	icaltimezone *zone = ex_ical_calendar_timezone(CAL("BEGIN:VTIMEZONE\r\nTZID:America/Sao_Paulo\r\nEND:VTIMEZONE\r\n"));
	assert_non_null(zone);
	struct icaltimetype nine = icaltime_from_string("20270104T090000");
	assert_true(ex_ical_time_to_utc(nine, NULL, zone) == utc("20270104T120000Z"));
	icaltimezone_free(zone, 1);
	assert_null(ex_ical_calendar_timezone(""));
	assert_null(ex_ical_calendar_timezone(CAL("BEGIN:VTIMEZONE\r\nTZID:Nowhere/Atlantis\r\nEND:VTIMEZONE\r\n")));
}

static void test_limit_recurrence_set(void **state)
{
	(void)state;
	icalcomponent *calendar = parse(weekly);
	char *text = ex_ical_limit_recurrence_set(calendar, utc("20270101T000000Z"), utc("20270108T000000Z"), NULL);
	/* The override of Jan 11 neither falls in nor replaces an instance of the first week. */
	assert_int_equal(count_text(text, "BEGIN:VEVENT"), 1);
	assert_non_null(strstr(text, "RRULE:FREQ=WEEKLY"));
	assert_non_null(strstr(text, "BEGIN:VTIMEZONE"));
	free(text);
	icalcomponent_free(calendar);

	calendar = parse(weekly);
	text = ex_ical_limit_recurrence_set(calendar, utc("20270111T160000Z"), utc("20270111T180000Z"), NULL);
	assert_int_equal(count_text(text, "BEGIN:VEVENT"), 2);
	assert_int_equal(count_text(text, "SUMMARY:moved"), 1);
	free(text);
	icalcomponent_free(calendar);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand_weekly_series),
		cmocka_unit_test(test_expand_range_edges),
		cmocka_unit_test(test_expand_single_event_has_no_recurrence_id),
		cmocka_unit_test(test_expand_all_day_keeps_dates),
		cmocka_unit_test(test_expand_instance_limit),
		cmocka_unit_test(test_floating_time_in_calendar_timezone),
		cmocka_unit_test(test_calendar_timezone_by_name_only),
		cmocka_unit_test(test_limit_recurrence_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
