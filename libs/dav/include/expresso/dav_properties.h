/*
 * Property plumbing that PROPFIND and REPORT share in both DAV daemons:
 * dead properties stored by PROPPATCH in the dav_properties table (path,
 * namespace, name, value), the property list of allprop and propname,
 * the DAV:current-user-privilege-set of a resource (RFC 3744), and the
 * all-or-nothing checks and multistatus of PROPPATCH (RFC 4918 section 9.2).
 */
#ifndef EXPRESSO_DAV_PROPERTIES_H
#define EXPRESSO_DAV_PROPERTIES_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "expresso/dav_multistatus.h"
#include "expresso/dav_request.h"
#include "expresso/db.h"

enum { EX_DAV_MAX_DEAD_PROPERTIES_LOADED = 10000 }; /* rows of dav_properties loaded per request */

/*
 * Loads the dead properties of USER_ID as rows of path, namespace, name
 * and value, ordered by path, at most EX_DAV_MAX_DEAD_PROPERTIES_LOADED.
 * Returns NULL with ERROR filled on failure.
 */
PGresult *ex_dav_load_dead_properties(PGconn *connection, const char *user_id, ex_db_error *error);

/* Returns the row of ROWS that stores NS:NAME for the resource at PATH, or -1 (also when ROWS or PATH is NULL). */
int ex_dav_find_dead_property(const PGresult *rows, const char *path, const char *ns, const char *name);

/*
 * Writes the propstats of one resource for REQUEST. A DAV:prop request
 * resolves the requested names. For allprop and propname, the LIVE names
 * (NULL-terminated) come first, then the dead properties of ROWS stored
 * at PATH that do not repeat a live name, up to EX_DAV_MAX_PROPERTIES.
 */
void ex_dav_write_resource_properties(ex_dav_multistatus *ms, const ex_dav_propfind *request,
				      const ex_dav_property_name *live, const PGresult *rows, const char *path,
				      ex_dav_property_resolver resolver, void *resource);

/*
 * Writes DAV:current-user-privilege-set: every privilege of the owner
 * when OWNER is true, else only read-current-user-privilege-set.
 */
void ex_dav_write_privileges(ex_dav_multistatus *ms, bool owner);

/* Writes DAV:supported-report-set with one DAV:supported-report for each of the COUNT REPORTS. */
void ex_dav_write_supported_reports(ex_dav_multistatus *ms, const ex_dav_property_name *reports, size_t count);

/*
 * Resolves the DAV:getetag, getcontenttype, getcontentlength and
 * getlastmodified properties of a resource with those values, and writes
 * the one named NAME into MS (MS NULL only checks NAME). Returns true when NAME is
 * one of them.
 */
bool ex_dav_write_content_property(ex_dav_multistatus *ms, const char *name, const char *etag,
				   const char *content_type, const char *length, const char *last_modified);

/* Returns true when NS:NAME is one of the COUNT entries of NAMES. */
bool ex_dav_property_is_listed(const ex_dav_property_name *names, size_t count, const char *ns, const char *name);

/*
 * Checks each instruction of PATCH before any is applied and writes its
 * status into STATUSES (PATCH->count entries): 200, 403 for a property in
 * the COUNT names of PROTECTED_NAMES, 507 for a value longer than
 * MAX_VALUE_SIZE bytes once serialized. A PROPPATCH is all or nothing, so
 * when one fails the others get 424. Returns true when all may be applied.
 */
bool ex_dav_proppatch_check(const ex_dav_proppatch *patch, const ex_dav_property_name *protected_names, size_t count,
			    size_t max_value_size, unsigned *statuses);

/* Returns a multistatus with one response for HREF and a propstat per status of STATUSES, or NULL when out of memory. */
ex_dav_multistatus *ex_dav_proppatch_result(const ex_dav_proppatch *patch, const unsigned *statuses, const char *href);

/*
 * Stores the dead property of instruction OP for the resource at PATH of
 * USER_ID, or deletes it for a DAV:remove. Returns 0, or -1 with ERROR set.
 */
int ex_dav_store_dead_property(PGconn *connection, const char *tenant_id, const char *user_id, const char *path,
			       const ex_dav_proppatch_op *op, ex_db_error *error);

#endif
