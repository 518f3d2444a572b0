/*
 * Time zone of a DATE-TIME property: the VTIMEZONE of the same VCALENDAR
 * named by its TZID, else the IANA zone of that name from the system's
 * tz data, else the IANA zone that CLDR's windowsZones table maps a
 * Windows zone name to (Outlook and Exchange write "E. South America
 * Standard Time"). A TZID that none of them knows is read as floating.
 */
#ifndef EXPRESSO_CALENDAR_ICAL_ZONE_H
#define EXPRESSO_CALENDAR_ICAL_ZONE_H

#include <libical/ical.h>

/* Returns the zone of PROPERTY's TZID parameter, or NULL for UTC, floating and unknown zones. */
const icaltimezone *ex_ical_property_zone(icalcomponent *calendar, icalproperty *property);

/* Returns the IANA name CLDR maps the Windows zone NAME to, or NULL. */
const char *ex_ical_windows_zone(const char *name);

#endif
