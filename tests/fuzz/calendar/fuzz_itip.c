/*
 * Feeds arbitrary bytes, once the PUT checks accept them, to the iTIP
 * code that scheduling runs on stored objects: the roles, a REQUEST, a
 * REPLY and a CANCEL, a PARTSTAT edit and the fingerprint.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "calendar_itip.h"
#include "ical_object.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ex_ical_object object;
	char err[256];
	static ex_itip_roles roles;

	if (ex_ical_object_parse((const char *)data, size, EX_ICAL_COMPONENT_ALL, &object, err, sizeof(err)) != EX_ICAL_OK)
		return 0;
	ex_itip_read_roles(object.calendar, &roles);
	(void)ex_itip_max_attendees_per_component(object.calendar);
	const char *replier = roles.attendee_count > 0 ? roles.attendees[0].address : "a@b.c";
	free(ex_itip_build(object.calendar, ICAL_METHOD_REQUEST, NULL));
	free(ex_itip_build(object.calendar, ICAL_METHOD_REPLY, replier));
	free(ex_itip_build(object.calendar, ICAL_METHOD_CANCEL, NULL));
	ex_itip_set_partstat(object.calendar, replier, "ACCEPTED", "2.0");
	free(ex_itip_fingerprint(object.calendar));
	ex_itip_mark_cancelled(object.calendar);
	ex_ical_object_free(&object);
	return 0;
}
