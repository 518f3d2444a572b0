/*
 * Feeds arbitrary bytes to the calendar object checks of PUT, then, for
 * an accepted object, expands its instances over one year and evaluates
 * a calendar-query filter with a time range and a text-match, as a
 * REPORT does with stored objects. The object is then returned through
 * CALDAV:expand and limit-recurrence-set with floating times read in
 * America/Sao_Paulo.
 */
#include <libxml/parser.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cal_filter.h"
#include "ical_expand.h"
#include "ical_object.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char filter_xml[] =
	"<C:filter xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><C:comp-filter name=\"VCALENDAR\">"
	"<C:comp-filter name=\"VEVENT\"><C:time-range start=\"20260101T000000Z\" end=\"20270101T000000Z\"/>"
	"<C:prop-filter name=\"SUMMARY\"><C:text-match collation=\"i;unicode-casemap\">ção</C:text-match></C:prop-filter>"
	"</C:comp-filter></C:comp-filter></C:filter>";

static bool count_instance(void *context, icalcomponent *component, int64_t start, int64_t end)
{
	(void)component;
	(void)start;
	(void)end;
	return ++*(unsigned *)context < 1000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ex_cal_filter filter;
	static bool filter_ready;
	ex_ical_object object;
	char err[256];

	if (!filter_ready) {
		xmlDoc *document = xmlReadMemory(filter_xml, (int)strlen(filter_xml), NULL, NULL, XML_PARSE_NONET);
		filter_ready = document != NULL &&
			       ex_cal_filter_parse(xmlDocGetRootElement(document), &filter, err, sizeof(err)) == EX_CAL_FILTER_OK;
		xmlFreeDoc(document);
	}
	if (ex_ical_object_parse((const char *)data, size, EX_ICAL_COMPONENT_ALL, &object, err, sizeof(err)) != EX_ICAL_OK)
		return 0;
	unsigned instances = 0;
	ex_ical_foreach_instance(object.calendar, object.component, 1767225600, 1798761600, count_instance, &instances);
	if (filter_ready)
		(void)ex_cal_filter_matches(&filter, object.calendar);

	static icaltimezone *floating;
	if (floating == NULL)
		floating = ex_ical_calendar_timezone("BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:America/Sao_Paulo\r\n"
						     "END:VTIMEZONE\r\nEND:VCALENDAR\r\n");
	char *text = NULL;
	(void)ex_ical_expand(object.calendar, 1767225600, 1798761600, floating, 1000, &text);
	free(text);
	free(ex_ical_limit_recurrence_set(object.calendar, 1767225600, 1798761600, floating));
	ex_ical_object_free(&object);
	return 0;
}
