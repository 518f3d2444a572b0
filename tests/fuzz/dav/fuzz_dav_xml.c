/*
 * Feeds arbitrary bytes to the bounded DAV XML parser and, when a body is
 * accepted, to the PROPFIND, PROPPATCH and sync-collection readers and the
 * multistatus writer, as a DAV request handler does.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_multistatus.h"
#include "expresso/dav_request.h"
#include "expresso/dav_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool resolve_nothing(void *context, ex_dav_multistatus *ms, const char *ns, const char *name)
{
	(void)context;
	if (strcmp(ns, EX_DAV_NS) != 0 || strcmp(name, "displayname") != 0)
		return false;
	if (ms != NULL)
		ex_dav_ms_text_property(ms, ns, name, "x");
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ex_dav_xml_limits limits = { .max_bytes = 64 * 1024, .max_depth = EX_DAV_XML_DEFAULT_MAX_DEPTH };
	xmlDoc *document = NULL;
	char err[256];

	if (ex_dav_xml_parse((const char *)data, size, &limits, &document, err, sizeof(err)) != EX_DAV_XML_OK)
		return 0;

	static ex_dav_propfind propfind;
	static ex_dav_proppatch proppatch;
	static ex_dav_sync_collection sync;
	if (ex_dav_parse_propfind(document, &propfind, err, sizeof(err)) == 0) {
		ex_dav_multistatus *ms = ex_dav_multistatus_new();
		size_t length;
		ex_dav_ms_begin_response(ms, "/dav/x/");
		ex_dav_ms_write_properties(ms, &propfind, NULL, resolve_nothing, NULL);
		ex_dav_ms_end_response(ms);
		ex_dav_ms_finish(ms, &length);
		ex_dav_multistatus_free(ms);
	}
	if (ex_dav_parse_proppatch(document, &proppatch, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < proppatch.count; i++)
			free(ex_dav_xml_serialize_element(proppatch.ops[i].property));
	}
	ex_dav_parse_sync_collection(document, &sync, err, sizeof(err));
	xmlFreeDoc(document);
	return 0;
}
