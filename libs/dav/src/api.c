/* Authentication, transactions and replies of the CalDAV and CardDAV daemons' JSON APIs. */
#include "expresso/dav_api.h"

#include <stdio.h>
#include <string.h>

#include "expresso/log.h"

bool ex_dav_api_authenticate(ex_dav_authenticator *authenticator, ex_counter *auth_failures, ex_http_request *request,
			     ex_dav_principal *principal)
{
	ex_dav_auth_status status = ex_dav_authenticate(authenticator, request, principal);
	if (status == EX_DAV_AUTH_OK) {
		ex_http_set_log_tenant(request, principal->tenant_id);
		return true;
	}
	if (status == EX_DAV_AUTH_UNAVAILABLE) {
		ex_http_respond_error(request, 503, "auth_unavailable", "authentication is unavailable for now; retry later");
		return false;
	}
	if (auth_failures != NULL)
		ex_counter_add(auth_failures, 1);
	ex_http_respond_error(request, 401, status == EX_DAV_AUTH_MISSING ? "missing_token" : "invalid_token",
			      "log in with a bearer token, or with your email address and an app password");
	ex_http_add_header(request, "WWW-Authenticate", "Bearer realm=\"expresso\"");
	return false;
}

bool ex_dav_api_run(ex_db_pool *database, const ex_dav_principal *principal, ex_http_request *request,
		    const char *daemon, ex_db_isolation isolation, ex_db_work work, void *argument)
{
	ex_db_error error;
	char event[64];

	memset(&error, 0, sizeof(error));
	if (ex_db_tenant_transaction(database, principal->tenant_id, isolation, work, argument, &error) == 0)
		return true;

	/* foreign_key_violation: the users row that collections reference does not exist yet. */
	if (strcmp(error.sqlstate, "23503") == 0) {
		snprintf(event, sizeof(event), "%s_api_user_not_provisioned", daemon);
		ex_log(EX_LOG_WARN, event, "{s:s}", "user", principal->user_id);
		ex_http_respond_error(request, 403, "user_not_provisioned",
				      "your account has no user record yet; log in once through expresso-auth, then retry");
		return false;
	}
	snprintf(event, sizeof(event), "%s_api_database_failed", daemon);
	ex_log(EX_LOG_ERROR, event, "{s:s, s:s, s:s}", "user", principal->user_id, "sqlstate", error.sqlstate, "error",
	       error.message);
	ex_http_respond_error(request, 503, "database_unavailable", "the %s database failed; retry the request later",
			      daemon);
	return false;
}

/* Writes the JSON error code of REPLY into CODE. */
static void write_error_code(char *code, size_t size, const ex_dav_api_reply *reply,
			     const char *missing_collection_code)
{
	const char *status_code = reply->status == 404 ? "not_found"
				  : reply->status == 409 && missing_collection_code != NULL ? missing_collection_code
				  : reply->status == 412 ? "precondition_failed"
				  : reply->status == 503 ? "database_unavailable"
							 : "request_failed";

	snprintf(code, size, "%s", reply->condition != NULL ? reply->condition : status_code);
	for (char *c = code; *c != '\0'; c++) {
		if (*c == '-')
			*c = '_';
	}
}

void ex_dav_api_send_reply(ex_http_request *request, const ex_dav_api_reply *reply,
			   const char *missing_collection_code)
{
	char code[64];

	if (reply->status >= 400) {
		write_error_code(code, sizeof(code), reply, missing_collection_code);
		/* A PUT into a missing collection is a WebDAV 409 (RFC 4918 section 9.7.1), which the API reports as 404. */
		unsigned status = reply->status == 409 && missing_collection_code != NULL ? 404 : reply->status;
		ex_http_respond_error(request, status, code, "%s", reply->message != NULL ? reply->message : "");
	} else if (reply->body != NULL) {
		ex_http_respond_bytes(request, reply->status, reply->content_type, reply->body, reply->length);
	} else {
		ex_http_respond_bytes(request, reply->status, NULL, "", 0);
	}
	if (reply->etag != NULL && reply->etag[0] != '\0')
		ex_http_add_header(request, "ETag", reply->etag);
}
