/*
 * HTTP-level helpers of the DAV handlers: conditional requests with strong
 * ETags (If-Match, If-None-Match; RFC 9110 section 13), percent-encoding
 * of path segments for hrefs, and error responses carrying a DAV:error
 * body with the precondition that failed (RFC 4918 section 16).
 */
#ifndef EXPRESSO_DAV_HTTP_H
#define EXPRESSO_DAV_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "expresso/http.h"

typedef enum {
	EX_DAV_CONDITION_PASSED = 0,
	EX_DAV_CONDITION_FAILED,       /* 412 Precondition Failed */
	EX_DAV_CONDITION_NOT_MODIFIED, /* 304, only for GET and HEAD */
} ex_dav_condition;

/*
 * Evaluates IF_MATCH and IF_NONE_MATCH (header values or NULL) against
 * CURRENT_ETAG, the quoted strong ETag of the resource, or NULL when it
 * does not exist. Weak tags (W/"...") never match, as strong comparison
 * requires. READ_ONLY selects the GET/HEAD outcome of If-None-Match (304 instead of 412).
 */
ex_dav_condition ex_dav_evaluate_conditions(const char *if_match, const char *if_none_match,
					    const char *current_etag, bool read_only);

/*
 * Evaluates the conditions as ex_dav_evaluate_conditions does for the
 * resource whose ETag is CURRENT_ETAG (NULL when absent). Returns 0 when
 * the request may go on, 304 for Not Modified, or 412 with MESSAGE set to
 * a sentence naming the NOUN ("vCard") and what the client should do.
 */
unsigned ex_dav_check_conditions(const char *if_match, const char *if_none_match, const char *current_etag,
				 bool read_only, const char *noun, char *message, size_t size);

enum { EX_DAV_ETAG_SIZE = 67 }; /* bytes of a quoted SHA-256 hex ETag with its terminating NUL */

/* Writes the strong ETag of DATA, the quoted hex of its SHA-256, into OUT (EX_DAV_ETAG_SIZE bytes). */
void ex_dav_compute_etag(const char *data, size_t length, char *out);

/*
 * Percent-encodes SEGMENT (one path segment) into OUT, keeping RFC 3986
 * unreserved characters and sub-delims other than those that clients
 * mishandle. Returns 0, or -1 when OUT is too small.
 */
int ex_dav_encode_segment(const char *segment, char *out, size_t size);

/* Writes the DAV:error body naming NS:CONDITION with MESSAGE and sends it with STATUS. */
void ex_dav_respond_condition(ex_http_request *request, unsigned status, const char *ns, const char *condition,
			      const char *message);

/* Sends STATUS with a DAV:error body that carries only MESSAGE (for 400s without a precondition). */
void ex_dav_respond_message(ex_http_request *request, unsigned status, const char *message);

#endif
