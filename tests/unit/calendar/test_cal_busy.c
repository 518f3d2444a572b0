/*
 * Busy time of free-busy responses: which instances count, clipping to the
 * range, merging per type and the bound on periods.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cal_busy.h"
#include "ical_object.h"

/* A daily 10:00-11:00 UTC series of 5 instances from 5 January 2026, the 6th cancelled and the 7th tentative. */
static const char series[] =
	"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
	"BEGIN:VEVENT\r\nUID:daily\r\nDTSTAMP:20260101T000000Z\r\n"
	"DTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\nRRULE:FREQ=DAILY;COUNT=5\r\nEND:VEVENT\r\n"
	"BEGIN:VEVENT\r\nUID:daily\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:20260106T100000Z\r\n"
	"DTSTART:20260106T100000Z\r\nDTEND:20260106T110000Z\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n"
	"BEGIN:VEVENT\r\nUID:daily\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:20260107T100000Z\r\n"
	"DTSTART:20260107T100000Z\r\nDTEND:20260107T110000Z\r\nSTATUS:TENTATIVE\r\nEND:VEVENT\r\n"
	"END:VCALENDAR\r\n";

/* A 10:30-12:00 UTC event on 5 January, overlapping the first instance. */
static const char overlapping[] =
	"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
	"BEGIN:VEVENT\r\nUID:overlap\r\nDTSTAMP:20260101T000000Z\r\n"
	"DTSTART:20260105T103000Z\r\nDTEND:20260105T120000Z\r\nEND:VEVENT\r\n"
	"END:VCALENDAR\r\n";

static const char transparent[] =
	"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
	"BEGIN:VEVENT\r\nUID:free\r\nDTSTAMP:20260101T000000Z\r\n"
	"DTSTART:20260108T100000Z\r\nDTEND:20260108T110000Z\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n"
	"END:VCALENDAR\r\n";

static const int64_t JAN_5 = 1767571200;  /* 2026-01-05T00:00:00Z */
static const int64_t DAY = 86400;
static const int64_t HOUR = 3600;

static void add_instances(ex_cal_busy_list *list, const char *text)
{
	icalcomponent *calendar = icalparser_parse_string(text);
	assert_non_null(calendar);
	ex_ical_foreach_instance(calendar, EX_ICAL_COMPONENT_VEVENT, list->range_start, list->range_end, ex_cal_busy_note,
				 list);
	icalcomponent_free(calendar);
}

static char *write_lines(const ex_cal_busy_list *list)
{
	char *text = NULL;
	size_t length = 0;
	FILE *out = open_memstream(&text, &length);
	assert_non_null(out);
	ex_cal_busy_write(out, list);
	assert_int_equal(fclose(out), 0);
	return text;
}

static void test_instances_merged_per_type(void **state)
{
	(void)state;
	ex_cal_busy_list list = { .range_start = JAN_5, .range_end = JAN_5 + 7 * DAY };
	add_instances(&list, series);
	add_instances(&list, overlapping);
	add_instances(&list, transparent);
	ex_cal_busy_merge(&list);
	char *text = write_lines(&list);
	assert_string_equal(text, "FREEBUSY;FBTYPE=BUSY:20260105T100000Z/20260105T120000Z\r\n"
				  "FREEBUSY;FBTYPE=BUSY:20260108T100000Z/20260108T110000Z\r\n"
				  "FREEBUSY;FBTYPE=BUSY:20260109T100000Z/20260109T110000Z\r\n"
				  "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20260107T100000Z/20260107T110000Z\r\n");
	free(text);
	ex_cal_busy_free(&list);
}

static void test_periods_clipped_to_range(void **state)
{
	(void)state;
	ex_cal_busy_list list = { .range_start = JAN_5 + 10 * HOUR + HOUR / 2, .range_end = JAN_5 + 11 * HOUR };
	add_instances(&list, overlapping);
	ex_cal_busy_merge(&list);
	assert_int_equal(list.count, 1);
	assert_int_equal(list.periods[0].start, list.range_start);
	assert_int_equal(list.periods[0].end, list.range_end);
	ex_cal_busy_free(&list);
}

static void test_bound_at_limit_and_one_past(void **state)
{
	(void)state;
	ex_cal_busy_list list = { .max = 4, .range_start = JAN_5, .range_end = JAN_5 + 7 * DAY };
	add_instances(&list, series); /* 4 busy instances, because the cancelled one does not count */
	assert_int_equal(list.count, 4);
	add_instances(&list, overlapping);
	assert_int_equal(list.count, 4);
	ex_cal_busy_free(&list);
	assert_null(list.periods);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_instances_merged_per_type),
		cmocka_unit_test(test_periods_clipped_to_range),
		cmocka_unit_test(test_bound_at_limit_and_one_past),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
