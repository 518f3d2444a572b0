/*
 * expresso-contacts' settings and resources: the token verifier for
 * Bearer requests, the DAV authenticator, the database pool and the bus
 * connection the daemon core opened, and the limits of the DAV handlers.
 */
#include "contacts_service.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"
#include "expresso/oidc_settings.h"

enum {
	MIN_RESOURCE_SIZE = 1024,
	MIN_XML_BYTES = 1024,
	MAX_XML_DEPTH_LIMIT = 256,
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
	{ "dav_max_xml_bytes", "EXPRESSO_DAV_MAX_XML_BYTES", EX_SETTING_SIZE, "1M", "bytes",
	  "Largest XML body of PROPFIND, PROPPATCH, REPORT and MKCOL; larger ones are answered 413.", false },
	{ "dav_max_xml_depth", "EXPRESSO_DAV_MAX_XML_DEPTH", EX_SETTING_INT, "32", "levels",
	  "Deepest element nesting accepted in a DAV XML body; deeper bodies are answered 400.", false },
	{ 0 },
};

static int invalid_setting(const char *variable, const char *problem)
{
	ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting", variable, "error", problem);
	return -1;
}

static int read_settings(contacts_service *service, const ex_config *config)
{
	int64_t depth = ex_config_int(config, "dav_max_xml_depth");

	service->max_resource_size = (size_t)ex_config_size(config, "carddav_max_resource_size");
	service->quota_bytes = (long long)ex_config_size(config, "contacts_quota");
	service->max_import_size = (size_t)ex_config_size(config, "contacts_max_import_size");
	if (service->max_import_size < MIN_RESOURCE_SIZE)
		return invalid_setting("EXPRESSO_CONTACTS_MAX_IMPORT_SIZE", "expected at least 1K");
	int64_t tombstone_days = ex_config_int(config, "carddav_tombstone_days");
	if (tombstone_days < 0 || tombstone_days > 36500)
		return invalid_setting("EXPRESSO_CARDDAV_TOMBSTONE_DAYS", "expected 0 to 36500 days");
	service->tombstone_days = (int)tombstone_days;
	service->xml_limits.max_bytes = (size_t)ex_config_size(config, "dav_max_xml_bytes");
	if (service->max_resource_size < MIN_RESOURCE_SIZE)
		return invalid_setting("EXPRESSO_CARDDAV_MAX_RESOURCE_SIZE", "expected at least 1K");
	if (service->xml_limits.max_bytes < MIN_XML_BYTES)
		return invalid_setting("EXPRESSO_DAV_MAX_XML_BYTES", "expected at least 1K");
	if (depth < 4 || depth > MAX_XML_DEPTH_LIMIT)
		return invalid_setting("EXPRESSO_DAV_MAX_XML_DEPTH", "expected 4 to 256 levels");
	service->xml_limits.max_depth = (unsigned)depth;
	return 0;
}

int contacts_service_open(contacts_service *service, ex_daemon *daemon)
{
	const ex_config *config = ex_daemon_config(daemon);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	xmlInitParser();
	if (read_settings(service, config) != 0)
		return -1;

	if (ex_oidc_verifier_open(config, EX_OIDC_ISSUER_REQUIRED, NULL, &service->verifier) != 0)
		return -1;
	service->issuer = strdup(ex_config_string(config, "oidc_issuer"));
	if (service->issuer == NULL)
		return -1;
	ex_oidc_verifier_prefetch(service->verifier);

	ex_metrics *metrics = ex_daemon_metrics(daemon);
	service->changes = ex_metrics_counter(metrics, "contacts_changes_total",
					      "vCards and address books created, updated or deleted.");
	service->auth_failures = ex_metrics_counter(metrics, "contacts_auth_failures_total",
						    "CardDAV and API requests answered 401 for missing or wrong credentials.");
	service->rejected_bodies = ex_metrics_counter(metrics, "contacts_rejected_bodies_total",
						      "Request bodies rejected for their content: invalid XML or vCard, or over a limit.");
	service->database = ex_daemon_database(daemon);
	service->bus = ex_daemon_bus(daemon);
	service->authenticator = ex_dav_authenticator_new(service->verifier, service->database);
	if (service->authenticator == NULL) {
		ex_log(EX_LOG_ERROR, "contacts_setup_failed", "{s:s}", "error", "could not create the DAV authenticator");
		return -1;
	}
	ex_log(EX_LOG_INFO, "contacts_configured", "{s:s, s:I, s:I, s:i}", "issuer", service->issuer,
	       "max_resource_size", (json_int_t)service->max_resource_size, "max_xml_bytes",
	       (json_int_t)service->xml_limits.max_bytes, "max_xml_depth", (int)service->xml_limits.max_depth);
	return 0;
}

void contacts_service_close(contacts_service *service)
{
	ex_dav_authenticator_free(service->authenticator);
	ex_auth_verifier_free(service->verifier);
	free(service->issuer);
	memset(service, 0, sizeof(*service));
	xmlCleanupParser();
	curl_global_cleanup();
}
