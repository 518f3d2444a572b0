/*
 * The HTTP route pieces both DAV daemons share: authentication of a
 * request, OPTIONS, the /.well-known redirect (RFC 6764) and the change
 * event published after a committed change.
 */
#ifndef EXPRESSO_DAV_ROUTE_H
#define EXPRESSO_DAV_ROUTE_H

#include <stdbool.h>

#include "expresso/bus.h"
#include "expresso/dav_auth.h"
#include "expresso/dav_reply.h"
#include "expresso/dav_store.h"
#include "expresso/http.h"
#include "expresso/metrics.h"

/*
 * Checks the credentials of REQUEST into PRINCIPAL. Returns true, or
 * false after sending the 401 (or 503) reply and counting a rejected
 * credential in AUTH_FAILURES (NULL for none).
 */
bool ex_dav_authenticate_request(ex_dav_authenticator *authenticator, ex_http_request *request,
				 ex_dav_principal *principal, ex_counter *auth_failures);

/*
 * Publishes <store->event_domain>.changed for the committed change REPLY
 * describes, when it changed something and BUS is not NULL. A failed
 * publish is logged and otherwise ignored, because the change is already
 * committed.
 */
void ex_dav_publish_change(ex_bus *bus, const ex_dav_principal *principal, const ex_dav_store *store,
			   const ex_dav_reply *reply);

/* Sends the 301 of /.well-known/caldav and /.well-known/carddav (RFC 6764) to the DAV root. */
void ex_dav_respond_well_known(ex_http_request *request);

/* Sends the 200 reply to OPTIONS with the DAV and Allow headers. */
void ex_dav_respond_options(ex_http_request *request, const char *dav_classes, const char *methods);

#endif
