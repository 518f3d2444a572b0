/*
 * Pieces the JSON APIs of expresso-calendar and expresso-contacts share:
 * authentication with the credentials of the DAV routes, the tenant
 * transaction with its JSON errors, and the JSON form of the reply a DAV
 * handler decided, so that an API write returns what CalDAV or CardDAV
 * would return. Errors follow {"error": {"code": ..., "message": ...}}.
 */
#ifndef EXPRESSO_DAV_API_H
#define EXPRESSO_DAV_API_H

#include <stdbool.h>
#include <stddef.h>

#include "expresso/dav_auth.h"
#include "expresso/db.h"
#include "expresso/http.h"
#include "expresso/metrics.h"

/*
 * Authenticates REQUEST (Bearer, or Basic with an app password) into
 * PRINCIPAL. On failure sends a JSON 401 (counted in AUTH_FAILURES, which
 * may be NULL) or a 503 when the identity provider is unreachable, and
 * returns false.
 */
bool ex_dav_api_authenticate(ex_dav_authenticator *authenticator, ex_counter *auth_failures, ex_http_request *request,
			     ex_dav_principal *principal);

/*
 * Runs WORK(ARGUMENT) in the tenant transaction of PRINCIPAL. Returns true
 * when it committed. Else sends a JSON 403 when the user has no users row
 * yet, or a 503 naming the DAEMON's database ("calendar", "contacts"),
 * logs the failure as <DAEMON>_api_* and returns false.
 */
bool ex_dav_api_run(ex_db_pool *database, const ex_dav_principal *principal, ex_http_request *request,
		    const char *daemon, ex_db_isolation isolation, ex_db_work work, void *argument);

/* The parts of a DAV handler's reply that the JSON API sends. */
typedef struct {
	unsigned status;
	const char *condition; /* the DAV precondition of an error, or NULL */
	const char *message;   /* the error message */
	const char *body;      /* NULL for none */
	size_t length;
	const char *content_type;
	const char *etag;      /* "" or NULL for none */
} ex_dav_api_reply;

/*
 * Sends REPLY: an error as JSON whose code is its precondition with '-'
 * written '_' (no-uid-conflict: no_uid_conflict) or a code for its status,
 * else its body. When MISSING_COLLECTION_CODE is not NULL a 409 (a PUT
 * into a collection that does not exist) is sent as 404 with that code.
 */
void ex_dav_api_send_reply(ex_http_request *request, const ex_dav_api_reply *reply,
			   const char *missing_collection_code);

#endif
