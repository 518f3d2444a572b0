/*
 * Calendar object checks, instance bounds and recurrence expansion:
 * which bodies a PUT accepts and with which precondition it rejects the
 * rest, and which instances a time range finds (RRULE, RDATE, EXDATE,
 * overrides, time zones, all-day and floating times).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "ical_object.h"
#include "ical_zone.h"

#define CAL(body) "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" body "END:VCALENDAR\r\n"
#define EVENT(body) "BEGIN:VEVENT\r\nUID:e1\r\nDTSTAMP:20260101T000000Z\r\n" body "END:VEVENT\r\n"

typedef struct {
	const char *name;
	const char *data;
	unsigned allowed;
	ex_ical_status expected;
} parse_case;

static const parse_case parse_cases[] = {
	{ "simple event", CAL(EVENT("DTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n")), EX_ICAL_COMPONENT_ALL, EX_ICAL_OK },
	{ "BOM accepted", "\xEF\xBB\xBF" CAL(EVENT("DTSTART:20260105T100000Z\r\n")), EX_ICAL_COMPONENT_ALL, EX_ICAL_OK },
	{ "bare LF accepted", "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:x\nDTSTART:20260105T100000Z\nEND:VEVENT\nEND:VCALENDAR\n", EX_ICAL_COMPONENT_ALL, EX_ICAL_OK },
	{ "todo without dates", CAL("BEGIN:VTODO\r\nUID:t1\r\nSUMMARY:x\r\nEND:VTODO\r\n"), EX_ICAL_COMPONENT_ALL, EX_ICAL_OK },
	{ "override with master", CAL(EVENT("DTSTART:20260105T100000Z\r\nRRULE:FREQ=DAILY\r\n") EVENT("RECURRENCE-ID:20260106T100000Z\r\nDTSTART:20260106T120000Z\r\n")), EX_ICAL_COMPONENT_ALL, EX_ICAL_OK },
	{ "empty body", "", EX_ICAL_COMPONENT_ALL, EX_ICAL_INVALID_DATA },
	{ "not a VCALENDAR", "BEGIN:VCARD\r\nVERSION:3.0\r\nEND:VCARD\r\n", EX_ICAL_COMPONENT_ALL, EX_ICAL_INVALID_DATA },
	{ "text after END", CAL(EVENT("DTSTART:20260105T100000Z\r\n")) "X-JUNK:1\r\n", EX_ICAL_COMPONENT_ALL, EX_ICAL_INVALID_DATA },
	{ "NUL byte", "BEGIN:VCALENDAR\r\n\0\r\nEND:VCALENDAR\r\n", EX_ICAL_COMPONENT_ALL, EX_ICAL_INVALID_DATA },
	{ "unreadable DTSTART", CAL(EVENT("DTSTART:tomorrow\r\n")), EX_ICAL_COMPONENT_ALL, EX_ICAL_INVALID_DATA },
	{ "DTEND past the calendar", CAL(EVENT("DTSTART:20260105T100000Z\r\nDTEND:20261340T250000Z\r\n")), EX_ICAL_COMPONENT_ALL, EX_ICAL_INVALID_DATA },
	{ "unreadable RRULE", CAL(EVENT("DTSTART:20260105T100000Z\r\nRRULE:FREQ=BOGUS\r\n")), EX_ICAL_COMPONENT_ALL, EX_ICAL_INVALID_DATA },
	{ "no component", CAL(""), EX_ICAL_COMPONENT_ALL, EX_ICAL_INVALID_OBJECT },
	{ "two UIDs", CAL(EVENT("DTSTART:20260105T100000Z\r\n") "BEGIN:VEVENT\r\nUID:e2\r\nDTSTART:20260105T100000Z\r\nEND:VEVENT\r\n"), EX_ICAL_COMPONENT_ALL, EX_ICAL_INVALID_OBJECT },
	{ "UID on one component only", CAL(EVENT("DTSTART:20260105T100000Z\r\n") "BEGIN:VEVENT\r\nDTSTART:20260105T100000Z\r\nEND:VEVENT\r\n"), EX_ICAL_COMPONENT_ALL, EX_ICAL_INVALID_OBJECT },
	{ "two component types", CAL(EVENT("DTSTART:20260105T100000Z\r\n") "BEGIN:VTODO\r\nUID:e1\r\nEND:VTODO\r\n"), EX_ICAL_COMPONENT_ALL, EX_ICAL_INVALID_OBJECT },
	{ "VTODO in an event calendar", CAL("BEGIN:VTODO\r\nUID:t1\r\nEND:VTODO\r\n"), EX_ICAL_COMPONENT_VEVENT, EX_ICAL_UNSUPPORTED_COMPONENT },
	{ "VFREEBUSY", CAL("BEGIN:VFREEBUSY\r\nUID:f\r\nEND:VFREEBUSY\r\n"), EX_ICAL_COMPONENT_ALL, EX_ICAL_UNSUPPORTED_COMPONENT },
};

static void test_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const parse_case *c = &parse_cases[i];
		ex_ical_object object;
		char err[256] = "";
		size_t length = strcmp(c->name, "NUL byte") == 0 ? 38 : strlen(c->data);
		ex_ical_status status = ex_ical_object_parse(c->data, length, c->allowed, &object, err, sizeof(err));
		if (status != c->expected)
			fail_msg("%s: status %d, expected %d (%s)", c->name, status, c->expected, err);
		if (status == EX_ICAL_OK)
			ex_ical_object_free(&object);
		else
			assert_true(err[0] != '\0');
	}
}

static void test_uid_and_component(void **state)
{
	static const char data[] = CAL("BEGIN:VTODO\r\nUID:task-1\r\nDUE:20260110T120000Z\r\nEND:VTODO\r\n");
	ex_ical_object object;
	char err[256];
	(void)state;

	assert_int_equal(ex_ical_object_parse(data, strlen(data), EX_ICAL_COMPONENT_ALL, &object, err, sizeof(err)), EX_ICAL_OK);
	assert_string_equal(object.uid, "task-1");
	assert_int_equal(object.component, EX_ICAL_COMPONENT_VTODO);
	ex_ical_object_free(&object);
}

static int64_t utc(const char *text)
{
	int64_t seconds = 0;
	assert_int_equal(ex_ical_parse_utc(text, &seconds), 0);
	return seconds;
}

static void check_bounds(const char *data, const char *first, const char *last)
{
	ex_ical_object object;
	char err[256];
	assert_int_equal(ex_ical_object_parse(data, strlen(data), EX_ICAL_COMPONENT_ALL, &object, err, sizeof(err)), EX_ICAL_OK);
	if (first == NULL)
		assert_true(object.first_start == EX_ICAL_TIME_MIN);
	else
		assert_true(object.first_start == utc(first));
	if (last == NULL)
		assert_true(object.last_end == EX_ICAL_TIME_MAX);
	else
		assert_true(object.last_end == utc(last));
	ex_ical_object_free(&object);
}

static void test_bounds(void **state)
{
	(void)state;
	check_bounds(CAL(EVENT("DTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n")), "20260105T100000Z", "20260105T110000Z");
	check_bounds(CAL(EVENT("DTSTART:20260105T100000Z\r\nDURATION:PT30M\r\n")), "20260105T100000Z", "20260105T103000Z");
	check_bounds(CAL(EVENT("DTSTART;VALUE=DATE:20260105\r\n")), "20260105T000000Z", "20260106T000000Z");
	check_bounds(CAL(EVENT("DTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\nRRULE:FREQ=DAILY;COUNT=3\r\n")),
		     "20260105T100000Z", "20260107T110000Z");
	check_bounds(CAL(EVENT("DTSTART:20260105T100000Z\r\nRRULE:FREQ=WEEKLY\r\n")), "20260105T100000Z", NULL);
	check_bounds(CAL("BEGIN:VTODO\r\nUID:t\r\nEND:VTODO\r\n"), NULL, NULL);
	/* Past EX_ICAL_MAX_INSTANCES instances the series counts as endless for the index. */
	check_bounds(CAL(EVENT("DTSTART:20260105T100000Z\r\nRRULE:FREQ=SECONDLY;COUNT=200000\r\n")), "20260105T100000Z", NULL);
	/* America/Sao_Paulo has had no daylight saving time since 2019: 09:00 is 12:00 UTC in January. */
	check_bounds(CAL(EVENT("DTSTART;TZID=America/Sao_Paulo:20270104T090000\r\nDTEND;TZID=America/Sao_Paulo:20270104T100000\r\n")),
		     "20270104T120000Z", "20270104T130000Z");
	check_bounds(CAL(EVENT("DTSTART;TZID=E. South America Standard Time:20270104T090000\r\n"
			       "DTEND;TZID=E. South America Standard Time:20270104T100000\r\n")),
		     "20270104T120000Z", "20270104T130000Z");
}

typedef struct {
	char starts[32][20];
	size_t count;
} instance_list;

static bool collect(void *context, icalcomponent *component, int64_t start, int64_t end)
{
	instance_list *list = context;
	(void)component;
	(void)end;
	if (list->count < 32)
		ex_ical_format_utc(start, list->starts[list->count++], sizeof(list->starts[0]));
	return true;
}

static void check_instances(const char *data, const char *from, const char *to, const char *const *expected,
			    size_t expected_count)
{
	ex_ical_object object;
	char err[256];
	instance_list list = { .count = 0 };

	assert_int_equal(ex_ical_object_parse(data, strlen(data), EX_ICAL_COMPONENT_ALL, &object, err, sizeof(err)), EX_ICAL_OK);
	ex_ical_foreach_instance(object.calendar, object.component, utc(from), utc(to), collect, &list);
	assert_int_equal(list.count, expected_count);
	for (size_t i = 0; i < expected_count; i++) {
		int found = 0;
		for (size_t k = 0; k < list.count; k++)
			found |= strcmp(list.starts[k], expected[i]) == 0;
		if (!found)
			fail_msg("instance %s not found", expected[i]);
	}
	ex_ical_object_free(&object);
}

static void test_expansion_exdate_and_override(void **state)
{
	static const char data[] = CAL(
		"BEGIN:VTIMEZONE\r\nTZID:America/Sao_Paulo\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
		"TZOFFSETFROM:-0300\r\nTZOFFSETTO:-0300\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
		EVENT("DTSTART;TZID=America/Sao_Paulo:20270104T093000\r\nDTEND;TZID=America/Sao_Paulo:20270104T100000\r\n"
		      "RRULE:FREQ=WEEKLY;UNTIL=20270630T025959Z;BYDAY=MO\r\n"
		      "EXDATE;TZID=America/Sao_Paulo:20270208T093000,20270215T093000\r\n")
		EVENT("RECURRENCE-ID;TZID=America/Sao_Paulo:20270301T093000\r\n"
		      "DTSTART;TZID=America/Sao_Paulo:20270301T140000\r\nDTEND;TZID=America/Sao_Paulo:20270301T143000\r\n"));
	static const char *const february[] = { "20270201T123000Z", "20270222T123000Z" };
	static const char *const march_first[] = { "20270301T170000Z" };
	(void)state;

	check_instances(data, "20270201T000000Z", "20270301T000000Z", february, 2);
	/* The override moved 09:30 to 14:00; the original time finds nothing. */
	check_instances(data, "20270301T000000Z", "20270302T000000Z", march_first, 1);
	check_instances(data, "20270301T120000Z", "20270301T130000Z", NULL, 0);
}

static void test_expansion_rdate_and_edges(void **state)
{
	static const char data[] = CAL(EVENT("DTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n"
					     "RDATE:20260110T100000Z,20260120T100000Z\r\n"));
	static const char *const all[] = { "20260105T100000Z", "20260110T100000Z", "20260120T100000Z" };
	static const char *const first[] = { "20260105T100000Z" };
	(void)state;

	check_instances(data, "20260101T000000Z", "20260201T000000Z", all, 3);
	/* A range ending when an instance starts, or starting when it ends, does not overlap it. */
	check_instances(data, "20260105T090000Z", "20260105T100000Z", NULL, 0);
	check_instances(data, "20260105T110000Z", "20260105T120000Z", NULL, 0);
	check_instances(data, "20260105T105959Z", "20260105T110000Z", first, 1);
}

static void test_overlaps_zero_length_and_undated(void **state)
{
	static const char zero[] = CAL(EVENT("DTSTART:20260105T100000Z\r\n"));
	static const char todo[] = CAL("BEGIN:VTODO\r\nUID:t\r\nSUMMARY:no dates\r\nEND:VTODO\r\n");
	ex_ical_object object;
	char err[256];
	(void)state;

	assert_int_equal(ex_ical_object_parse(zero, strlen(zero), EX_ICAL_COMPONENT_ALL, &object, err, sizeof(err)), EX_ICAL_OK);
	assert_true(ex_ical_overlaps(object.calendar, EX_ICAL_COMPONENT_VEVENT, utc("20260105T100000Z"), utc("20260105T100001Z")));
	assert_false(ex_ical_overlaps(object.calendar, EX_ICAL_COMPONENT_VEVENT, utc("20260105T090000Z"), utc("20260105T100000Z")));
	ex_ical_object_free(&object);

	assert_int_equal(ex_ical_object_parse(todo, strlen(todo), EX_ICAL_COMPONENT_ALL, &object, err, sizeof(err)), EX_ICAL_OK);
	assert_true(ex_ical_overlaps(object.calendar, EX_ICAL_COMPONENT_VTODO, utc("20000101T000000Z"), utc("20000102T000000Z")));
	ex_ical_object_free(&object);
}

static void test_utc_text(void **state)
{
	int64_t seconds;
	char text[20];
	(void)state;

	assert_int_equal(ex_ical_parse_utc("19700101T000000Z", &seconds), 0);
	assert_true(seconds == 0);
	ex_ical_format_utc(86400 + 3600, text, sizeof(text));
	assert_string_equal(text, "19700102T010000Z");
	assert_int_equal(ex_ical_parse_utc("20260101T000000", &seconds), -1);
	assert_int_equal(ex_ical_parse_utc("20261301T000000Z", &seconds), -1);
	assert_int_equal(ex_ical_parse_utc("20260230T000000Z", &seconds), -1);
	assert_int_equal(ex_ical_parse_utc("2026-01-01T00:00Z", &seconds), -1);
}

static void test_windows_zone_names(void **state)
{
	(void)state;
	assert_string_equal(ex_ical_windows_zone("E. South America Standard Time"), "America/Sao_Paulo");
	assert_string_equal(ex_ical_windows_zone("W. Europe Standard Time"), "Europe/Berlin");
	assert_string_equal(ex_ical_windows_zone("eastern standard time"), "America/New_York");
	assert_null(ex_ical_windows_zone("Mars Standard Time"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_uid_and_component),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_expansion_exdate_and_override),
		cmocka_unit_test(test_expansion_rdate_and_edges),
		cmocka_unit_test(test_overlaps_zero_length_and_undated),
		cmocka_unit_test(test_utc_text),
		cmocka_unit_test(test_windows_zone_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
