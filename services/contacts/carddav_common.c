/*
 * Pieces every CardDAV handler uses: request paths, hrefs, replies,
 * ETags, the SQL helper, the default address book and the change events.
 */
#include "contacts_service.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_http.h"
#include "expresso/dav_properties.h"
#include "expresso/dav_route.h"
#include "expresso/dav_store_checks.h"
#include "expresso/dav_sync.h"
#include "expresso/dav_target.h"
#include "expresso/log.h"

const ex_dav_store contacts_dav_store = {
	.home = CONTACTS_HOME,
	.collection_table = "addressbooks",
	.resource_table = "contact_cards",
	.tombstone_table = "contact_tombstones",
	.collection_column = "addressbook_id",
	.resource_noun = "vCard",
	.collection_noun = "address book",
	.data_column = "vcard",
	.protocol_ns = EX_CARDDAV_NS,
	.protocol = "carddav",
	.service_noun = "contacts",
	.event_domain = "contacts",
	.event_collection = "addressbook",
};

bool contacts_book_name_is_valid(const char *name)
{
	return ex_dav_collection_name_is_valid(name);
}

void contacts_parse_target(const char *path, const char *user_id, contacts_target *target)
{
	ex_dav_target parsed;

	ex_dav_parse_target(path, CONTACTS_HOME, user_id, &parsed);
	memset(target, 0, sizeof(*target));
	memcpy(target->book, parsed.collection, sizeof(target->book));
	memcpy(target->card, parsed.resource, sizeof(target->card));
	static const target_kind kinds[] = {
		[EX_DAV_TARGET_NOT_FOUND] = TARGET_NOT_FOUND, [EX_DAV_TARGET_DAV_ROOT] = TARGET_DAV_ROOT,
		[EX_DAV_TARGET_PRINCIPALS] = TARGET_PRINCIPALS, [EX_DAV_TARGET_PRINCIPAL] = TARGET_PRINCIPAL,
		[EX_DAV_TARGET_HOME] = TARGET_HOME, [EX_DAV_TARGET_COLLECTION] = TARGET_BOOK,
		[EX_DAV_TARGET_RESOURCE] = TARGET_CARD,
	};
	target->kind = kinds[parsed.kind];
}

int contacts_href_principal(char *out, const char *user_id)
{
	return ex_dav_format_href(out, EX_DAV_PRINCIPALS, user_id, NULL, NULL);
}

int contacts_href_home(char *out, const char *user_id)
{
	return ex_dav_format_href(out, CONTACTS_HOME, user_id, NULL, NULL);
}

int contacts_href_book(char *out, const char *user_id, const char *book)
{
	return ex_dav_format_href(out, CONTACTS_HOME, user_id, book, NULL);
}

int contacts_href_card(char *out, const char *user_id, const char *book, const char *card)
{
	return ex_dav_format_href(out, CONTACTS_HOME, user_id, book, card);
}

int contacts_property_path(char *out, size_t size, const char *user_id, const contacts_target *target)
{
	ex_dav_target shared = {.kind = EX_DAV_TARGET_NOT_FOUND};

	switch (target->kind) {
	case TARGET_PRINCIPAL:
		shared.kind = EX_DAV_TARGET_PRINCIPAL;
		break;
	case TARGET_HOME:
		shared.kind = EX_DAV_TARGET_HOME;
		break;
	case TARGET_BOOK:
		shared.kind = EX_DAV_TARGET_COLLECTION;
		break;
	case TARGET_CARD:
		shared.kind = EX_DAV_TARGET_RESOURCE;
		break;
	default:
		return -1;
	}
	memcpy(shared.collection, target->book, sizeof(shared.collection));
	memcpy(shared.resource, target->card, sizeof(shared.resource));
	return ex_dav_property_path(out, size, CONTACTS_HOME, user_id, &shared);
}

void contacts_compute_etag(const char *data, size_t length, char *out)
{
	ex_dav_compute_etag(data, length, out);
}

int contacts_ensure_default_book(PGconn *connection, const contacts_context *context, ex_db_error *error)
{
	PGresult *result = contacts_sql(
		connection, error,
		"INSERT INTO addressbooks (tenant_id, user_id, name, displayname) "
		"SELECT $1, $2, '" CONTACTS_DEFAULT_BOOK "', 'Contacts' "
		"WHERE NOT EXISTS (SELECT 1 FROM addressbooks WHERE user_id = $2) "
		"ON CONFLICT (user_id, name) DO NOTHING",
		2, context->principal.tenant_id, context->principal.user_id);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

PGresult *contacts_find_book(PGconn *connection, const contacts_context *context, const char *name,
			     bool for_update, ex_db_error *error, bool *failed)
{
	if (contacts_is_gal(name)) {
		PGresult *gal = contacts_gal_book(connection, error);
		*failed = gal == NULL;
		return gal;
	}
	const char *sql = for_update
				  ? "SELECT id::text, displayname, description, sync_seq::text, tombstones_pruned_seq::text "
				    "FROM addressbooks WHERE user_id = $1 AND name = $2 FOR UPDATE"
				  : "SELECT id::text, displayname, description, sync_seq::text, tombstones_pruned_seq::text "
				    "FROM addressbooks WHERE user_id = $1 AND name = $2";
	PGresult *result = contacts_sql(connection, error, sql, 2, context->principal.user_id, name);
	*failed = result == NULL;
	if (result != NULL && PQntuples(result) == 0) {
		PQclear(result);
		return NULL;
	}
	return result;
}

long long contacts_quota_used(PGconn *connection, const contacts_context *context, ex_db_error *error)
{
	return ex_dav_store_quota_used(connection, &contacts_dav_store, context->principal.user_id, error);
}

void contacts_sync_token(char *out, size_t size, const char *book_id, const char *sequence)
{
	ex_dav_format_sync_token(out, size, book_id, sequence);
}

PGresult *contacts_load_dead_properties(PGconn *connection, const contacts_context *context, ex_db_error *error)
{
	return ex_dav_load_dead_properties(connection, context->principal.user_id, error);
}

void contacts_run(contacts_context *context, ex_db_isolation isolation, ex_db_work work, void *argument)
{
	ex_dav_run(context->service->dav.database, &context->principal, &contacts_dav_store, &context->reply, isolation,
		   work, argument);
}

void contacts_publish_change(const contacts_context *context)
{
	ex_dav_publish_change(context->service->dav.bus, &context->principal, &contacts_dav_store, &context->reply);
}
