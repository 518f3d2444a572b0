/*
 * The CALDAV:comp subset of calendar-data: reading the comp tree and
 * trimming an iCalendar object to the components and properties it names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_xml.h"
#include "ical_subset.h"

static const char object[] =
	"BEGIN:VCALENDAR\r\n"
	"VERSION:2.0\r\n"
	"PRODID:-//test//EN\r\n"
	"BEGIN:VTIMEZONE\r\n"
	"TZID:America/Sao_Paulo\r\n"
	"BEGIN:STANDARD\r\n"
	"DTSTART:19700101T000000\r\n"
	"TZOFFSETFROM:-0300\r\n"
	"TZOFFSETTO:-0300\r\n"
	"END:STANDARD\r\n"
	"END:VTIMEZONE\r\n"
	"BEGIN:VEVENT\r\n"
	"UID:subset-1\r\n"
	"DTSTAMP:20260101T000000Z\r\n"
	"DTSTART;TZID=America/Sao_Paulo:20260105T100000\r\n"
	"SUMMARY:Planning\r\n"
	"DESCRIPTION:Quarterly planning\r\n"
	"ATTENDEE:mailto:bob@example.com\r\n"
	"BEGIN:VALARM\r\n"
	"ACTION:DISPLAY\r\n"
	"TRIGGER:-PT15M\r\n"
	"DESCRIPTION:Reminder\r\n"
	"END:VALARM\r\n"
	"END:VEVENT\r\n"
	"END:VCALENDAR\r\n";

/* Parses the calendar-data element XML and reads its subset; returns the status of ex_ical_subset_read. */
static int read_subset(const char *xml, ex_ical_subset **subset, char *err, size_t err_size)
{
	xmlDoc *document = NULL;
	ex_dav_xml_limits limits = { 0 };
	char parse_error[256];

	assert_int_equal(ex_dav_xml_parse(xml, strlen(xml), &limits, &document, parse_error, sizeof(parse_error)),
			 EX_DAV_XML_OK);
	int status = ex_ical_subset_read(xmlDocGetRootElement(document), subset, err, err_size);
	xmlFreeDoc(document);
	return status;
}

#define CALENDAR_DATA "<C:calendar-data xmlns:C=\"urn:ietf:params:xml:ns:caldav\">"

static void test_subset_absent(void **state)
{
	(void)state;
	ex_ical_subset *subset = (ex_ical_subset *)1;
	char err[256];

	assert_int_equal(read_subset(CALENDAR_DATA "</C:calendar-data>", &subset, err, sizeof(err)), 0);
	assert_null(subset);
}

static void test_subset_selects(void **state)
{
	(void)state;
	ex_ical_subset *subset = NULL;
	char err[256];

	assert_int_equal(read_subset(CALENDAR_DATA "<C:comp name=\"VCALENDAR\"><C:prop name=\"VERSION\"/>"
						   "<C:comp name=\"VEVENT\"><C:prop name=\"SUMMARY\"/><C:prop name=\"uid\"/>"
						   "</C:comp></C:comp></C:calendar-data>",
				     &subset, err, sizeof(err)),
			 0);
	assert_non_null(subset);
	char *trimmed = ex_ical_subset_apply(subset, object);
	assert_non_null(trimmed);
	assert_non_null(strstr(trimmed, "VERSION:2.0"));
	assert_non_null(strstr(trimmed, "BEGIN:VEVENT"));
	assert_non_null(strstr(trimmed, "SUMMARY:Planning"));
	assert_non_null(strstr(trimmed, "UID:subset-1"));
	assert_null(strstr(trimmed, "PRODID"));
	assert_null(strstr(trimmed, "VTIMEZONE"));
	assert_null(strstr(trimmed, "DTSTART"));
	assert_null(strstr(trimmed, "DESCRIPTION"));
	assert_null(strstr(trimmed, "ATTENDEE"));
	assert_null(strstr(trimmed, "VALARM"));
	free(trimmed);
	ex_ical_subset_free(subset);
}

static void test_subset_allprop_allcomp(void **state)
{
	(void)state;
	ex_ical_subset *subset = NULL;
	char err[256];

	assert_int_equal(read_subset(CALENDAR_DATA "<C:comp name=\"VCALENDAR\"><C:allprop/>"
						   "<C:comp name=\"VEVENT\"><C:allprop/><C:allcomp/></C:comp></C:comp>"
						   "</C:calendar-data>",
				     &subset, err, sizeof(err)),
			 0);
	char *trimmed = ex_ical_subset_apply(subset, object);
	assert_non_null(trimmed);
	assert_non_null(strstr(trimmed, "PRODID:-//test//EN"));
	assert_non_null(strstr(trimmed, "ATTENDEE:mailto:bob@example.com"));
	assert_non_null(strstr(trimmed, "BEGIN:VALARM"));
	assert_non_null(strstr(trimmed, "TRIGGER:-PT15M"));
	assert_null(strstr(trimmed, "VTIMEZONE"));
	free(trimmed);
	ex_ical_subset_free(subset);
}

static void test_subset_comp_without_props(void **state)
{
	(void)state;
	ex_ical_subset *subset = NULL;
	char err[256];

	/* A comp with no prop and no allprop returns the component with none of its properties. */
	assert_int_equal(read_subset(CALENDAR_DATA "<C:comp name=\"VCALENDAR\"><C:comp name=\"VEVENT\">"
						   "<C:comp name=\"VALARM\"><C:prop name=\"ACTION\"/></C:comp></C:comp>"
						   "</C:comp></C:calendar-data>",
				     &subset, err, sizeof(err)),
			 0);
	char *trimmed = ex_ical_subset_apply(subset, object);
	assert_non_null(trimmed);
	assert_non_null(strstr(trimmed, "BEGIN:VEVENT"));
	assert_non_null(strstr(trimmed, "ACTION:DISPLAY"));
	assert_null(strstr(trimmed, "VERSION"));
	assert_null(strstr(trimmed, "SUMMARY"));
	assert_null(strstr(trimmed, "TRIGGER"));
	free(trimmed);
	ex_ical_subset_free(subset);
}

static void test_subset_invalid(void **state)
{
	(void)state;
	ex_ical_subset *subset = NULL;
	char err[256];

	assert_int_equal(read_subset(CALENDAR_DATA "<C:comp name=\"VEVENT\"/></C:calendar-data>", &subset, err,
				     sizeof(err)),
			 -1);
	assert_null(subset);
	assert_non_null(strstr(err, "VCALENDAR"));
	assert_int_equal(read_subset(CALENDAR_DATA "<C:comp/></C:calendar-data>", &subset, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "name attribute"));
	assert_int_equal(read_subset(CALENDAR_DATA "<C:comp name=\"VCALENDAR\"><C:prop/></C:comp></C:calendar-data>",
				     &subset, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "CALDAV:prop"));
	assert_int_equal(read_subset(CALENDAR_DATA "<C:comp name=\"VCALENDAR\"><C:comp name=\"VEVENT\"><C:prop/>"
						   "</C:comp></C:comp></C:calendar-data>",
				     &subset, err, sizeof(err)),
			 -1);
	assert_null(subset);
}

static void test_subset_unparsable_object(void **state)
{
	(void)state;
	ex_ical_subset *subset = NULL;
	char err[256];

	assert_int_equal(read_subset(CALENDAR_DATA "<C:comp name=\"VCALENDAR\"/></C:calendar-data>", &subset, err,
				     sizeof(err)),
			 0);
	assert_null(ex_ical_subset_apply(subset, "not iCalendar"));
	ex_ical_subset_free(subset);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subset_absent),
		cmocka_unit_test(test_subset_selects),
		cmocka_unit_test(test_subset_allprop_allcomp),
		cmocka_unit_test(test_subset_comp_without_props),
		cmocka_unit_test(test_subset_invalid),
		cmocka_unit_test(test_subset_unparsable_object),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
