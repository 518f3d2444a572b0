/*
 * The HTTP route pieces both DAV daemons share: authentication of a
 * request, the routes besides the DAV methods (OPTIONS, the /.well-known
 * redirect) and the change event published after a committed change.
 */
#include "expresso/dav_route.h"

#include <stdio.h>

#include "expresso/log.h"

bool ex_dav_authenticate_request(ex_dav_authenticator *authenticator, ex_http_request *request,
				 ex_dav_principal *principal, ex_counter *auth_failures)
{
	ex_dav_auth_status auth = ex_dav_authenticate(authenticator, request, principal);

	if (auth == EX_DAV_AUTH_OK)
		return true;
	if (auth != EX_DAV_AUTH_UNAVAILABLE && auth_failures != NULL)
		ex_counter_add(auth_failures, 1);
	ex_dav_respond_unauthorized(request, auth);
	return false;
}

void ex_dav_publish_change(ex_bus *bus, const ex_dav_principal *principal, const ex_dav_store *store,
			   const ex_dav_reply *reply)
{
	char err[256];
	char event_name[64];

	if (!reply->changed || bus == NULL)
		return;
	json_t *event = json_pack("{s:s, s:s, s:s, s:s}", "user", principal->user_id, store->event_collection,
				  reply->changed_collection, "resource", reply->changed_resource, "change",
				  reply->change_kind ? reply->change_kind : "updated");
	if (event == NULL)
		return;
	if (ex_bus_publish(bus, principal->tenant_id, store->event_domain, "changed", event, err, sizeof(err)) != 0) {
		snprintf(event_name, sizeof(event_name), "%s_event_publish_failed", store->event_domain);
		ex_log(EX_LOG_WARN, event_name, "{s:s, s:s}", "user", principal->user_id, "error", err);
	}
	json_decref(event);
}

/* Sends the 200 reply to OPTIONS with the DAV and Allow headers of OPAQUE, an ex_dav_options. */
static void handle_options(ex_http_request *request, void *opaque)
{
	const ex_dav_options *options = opaque;

	ex_http_respond_bytes(request, 200, NULL, "", 0);
	ex_http_add_header(request, "DAV", options->dav_classes);
	ex_http_add_header(request, "Allow", options->methods);
}

/* Sends the 301 of /.well-known/caldav, /.well-known/carddav (RFC 6764) and /dav to the DAV root. */
static void handle_well_known(ex_http_request *request, void *opaque)
{
	(void)opaque;
	ex_http_respond_bytes(request, 301, NULL, "", 0);
	ex_http_add_header(request, "Location", EX_DAV_ROOT);
}

int ex_dav_add_common_routes(ex_http_server *http, ex_http_handler handle_dav, void *opaque, size_t xml_limit,
			     const char *well_known, ex_dav_options *options)
{
	int status = 0;

	status |= ex_http_route(http, "OPTIONS", "/dav/{path...}", handle_options, options);
	status |= ex_http_route_limited(http, "PROPFIND", "/", handle_dav, opaque, xml_limit);
	status |= ex_http_route(http, "OPTIONS", "/", handle_options, options);
	status |= ex_http_route(http, "GET", well_known, handle_well_known, NULL);
	status |= ex_http_route(http, "PROPFIND", well_known, handle_well_known, NULL);
	status |= ex_http_route(http, "OPTIONS", well_known, handle_options, options);
	/* Clients configured with ".../dav" without the slash reach the DAV root the same way. */
	status |= ex_http_route(http, "GET", "/dav", handle_well_known, NULL);
	status |= ex_http_route(http, "PROPFIND", "/dav", handle_well_known, NULL);
	return status == 0 ? 0 : -1;
}
