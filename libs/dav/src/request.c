/*
 * Readers of PROPFIND, PROPPATCH and sync-collection bodies. They check
 * the element structure RFC 4918 and RFC 6578 define and collect pointers
 * to the property elements; they resolve no property.
 */
#include "expresso/dav_request.h"

#include <libxml/xmlsave.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_xml.h"

static int reject(char *err, size_t errlen, const char *message)
{
	snprintf(err, errlen, "%s", message);
	return -1;
}

int ex_dav_collect_properties(const xmlNode *prop, ex_dav_propfind *out, char *err, size_t errlen)
{
	out->kind = EX_DAV_PROPFIND_PROP;
	out->count = 0;
	if (prop == NULL)
		return 0;
	for (xmlNode *child = prop->children; child != NULL; child = child->next) {
		if (child->type != XML_ELEMENT_NODE)
			continue;
		if (out->count == EX_DAV_MAX_PROPERTIES) {
			snprintf(err, errlen, "the request names more than %d properties", EX_DAV_MAX_PROPERTIES);
			return -1;
		}
		out->properties[out->count++] = child;
	}
	return 0;
}

int ex_dav_parse_propfind(const xmlDoc *document, ex_dav_propfind *out, char *err, size_t errlen)
{
	out->kind = EX_DAV_PROPFIND_ALLPROP;
	out->count = 0;
	if (document == NULL)
		return 0;

	const xmlNode *root = xmlDocGetRootElement((xmlDoc *)document);
	if (!ex_dav_xml_is(root, EX_DAV_NS, "propfind"))
		return reject(err, errlen, "the PROPFIND body must be a DAV:propfind element");
	if (ex_dav_xml_child(root, EX_DAV_NS, "allprop") != NULL)
		return 0;
	if (ex_dav_xml_child(root, EX_DAV_NS, "propname") != NULL) {
		out->kind = EX_DAV_PROPFIND_PROPNAME;
		return 0;
	}
	const xmlNode *prop = ex_dav_xml_child(root, EX_DAV_NS, "prop");
	if (prop == NULL)
		return reject(err, errlen, "DAV:propfind needs one of DAV:prop, DAV:allprop or DAV:propname");
	return ex_dav_collect_properties(prop, out, err, errlen);
}

/* Adds the properties of one DAV:set or DAV:remove element. */
static int add_update(const xmlNode *update, int remove, ex_dav_proppatch *out, char *err, size_t errlen)
{
	const xmlNode *prop = ex_dav_xml_child(update, EX_DAV_NS, "prop");
	if (prop == NULL)
		return reject(err, errlen, "DAV:set and DAV:remove need a DAV:prop child");
	for (xmlNode *child = prop->children; child != NULL; child = child->next) {
		if (child->type != XML_ELEMENT_NODE)
			continue;
		if (out->count == EX_DAV_MAX_PROPERTIES) {
			snprintf(err, errlen, "the PROPPATCH changes more than %d properties", EX_DAV_MAX_PROPERTIES);
			return -1;
		}
		out->ops[out->count].remove = remove;
		out->ops[out->count].property = child;
		out->count++;
	}
	return 0;
}

int ex_dav_parse_proppatch(const xmlDoc *document, ex_dav_proppatch *out, char *err, size_t errlen)
{
	out->count = 0;
	const xmlNode *root = document ? xmlDocGetRootElement((xmlDoc *)document) : NULL;
	if (root == NULL || !ex_dav_xml_is(root, EX_DAV_NS, "propertyupdate"))
		return reject(err, errlen, "the PROPPATCH body must be a DAV:propertyupdate element");
	for (xmlNode *child = root->children; child != NULL; child = child->next) {
		int status = 0;
		if (ex_dav_xml_is(child, EX_DAV_NS, "set"))
			status = add_update(child, 0, out, err, errlen);
		else if (ex_dav_xml_is(child, EX_DAV_NS, "remove"))
			status = add_update(child, 1, out, err, errlen);
		if (status != 0)
			return -1;
	}
	if (out->count == 0)
		return reject(err, errlen, "the PROPPATCH body changes no property");
	return 0;
}

/* Copies the text content of NODE, trimmed of surrounding white space, into OUT. */
static int copy_text(const xmlNode *node, char *out, size_t size)
{
	xmlChar *content = xmlNodeGetContent(node);
	const char *text = content ? (const char *)content : "";
	while (*text == ' ' || *text == '\t' || *text == '\r' || *text == '\n')
		text++;
	size_t length = strlen(text);
	while (length > 0 && strchr(" \t\r\n", text[length - 1]) != NULL)
		length--;
	int status = length < size ? 0 : -1;
	if (status == 0) {
		memcpy(out, text, length);
		out[length] = '\0';
	}
	xmlFree(content);
	return status;
}

int ex_dav_parse_sync_collection(const xmlDoc *document, ex_dav_sync_collection *out, char *err, size_t errlen)
{
	memset(out, 0, offsetof(ex_dav_sync_collection, properties));
	const xmlNode *root = document ? xmlDocGetRootElement((xmlDoc *)document) : NULL;
	if (!ex_dav_xml_is(root, EX_DAV_NS, "sync-collection"))
		return reject(err, errlen, "the REPORT body must be a DAV:sync-collection element");

	const xmlNode *token = ex_dav_xml_child(root, EX_DAV_NS, "sync-token");
	if (token == NULL)
		return reject(err, errlen, "DAV:sync-collection needs a DAV:sync-token element (empty for a first sync)");
	if (copy_text(token, out->sync_token, sizeof(out->sync_token)) != 0)
		return reject(err, errlen, "the DAV:sync-token is longer than any token this server issues");

	const xmlNode *level = ex_dav_xml_child(root, EX_DAV_NS, "sync-level");
	char level_text[16] = "1";
	if (level != NULL && copy_text(level, level_text, sizeof(level_text)) != 0)
		return reject(err, errlen, "DAV:sync-level must be 1 or infinite");
	if (strcmp(level_text, "infinite") == 0)
		out->sync_level_infinite = 1;
	else if (strcmp(level_text, "1") != 0)
		return reject(err, errlen, "DAV:sync-level must be 1 or infinite");

	const xmlNode *limit = ex_dav_xml_child(root, EX_DAV_NS, "limit");
	const xmlNode *nresults = ex_dav_xml_child(limit, EX_DAV_NS, "nresults");
	char number[24];
	if (nresults != NULL && copy_text(nresults, number, sizeof(number)) == 0)
		out->limit = strtol(number, NULL, 10);

	return ex_dav_collect_properties(ex_dav_xml_child(root, EX_DAV_NS, "prop"), &out->properties, err, errlen);
}

char *ex_dav_xml_serialize_element(const xmlNode *element)
{
	xmlDoc *copy_document = xmlNewDoc(BAD_CAST "1.0");
	if (copy_document == NULL)
		return NULL;
	/* Copying into a new document declares every namespace the subtree uses on the copy. */
	xmlNode *copy = xmlDocCopyNode((xmlNode *)element, copy_document, 1);
	char *text = NULL;
	if (copy != NULL) {
		xmlDocSetRootElement(copy_document, copy);
		xmlReconciliateNs(copy_document, copy);
		xmlBuffer *buffer = xmlBufferCreate();
		if (buffer != NULL && xmlNodeDump(buffer, copy_document, copy, 0, 0) >= 0)
			text = strdup((const char *)xmlBufferContent(buffer));
		xmlBufferFree(buffer);
	}
	xmlFreeDoc(copy_document);
	return text;
}
