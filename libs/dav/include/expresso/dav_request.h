/*
 * WebDAV request parts: the Depth header (RFC 4918 section 10.2) and the
 * bodies of PROPFIND, PROPPATCH and the sync-collection REPORT (RFC 6578).
 * Parsed requests point into the xmlDoc they came from, which must outlive
 * them.
 */
#ifndef EXPRESSO_DAV_REQUEST_H
#define EXPRESSO_DAV_REQUEST_H

#include <libxml/tree.h>
#include <stddef.h>

enum {
	/* Properties named in one PROPFIND, PROPPATCH or REPORT body. */
	EX_DAV_MAX_PROPERTIES = 256,
	EX_DAV_MAX_SYNC_TOKEN = 256,
};

typedef enum {
	EX_DAV_DEPTH_0,
	EX_DAV_DEPTH_1,
	EX_DAV_DEPTH_INFINITY,
	EX_DAV_DEPTH_INVALID,
} ex_dav_depth;

/* Parses a Depth header; HEADER NULL gives DEFAULT_DEPTH. */
ex_dav_depth ex_dav_parse_depth(const char *header, ex_dav_depth default_depth);

typedef enum {
	EX_DAV_PROPFIND_PROP,
	EX_DAV_PROPFIND_ALLPROP,
	EX_DAV_PROPFIND_PROPNAME,
} ex_dav_propfind_kind;

/* The properties a PROPFIND or REPORT asks for; each entry is a property element of the body. */
typedef struct {
	ex_dav_propfind_kind kind;
	size_t count;
	const xmlNode *properties[EX_DAV_MAX_PROPERTIES];
} ex_dav_propfind;

/*
 * Reads a PROPFIND body. DOCUMENT NULL (an empty body) means allprop, as
 * RFC 4918 section 9.1 requires. Returns 0, or -1 with a sentence in ERR.
 */
int ex_dav_parse_propfind(const xmlDoc *document, ex_dav_propfind *out, char *err, size_t errlen);

/* Reads the DAV:prop children of PROP (NULL allowed) into OUT as a prop request. */
int ex_dav_collect_properties(const xmlNode *prop, ex_dav_propfind *out, char *err, size_t errlen);

/* One instruction of a PROPPATCH, in document order. */
typedef struct {
	int remove;               /* 1 for DAV:remove, 0 for DAV:set */
	const xmlNode *property;  /* the property element with its value */
} ex_dav_proppatch_op;

typedef struct {
	size_t count;
	ex_dav_proppatch_op ops[EX_DAV_MAX_PROPERTIES];
} ex_dav_proppatch;

/* Reads a DAV:propertyupdate body. Returns 0, or -1 with a sentence in ERR. */
int ex_dav_parse_proppatch(const xmlDoc *document, ex_dav_proppatch *out, char *err, size_t errlen);

/* A DAV:sync-collection REPORT. */
typedef struct {
	char sync_token[EX_DAV_MAX_SYNC_TOKEN]; /* "" for an initial sync */
	int sync_level_infinite;                /* DAV:sync-level "infinite" */
	long limit;                             /* DAV:limit/nresults, 0 when absent */
	ex_dav_propfind properties;
} ex_dav_sync_collection;

/* Reads a DAV:sync-collection body. Returns 0, or -1 with a sentence in ERR. */
int ex_dav_parse_sync_collection(const xmlDoc *document, ex_dav_sync_collection *out, char *err, size_t errlen);

/*
 * Serializes ELEMENT with its subtree and the namespace declarations it
 * uses into a new NUL-terminated string (free()); NULL on failure.
 */
char *ex_dav_xml_serialize_element(const xmlNode *element);

#endif
