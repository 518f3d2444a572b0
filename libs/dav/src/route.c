/*
 * The HTTP route pieces both DAV daemons share: authentication of a
 * request, OPTIONS, the /.well-known redirect and the change event
 * published after a committed change.
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

void ex_dav_respond_well_known(ex_http_request *request)
{
	ex_http_respond_bytes(request, 301, NULL, "", 0);
	ex_http_add_header(request, "Location", EX_DAV_ROOT);
}

void ex_dav_respond_options(ex_http_request *request, const char *dav_classes, const char *methods)
{
	ex_http_respond_bytes(request, 200, NULL, "", 0);
	ex_http_add_header(request, "DAV", dav_classes);
	ex_http_add_header(request, "Allow", methods);
}
