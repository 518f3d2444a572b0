/*
 * Bounded parsing of WebDAV request bodies with libxml2. A body is parsed
 * only when it is at most max_bytes long, has no DOCTYPE (so no DTD and no
 * entity declarations can take effect), no entity references and no
 * element deeper than max_depth. libxml2 never touches the network
 * (XML_PARSE_NONET) and never substitutes entities.
 */
#ifndef EXPRESSO_DAV_XML_H
#define EXPRESSO_DAV_XML_H

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>

#define EX_DAV_NS "DAV:"
#define EX_CARDDAV_NS "urn:ietf:params:xml:ns:carddav"
#define EX_CALDAV_NS "urn:ietf:params:xml:ns:caldav"
#define EX_CALSERVER_NS "http://calendarserver.org/ns/"
/* Namespace of the human-readable message inside DAV error bodies. */
#define EX_EXPRESSO_NS "urn:x-expresso:dav"

enum {
	EX_DAV_XML_DEFAULT_MAX_DEPTH = 32,
	EX_DAV_XML_DEFAULT_MAX_BYTES = 1024 * 1024,
};

typedef enum {
	EX_DAV_XML_OK = 0,
	EX_DAV_XML_EMPTY,     /* no body */
	EX_DAV_XML_TOO_LARGE, /* longer than max_bytes: 413 */
	EX_DAV_XML_TOO_DEEP,  /* nesting past max_depth: 400 */
	EX_DAV_XML_DOCTYPE,   /* DOCTYPE or entity reference: 400 */
	EX_DAV_XML_MALFORMED, /* not well-formed: 400 */
} ex_dav_xml_status;

typedef struct {
	size_t max_bytes;   /* 0: EX_DAV_XML_DEFAULT_MAX_BYTES */
	unsigned max_depth; /* 0: EX_DAV_XML_DEFAULT_MAX_DEPTH */
} ex_dav_xml_limits;

/*
 * Parses BODY into *document (freed by the caller with xmlFreeDoc). On
 * failure *document is NULL and ERR holds a sentence naming the problem.
 */
ex_dav_xml_status ex_dav_xml_parse(const char *body, size_t length, const ex_dav_xml_limits *limits,
				   xmlDoc **document, char *err, size_t errlen);

/* Returns the HTTP status for a parse failure: 413 or 400. */
unsigned ex_dav_xml_http_status(ex_dav_xml_status status);

/* Returns true when NODE is an element NAME in namespace NS ("" for none). */
bool ex_dav_xml_is(const xmlNode *node, const char *ns, const char *name);

/* Returns the namespace URI of NODE, "" when it has none. */
const char *ex_dav_xml_namespace(const xmlNode *node);

/* Returns the first element child of PARENT named NS:NAME, or NULL. */
xmlNode *ex_dav_xml_child(const xmlNode *parent, const char *ns, const char *name);

/* Returns the first element at or after NODE among its siblings, or NULL. */
xmlNode *ex_dav_xml_element(xmlNode *node);

#endif
