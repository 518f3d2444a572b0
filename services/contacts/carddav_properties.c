/*
 * Live properties of the CardDAV resources (RFC 4918, 3744, 5397, 6352,
 * 6578 and CalendarServer's getctag) and the lookup of dead properties
 * stored by PROPPATCH.
 */
#include "contacts_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_properties.h"

#include "vcard.h"
#include "vcard_convert.h"

/* The live properties that allprop and propname list, besides dead properties. */
static const ex_dav_property_name allprop_names[] = {
	{ EX_DAV_NS, "resourcetype" },
	{ EX_DAV_NS, "displayname" },
	{ EX_DAV_NS, "getetag" },
	{ EX_DAV_NS, "getcontenttype" },
	{ EX_DAV_NS, "getcontentlength" },
	{ EX_DAV_NS, "getlastmodified" },
	{ EX_DAV_NS, "sync-token" },
	{ EX_CALSERVER_NS, "getctag" },
	{ EX_CARDDAV_NS, "addressbook-description" },
	{ NULL, NULL },
};

static bool is_collection(target_kind kind)
{
	return kind != TARGET_CARD;
}

static void write_resourcetype(ex_dav_multistatus *ms, target_kind kind)
{
	ex_dav_ms_begin_property(ms, EX_DAV_NS, "resourcetype");
	if (is_collection(kind))
		ex_dav_ms_empty_element(ms, EX_DAV_NS, "collection");
	if (kind == TARGET_PRINCIPAL)
		ex_dav_ms_empty_element(ms, EX_DAV_NS, "principal");
	if (kind == TARGET_BOOK)
		ex_dav_ms_empty_element(ms, EX_CARDDAV_NS, "addressbook");
	ex_dav_ms_end_property(ms);
}

static void write_privileges(ex_dav_multistatus *ms, target_kind kind, bool read_only)
{
	bool owner = !read_only && (kind == TARGET_HOME || kind == TARGET_BOOK || kind == TARGET_CARD || kind == TARGET_PRINCIPAL);
	ex_dav_write_privileges(ms, owner);
}

static void write_supported_reports(ex_dav_multistatus *ms)
{
	static const ex_dav_property_name reports[] = {
		{ EX_DAV_NS, "sync-collection" },
		{ EX_CARDDAV_NS, "addressbook-query" },
		{ EX_CARDDAV_NS, "addressbook-multiget" },
	};
	ex_dav_write_supported_reports(ms, reports, sizeof(reports) / sizeof(reports[0]));
}

static void write_address_data_types(ex_dav_multistatus *ms)
{
	static const char *const versions[] = { "3.0", "4.0" };
	xmlTextWriter *writer = ex_dav_ms_writer(ms);

	ex_dav_ms_begin_property(ms, EX_CARDDAV_NS, "supported-address-data");
	for (size_t i = 0; i < 2; i++) {
		ex_dav_ms_begin_property(ms, EX_CARDDAV_NS, "address-data-type");
		xmlTextWriterWriteAttribute(writer, BAD_CAST "content-type", BAD_CAST "text/vcard");
		xmlTextWriterWriteAttribute(writer, BAD_CAST "version", BAD_CAST versions[i]);
		ex_dav_ms_end_property(ms);
	}
	ex_dav_ms_end_property(ms);
}

/* Finds the stored dead property NS:NAME of the resource; returns its row or -1. */
static int find_dead_property(const contacts_resource *resource, const char *ns, const char *name)
{
	return ex_dav_find_dead_property(resource->dead_properties, resource->property_path, ns, name);
}

/* Resolves the DAV: live properties; returns true when NAME is one the resource has. */
static bool resolve_dav(const contacts_resource *resource, ex_dav_multistatus *ms, const char *name)
{
	const char *user = resource->context->principal.user_id;
	target_kind kind = resource->kind;
	char href[CONTACTS_MAX_HREF];
	char token[256];

	if (strcmp(name, "resourcetype") == 0) {
		if (ms)
			write_resourcetype(ms, kind);
		return true;
	}
	if (strcmp(name, "current-user-principal") == 0 || (strcmp(name, "principal-URL") == 0 && kind == TARGET_PRINCIPAL) ||
	    (strcmp(name, "owner") == 0 && kind >= TARGET_PRINCIPAL)) {
		if (ms && contacts_href_principal(href, user) == 0)
			ex_dav_ms_href_property(ms, EX_DAV_NS, name, href);
		return true;
	}
	if (strcmp(name, "principal-collection-set") == 0) {
		if (ms)
			ex_dav_ms_href_property(ms, EX_DAV_NS, name, CONTACTS_DAV_ROOT "principals/");
		return true;
	}
	if (strcmp(name, "current-user-privilege-set") == 0) {
		if (ms)
			write_privileges(ms, kind, resource->book_id != NULL && contacts_is_gal(resource->book_id));
		return true;
	}
	if (strcmp(name, "displayname") == 0 && kind == TARGET_BOOK && find_dead_property(resource, EX_DAV_NS, name) < 0) {
		if (ms)
			ex_dav_ms_text_property(ms, EX_DAV_NS, name, resource->displayname);
		return true;
	}
	if (kind == TARGET_BOOK && strcmp(name, "supported-report-set") == 0) {
		if (ms)
			write_supported_reports(ms);
		return true;
	}
	if (kind == TARGET_BOOK && strcmp(name, "sync-token") == 0) {
		if (ms) {
			contacts_sync_token(token, sizeof(token), resource->book_id, resource->sync_seq);
			ex_dav_ms_text_property(ms, EX_DAV_NS, name, token);
		}
		return true;
	}
	if ((kind == TARGET_HOME || kind == TARGET_BOOK) && resource->context->quota_used >= 0 &&
	    (strcmp(name, "quota-used-bytes") == 0 || strcmp(name, "quota-available-bytes") == 0)) {
		if (ms) {
			long long used = resource->context->quota_used;
			long long available = resource->context->service->quota_bytes - used;
			char number[32];
			snprintf(number, sizeof(number), "%lld", strcmp(name, "quota-used-bytes") == 0 ? used : (available > 0 ? available : 0));
			ex_dav_ms_text_property(ms, EX_DAV_NS, name, number);
		}
		return true;
	}
	if (kind != TARGET_CARD)
		return false;
	return ex_dav_write_content_property(ms, name, resource->card_etag, "text/vcard; charset=utf-8", resource->card_length,
					     resource->card_lastmod);
}

/* Writes the vCard of RESOURCE, converted when the request asked for another version than the stored one. */
static void write_address_data(ex_dav_multistatus *ms, const contacts_resource *resource)
{
	const char *wanted = resource->address_data_version;
	char err[256];
	char *converted = NULL;
	size_t length = 0;

	if (wanted != NULL) {
		ex_vcard_list *parsed = ex_vcard_parse(resource->card_data, strlen(resource->card_data), err, sizeof(err));
		const ex_vcard *card = parsed && ex_vcard_count(parsed) == 1 ? ex_vcard_at(parsed, 0) : NULL;
		if (card != NULL && (card->version == NULL || strcmp(card->version, wanted) != 0))
			converted = ex_vcard_convert(card, wanted, &length);
		ex_vcard_list_free(parsed);
	}
	ex_dav_ms_text_property(ms, EX_CARDDAV_NS, "address-data", converted ? converted : resource->card_data);
	free(converted);
}

static bool resolve_carddav(const contacts_resource *resource, ex_dav_multistatus *ms, const char *name)
{
	const char *user = resource->context->principal.user_id;
	target_kind kind = resource->kind;
	char href[CONTACTS_MAX_HREF];

	if (strcmp(name, "addressbook-home-set") == 0 && kind == TARGET_PRINCIPAL) {
		if (ms && contacts_href_home(href, user) == 0)
			ex_dav_ms_href_property(ms, EX_CARDDAV_NS, name, href);
		return true;
	}
	if (kind == TARGET_BOOK && strcmp(name, "addressbook-description") == 0) {
		if (ms)
			ex_dav_ms_text_property(ms, EX_CARDDAV_NS, name, resource->description);
		return true;
	}
	if (kind == TARGET_BOOK && strcmp(name, "supported-address-data") == 0) {
		if (ms)
			write_address_data_types(ms);
		return true;
	}
	if (kind == TARGET_BOOK && strcmp(name, "max-resource-size") == 0) {
		if (ms) {
			char size[32];
			snprintf(size, sizeof(size), "%zu", resource->context->service->max_resource_size);
			ex_dav_ms_text_property(ms, EX_CARDDAV_NS, name, size);
		}
		return true;
	}
	if (kind == TARGET_CARD && strcmp(name, "address-data") == 0 && resource->card_data != NULL) {
		if (ms)
			write_address_data(ms, resource);
		return true;
	}
	return false;
}

void contacts_write_properties(ex_dav_multistatus *ms, const ex_dav_propfind *request, contacts_resource *resource)
{
	ex_dav_write_resource_properties(ms, request, allprop_names, resource->dead_properties, resource->property_path,
					 contacts_resolve_property, resource);
}

bool contacts_resolve_property(void *opaque, ex_dav_multistatus *ms, const char *ns, const char *name)
{
	const contacts_resource *resource = opaque;

	if (strcmp(ns, EX_DAV_NS) == 0 && resolve_dav(resource, ms, name))
		return true;
	if (strcmp(ns, EX_CARDDAV_NS) == 0 && resolve_carddav(resource, ms, name))
		return true;
	if (strcmp(ns, EX_CALSERVER_NS) == 0 && strcmp(name, "getctag") == 0 && resource->kind == TARGET_BOOK) {
		if (ms) {
			char token[256];
			contacts_sync_token(token, sizeof(token), resource->book_id, resource->sync_seq);
			ex_dav_ms_text_property(ms, EX_CALSERVER_NS, name, token);
		}
		return true;
	}
	int row = find_dead_property(resource, ns, name);
	if (row < 0)
		return false;
	if (ms)
		ex_dav_ms_raw(ms, PQgetvalue(resource->dead_properties, row, 3));
	return true;
}
