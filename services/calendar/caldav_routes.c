/*
 * The HTTP face of the CalDAV server: the routes of every DAV method,
 * OPTIONS, the /.well-known/caldav redirect (RFC 6764), authentication,
 * request body parsing, and the reply once a handler's transaction ended.
 */
#include "calendar_service.h"
#include "caldav_schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expresso/dav_http.h"
#include "expresso/dav_route.h"
#include "expresso/log.h"

#define DAV_CLASSES "1, 3, access-control, calendar-access, calendar-auto-schedule, extended-mkcol"
#define DAV_METHODS "OPTIONS, GET, HEAD, POST, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, MKCALENDAR, REPORT"

typedef void (*method_handler)(calendar_context *context);

static ex_dav_options options = { .dav_classes = DAV_CLASSES, .methods = DAV_METHODS };

/* The 403 conditions that count a request body as rejected for its content. */
static const char *const body_conditions[] = { "valid-calendar-data", "valid-calendar-object-resource", NULL };

static const struct {
	const char *method;
	method_handler handler;
	bool xml_body; /* the body, when present, is DAV XML */
} methods[] = {
	{ "PROPFIND", calendar_handle_propfind, true },
	{ "PROPPATCH", calendar_handle_proppatch, true },
	{ "REPORT", calendar_handle_report, true },
	{ "MKCOL", calendar_handle_mkcol, true },
	{ "MKCALENDAR", calendar_handle_mkcol, true },
	{ "GET", calendar_handle_get, false },
	{ "PUT", calendar_handle_put, false },
	{ "DELETE", calendar_handle_delete, false },
	{ "POST", calendar_schedule_handle_post, false },
};

/* Parses the XML body of CONTEXT; on failure sets a 400 or 413 reply. */
static bool parse_body(calendar_context *context)
{
	return ex_dav_reply_parse_xml(&context->reply.dav, context->body, context->body_length, &context->service->dav.xml_limits,
				      &context->document);
}

/* Returns true when a MKCOL or MKCALENDAR body is absent or declared as XML (RFC 4918 section 9.3: else 415). */
static bool mkcol_body_is_xml(const calendar_context *context)
{
	const char *type = ex_http_header(context->request, "Content-Type");
	if (context->body_length == 0 || type == NULL)
		return true;
	return strncasecmp(type, "application/xml", 15) == 0 || strncasecmp(type, "text/xml", 8) == 0;
}

static void handle_dav(ex_http_request *request, void *opaque)
{
	calendar_service *service = opaque;
	calendar_context context = { .service = service, .request = request, .quota_used = -1 };
	const char *method = ex_http_method(request);
	method_handler handler = NULL;
	bool xml_body = false;

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strcmp(methods[i].method, method) == 0 || (strcmp(method, "HEAD") == 0 && methods[i].handler == calendar_handle_get)) {
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
		calendar_parse_target(path, context.principal.user_id, &context.target);
	context.body = ex_http_body(request, &context.body_length);
	context.depth = ex_dav_parse_depth(ex_http_header(request, "Depth"),
					   strcmp(method, "PROPFIND") == 0 ? EX_DAV_DEPTH_INFINITY : EX_DAV_DEPTH_0);

	if (context.target.kind == TARGET_NOT_FOUND)
		calendar_reply_error(&context.reply, 404, NULL, NULL, "no resource of yours has this URL");
	else if (handler == NULL)
		calendar_reply_error(&context.reply, 405, NULL, NULL, "the method %s is not supported", method);
	else if (handler == calendar_handle_mkcol && !mkcol_body_is_xml(&context))
		calendar_reply_error(&context.reply, 415, NULL, NULL,
				     "a %s body must be XML (application/xml or text/xml), not %.100s", method,
				     ex_http_header(request, "Content-Type") ? ex_http_header(request, "Content-Type") : "untyped");
	else if (context.target.kind >= TARGET_SCHEDULE_INBOX) {
		if (!xml_body || parse_body(&context))
			calendar_schedule_handle_dav(&context, method);
	} else if (!xml_body || parse_body(&context)) {
		if ((context.target.kind == TARGET_PRINCIPAL || context.target.kind == TARGET_PRINCIPALS) &&
		    handler == calendar_handle_propfind)
			calendar_schedule_load_address(&context);
		handler(&context);
	}

	ex_dav_reply_send(request, &context.reply.dav, &calendar_dav_store, DAV_CLASSES, context.principal.user_id);
	ex_dav_service_count_reply(&service->dav, &context.reply.dav, body_conditions);
	if (context.reply.dav.status < 300) {
		calendar_publish_change(&context);
		calendar_schedule_publish(&context);
	}
	xmlFreeDoc(context.document);
	calendar_reply_reset(&context.reply);
}

int calendar_add_routes(calendar_service *service, ex_http_server *http)
{
	size_t xml_limit = service->dav.xml_limits.max_bytes * 2;
	size_t put_limit = service->max_resource_size * 2;
	int status = 0;

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		size_t limit = strcmp(methods[i].method, "PUT") == 0 ? put_limit : xml_limit;
		status |= ex_http_route_limited(http, methods[i].method, "/dav/{path...}", handle_dav, service, limit);
	}
	status |= ex_dav_add_common_routes(http, handle_dav, service, xml_limit, "/.well-known/caldav", &options);
	return status == 0 ? 0 : -1;
}
