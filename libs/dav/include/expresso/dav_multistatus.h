/*
 * The 207 Multi-Status body of RFC 4918 section 13, written with libxml2's
 * writer. The root element declares the prefixes d (DAV:), card (CardDAV),
 * cal (CalDAV) and cs (CalendarServer); a property in any other namespace
 * is written with that namespace, as the client sent it, declared on the
 * element itself.
 *
 * Properties are resolved by a callback of the daemon. Known properties
 * go into one 200 propstat; unknown ones come back empty in a 404
 * propstat, never as an error of the whole request.
 */
#ifndef EXPRESSO_DAV_MULTISTATUS_H
#define EXPRESSO_DAV_MULTISTATUS_H

#include <libxml/xmlwriter.h>
#include <stdbool.h>
#include <stddef.h>

#include "expresso/dav_request.h"

typedef struct ex_dav_multistatus ex_dav_multistatus;

/* A property of a resource by namespace and local name. */
typedef struct {
	const char *ns;
	const char *name;
} ex_dav_property_name;

/*
 * Resolves property NS:NAME of the resource the daemon is describing.
 * With MS NULL it only reports whether the property exists. Otherwise it
 * writes the whole property element (ex_dav_ms_begin_property ... end)
 * and returns true, or writes nothing and returns false.
 */
typedef bool (*ex_dav_property_resolver)(void *context, ex_dav_multistatus *ms, const char *ns, const char *name);

ex_dav_multistatus *ex_dav_multistatus_new(void);
void ex_dav_multistatus_free(ex_dav_multistatus *ms);

/* Starts <d:response> with HREF, already percent-encoded. */
void ex_dav_ms_begin_response(ex_dav_multistatus *ms, const char *href);
void ex_dav_ms_end_response(ex_dav_multistatus *ms);

/* Writes a response-level <d:status> (e.g. 404 for a deleted member in sync-collection). */
void ex_dav_ms_status(ex_dav_multistatus *ms, unsigned status);

/*
 * Writes the propstats of one resource for REQUEST: ALLPROP_NAMES (ended
 * by a {NULL, NULL} entry) stand for allprop and propname.
 */
void ex_dav_ms_write_properties(ex_dav_multistatus *ms, const ex_dav_propfind *request,
				const ex_dav_property_name *allprop_names, ex_dav_property_resolver resolver,
				void *context);

/* Writes one propstat with every property of NAMES (COUNT of them) empty and STATUS. */
void ex_dav_ms_propstat_names(ex_dav_multistatus *ms, const xmlNode *const *names, size_t count, unsigned status);

/* Writes <d:sync-token> at the end of the multistatus. */
void ex_dav_ms_sync_token(ex_dav_multistatus *ms, const char *token);

/* Property writers for resolvers. */
void ex_dav_ms_begin_property(ex_dav_multistatus *ms, const char *ns, const char *name);
void ex_dav_ms_end_property(ex_dav_multistatus *ms);
void ex_dav_ms_empty_element(ex_dav_multistatus *ms, const char *ns, const char *name);
void ex_dav_ms_text_property(ex_dav_multistatus *ms, const char *ns, const char *name, const char *text);
void ex_dav_ms_href_property(ex_dav_multistatus *ms, const char *ns, const char *name, const char *href);
/* Writes TEXT (well-formed XML, such as a stored dead property) unchanged. */
void ex_dav_ms_raw(ex_dav_multistatus *ms, const char *xml);
xmlTextWriter *ex_dav_ms_writer(ex_dav_multistatus *ms);

/* Ends the document; returns the body (owned by MS) and its length, or NULL when writing failed. */
const char *ex_dav_ms_finish(ex_dav_multistatus *ms, size_t *length);

/* Returns "HTTP/1.1 <code> <reason>" for the statuses DAV responses use. */
const char *ex_dav_status_line(unsigned status);

/* Returns the prefix declared on the multistatus root for NS, or NULL. */
const char *ex_dav_ms_prefix(const char *ns);

#endif
