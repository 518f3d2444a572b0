/*
 * The set-up routes. GET /.well-known/autoconfig/mail/config-v1.1.xml and
 * GET /mail/config-v1.1.xml return the autoconfig document to any client,
 * but only for a domain that a tenant owns (404 for any other domain).
 * GET /api/v1/mail/mobileconfig returns the caller's own Apple profile.
 */
#include "mail_autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "expresso/log.h"
#include "mail_api.h"

enum {
	MAX_EMAIL = 254,
	MAX_DISPLAY_NAME = 255,
	DEFAULT_CALDAV_PORT = 8002,
	DEFAULT_CARDDAV_PORT = 8003,
	MAX_PORT = 65535,
};

typedef struct ex_mail_autoconfig {
	ex_mail_service *service;
	ex_mail_autoconfig_servers servers;
} ex_mail_autoconfig;

typedef struct {
	const char *user_id;
	bool found;
	char email[MAX_EMAIL + 1];
	char display_name[MAX_DISPLAY_NAME + 1];
} user_row;

static void handle_autoconfig(ex_http_request *request, void *context)
{
	ex_mail_autoconfig *autoconfig = context;
	char email[MAX_EMAIL + 2] = "";
	char domain[EX_MAIL_AUTOCONFIG_MAX_HOST + 1];

	int query = ex_http_query(request, "emailaddress", email, sizeof(email));
	if (query < 0 || (query == 0 && strlen(email) > MAX_EMAIL)) {
		ex_http_respond_error(request, 400, "invalid_email", "emailaddress must be an address of at most 254 characters");
		return;
	}
	if (!ex_mail_autoconfig_domain(email, ex_http_header(request, "Host"), domain, sizeof(domain))) {
		ex_http_respond_error(request, 400, "invalid_domain",
				      "give the address as ?emailaddress=user@domain, or ask autoconfig.<domain>");
		return;
	}
	char tenant_id[EX_SMTP_UUID_TEXT];
	int served = ex_mail_tenant_for_domain(autoconfig->service->database, domain, tenant_id);
	if (served < 0) {
		ex_http_respond_error(request, 503, "database_unavailable", "the domain cannot be checked now; try again");
		return;
	}
	if (served == 0) {
		ex_http_respond_error(request, 404, "domain_not_found", "this server does not handle mail for that domain");
		return;
	}
	char *document = ex_mail_autoconfig_document(&autoconfig->servers, domain);
	ex_http_respond_text(request, 200, "text/xml; charset=utf-8", document);
	ex_http_add_header(request, "Cache-Control", "public, max-age=3600");
	g_free(document);
}

static int read_user(PGconn *connection, void *context, ex_db_error *error)
{
	user_row *row = context;
	const char *params[] = { row->user_id };
	PGresult *result = ex_db_exec(connection, "SELECT email, display_name FROM users WHERE id = $1 AND NOT disabled",
				      1, params, error);
	if (result == NULL)
		return -1;
	row->found = PQntuples(result) == 1;
	if (row->found) {
		snprintf(row->email, sizeof(row->email), "%s", PQgetvalue(result, 0, 0));
		snprintf(row->display_name, sizeof(row->display_name), "%s", PQgetvalue(result, 0, 1));
	}
	PQclear(result);
	return 0;
}

static void handle_mobileconfig(ex_http_request *request, void *context)
{
	ex_mail_autoconfig *autoconfig = context;
	ex_mail_api_caller caller;
	if (!ex_mail_api_authenticate(autoconfig->service->api, request, &caller))
		return;

	user_row row = { .user_id = caller.user_id };
	ex_db_error error = { 0 };
	if (ex_db_tenant_transaction(autoconfig->service->database, caller.tenant_id, EX_DB_READ_COMMITTED, read_user,
				     &row, &error) != 0) {
		ex_mail_api_respond_database_error(request, "mobileconfig", &error);
	} else if (!row.found) {
		ex_http_respond_error(request, 403, "account_not_found", "this user has no mail account here");
	} else {
		char *document = ex_mail_mobileconfig_document(&autoconfig->servers, caller.user_id, row.email,
							       row.display_name);
		ex_http_respond_text(request, 200, "application/x-apple-aspen-config", document);
		ex_http_add_header(request, "Content-Disposition", "attachment; filename=\"expresso.mobileconfig\"");
		ex_http_add_header(request, "Cache-Control", "no-store");
		g_free(document);
	}
	ex_mail_api_caller_clear(&caller);
}

/* Reads setting KEY (a URL) into OUT. When it is unset or empty, OUT is http://HOSTNAME:DEFAULT_PORT/. */
static int read_endpoint(const ex_config *config, const char *key, const char *variable, const char *hostname,
			 int default_port, ex_mail_public_endpoint *out)
{
	char fallback[EX_MAIL_AUTOCONFIG_MAX_URL + 1];
	char err[160];
	const char *url = ex_config_string(config, key);
	if (url == NULL || url[0] == '\0') {
		snprintf(fallback, sizeof(fallback), "http://%s:%d/", hostname, default_port);
		url = fallback;
	}
	if (ex_mail_public_endpoint_parse(url, out, err, sizeof(err)) != 0) {
		ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting", variable, "error", err);
		return -1;
	}
	return 0;
}

static int read_port(const ex_config *config, const char *key)
{
	int64_t port = ex_config_int(config, key);
	return port > 0 && port <= MAX_PORT ? (int)port : 0;
}

int ex_mail_autoconfig_open(ex_mail_service *service, ex_daemon *daemon)
{
	const ex_config *config = ex_daemon_config(daemon);
	ex_mail_autoconfig *autoconfig = calloc(1, sizeof(*autoconfig));
	if (autoconfig == NULL)
		return -1;
	service->autoconfig = autoconfig;
	autoconfig->service = service;

	ex_mail_autoconfig_servers *servers = &autoconfig->servers;
	const char *hostname = ex_config_string(config, "mail_public_hostname");
	if (hostname == NULL || hostname[0] == '\0')
		hostname = service->hostname;
	size_t hostname_length = strlen(hostname);
	if (hostname_length == 0 || hostname_length > EX_MAIL_AUTOCONFIG_MAX_HOST) {
		ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting", "EXPRESSO_MAIL_PUBLIC_HOSTNAME", "error",
		       "must be a host name of 1 to 253 characters");
		return -1;
	}
	memcpy(servers->hostname, hostname, hostname_length + 1);
	servers->imaps_port = read_port(config, "imaps_port");
	servers->imap_port = read_port(config, "imap_port");
	servers->submissions_port = read_port(config, "submissions_port");
	servers->submission_port = read_port(config, "submission_port");
	if (read_endpoint(config, "caldav_public_url", "EXPRESSO_CALDAV_PUBLIC_URL", hostname, DEFAULT_CALDAV_PORT,
			  &servers->caldav) != 0 ||
	    read_endpoint(config, "carddav_public_url", "EXPRESSO_CARDDAV_PUBLIC_URL", hostname, DEFAULT_CARDDAV_PORT,
			  &servers->carddav) != 0)
		return -1;

	ex_http_server *http = ex_daemon_http(daemon);
	if (ex_http_route(http, "GET", "/.well-known/autoconfig/mail/config-v1.1.xml", handle_autoconfig, autoconfig) !=
		    0 ||
	    ex_http_route(http, "GET", "/mail/config-v1.1.xml", handle_autoconfig, autoconfig) != 0 ||
	    ex_http_route(http, "GET", "/api/v1/mail/mobileconfig", handle_mobileconfig, autoconfig) != 0) {
		ex_log(EX_LOG_ERROR, "autoconfig_routes_failed", "{s:s}", "error", "the router rejected a route");
		return -1;
	}
	return 0;
}

void ex_mail_autoconfig_close(ex_mail_service *service)
{
	free(service->autoconfig);
	service->autoconfig = NULL;
}
