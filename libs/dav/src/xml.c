/*
 * Bounded XML parsing for DAV bodies. A first pass with the libxml2
 * reader checks the structure (DOCTYPE, entity references, depth) and
 * stops at the first violation, so a hostile body costs at most one
 * bounded scan. Only then is the tree built.
 */
#include "expresso/dav_xml.h"

#include <libxml/parser.h>
#include <libxml/xmlreader.h>
#include <stdio.h>
#include <string.h>

/* Parser options: no network, no entity substitution, no DTD loading, quiet. */
static const int parse_options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;

static ex_dav_xml_status fail(ex_dav_xml_status status, char *err, size_t errlen, const char *message)
{
	snprintf(err, errlen, "%s", message);
	return status;
}

/* Scans BODY with the streaming reader; returns EX_DAV_XML_OK when its structure is within the limits. */
static ex_dav_xml_status scan(const char *body, size_t length, unsigned max_depth, char *err, size_t errlen)
{
	xmlTextReader *reader = xmlReaderForMemory(body, (int)length, NULL, NULL, parse_options);
	if (reader == NULL)
		return fail(EX_DAV_XML_MALFORMED, err, errlen, "the XML body could not be read");

	ex_dav_xml_status status = EX_DAV_XML_OK;
	int result;
	while ((result = xmlTextReaderRead(reader)) == 1) {
		int type = xmlTextReaderNodeType(reader);
		if (type == XML_READER_TYPE_DOCUMENT_TYPE || type == XML_READER_TYPE_ENTITY_REFERENCE ||
		    type == XML_READER_TYPE_ENTITY) {
			status = fail(EX_DAV_XML_DOCTYPE, err, errlen,
				      "DTDs and entities are not accepted in DAV bodies; remove the DOCTYPE");
			break;
		}
		/* A prefix without a namespace declaration makes the body not namespace-well-formed. */
		if (type == XML_READER_TYPE_ELEMENT && xmlTextReaderConstNamespaceUri(reader) == NULL &&
		    strchr((const char *)xmlTextReaderConstName(reader), ':') != NULL) {
			status = fail(EX_DAV_XML_MALFORMED, err, errlen,
				      "the XML body uses a namespace prefix it does not declare");
			break;
		}
		if (xmlTextReaderDepth(reader) >= (int)max_depth) {
			snprintf(err, errlen, "the XML body nests elements deeper than %u levels", max_depth);
			status = EX_DAV_XML_TOO_DEEP;
			break;
		}
	}
	if (status == EX_DAV_XML_OK && result != 0)
		status = fail(EX_DAV_XML_MALFORMED, err, errlen, "the XML body is not well-formed");
	xmlFreeTextReader(reader);
	return status;
}

ex_dav_xml_status ex_dav_xml_parse(const char *body, size_t length, const ex_dav_xml_limits *limits,
				   xmlDoc **document, char *err, size_t errlen)
{
	size_t max_bytes = limits && limits->max_bytes ? limits->max_bytes : EX_DAV_XML_DEFAULT_MAX_BYTES;
	unsigned max_depth = limits && limits->max_depth ? limits->max_depth : EX_DAV_XML_DEFAULT_MAX_DEPTH;

	*document = NULL;
	if (body == NULL || length == 0)
		return fail(EX_DAV_XML_EMPTY, err, errlen, "the request has no XML body");
	if (length > max_bytes || length > (size_t)__INT_MAX__) {
		snprintf(err, errlen, "the XML body has %zu bytes, more than the limit of %zu", length, max_bytes);
		return EX_DAV_XML_TOO_LARGE;
	}
	/* A DOCTYPE is rejected before libxml2 reads it, whatever it declares. */
	if (memmem(body, length, "<!DOCTYPE", 9) != NULL || memmem(body, length, "<!ENTITY", 8) != NULL)
		return fail(EX_DAV_XML_DOCTYPE, err, errlen,
			    "DTDs and entities are not accepted in DAV bodies; remove the DOCTYPE");

	ex_dav_xml_status status = scan(body, length, max_depth, err, errlen);
	if (status != EX_DAV_XML_OK)
		return status;

	xmlDoc *parsed = xmlReadMemory(body, (int)length, NULL, NULL, parse_options);
	if (parsed == NULL || xmlDocGetRootElement(parsed) == NULL) {
		xmlFreeDoc(parsed);
		return fail(EX_DAV_XML_MALFORMED, err, errlen, "the XML body is not well-formed");
	}
	*document = parsed;
	return EX_DAV_XML_OK;
}

unsigned ex_dav_xml_http_status(ex_dav_xml_status status)
{
	return status == EX_DAV_XML_TOO_LARGE ? 413 : 400;
}

const char *ex_dav_xml_namespace(const xmlNode *node)
{
	return node->ns != NULL && node->ns->href != NULL ? (const char *)node->ns->href : "";
}

bool ex_dav_xml_is(const xmlNode *node, const char *ns, const char *name)
{
	return node != NULL && node->type == XML_ELEMENT_NODE && strcmp((const char *)node->name, name) == 0 &&
	       strcmp(ex_dav_xml_namespace(node), ns) == 0;
}

xmlNode *ex_dav_xml_element(xmlNode *node)
{
	while (node != NULL && node->type != XML_ELEMENT_NODE)
		node = node->next;
	return node;
}

xmlNode *ex_dav_xml_child(const xmlNode *parent, const char *ns, const char *name)
{
	if (parent == NULL)
		return NULL;
	for (xmlNode *child = parent->children; child != NULL; child = child->next) {
		if (ex_dav_xml_is(child, ns, name))
			return child;
	}
	return NULL;
}
