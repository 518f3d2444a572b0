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

/* The DAV header and the Allow header a daemon sends in reply to OPTIONS. */
typedef struct {
	const char *dav_classes; /* "1, 3, access-control, addressbook, extended-mkcol" */
	const char *methods;     /* "OPTIONS, GET, HEAD, PUT, ..." */
} ex_dav_options;

/*
 * Adds the routes every DAV daemon serves besides its methods on
 * /dav/{path...}: PROPFIND on "/" to HANDLE_DAV with OPAQUE (bodies up to
 * XML_LIMIT bytes); OPTIONS on /dav/{path...}, "/" and WELL_KNOWN
 * ("/.well-known/caldav"), whose replies carry OPTIONS; and GET and PROPFIND on
 * WELL_KNOWN and "/dav", redirected to the DAV root. Returns 0, or -1
 * when a route could not be added.
 */
int ex_dav_add_common_routes(ex_http_server *http, ex_http_handler handle_dav, void *opaque, size_t xml_limit,
			     const char *well_known, ex_dav_options *options);

#endif
