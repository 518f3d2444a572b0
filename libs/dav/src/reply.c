/*
 * The reply of a DAV request, which the handler sets inside its transaction
 * and the route sends once the transaction ended. The change event a
 * reply describes is published by ex_dav_publish_change (route.c).
 */
#include "expresso/dav_reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_http.h"
#include "expresso/dav_properties.h"
#include "expresso/log.h"

void ex_dav_reply_reset(ex_dav_reply *reply)
{
	free(reply->body);
	memset(reply, 0, sizeof(*reply));
}

void ex_dav_reply_error(ex_dav_reply *reply, unsigned status, const char *ns, const char *condition,
			const char *format, ...)
{
	va_list arguments;

	free(reply->body);
	reply->body = NULL;
	reply->status = status;
	reply->condition_ns = ns;
	reply->condition = condition;
	reply->changed = false;
	va_start(arguments, format);
	vsnprintf(reply->message, sizeof(reply->message), format, arguments);
	va_end(arguments);
}

void ex_dav_reply_multistatus(ex_dav_reply *reply, ex_dav_multistatus *ms)
{
	size_t length = 0;
	const char *body = ms ? ex_dav_ms_finish(ms, &length) : NULL;

	free(reply->body);
	reply->body = body ? malloc(length + 1) : NULL;
	if (reply->body == NULL) {
		ex_dav_multistatus_free(ms);
		ex_dav_reply_error(reply, 500, NULL, NULL, "the multistatus response could not be written");
		return;
	}
	memcpy(reply->body, body, length);
	reply->body[length] = '\0';
	reply->length = length;
	reply->status = 207;
	reply->content_type = "application/xml; charset=utf-8";
	ex_dav_multistatus_free(ms);
}

bool ex_dav_reply_parse_xml(ex_dav_reply *reply, const char *body, size_t length, const ex_dav_xml_limits *limits,
			    xmlDoc **document)
{
	char err[256];

	if (length == 0)
		return true;
	ex_dav_xml_status status = ex_dav_xml_parse(body, length, limits, document, err, sizeof(err));
	if (status == EX_DAV_XML_OK)
		return true;
	ex_dav_reply_error(reply, ex_dav_xml_http_status(status), NULL, NULL, "%s", err);
	return false;
}

/* Logs the event <store->protocol>_<EVENT_SUFFIX>, such as caldav_database_failed. */
static void log_event(ex_log_level level, const ex_dav_store *store, const char *event_suffix,
		      const char *user_id, const char *sqlstate, unsigned status, const char *error)
{
	char event[64];

	snprintf(event, sizeof(event), "%s_%s", store->protocol, event_suffix);
	if (sqlstate != NULL)
		ex_log(level, event, "{s:s, s:s, s:s}", "user", user_id, "sqlstate", sqlstate, "error", error);
	else if (status != 0)
		ex_log(level, event, "{s:s, s:i, s:s}", "user", user_id, "status", (int)status, "error", error);
	else
		ex_log(level, event, "{s:s}", "user", user_id);
}

void ex_dav_reply_send(ex_http_request *request, ex_dav_reply *reply, const ex_dav_store *store,
		       const char *dav_classes, const char *user_id)
{
	if (reply->status == 0)
		ex_dav_reply_error(reply, 500, NULL, NULL, "the request was not answered; this is a server bug");
	if (reply->status >= 400) {
		ex_dav_respond_condition(request, reply->status, reply->condition_ns ? reply->condition_ns : EX_DAV_NS,
					 reply->condition, reply->message);
		if (reply->status >= 500)
			log_event(EX_LOG_WARN, store, "request_failed", user_id, NULL, reply->status, reply->message);
	} else {
		ex_http_respond_bytes(request, reply->status, reply->content_type, reply->body ? reply->body : "",
				      reply->length);
	}
	if (reply->etag[0] != '\0')
		ex_http_add_header(request, "ETag", reply->etag);
	if (reply->schedule_tag[0] != '\0')
		ex_http_add_header(request, "Schedule-Tag", reply->schedule_tag);
	if (reply->allow[0] != '\0')
		ex_http_add_header(request, "Allow", reply->allow);
	if (reply->status < 300)
		ex_http_add_header(request, "DAV", dav_classes);
}

void ex_dav_run(ex_db_pool *database, const ex_dav_principal *principal, const ex_dav_store *store,
		ex_dav_reply *reply, ex_db_isolation isolation, ex_db_work work, void *argument)
{
	ex_db_error error;

	memset(&error, 0, sizeof(error));
	if (ex_db_tenant_transaction(database, principal->tenant_id, isolation, work, argument, &error) == 0)
		return;
	/* foreign_key_violation: the user row the collections hang on does not exist yet. */
	if (strcmp(error.sqlstate, "23503") == 0) {
		log_event(EX_LOG_WARN, store, "user_not_provisioned", principal->user_id, NULL, 0, NULL);
		ex_dav_reply_error(reply, 403, NULL, NULL,
				   "your account has no user record yet; log in once through expresso-auth, then retry");
		return;
	}
	log_event(EX_LOG_ERROR, store, "database_failed", principal->user_id, error.sqlstate, 0, error.message);
	ex_dav_reply_error(reply, 503, NULL, NULL, "the %s database is unavailable or failed; retry the request later",
			   store->service_noun);
}


void ex_dav_reply_proppatch(ex_dav_reply *reply, const ex_dav_proppatch *patch, const unsigned *statuses,
			    const char *href)
{
	ex_dav_multistatus *ms = ex_dav_proppatch_result(patch, statuses, href);

	if (ms == NULL) {
		ex_dav_reply_error(reply, 500, NULL, NULL, "out of memory");
		return;
	}
	ex_dav_reply_multistatus(reply, ms);
}

void ex_dav_reply_take_multistatus(ex_dav_reply *reply, ex_dav_multistatus *ms)
{
	if (reply->status == 0)
		ex_dav_reply_multistatus(reply, ms);
	else
		ex_dav_multistatus_free(ms);
}

bool ex_dav_reply_check_conditions(ex_dav_reply *reply, const char *if_match, const char *if_none_match,
				   const char *current, bool read_only, const char *noun)
{
	char message[sizeof(reply->message)];
	unsigned status = ex_dav_check_conditions(if_match, if_none_match, current, read_only, noun, message,
						  sizeof(message));

	if (status == 304) {
		reply->status = 304;
		if (current != NULL)
			snprintf(reply->etag, sizeof(reply->etag), "%s", current);
		return false;
	}
	if (status != 0) {
		ex_dav_reply_error(reply, status, NULL, NULL, "%s", message);
		return false;
	}
	return true;
}

bool ex_dav_reply_parse_propfind(ex_dav_reply *reply, ex_dav_depth depth, const xmlDoc *document,
				 ex_dav_propfind *request)
{
	char err[256];

	if (depth == EX_DAV_DEPTH_INFINITY) {
		ex_dav_reply_error(reply, 403, EX_DAV_NS, "propfind-finite-depth",
				   "PROPFIND with Depth: infinity (or no Depth header) is not served; send Depth: 0 or 1");
		return false;
	}
	if (depth == EX_DAV_DEPTH_INVALID) {
		ex_dav_reply_error(reply, 400, NULL, NULL, "the Depth header must be 0, 1 or infinity");
		return false;
	}
	if (ex_dav_parse_propfind(document, request, err, sizeof(err)) != 0) {
		ex_dav_reply_error(reply, 400, NULL, NULL, "%s", err);
		return false;
	}
	return true;
}
