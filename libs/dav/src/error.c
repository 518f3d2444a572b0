/*
 * DAV error responses: a DAV:error body (RFC 4918 section 16) naming the
 * precondition that failed, plus an expresso:message element with a
 * sentence for the person reading the client's log.
 */
#include "expresso/dav_http.h"

#include <libxml/xmlwriter.h>
#include <string.h>

#include "expresso/dav_multistatus.h"
#include "expresso/dav_xml.h"

static void respond(ex_http_request *request, unsigned status, const char *ns, const char *condition,
		    const char *message)
{
	xmlBuffer *buffer = xmlBufferCreate();
	xmlTextWriter *writer = buffer ? xmlNewTextWriterMemory(buffer, 0) : NULL;
	int failed = writer == NULL;

	if (!failed) {
		failed |= xmlTextWriterStartDocument(writer, "1.0", "UTF-8", NULL) < 0;
		failed |= xmlTextWriterStartElementNS(writer, BAD_CAST "d", BAD_CAST "error", BAD_CAST EX_DAV_NS) < 0;
		if (condition != NULL) {
			const char *prefix = ex_dav_ms_prefix(ns);
			failed |= xmlTextWriterStartElementNS(writer, BAD_CAST prefix, BAD_CAST condition,
							      strcmp(ns, EX_DAV_NS) == 0 ? NULL : BAD_CAST ns) < 0;
			failed |= xmlTextWriterEndElement(writer) < 0;
		}
		if (message != NULL)
			failed |= xmlTextWriterWriteElementNS(writer, BAD_CAST "x", BAD_CAST "message",
							      BAD_CAST EX_EXPRESSO_NS, BAD_CAST message) < 0;
		failed |= xmlTextWriterEndDocument(writer) < 0;
		xmlFreeTextWriter(writer);
	}
	if (failed)
		ex_http_respond_text(request, status, "text/plain; charset=utf-8", message ? message : "error");
	else
		ex_http_respond_bytes(request, status, "application/xml; charset=utf-8", xmlBufferContent(buffer),
				      (size_t)xmlBufferLength(buffer));
	if (buffer != NULL)
		xmlBufferFree(buffer);
}

void ex_dav_respond_condition(ex_http_request *request, unsigned status, const char *ns, const char *condition,
			      const char *message)
{
	respond(request, status, ns, condition, message);
}

void ex_dav_respond_message(ex_http_request *request, unsigned status, const char *message)
{
	respond(request, status, EX_DAV_NS, NULL, message);
}
