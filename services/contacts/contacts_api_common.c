/*
 * Helpers of the JSON API modules: authentication, route parameters, the
 * transaction runner and the JSON form of a CardDAV handler's reply.
 */
#include "contacts_api.h"

#include <stdio.h>
#include <string.h>

#include "expresso/dav_api.h"

bool contacts_api_authenticate(contacts_service *service, ex_http_request *request, contacts_context *context)
{
	return ex_dav_api_authenticate(service->dav.authenticator, service->dav.auth_failures, request, &context->principal);
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
	return ex_dav_api_run(context->service->dav.database, &context->principal, context->request, "contacts", isolation, work,
			      argument);
}

void contacts_api_send_dav_reply(contacts_context *context)
{
	contacts_reply *reply = &context->reply;

	if (reply->status == 0)
		contacts_reply_error(reply, 500, NULL, NULL, "the request was not answered; this is a server bug");
	ex_dav_api_reply sent = {
		.status = reply->status,
		.condition = reply->condition,
		.message = reply->message,
		.body = reply->body,
		.length = reply->length,
		.content_type = reply->content_type,
		.etag = reply->etag,
	};
	ex_dav_api_send_reply(context->request, &sent, "addressbook_not_found");
	if (reply->status < 300 && reply->changed && context->service->dav.changes != NULL)
		ex_counter_add(context->service->dav.changes, 1);
	if (reply->status < 300)
		contacts_publish_change(context);
}
