/*
 * expresso-calendar's settings and resources: the token verifier for
 * Bearer requests, the DAV authenticator, the database pool and the bus
 * connection the daemon core opened, and the limits of the DAV handlers.
 */
#include "calendar_service.h"

#include <string.h>

#include "calendar_itip.h"
#include "expresso/dav_service.h"
#include "expresso/log.h"
#include "expresso/oidc_settings.h"

enum {
	MIN_RESOURCE_SIZE = 1024,
};

const ex_setting calendar_settings[] = {
	EX_OIDC_SETTINGS,
	{ "caldav_max_resource_size", "EXPRESSO_CALDAV_MAX_RESOURCE_SIZE", EX_SETTING_SIZE, "1M", "bytes",
	  "Largest calendar object a PUT may store (CALDAV:max-resource-size); larger ones are answered 413.", false },
	{ "calendar_quota", "EXPRESSO_CALENDAR_QUOTA", EX_SETTING_SIZE, "100M", "bytes",
	  "Total size of the calendar objects one user may store; a PUT past it is answered 507 with DAV:quota-not-exceeded.", false },
	{ "caldav_max_expanded_instances", "EXPRESSO_CALDAV_MAX_EXPANDED_INSTANCES", EX_SETTING_INT, "10000", "instances",
	  "Most recurrence instances a REPORT with CALDAV:expand returns for one calendar object; more are answered 403.", false },
	{ "calendar_max_import_size", "EXPRESSO_CALENDAR_MAX_IMPORT_SIZE", EX_SETTING_SIZE, "10M", "bytes",
	  "Largest .ics file POST /api/v1/calendars/{calendar}/import takes; larger ones are answered 413.", false },
	{ "caldav_tombstone_days", "EXPRESSO_CALDAV_TOMBSTONE_DAYS", EX_SETTING_INT, "90", "days",
	  "Days a deleted calendar object stays reported to sync-collection; older sync-tokens then get 403 DAV:valid-sync-token.", false },
	{ "calendar_itip_retention_days", "EXPRESSO_CALENDAR_ITIP_RETENTION_DAYS", EX_SETTING_INT, "30", "days",
	  "Days an iMIP message stays in calendar_itip_outbox after expresso-mail queued it (0 to 36500); older ones are "
	  "deleted when the tenant sends its next iMIP message.", false },
	{ "caldav_max_attendees", "EXPRESSO_CALDAV_MAX_ATTENDEES", EX_SETTING_INT, "100", "attendees",
	  "Maximum number of ATTENDEE properties in one component of a calendar object (1 to 1000); a PUT with more is answered 403 "
	  "with CALDAV:max-attendees-per-instance.", false },
	{ "calendar_max_freebusy_users", "EXPRESSO_CALENDAR_MAX_FREEBUSY_USERS", EX_SETTING_INT, "20", "users",
	  "Maximum number of addresses in one GET /api/v1/calendars/freebusy (1 to 1000); more are answered 400.", false },
	EX_DAV_XML_SETTINGS,
	{ 0 },
};

static int invalid_setting(const char *variable, const char *problem)
{
	ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting", variable, "error", problem);
	return -1;
}

static int read_settings(calendar_service *service, const ex_config *config)
{
	service->max_resource_size = (size_t)ex_config_size(config, "caldav_max_resource_size");
	service->quota_bytes = (long long)ex_config_size(config, "calendar_quota");
	service->max_import_size = (size_t)ex_config_size(config, "calendar_max_import_size");
	int64_t max_expanded = ex_config_int(config, "caldav_max_expanded_instances");
	if (max_expanded < 1 || max_expanded > 1000000)
		return invalid_setting("EXPRESSO_CALDAV_MAX_EXPANDED_INSTANCES", "expected 1 to 1000000 instances");
	service->max_expanded_instances = (size_t)max_expanded;
	int64_t tombstone_days = ex_config_int(config, "caldav_tombstone_days");
	if (tombstone_days < 0 || tombstone_days > 36500)
		return invalid_setting("EXPRESSO_CALDAV_TOMBSTONE_DAYS", "expected 0 to 36500 days");
	service->tombstone_days = (int)tombstone_days;
	int64_t itip_retention_days = ex_config_int(config, "calendar_itip_retention_days");
	if (itip_retention_days < 0 || itip_retention_days > 36500)
		return invalid_setting("EXPRESSO_CALENDAR_ITIP_RETENTION_DAYS", "expected 0 to 36500 days");
	service->itip_retention_days = (int)itip_retention_days;
	int64_t max_attendees = ex_config_int(config, "caldav_max_attendees");
	if (max_attendees < 1 || max_attendees > EX_ITIP_MAX_ATTENDEES)
		return invalid_setting("EXPRESSO_CALDAV_MAX_ATTENDEES", "expected 1 to 1000 attendees");
	service->max_attendees = (size_t)max_attendees;
	int64_t max_freebusy_users = ex_config_int(config, "calendar_max_freebusy_users");
	if (max_freebusy_users < 1 || max_freebusy_users > 1000)
		return invalid_setting("EXPRESSO_CALENDAR_MAX_FREEBUSY_USERS", "expected 1 to 1000 users");
	service->max_freebusy_users = (size_t)max_freebusy_users;
	if (service->max_import_size < MIN_RESOURCE_SIZE)
		return invalid_setting("EXPRESSO_CALENDAR_MAX_IMPORT_SIZE", "expected at least 1K");
	if (service->max_resource_size < MIN_RESOURCE_SIZE)
		return invalid_setting("EXPRESSO_CALDAV_MAX_RESOURCE_SIZE", "expected at least 1K");
	return 0;
}

int calendar_service_open(calendar_service *service, ex_daemon *daemon)
{
	if (read_settings(service, ex_daemon_config(daemon)) != 0)
		return -1;

	const ex_dav_service_spec spec = {
		.name = "calendar",
		.changes_help = "Calendar objects and calendars created, updated or deleted.",
		.auth_failures_help = "CalDAV requests rejected with 401 Unauthorized for missing or invalid credentials.",
		.rejected_bodies_help = "Request bodies rejected for their content: invalid XML or iCalendar, or over a limit.",
		.max_resource_size = service->max_resource_size,
	};
	return ex_dav_service_open(&service->dav, daemon, &spec);
}

void calendar_service_close(calendar_service *service)
{
	ex_dav_service_close(&service->dav);
	memset(service, 0, sizeof(*service));
}
