/*
 * The HTTP face of the CardDAV server: the routes of every DAV method,
 * OPTIONS, the /.well-known/carddav redirect (RFC 6764), authentication,
 * request body parsing, and the reply once a handler's transaction ended.
 */
#include "contacts_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_http.h"
#include "expresso/dav_route.h"
#include "expresso/log.h"

#define DAV_CLASSES "1, 3, access-control, addressbook, extended-mkcol"
#define DAV_METHODS "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, REPORT"

typedef void (*method_handler)(contacts_context *context);

static ex_dav_options options = { .dav_classes = DAV_CLASSES, .methods = DAV_METHODS };

/* The 403 conditions that count a request body as rejected for its content. */
static const char *const body_conditions[] = { "valid-address-data", NULL };

static const struct {
	const char *method;
	method_handler handler;
	bool xml_body; /* the body, when present, is DAV XML */
} methods[] = {
	{ "PROPFIND", contacts_handle_propfind, true },
	{ "PROPPATCH", contacts_handle_proppatch, true },
	{ "REPORT", contacts_handle_report, true },
	{ "MKCOL", contacts_handle_mkcol, true },
	{ "GET", contacts_handle_get, false },
	{ "PUT", contacts_handle_put, false },
	{ "DELETE", contacts_handle_delete, false },
};

/* Parses the XML body of CONTEXT; on failure sets a 400 or 413 reply. */
static bool parse_body(contacts_context *context)
{
	return ex_dav_reply_parse_xml(&context->reply, context->body, context->body_length, &context->service->dav.xml_limits,
				      &context->document);
}

static void handle_dav(ex_http_request *request, void *opaque)
{
	contacts_service *service = opaque;
	contacts_context context = { .service = service, .request = request, .quota_used = -1 };
	const char *method = ex_http_method(request);
	method_handler handler = NULL;
	bool xml_body = false;

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strcmp(methods[i].method, method) == 0 || (strcmp(method, "HEAD") == 0 && methods[i].handler == contacts_handle_get)) {
			handler = methods[i].handler;
			xml_body = methods[i].xml_body;
		}
	}
	if (!ex_dav_authenticate_request(service->dav.authenticator, request, &context.principal, service->dav.auth_failures))
		return;
	ex_http_set_log_tenant(request, context.principal.tenant_id);

	const char *path = ex_http_param(request, "path");
	if (path == NULL)
		context.target.kind = TARGET_SERVER_ROOT;
	else
		contacts_parse_target(path, context.principal.user_id, &context.target);
	context.body = ex_http_body(request, &context.body_length);
	context.depth = ex_dav_parse_depth(ex_http_header(request, "Depth"),
					   strcmp(method, "PROPFIND") == 0 ? EX_DAV_DEPTH_INFINITY : EX_DAV_DEPTH_0);

	if (context.target.kind == TARGET_NOT_FOUND)
		contacts_reply_error(&context.reply, 404, NULL, NULL, "no resource of yours has this URL");
	else if (handler == NULL)
		contacts_reply_error(&context.reply, 405, NULL, NULL, "the method %s is not supported", method);
	else if (!xml_body || parse_body(&context))
		handler(&context);

	ex_dav_reply_send(request, &context.reply, &contacts_dav_store, DAV_CLASSES, context.principal.user_id);
	ex_dav_service_count_reply(&service->dav, &context.reply, body_conditions);
	if (context.reply.status < 300)
		contacts_publish_change(&context);
	xmlFreeDoc(context.document);
	contacts_reply_reset(&context.reply);
}

int contacts_add_routes(contacts_service *service, ex_http_server *http)
{
	size_t xml_limit = service->dav.xml_limits.max_bytes * 2;
	size_t put_limit = service->max_resource_size * 2;
	int status = 0;

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		size_t limit = strcmp(methods[i].method, "PUT") == 0 ? put_limit : xml_limit;
		status |= ex_http_route_limited(http, methods[i].method, "/dav/{path...}", handle_dav, service, limit);
	}
	status |= ex_dav_add_common_routes(http, handle_dav, service, xml_limit, "/.well-known/carddav", &options);
	return status == 0 ? 0 : -1;
}
