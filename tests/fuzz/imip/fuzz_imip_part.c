/*
 * Feeds arbitrary bytes as a delivered message to the iMIP extraction:
 * GMime's parse, the search for the text/calendar part, its method
 * parameter and From address, then the iCalendar checks and the METHOD
 * and roles the dispatcher reads from the part.
 */
#include <libical/ical.h>
#include <stddef.h>
#include <stdint.h>

#include "calendar_itip.h"
#include "ical_object.h"
#include "imip_part.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	imip_part_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ex_itip_roles roles;
	imip_part part;
	ex_ical_object object;
	char err[256];

	if (imip_part_extract((const char *)data, size, 64 * 1024, &part) != IMIP_PART_FOUND) {
		imip_part_clear(&part);
		return 0;
	}
	if (ex_ical_object_parse(part.calendar, part.length, EX_ICAL_COMPONENT_VEVENT | EX_ICAL_COMPONENT_VTODO, &object, err,
				 sizeof(err)) == EX_ICAL_OK) {
		(void)icalproperty_method_to_string(icalcomponent_get_method(object.calendar));
		ex_itip_read_roles(object.calendar, &roles);
		ex_ical_object_free(&object);
	}
	imip_part_clear(&part);
	return 0;
}
