/*
 * calendar-query filters, table-driven over a set of calendar objects:
 * comp-filter nesting, time-range with recurrences, is-not-defined,
 * text-match collations and negation, param-filter, and the filters
 * rejected with valid-filter, supported-filter or supported-collation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libxml/parser.h>
#include <string.h>

#include "cal_filter.h"
#include "ical_object.h"

#define CAL(body) "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" body "END:VCALENDAR\r\n"

/* Objects named by one character, as the expected strings list them. */
static const char *const objects[] = {
	/* a: a weekly meeting in January 2026 with an alarm */
	CAL("BEGIN:VEVENT\r\nUID:a\r\nSUMMARY:Reunião semanal\r\nDTSTART:20260105T130000Z\r\nDTEND:20260105T140000Z\r\n"
	    "RRULE:FREQ=WEEKLY;COUNT=4\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.org\r\n"
	    "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:x\r\nEND:VALARM\r\nEND:VEVENT\r\n"),
	/* b: an all-day holiday */
	CAL("BEGIN:VEVENT\r\nUID:b\r\nSUMMARY:FERIADO\r\nDTSTART;VALUE=DATE:20260220\r\nEND:VEVENT\r\n"),
	/* c: a task due in February */
	CAL("BEGIN:VTODO\r\nUID:c\r\nSUMMARY:Relatório\r\nDUE:20260210T170000Z\r\nSTATUS:NEEDS-ACTION\r\nEND:VTODO\r\n"),
	/* d: a task without dates */
	CAL("BEGIN:VTODO\r\nUID:d\r\nSUMMARY:Someday\r\nEND:VTODO\r\n"),
};

typedef struct {
	const char *name;
	const char *filter; /* children of CALDAV:filter */
	const char *expected; /* objects that match, in order */
} filter_case;

#define VCAL(inner) "<C:comp-filter name=\"VCALENDAR\">" inner "</C:comp-filter>"
#define RANGE(start, end) "<C:time-range start=\"" start "\" end=\"" end "\"/>"

static const filter_case filter_cases[] = {
	{ "every object", VCAL(""), "abcd" },
	{ "events", VCAL("<C:comp-filter name=\"VEVENT\"/>"), "ab" },
	{ "todos", VCAL("<C:comp-filter name=\"VTODO\"/>"), "cd" },
	{ "third week of January", VCAL("<C:comp-filter name=\"VEVENT\">" RANGE("20260119T000000Z", "20260120T000000Z") "</C:comp-filter>"), "a" },
	{ "after the last recurrence", VCAL("<C:comp-filter name=\"VEVENT\">" RANGE("20260127T000000Z", "20260201T000000Z") "</C:comp-filter>"), "" },
	{ "all-day event", VCAL("<C:comp-filter name=\"VEVENT\">" RANGE("20260220T120000Z", "20260220T130000Z") "</C:comp-filter>"), "b" },
	{ "open-ended range", VCAL("<C:comp-filter name=\"VEVENT\"><C:time-range start=\"20260201T000000Z\"/></C:comp-filter>"), "b" },
	{ "todos in February and undated", VCAL("<C:comp-filter name=\"VTODO\">" RANGE("20260201T000000Z", "20260301T000000Z") "</C:comp-filter>"), "cd" },
	{ "todos in March", VCAL("<C:comp-filter name=\"VTODO\">" RANGE("20260301T000000Z", "20260401T000000Z") "</C:comp-filter>"), "d" },
	{ "with an alarm", VCAL("<C:comp-filter name=\"VEVENT\"><C:comp-filter name=\"VALARM\"/></C:comp-filter>"), "a" },
	{ "without an alarm", VCAL("<C:comp-filter name=\"VEVENT\"><C:comp-filter name=\"VALARM\"><C:is-not-defined/></C:comp-filter></C:comp-filter>"), "b" },
	{ "no VJOURNAL", VCAL("<C:comp-filter name=\"VJOURNAL\"><C:is-not-defined/></C:comp-filter>"), "abcd" },
	{ "summary contains, ascii-casemap", VCAL("<C:comp-filter name=\"VEVENT\"><C:prop-filter name=\"SUMMARY\"><C:text-match>feriado</C:text-match></C:prop-filter></C:comp-filter>"), "b" },
	{ "octet is case-sensitive", VCAL("<C:comp-filter name=\"VEVENT\"><C:prop-filter name=\"SUMMARY\"><C:text-match collation=\"i;octet\">feriado</C:text-match></C:prop-filter></C:comp-filter>"), "" },
	{ "unicode-casemap folds accents' case", VCAL("<C:comp-filter name=\"VTODO\"><C:prop-filter name=\"SUMMARY\"><C:text-match collation=\"i;unicode-casemap\">RELATÓRIO</C:text-match></C:prop-filter></C:comp-filter>"), "c" },
	{ "negated text-match", VCAL("<C:comp-filter name=\"VTODO\"><C:prop-filter name=\"SUMMARY\"><C:text-match negate-condition=\"yes\">some</C:text-match></C:prop-filter></C:comp-filter>"), "c" },
	{ "property not defined", VCAL("<C:comp-filter name=\"VTODO\"><C:prop-filter name=\"DUE\"><C:is-not-defined/></C:prop-filter></C:comp-filter>"), "d" },
	{ "uid equals", VCAL("<C:comp-filter name=\"VEVENT\"><C:prop-filter name=\"UID\"><C:text-match match-type=\"equals\">a</C:text-match></C:prop-filter></C:comp-filter>"), "a" },
	{ "param-filter", VCAL("<C:comp-filter name=\"VEVENT\"><C:prop-filter name=\"ATTENDEE\"><C:param-filter name=\"PARTSTAT\"><C:text-match>accepted</C:text-match></C:param-filter></C:prop-filter></C:comp-filter>"), "a" },
	{ "range and text together", VCAL("<C:comp-filter name=\"VEVENT\">" RANGE("20260101T000000Z", "20260301T000000Z") "<C:prop-filter name=\"SUMMARY\"><C:text-match>reuni</C:text-match></C:prop-filter></C:comp-filter>"), "a" },
};

static xmlDoc *parse_filter(const char *inner)
{
	char xml[4096];
	snprintf(xml, sizeof(xml), "<C:filter xmlns:C=\"urn:ietf:params:xml:ns:caldav\">%s</C:filter>", inner);
	xmlDoc *document = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
	assert_non_null(document);
	return document;
}

static void test_filter_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(filter_cases) / sizeof(filter_cases[0]); i++) {
		const filter_case *c = &filter_cases[i];
		static ex_cal_filter filter;
		char err[256] = "";
		char matched[8] = "";
		size_t count = 0;
		xmlDoc *document = parse_filter(c->filter);

		if (ex_cal_filter_parse(xmlDocGetRootElement(document), &filter, err, sizeof(err)) != EX_CAL_FILTER_OK)
			fail_msg("%s: %s", c->name, err);
		for (size_t k = 0; k < sizeof(objects) / sizeof(objects[0]); k++) {
			ex_ical_object object;
			assert_int_equal(ex_ical_object_parse(objects[k], strlen(objects[k]), EX_ICAL_COMPONENT_ALL, &object, err,
							      sizeof(err)),
					 EX_ICAL_OK);
			if (ex_cal_filter_matches(&filter, object.calendar))
				matched[count++] = (char)('a' + k);
			ex_ical_object_free(&object);
		}
		if (strcmp(matched, c->expected) != 0)
			fail_msg("%s: matched \"%s\", expected \"%s\"", c->name, matched, c->expected);
		xmlFreeDoc(document);
	}
}

typedef struct {
	const char *name;
	const char *filter;
	ex_cal_filter_status expected;
} invalid_case;

static const invalid_case invalid_cases[] = {
	{ "no comp-filter", "", EX_CAL_FILTER_INVALID },
	{ "outer is not VCALENDAR", "<C:comp-filter name=\"VEVENT\"/>", EX_CAL_FILTER_INVALID },
	{ "comp-filter without name", VCAL("<C:comp-filter/>"), EX_CAL_FILTER_INVALID },
	{ "time-range without bounds", VCAL("<C:comp-filter name=\"VEVENT\"><C:time-range/></C:comp-filter>"), EX_CAL_FILTER_INVALID },
	{ "time-range not UTC", VCAL("<C:comp-filter name=\"VEVENT\"><C:time-range start=\"20260101T000000\"/></C:comp-filter>"), EX_CAL_FILTER_INVALID },
	{ "time-range end before start", VCAL("<C:comp-filter name=\"VEVENT\">" RANGE("20260201T000000Z", "20260101T000000Z") "</C:comp-filter>"), EX_CAL_FILTER_INVALID },
	{ "unknown collation", VCAL("<C:comp-filter name=\"VEVENT\"><C:prop-filter name=\"SUMMARY\"><C:text-match collation=\"i;klingon\">x</C:text-match></C:prop-filter></C:comp-filter>"), EX_CAL_FILTER_UNSUPPORTED_COLLATION },
	{ "time-range on VALARM", VCAL("<C:comp-filter name=\"VEVENT\"><C:comp-filter name=\"VALARM\">" RANGE("20260101T000000Z", "20260102T000000Z") "</C:comp-filter></C:comp-filter>"), EX_CAL_FILTER_UNSUPPORTED },
	{ "time-range in prop-filter", VCAL("<C:comp-filter name=\"VEVENT\"><C:prop-filter name=\"DTSTAMP\">" RANGE("20260101T000000Z", "20260102T000000Z") "</C:prop-filter></C:comp-filter>"), EX_CAL_FILTER_UNSUPPORTED },
	{ "nesting too deep", VCAL("<C:comp-filter name=\"VEVENT\"><C:comp-filter name=\"VALARM\"><C:comp-filter name=\"X\"/></C:comp-filter></C:comp-filter>"), EX_CAL_FILTER_INVALID },
};

static void test_invalid_filters(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++) {
		static ex_cal_filter filter;
		char err[256] = "";
		xmlDoc *document = parse_filter(invalid_cases[i].filter);
		ex_cal_filter_status status = ex_cal_filter_parse(xmlDocGetRootElement(document), &filter, err, sizeof(err));
		if (status != invalid_cases[i].expected)
			fail_msg("%s: status %d, expected %d", invalid_cases[i].name, status, invalid_cases[i].expected);
		assert_true(err[0] != '\0');
		xmlFreeDoc(document);
	}
}

static void test_time_range_for_index(void **state)
{
	static ex_cal_filter filter;
	char err[256];
	int64_t start = 0;
	int64_t end = 0;
	(void)state;

	xmlDoc *document = parse_filter(VCAL("<C:comp-filter name=\"VEVENT\">" RANGE("20260101T000000Z", "20260102T000000Z") "</C:comp-filter>"));
	assert_int_equal(ex_cal_filter_parse(xmlDocGetRootElement(document), &filter, err, sizeof(err)), EX_CAL_FILTER_OK);
	assert_true(ex_cal_filter_time_range(&filter, &start, &end));
	assert_true(end - start == 86400);
	xmlFreeDoc(document);

	document = parse_filter(VCAL("<C:comp-filter name=\"VTODO\"/>"));
	assert_int_equal(ex_cal_filter_parse(xmlDocGetRootElement(document), &filter, err, sizeof(err)), EX_CAL_FILTER_OK);
	assert_false(ex_cal_filter_time_range(&filter, &start, &end));
	xmlFreeDoc(document);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_table),
		cmocka_unit_test(test_invalid_filters),
		cmocka_unit_test(test_time_range_for_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
