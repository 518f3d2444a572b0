/*
 * Multistatus writer on xmlTextWriter. Write errors of the writer are
 * remembered and reported once by ex_dav_ms_finish, so callers write
 * without checking each call.
 */
#include "expresso/dav_multistatus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_xml.h"

struct ex_dav_multistatus {
	xmlBuffer *buffer;
	xmlTextWriter *writer;
	int failed;
	int finished;
};

static const struct {
	const char *ns;
	const char *prefix;
} known_namespaces[] = {
	{ EX_DAV_NS, "d" },
	{ EX_CARDDAV_NS, "card" },
	{ EX_CALDAV_NS, "cal" },
	{ EX_CALSERVER_NS, "cs" },
};

const char *ex_dav_ms_prefix(const char *ns)
{
	for (size_t i = 0; i < sizeof(known_namespaces) / sizeof(known_namespaces[0]); i++) {
		if (strcmp(known_namespaces[i].ns, ns) == 0)
			return known_namespaces[i].prefix;
	}
	return NULL;
}

static void check(ex_dav_multistatus *ms, int result)
{
	if (result < 0)
		ms->failed = 1;
}

ex_dav_multistatus *ex_dav_multistatus_new(void)
{
	ex_dav_multistatus *ms = calloc(1, sizeof(*ms));
	if (ms == NULL)
		return NULL;
	ms->buffer = xmlBufferCreate();
	ms->writer = ms->buffer ? xmlNewTextWriterMemory(ms->buffer, 0) : NULL;
	if (ms->writer == NULL) {
		ex_dav_multistatus_free(ms);
		return NULL;
	}
	check(ms, xmlTextWriterStartDocument(ms->writer, "1.0", "UTF-8", NULL));
	check(ms, xmlTextWriterStartElement(ms->writer, BAD_CAST "d:multistatus"));
	for (size_t i = 0; i < sizeof(known_namespaces) / sizeof(known_namespaces[0]); i++) {
		char attribute[32];
		snprintf(attribute, sizeof(attribute), "xmlns:%s", known_namespaces[i].prefix);
		check(ms, xmlTextWriterWriteAttribute(ms->writer, BAD_CAST attribute, BAD_CAST known_namespaces[i].ns));
	}
	return ms;
}

void ex_dav_multistatus_free(ex_dav_multistatus *ms)
{
	if (ms == NULL)
		return;
	if (ms->writer != NULL)
		xmlFreeTextWriter(ms->writer);
	if (ms->buffer != NULL)
		xmlBufferFree(ms->buffer);
	free(ms);
}

xmlTextWriter *ex_dav_ms_writer(ex_dav_multistatus *ms)
{
	return ms->writer;
}

void ex_dav_ms_begin_property(ex_dav_multistatus *ms, const char *ns, const char *name)
{
	const char *prefix = ex_dav_ms_prefix(ns);
	if (prefix != NULL) {
		char qualified[300];
		snprintf(qualified, sizeof(qualified), "%s:%s", prefix, name);
		check(ms, xmlTextWriterStartElement(ms->writer, BAD_CAST qualified));
		return;
	}
	check(ms, xmlTextWriterStartElement(ms->writer, BAD_CAST name));
	/* The client's namespace becomes the default namespace of this element, "" included. */
	check(ms, xmlTextWriterWriteAttribute(ms->writer, BAD_CAST "xmlns", BAD_CAST ns));
}

void ex_dav_ms_end_property(ex_dav_multistatus *ms)
{
	check(ms, xmlTextWriterEndElement(ms->writer));
}

void ex_dav_ms_empty_element(ex_dav_multistatus *ms, const char *ns, const char *name)
{
	ex_dav_ms_begin_property(ms, ns, name);
	ex_dav_ms_end_property(ms);
}

void ex_dav_ms_text_property(ex_dav_multistatus *ms, const char *ns, const char *name, const char *text)
{
	ex_dav_ms_begin_property(ms, ns, name);
	check(ms, xmlTextWriterWriteString(ms->writer, BAD_CAST text));
	ex_dav_ms_end_property(ms);
}

void ex_dav_ms_href_property(ex_dav_multistatus *ms, const char *ns, const char *name, const char *href)
{
	ex_dav_ms_begin_property(ms, ns, name);
	ex_dav_ms_text_property(ms, EX_DAV_NS, "href", href);
	ex_dav_ms_end_property(ms);
}

void ex_dav_ms_raw(ex_dav_multistatus *ms, const char *xml)
{
	check(ms, xmlTextWriterWriteRaw(ms->writer, BAD_CAST xml));
}

void ex_dav_ms_begin_response(ex_dav_multistatus *ms, const char *href)
{
	check(ms, xmlTextWriterStartElement(ms->writer, BAD_CAST "d:response"));
	check(ms, xmlTextWriterWriteElement(ms->writer, BAD_CAST "d:href", BAD_CAST href));
}

void ex_dav_ms_end_response(ex_dav_multistatus *ms)
{
	check(ms, xmlTextWriterEndElement(ms->writer));
}

void ex_dav_ms_status(ex_dav_multistatus *ms, unsigned status)
{
	check(ms, xmlTextWriterWriteElement(ms->writer, BAD_CAST "d:status", BAD_CAST ex_dav_status_line(status)));
}

static void begin_propstat(ex_dav_multistatus *ms)
{
	check(ms, xmlTextWriterStartElement(ms->writer, BAD_CAST "d:propstat"));
	check(ms, xmlTextWriterStartElement(ms->writer, BAD_CAST "d:prop"));
}

static void end_propstat(ex_dav_multistatus *ms, unsigned status)
{
	check(ms, xmlTextWriterEndElement(ms->writer));
	ex_dav_ms_status(ms, status);
	check(ms, xmlTextWriterEndElement(ms->writer));
}

void ex_dav_ms_propstat_names(ex_dav_multistatus *ms, const xmlNode *const *names, size_t count, unsigned status)
{
	if (count == 0)
		return;
	begin_propstat(ms);
	for (size_t i = 0; i < count; i++)
		ex_dav_ms_empty_element(ms, ex_dav_xml_namespace(names[i]), (const char *)names[i]->name);
	end_propstat(ms, status);
}

/* Writes the allprop or propname propstat from the daemon's list of names. */
static void write_named_properties(ex_dav_multistatus *ms, const ex_dav_propfind *request,
				   const ex_dav_property_name *names, ex_dav_property_resolver resolver,
				   void *context)
{
	begin_propstat(ms);
	for (size_t i = 0; names != NULL && names[i].name != NULL; i++) {
		if (!resolver(context, NULL, names[i].ns, names[i].name))
			continue;
		if (request->kind == EX_DAV_PROPFIND_PROPNAME)
			ex_dav_ms_empty_element(ms, names[i].ns, names[i].name);
		else
			resolver(context, ms, names[i].ns, names[i].name);
	}
	end_propstat(ms, 200);
}

void ex_dav_ms_write_properties(ex_dav_multistatus *ms, const ex_dav_propfind *request,
				const ex_dav_property_name *allprop_names, ex_dav_property_resolver resolver,
				void *context)
{
	if (request->kind != EX_DAV_PROPFIND_PROP) {
		write_named_properties(ms, request, allprop_names, resolver, context);
		return;
	}

	const xmlNode *missing[EX_DAV_MAX_PROPERTIES];
	size_t missing_count = 0;
	size_t found_count = 0;
	for (size_t i = 0; i < request->count; i++) {
		const xmlNode *property = request->properties[i];
		if (resolver(context, NULL, ex_dav_xml_namespace(property), (const char *)property->name))
			found_count++;
		else
			missing[missing_count++] = property;
	}

	if (found_count > 0) {
		begin_propstat(ms);
		for (size_t i = 0; i < request->count; i++) {
			const xmlNode *property = request->properties[i];
			resolver(context, ms, ex_dav_xml_namespace(property), (const char *)property->name);
		}
		end_propstat(ms, 200);
	}
	ex_dav_ms_propstat_names(ms, missing, missing_count, 404);
}

void ex_dav_ms_sync_token(ex_dav_multistatus *ms, const char *token)
{
	check(ms, xmlTextWriterWriteElement(ms->writer, BAD_CAST "d:sync-token", BAD_CAST token));
}

const char *ex_dav_ms_finish(ex_dav_multistatus *ms, size_t *length)
{
	if (!ms->finished) {
		check(ms, xmlTextWriterEndDocument(ms->writer));
		check(ms, xmlTextWriterFlush(ms->writer));
		ms->finished = 1;
	}
	if (ms->failed)
		return NULL;
	*length = (size_t)xmlBufferLength(ms->buffer);
	return (const char *)xmlBufferContent(ms->buffer);
}

const char *ex_dav_status_line(unsigned status)
{
	switch (status) {
	case 200: return "HTTP/1.1 200 OK";
	case 201: return "HTTP/1.1 201 Created";
	case 204: return "HTTP/1.1 204 No Content";
	case 403: return "HTTP/1.1 403 Forbidden";
	case 404: return "HTTP/1.1 404 Not Found";
	case 409: return "HTTP/1.1 409 Conflict";
	case 412: return "HTTP/1.1 412 Precondition Failed";
	case 413: return "HTTP/1.1 413 Payload Too Large";
	case 424: return "HTTP/1.1 424 Failed Dependency";
	case 507: return "HTTP/1.1 507 Insufficient Storage";
	default: return "HTTP/1.1 500 Internal Server Error";
	}
}
