/*
 * TZID resolution for recurrence expansion and time-range queries. The
 * Windows names come from CLDR's windowsZones.xml (the territory "001"
 * entry of each zone), so a Windows name maps to one IANA zone whose
 * current rules apply, instead of a guess from the offsets in the file.
 */
#include "ical_zone.h"

#include <string.h>
#include <strings.h>

static const struct {
	const char *windows;
	const char *iana;
} windows_zones[] = {
	{ "Dateline Standard Time", "Etc/GMT+12" },
	{ "Hawaiian Standard Time", "Pacific/Honolulu" },
	{ "Alaskan Standard Time", "America/Anchorage" },
	{ "Pacific Standard Time", "America/Los_Angeles" },
	{ "US Mountain Standard Time", "America/Phoenix" },
	{ "Mountain Standard Time", "America/Denver" },
	{ "Central America Standard Time", "America/Guatemala" },
	{ "Central Standard Time", "America/Chicago" },
	{ "Central Standard Time (Mexico)", "America/Mexico_City" },
	{ "SA Pacific Standard Time", "America/Bogota" },
	{ "Eastern Standard Time", "America/New_York" },
	{ "US Eastern Standard Time", "America/Indianapolis" },
	{ "Venezuela Standard Time", "America/Caracas" },
	{ "Atlantic Standard Time", "America/Halifax" },
	{ "SA Western Standard Time", "America/La_Paz" },
	{ "Pacific SA Standard Time", "America/Santiago" },
	{ "Newfoundland Standard Time", "America/St_Johns" },
	{ "E. South America Standard Time", "America/Sao_Paulo" },
	{ "Argentina Standard Time", "America/Buenos_Aires" },
	{ "SA Eastern Standard Time", "America/Cayenne" },
	{ "Tocantins Standard Time", "America/Araguaina" },
	{ "Bahia Standard Time", "America/Bahia" },
	{ "Montevideo Standard Time", "America/Montevideo" },
	{ "Paraguay Standard Time", "America/Asuncion" },
	{ "Central Brazilian Standard Time", "America/Cuiaba" },
	{ "UTC-02", "Etc/GMT+2" },
	{ "Azores Standard Time", "Atlantic/Azores" },
	{ "Cape Verde Standard Time", "Atlantic/Cape_Verde" },
	{ "UTC", "Etc/UTC" },
	{ "GMT Standard Time", "Europe/London" },
	{ "Greenwich Standard Time", "Atlantic/Reykjavik" },
	{ "W. Europe Standard Time", "Europe/Berlin" },
	{ "Central Europe Standard Time", "Europe/Budapest" },
	{ "Romance Standard Time", "Europe/Paris" },
	{ "Central European Standard Time", "Europe/Warsaw" },
	{ "W. Central Africa Standard Time", "Africa/Lagos" },
	{ "GTB Standard Time", "Europe/Bucharest" },
	{ "E. Europe Standard Time", "Europe/Chisinau" },
	{ "Egypt Standard Time", "Africa/Cairo" },
	{ "South Africa Standard Time", "Africa/Johannesburg" },
	{ "FLE Standard Time", "Europe/Kiev" },
	{ "Israel Standard Time", "Asia/Jerusalem" },
	{ "Arabic Standard Time", "Asia/Baghdad" },
	{ "Turkey Standard Time", "Europe/Istanbul" },
	{ "Arab Standard Time", "Asia/Riyadh" },
	{ "Russian Standard Time", "Europe/Moscow" },
	{ "E. Africa Standard Time", "Africa/Nairobi" },
	{ "Iran Standard Time", "Asia/Tehran" },
	{ "Arabian Standard Time", "Asia/Dubai" },
	{ "Afghanistan Standard Time", "Asia/Kabul" },
	{ "Pakistan Standard Time", "Asia/Karachi" },
	{ "India Standard Time", "Asia/Calcutta" },
	{ "Nepal Standard Time", "Asia/Katmandu" },
	{ "Bangladesh Standard Time", "Asia/Dhaka" },
	{ "SE Asia Standard Time", "Asia/Bangkok" },
	{ "China Standard Time", "Asia/Shanghai" },
	{ "Singapore Standard Time", "Asia/Singapore" },
	{ "Taipei Standard Time", "Asia/Taipei" },
	{ "W. Australia Standard Time", "Australia/Perth" },
	{ "Tokyo Standard Time", "Asia/Tokyo" },
	{ "Korea Standard Time", "Asia/Seoul" },
	{ "Yakutsk Standard Time", "Asia/Yakutsk" },
	{ "Cen. Australia Standard Time", "Australia/Adelaide" },
	{ "AUS Central Standard Time", "Australia/Darwin" },
	{ "E. Australia Standard Time", "Australia/Brisbane" },
	{ "AUS Eastern Standard Time", "Australia/Sydney" },
	{ "West Pacific Standard Time", "Pacific/Port_Moresby" },
	{ "Tasmania Standard Time", "Australia/Hobart" },
	{ "Vladivostok Standard Time", "Asia/Vladivostok" },
	{ "New Zealand Standard Time", "Pacific/Auckland" },
	{ "Fiji Standard Time", "Pacific/Fiji" },
	{ "Tonga Standard Time", "Pacific/Tongatapu" },
};

const char *ex_ical_windows_zone(const char *name)
{
	for (size_t i = 0; i < sizeof(windows_zones) / sizeof(windows_zones[0]); i++) {
		if (strcasecmp(windows_zones[i].windows, name) == 0)
			return windows_zones[i].iana;
	}
	return NULL;
}

const icaltimezone *ex_ical_property_zone(icalcomponent *calendar, icalproperty *property)
{
	icalparameter *parameter = icalproperty_get_first_parameter(property, ICAL_TZID_PARAMETER);
	const char *tzid = parameter ? icalparameter_get_tzid(parameter) : NULL;
	if (tzid == NULL || tzid[0] == '\0')
		return NULL;

	icaltimezone *zone = icalcomponent_get_timezone(calendar, tzid);
	if (zone != NULL)
		return zone;
	zone = icaltimezone_get_builtin_timezone(tzid);
	if (zone != NULL)
		return zone;
	const char *iana = ex_ical_windows_zone(tzid);
	return iana != NULL ? icaltimezone_get_builtin_timezone(iana) : NULL;
}
