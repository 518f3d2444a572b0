/*
 * The JSON API's shared parts: settings, authentication, database error
 * replies, body parsing and bus events. The routes live in
 * mail_api_folders.c, mail_api_messages.c and mail_api_send.c.
 */
#include "mail_api.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"

int ex_mail_api_open(ex_mail_service *service, ex_daemon *daemon)
{
	const ex_config *config = ex_daemon_config(daemon);
	int64_t recipients = ex_config_int(config, "mail_api_max_recipients");
	int64_t page = ex_config_int(config, "mail_api_max_page");
	uint64_t max_body = ex_config_size(config, "mail_api_max_body");

	if (recipients < 1 || recipients > 10000 || page < 1 || page > 10000) {
		ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting",
		       "EXPRESSO_MAIL_API_MAX_RECIPIENTS, EXPRESSO_MAIL_API_MAX_PAGE", "error", "must be between 1 and 10000");
		return -1;
	}
	if (max_body < 1024 || max_body > (uint64_t)1 << 31) {
		ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting", "EXPRESSO_MAIL_API_MAX_BODY", "error",
		       "must be between 1K and 2G");
		return -1;
	}

	ex_mail_api *api = calloc(1, sizeof(*api));
	if (api == NULL)
		return -1;
	api->service = service;
	api->max_message_bytes = ex_config_size(config, "smtp_max_message_size");
	api->max_page = (unsigned)page;
	api->compose_limits = (ex_mail_compose_limits){
		.max_recipients = (size_t)recipients,
		.max_attachment_bytes = ex_config_size(config, "mail_api_max_attachment_size"),
		.max_message_bytes = api->max_message_bytes,
	};
	const char *drive_url = ex_config_string(config, "mail_drive_url");
	snprintf(api->drive_url, sizeof(api->drive_url), "%s", drive_url != NULL ? drive_url : "");
	for (size_t end = strlen(api->drive_url); end > 0 && api->drive_url[end - 1] == '/'; end--)
		api->drive_url[end - 1] = '\0';
	api->drive_timeout_ms = ex_config_duration_ms(config, "mail_drive_timeout");
	api->messages_sent = ex_metrics_counter(service->metrics, "mail_api_messages_sent_total",
						"Messages accepted by POST /api/v1/mail/send and /send-itip.");
	service->api = api;

	ex_http_server *http = ex_daemon_http(daemon);
	if (ex_mail_api_add_folder_routes(api, http) != 0 || ex_mail_api_add_message_routes(api, http) != 0 ||
	    ex_mail_api_add_send_routes(api, http, (size_t)max_body) != 0) {
		ex_log(EX_LOG_ERROR, "mail_api_routes_failed", "{s:s}", "error", "the router rejected a route");
		return -1;
	}
	if (service->verifier == NULL)
		ex_log(EX_LOG_WARN, "mail_api_disabled", "{s:s}", "reason",
		       "EXPRESSO_OIDC_ISSUER is not set; /api/v1/mail answers 503");
	return 0;
}

void ex_mail_api_close(ex_mail_service *service)
{
	free(service->api);
	service->api = NULL;
}

bool ex_mail_api_authenticate(ex_mail_api *api, ex_http_request *request, ex_mail_api_caller *caller)
{
	char challenge[512];

	memset(caller, 0, sizeof(*caller));
	if (api->service->verifier == NULL) {
		ex_http_respond_error(request, 503, "auth_unavailable",
				      "the mail API needs EXPRESSO_OIDC_ISSUER to check access tokens");
		return false;
	}
	ex_auth_status status =
		ex_auth_authenticate_connection(api->service->verifier, ex_http_connection(request), &caller->claims);
	if (status == EX_AUTH_OK) {
		caller->tenant_id = caller->claims.tenant_id;
		caller->user_id = caller->claims.subject;
		ex_http_set_log_tenant(request, caller->tenant_id);
		return true;
	}

	const char *description = caller->claims.error_description ? caller->claims.error_description
								    : ex_auth_status_message(status);
	if (status == EX_AUTH_ERR_KEYS_UNAVAILABLE) {
		ex_http_respond_error(request, 503, "auth_unavailable",
				      "the identity provider's signing keys cannot be fetched; try again shortly");
	} else if (status == EX_AUTH_ERR_INTERNAL) {
		ex_http_respond_error(request, 500, "internal_error", "the token could not be checked");
	} else {
		ex_log(EX_LOG_INFO, "mail_api_authentication_failed", "{s:s}", "reason", ex_auth_status_code(status));
		if (status == EX_AUTH_ERR_NO_TOKEN)
			ex_http_respond_error(request, 401, "missing_token",
					      "send an access token as \"Authorization: Bearer <token>\"");
		else
			ex_http_respond_error(request, 401, "invalid_token", "%s", description);
		if (ex_auth_format_www_authenticate(challenge, sizeof(challenge), status, description) > 0)
			ex_http_add_header(request, MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge);
	}
	ex_auth_claims_clear(&caller->claims);
	return false;
}

void ex_mail_api_caller_clear(ex_mail_api_caller *caller)
{
	ex_auth_claims_clear(&caller->claims);
	caller->tenant_id = NULL;
	caller->user_id = NULL;
}

void ex_mail_api_respond_database_error(ex_http_request *request, const char *operation, const ex_db_error *error)
{
	/* 23514: a check constraint, such as the 1024-byte mailbox name that a rename would pass. */
	if (strcmp(error->sqlstate, "23514") == 0) {
		ex_http_respond_error(request, 400, "invalid_request", "the change would break a rule of the mail store: %s",
				      error->message);
		return;
	}
	/* 23503: the mailboxes row names a user that has no users row in this tenant. */
	if (strcmp(error->sqlstate, "23503") == 0) {
		ex_http_respond_error(request, 403, "account_not_provisioned",
				      "your account has no mail store in this tenant; ask an administrator to create it");
		return;
	}
	ex_log(EX_LOG_ERROR, "mail_api_database_failed", "{s:s, s:s, s:s}", "operation", operation, "sqlstate",
	       error->sqlstate, "error", error->message);
	ex_http_respond_error(request, 503, "database_unavailable", "the mail database failed to %s; retry later",
			      operation);
}

json_t *ex_mail_api_read_object(ex_http_request *request)
{
	size_t length = 0;
	const char *body = ex_http_body(request, &length);
	json_error_t error;

	json_t *object = body != NULL ? json_loadb(body, length, JSON_REJECT_DUPLICATES, &error) : NULL;
	if (object == NULL) {
		ex_http_respond_error(request, 400, "invalid_request", "the body must be a JSON object: %s",
				      body != NULL ? error.text : "the body is empty");
		return NULL;
	}
	if (!json_is_object(object)) {
		json_decref(object);
		ex_http_respond_error(request, 400, "invalid_request", "the body must be a JSON object");
		return NULL;
	}
	return object;
}

void ex_mail_api_publish(ex_mail_api *api, const ex_mail_api_caller *caller, const char *event, json_t *fields)
{
	char err[256] = "";

	json_object_set_new(fields, "user_id", json_string(caller->user_id));
	if (api->service->bus == NULL) {
		ex_log(EX_LOG_INFO, "mail_api_event", "{s:s, s:O}", "event", event, "fields", fields);
		json_decref(fields);
		return;
	}
	if (ex_bus_publish(api->service->bus, caller->tenant_id, "mail", event, fields, err, sizeof(err)) != 0)
		ex_log(EX_LOG_WARN, "mail_api_publish_failed", "{s:s, s:s, s:s}", "event", event, "tenant",
		       caller->tenant_id, "error", err);
	json_decref(fields);
}

int ex_mail_api_create_standard_mailboxes(PGconn *connection, const char *tenant_id, const char *user_id,
					  ex_db_error *error)
{
	PGresult *result = ex_mail_api_sql(
		connection, error,
		"INSERT INTO mailboxes (tenant_id, user_id, name, special_use) "
		"SELECT $1, $2, standard.name, standard.special_use FROM (VALUES "
		"('INBOX', NULL), ('Sent', '\\Sent'), ('Drafts', '\\Drafts'), ('Trash', '\\Trash'), "
		"('Junk', '\\Junk'), ('Archive', '\\Archive')) AS standard (name, special_use) "
		"ON CONFLICT DO NOTHING",
		2, tenant_id, user_id);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

PGresult *ex_mail_api_sql(PGconn *connection, ex_db_error *error, const char *sql, int count, ...)
{
	const char *params[EX_MAIL_API_SQL_MAX_PARAMS];
	va_list arguments;

	if (count > EX_MAIL_API_SQL_MAX_PARAMS) {
		snprintf(error->message, sizeof(error->message), "%d parameters, more than %d", count,
			 EX_MAIL_API_SQL_MAX_PARAMS);
		return NULL;
	}
	va_start(arguments, count);
	for (int i = 0; i < count; i++)
		params[i] = va_arg(arguments, const char *);
	va_end(arguments);
	return ex_db_exec(connection, sql, count, params, error);
}
