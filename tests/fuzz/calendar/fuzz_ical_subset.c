/*
 * Feeds arbitrary bytes as a CALDAV:calendar-data element to the bounded
 * DAV XML parser and the comp/prop subset reader, then trims a fixed
 * iCalendar object to the subset read, as a calendar-query does.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "expresso/dav_xml.h"
#include "ical_subset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char object[] = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//fuzz//EN\r\n"
			     "BEGIN:VEVENT\r\nUID:f\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
			     "SUMMARY:s\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n"
			     "END:VEVENT\r\nEND:VCALENDAR\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ex_dav_xml_limits limits = { .max_bytes = 64 * 1024, .max_depth = EX_DAV_XML_DEFAULT_MAX_DEPTH };
	xmlDoc *document = NULL;
	char err[256];

	if (ex_dav_xml_parse((const char *)data, size, &limits, &document, err, sizeof(err)) != EX_DAV_XML_OK)
		return 0;
	ex_ical_subset *subset = NULL;
	if (ex_ical_subset_read(xmlDocGetRootElement(document), &subset, err, sizeof(err)) == 0 && subset != NULL)
		free(ex_ical_subset_apply(subset, object));
	ex_ical_subset_free(subset);
	xmlFreeDoc(document);
	return 0;
}
