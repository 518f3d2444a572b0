/*
 * The reply of one DAV request, which a handler fills inside its tenant
 * transaction and which is sent after the commit, so that no client
 * sees a success before the change is durable. Both DAV daemons embed
 * it in their per-request context and send it with ex_dav_reply_send.
 */
#ifndef EXPRESSO_DAV_REPLY_H
#define EXPRESSO_DAV_REPLY_H

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>

#include "expresso/dav_auth.h"
#include "expresso/dav_multistatus.h"
#include "expresso/dav_request.h"
#include "expresso/dav_store.h"
#include "expresso/dav_target.h"
#include "expresso/dav_xml.h"
#include "expresso/db.h"
#include "expresso/http.h"

typedef struct {
	unsigned status;
	char *body; /* malloc'd */
	size_t length;
	const char *content_type;
	char etag[80];
	char schedule_tag[80];    /* Schedule-Tag header (RFC 6638 section 8.3), "" for none; only CalDAV sets it */
	char allow[160];
	const char *condition_ns; /* with condition: a DAV:error body */
	const char *condition;
	char message[512];
	bool changed;             /* publish a change event after the commit */
	char changed_collection[EX_DAV_MAX_COLLECTION_NAME + 1];
	char changed_resource[EX_DAV_MAX_RESOURCE_NAME + 1];
	const char *change_kind;  /* "created", "updated", "deleted" */
} ex_dav_reply;

/* Frees the body and clears REPLY, at the start of a transaction attempt and after sending. */
void ex_dav_reply_reset(ex_dav_reply *reply);

/* Sets an error reply: STATUS with a DAV:error body naming NS:CONDITION (NULL for none) and the formatted message. */
void ex_dav_reply_error(ex_dav_reply *reply, unsigned status, const char *ns, const char *condition,
			const char *format, ...) __attribute__((format(printf, 5, 6)));

/* Takes the finished multistatus MS into a 207 reply (or a 500 when writing failed) and frees it. */
void ex_dav_reply_multistatus(ex_dav_reply *reply, ex_dav_multistatus *ms);

/* Sets the 207 reply of a PROPPATCH on HREF: one propstat for each instruction of PATCH with its STATUSES. */
void ex_dav_reply_proppatch(ex_dav_reply *reply, const ex_dav_proppatch *patch, const unsigned *statuses,
			    const char *href);

/* When REPLY has no status yet, takes MS into a 207 reply (ex_dav_reply_multistatus); else frees MS. */
void ex_dav_reply_take_multistatus(ex_dav_reply *reply, ex_dav_multistatus *ms);

/*
 * Evaluates IF_MATCH and IF_NONE_MATCH (ex_dav_check_conditions) for the
 * resource with the ETag CURRENT (NULL when it does not exist). Returns
 * true when the request may go on, else false with a 304 reply carrying
 * CURRENT as its ETag or a 412 reply naming NOUN.
 */
bool ex_dav_reply_check_conditions(ex_dav_reply *reply, const char *if_match, const char *if_none_match,
				   const char *current, bool read_only, const char *noun);

/*
 * Checks the Depth of a PROPFIND (0 or 1) and parses its DOCUMENT (NULL
 * for allprop) into REQUEST. Returns true, or false with a 403
 * DAV:propfind-finite-depth reply for Depth infinity or a 400 reply.
 */
bool ex_dav_reply_parse_propfind(ex_dav_reply *reply, ex_dav_depth depth, const xmlDoc *document,
				 ex_dav_propfind *request);

/*
 * Parses the XML request BODY (LENGTH 0 leaves *DOCUMENT NULL) within LIMITS.
 * Returns true, or false with a 400 or 413 reply set.
 */
bool ex_dav_reply_parse_xml(ex_dav_reply *reply, const char *body, size_t length, const ex_dav_xml_limits *limits,
			    xmlDoc **document);

/*
 * Sends REPLY on REQUEST: an error reply as a DAV:error body, else its
 * body, then the ETag, Schedule-Tag and Allow headers it carries, and
 * DAV_CLASSES in the DAV header of a success. A reply with no status is
 * sent as a 500. Errors of 500 and above are logged as
 * <store->protocol>_request_failed with USER_ID.
 */
void ex_dav_reply_send(ex_http_request *request, ex_dav_reply *reply, const ex_dav_store *store,
		       const char *dav_classes, const char *user_id);

/*
 * Runs WORK(ARGUMENT) in the tenant transaction of PRINCIPAL. On a
 * database failure sets a 503 reply, or a 403 when the user row does not
 * exist yet (a foreign key violation), and logs the failure.
 */
void ex_dav_run(ex_db_pool *database, const ex_dav_principal *principal, const ex_dav_store *store,
		ex_dav_reply *reply, ex_db_isolation isolation, ex_db_work work, void *argument);

#endif
