/*
 * Helpers of the JSON API modules: authentication, route parameters, the
 * transaction runner and the JSON form of a CardDAV handler's reply.
 */
#include "contacts_api.h"

#include <stdio.h>
#include <string.h>

#include "expresso/log.h"

bool contacts_api_authenticate(contacts_service *service, ex_http_request *request, contacts_context *context)
{
	ex_dav_auth_status status = ex_dav_authenticate(service->authenticator, request, &context->principal);
	if (status == EX_DAV_AUTH_OK) {
		ex_http_set_log_tenant(request, context->principal.tenant_id);
		return true;
	}
	if (status == EX_DAV_AUTH_UNAVAILABLE) {
		ex_http_respond_error(request, 503, "auth_unavailable", "authentication is unavailable for now; retry later");
		return false;
	}
	if (service->auth_failures != NULL)
		ex_counter_add(service->auth_failures, 1);
	ex_http_respond_error(request, 401, status == EX_DAV_AUTH_MISSING ? "missing_token" : "invalid_token",
			      "log in with a bearer token, or with your email address and an app password");
	ex_http_add_header(request, "WWW-Authenticate", "Bearer realm=\"expresso\"");
	return false;
}

bool contacts_api_read_target(ex_http_request *request, contacts_context *context, bool card)
{
	const char *book = ex_http_param(request, "book");
	const char *name = card ? ex_http_param(request, "contact") : NULL;
	char path[CONTACTS_MAX_HREF];

	int written = snprintf(path, sizeof(path), "addressbooks/%s/%s/%s", context->principal.user_id, book ? book : "",
			       name ? name : "");
	if (book != NULL && strchr(book, '/') == NULL && (name == NULL || strchr(name, '/') == NULL) && written > 0 &&
	    (size_t)written < sizeof(path))
		contacts_parse_target(path, context->principal.user_id, &context->target);
	if (context->target.kind != (card ? TARGET_CARD : TARGET_BOOK)) {
		ex_http_respond_error(request, 404, card ? "contact_not_found" : "addressbook_not_found",
				      card ? "no contact has this name; names are 1 to 255 bytes without '/' or control characters"
					   : "no address book has this name; names are 1 to 64 letters, digits, '.', '_' or '-'");
		return false;
	}
	return true;
}

bool contacts_api_run(contacts_context *context, ex_db_isolation isolation, ex_db_work work, void *argument)
{
	ex_db_error error;
	memset(&error, 0, sizeof(error));
	if (ex_db_tenant_transaction(context->service->database, context->principal.tenant_id, isolation, work, argument,
				     &error) == 0)
		return true;
	/* foreign_key_violation: the user row the address books hang on does not exist yet. */
	if (strcmp(error.sqlstate, "23503") == 0) {
		ex_log(EX_LOG_WARN, "contacts_api_user_not_provisioned", "{s:s}", "user", context->principal.user_id);
		ex_http_respond_error(context->request, 403, "user_not_provisioned",
				      "your account has no user record yet; log in once through expresso-auth, then retry");
		return false;
	}
	ex_log(EX_LOG_ERROR, "contacts_api_database_failed", "{s:s, s:s, s:s}", "user", context->principal.user_id,
	       "sqlstate", error.sqlstate, "error", error.message);
	ex_http_respond_error(context->request, 503, "database_unavailable",
			      "the contacts database failed; retry the request later");
	return false;
}

void contacts_api_send_dav_reply(contacts_context *context)
{
	contacts_reply *reply = &context->reply;
	ex_http_request *request = context->request;
	char code[64];

	if (reply->status == 0)
		contacts_reply_error(reply, 500, NULL, NULL, "the request was not answered; this is a server bug");
	if (reply->status >= 400) {
		snprintf(code, sizeof(code), "%s", reply->condition ? reply->condition
					   : reply->status == 404 ? "not_found"
					   : reply->status == 409 ? "addressbook_not_found"
					   : reply->status == 412 ? "precondition_failed"
					   : reply->status == 503 ? "database_unavailable"
								  : "request_failed");
		for (char *c = code; *c != '\0'; c++) {
			if (*c == '-')
				*c = '_';
		}
		/* A PUT into a missing address book is a CardDAV 409 (RFC 4918 section 9.7.1); the API returns 404. */
		ex_http_respond_error(request, reply->status == 409 ? 404 : reply->status, code, "%s", reply->message);
	} else if (reply->body != NULL) {
		ex_http_respond_bytes(request, reply->status, reply->content_type, reply->body, reply->length);
	} else {
		ex_http_respond_bytes(request, reply->status, NULL, "", 0);
	}
	if (reply->etag[0] != '\0')
		ex_http_add_header(request, "ETag", reply->etag);
	if (reply->status < 300 && reply->changed && context->service->changes != NULL)
		ex_counter_add(context->service->changes, 1);
	if (reply->status < 300)
		contacts_publish_change(context);
}
