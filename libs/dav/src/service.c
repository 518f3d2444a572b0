/*
 * Opens and closes the resources both DAV daemons share (dav_service.h)
 * and counts their replies.
 * The daemons' own settings are read by each daemon before this runs.
 */
#include "expresso/dav_service.h"

#include <curl/curl.h>
#include <libxml/parser.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"
#include "expresso/oidc_settings.h"

enum {
	MIN_XML_BYTES = 1024,
	MIN_XML_DEPTH = 4,
	MAX_XML_DEPTH = 256,
};

static int invalid_setting(const char *variable, const char *problem)
{
	ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting", variable, "error", problem);
	return -1;
}

static int read_xml_limits(ex_dav_xml_limits *limits, const ex_config *config)
{
	int64_t depth = ex_config_int(config, "dav_max_xml_depth");

	limits->max_bytes = (size_t)ex_config_size(config, "dav_max_xml_bytes");
	if (limits->max_bytes < MIN_XML_BYTES)
		return invalid_setting("EXPRESSO_DAV_MAX_XML_BYTES", "expected at least 1K");
	if (depth < MIN_XML_DEPTH || depth > MAX_XML_DEPTH)
		return invalid_setting("EXPRESSO_DAV_MAX_XML_DEPTH", "expected 4 to 256 levels");
	limits->max_depth = (unsigned)depth;
	return 0;
}

/* Registers the counter <spec->name><SUFFIX> with HELP. */
static ex_counter *add_counter(ex_metrics *metrics, const ex_dav_service_spec *spec, const char *suffix,
			       const char *help)
{
	char name[128];

	snprintf(name, sizeof(name), "%s%s", spec->name, suffix);
	return ex_metrics_counter(metrics, name, help);
}

int ex_dav_service_open(ex_dav_service *service, ex_daemon *daemon, const ex_dav_service_spec *spec)
{
	const ex_config *config = ex_daemon_config(daemon);
	char event[64];

	curl_global_init(CURL_GLOBAL_DEFAULT);
	xmlInitParser();
	if (read_xml_limits(&service->xml_limits, config) != 0)
		return -1;

	if (ex_oidc_verifier_open(config, EX_OIDC_ISSUER_REQUIRED, NULL, &service->verifier) != 0)
		return -1;
	service->issuer = strdup(ex_config_string(config, "oidc_issuer"));
	if (service->issuer == NULL)
		return -1;
	ex_oidc_verifier_prefetch(service->verifier);

	ex_metrics *metrics = ex_daemon_metrics(daemon);
	service->changes = add_counter(metrics, spec, "_changes_total", spec->changes_help);
	service->auth_failures = add_counter(metrics, spec, "_auth_failures_total", spec->auth_failures_help);
	service->rejected_bodies = add_counter(metrics, spec, "_rejected_bodies_total", spec->rejected_bodies_help);
	service->database = ex_daemon_database(daemon);
	service->bus = ex_daemon_bus(daemon);
	service->authenticator = ex_dav_authenticator_new(service->verifier, service->database);
	if (service->authenticator == NULL) {
		snprintf(event, sizeof(event), "%s_setup_failed", spec->name);
		ex_log(EX_LOG_ERROR, event, "{s:s}", "error", "could not create the DAV authenticator");
		return -1;
	}
	snprintf(event, sizeof(event), "%s_configured", spec->name);
	ex_log(EX_LOG_INFO, event, "{s:s, s:I, s:I, s:i}", "issuer", service->issuer, "max_resource_size",
	       (json_int_t)spec->max_resource_size, "max_xml_bytes", (json_int_t)service->xml_limits.max_bytes,
	       "max_xml_depth", (int)service->xml_limits.max_depth);
	return 0;
}

/* Returns true when REPLY is a 403 naming one of the NULL-terminated CONDITIONS. */
static bool names_body_condition(const ex_dav_reply *reply, const char *const *conditions)
{
	if (reply->status != 403 || reply->condition == NULL)
		return false;
	for (size_t i = 0; conditions[i] != NULL; i++) {
		if (strcmp(reply->condition, conditions[i]) == 0)
			return true;
	}
	return false;
}

void ex_dav_service_count_reply(const ex_dav_service *service, const ex_dav_reply *reply,
				const char *const *body_conditions)
{
	if (reply->status < 300 && reply->changed && service->changes != NULL)
		ex_counter_add(service->changes, 1);
	bool rejected_body = reply->status == 400 || reply->status == 413 || names_body_condition(reply, body_conditions);
	if (rejected_body && service->rejected_bodies != NULL)
		ex_counter_add(service->rejected_bodies, 1);
}

void ex_dav_service_close(ex_dav_service *service)
{
	ex_dav_authenticator_free(service->authenticator);
	ex_auth_verifier_free(service->verifier);
	free(service->issuer);
	memset(service, 0, sizeof(*service));
	xmlCleanupParser();
	curl_global_cleanup();
}
