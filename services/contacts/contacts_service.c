/*
 * expresso-contacts' settings and resources: the token verifier for
 * Bearer requests, the DAV authenticator, the database pool and the bus
 * connection the daemon core opened, and the limits of the DAV handlers.
 */
#include "contacts_service.h"

#include <string.h>

#include "expresso/dav_service.h"
#include "expresso/log.h"
#include "expresso/oidc_settings.h"

enum {
	MIN_RESOURCE_SIZE = 1024,
};

const ex_setting contacts_settings[] = {
	EX_OIDC_SETTINGS,
	{ "carddav_max_resource_size", "EXPRESSO_CARDDAV_MAX_RESOURCE_SIZE", EX_SETTING_SIZE, "1M", "bytes",
	  "Largest vCard a PUT may store (CARDDAV:max-resource-size); larger ones are answered 413.", false },
	{ "contacts_quota", "EXPRESSO_CONTACTS_QUOTA", EX_SETTING_SIZE, "100M", "bytes",
	  "Total size of the vCards one user may store; a PUT past it is answered 507 with DAV:quota-not-exceeded.", false },
	{ "contacts_max_import_size", "EXPRESSO_CONTACTS_MAX_IMPORT_SIZE", EX_SETTING_SIZE, "10M", "bytes",
	  "Largest .vcf file POST /api/v1/addressbooks/{book}/import takes; larger ones are answered 413.", false },
	{ "carddav_tombstone_days", "EXPRESSO_CARDDAV_TOMBSTONE_DAYS", EX_SETTING_INT, "90", "days",
	  "Days a deleted vCard stays reported to sync-collection; older sync-tokens then get 403 DAV:valid-sync-token.", false },
	EX_DAV_XML_SETTINGS,
	{ 0 },
};

static int invalid_setting(const char *variable, const char *problem)
{
	ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting", variable, "error", problem);
	return -1;
}

static int read_settings(contacts_service *service, const ex_config *config)
{
	service->max_resource_size = (size_t)ex_config_size(config, "carddav_max_resource_size");
	service->quota_bytes = (long long)ex_config_size(config, "contacts_quota");
	service->max_import_size = (size_t)ex_config_size(config, "contacts_max_import_size");
	if (service->max_import_size < MIN_RESOURCE_SIZE)
		return invalid_setting("EXPRESSO_CONTACTS_MAX_IMPORT_SIZE", "expected at least 1K");
	int64_t tombstone_days = ex_config_int(config, "carddav_tombstone_days");
	if (tombstone_days < 0 || tombstone_days > 36500)
		return invalid_setting("EXPRESSO_CARDDAV_TOMBSTONE_DAYS", "expected 0 to 36500 days");
	service->tombstone_days = (int)tombstone_days;
	if (service->max_resource_size < MIN_RESOURCE_SIZE)
		return invalid_setting("EXPRESSO_CARDDAV_MAX_RESOURCE_SIZE", "expected at least 1K");
	return 0;
}

int contacts_service_open(contacts_service *service, ex_daemon *daemon)
{
	if (read_settings(service, ex_daemon_config(daemon)) != 0)
		return -1;

	const ex_dav_service_spec spec = {
		.name = "contacts",
		.changes_help = "vCards and address books created, updated or deleted.",
		.auth_failures_help = "CardDAV and API requests rejected with 401 Unauthorized for missing or invalid credentials.",
		.rejected_bodies_help = "Request bodies rejected for their content: invalid XML or vCard, or over a limit.",
		.max_resource_size = service->max_resource_size,
	};
	return ex_dav_service_open(&service->dav, daemon, &spec);
}

void contacts_service_close(contacts_service *service)
{
	ex_dav_service_close(&service->dav);
	memset(service, 0, sizeof(*service));
}
