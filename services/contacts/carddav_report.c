/*
 * REPORTs on an address book: sync-collection (RFC 6578),
 * addressbook-query and addressbook-multiget (RFC 6352 sections 8.6, 8.7).
 * Each runs in one REPEATABLE READ transaction, so the sync-token a
 * response carries matches the members it lists.
 */
#include "contacts_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "card_filter.h"
#include "expresso/dav_sync.h"
#include "expresso/router.h"
#include "vcard.h"

typedef enum { REPORT_SYNC, REPORT_QUERY, REPORT_MULTIGET } report_kind;

typedef struct {
	contacts_context *context;
	report_kind kind;
	ex_dav_sync_collection sync;
	ex_dav_propfind properties;
	ex_card_filter filter;
	long limit;
	char address_data_version[8]; /* "" for the stored version */
	ex_dav_multistatus *ms;
	PGresult *dead_properties;
	PGresult *changed_rows;       /* the changed resources a sync-collection report is describing */
} report_state;

/* Writes one vCard response from row ROW of CARDS (CONTACTS_CARD_COLUMNS then vcard). */
static void describe_card(report_state *state, PGresult *cards, int row, const ex_dav_propfind *properties)
{
	contacts_context *context = state->context;
	char href[CONTACTS_MAX_HREF];
	char path[CONTACTS_MAX_HREF];
	contacts_target target = context->target;

	snprintf(target.card, sizeof(target.card), "%s", PQgetvalue(cards, row, 0));
	target.kind = TARGET_CARD;
	contacts_resource resource = {
		.context = context,
		.kind = TARGET_CARD,
		.card_etag = PQgetvalue(cards, row, 1),
		.card_length = PQgetvalue(cards, row, 2),
		.card_lastmod = PQgetvalue(cards, row, 3),
		.card_data = PQgetvalue(cards, row, 4),
		.address_data_version = state->address_data_version[0] ? state->address_data_version : NULL,
		.dead_properties = state->dead_properties,
		.property_path = contacts_property_path(path, sizeof(path), context->principal.user_id, &target) == 0
					 ? path
					 : NULL,
	};
	if (contacts_href_card(href, context->principal.user_id, context->target.book, target.card) != 0)
		return;
	ex_dav_ms_begin_response(state->ms, href);
	contacts_write_properties(state->ms, properties, &resource);
	ex_dav_ms_end_response(state->ms);
}

static void describe_missing(report_state *state, const char *href)
{
	ex_dav_ms_begin_response(state->ms, href);
	ex_dav_ms_status(state->ms, 404);
	ex_dav_ms_end_response(state->ms);
}

/* Returns the modseq named by TOKEN for book BOOK_ID, -1 for an empty token, -2 when the token is not valid here. */
/*
 * Syncs the global address list: everything for an empty token, nothing
 * for the current token. Any other token was rejected before, or names an
 * older state that cannot be diffed, so it gets DAV:valid-sync-token.
 */
static int sync_gal(report_state *state, PGconn *connection, const char *book_id, const char *book_seq,
		    long long since, ex_db_error *error)
{
	char token[256];

	if (since >= 0 && since != strtoll(book_seq, NULL, 10)) {
		contacts_reply_error(&state->context->reply, 403, EX_DAV_NS, "valid-sync-token",
				     "the global address list changed since this sync-token; sync again with an empty sync-token");
		return 0;
	}
	if (since < 0) {
		PGresult *cards = contacts_select_cards(connection, book_id, NULL, error);
		if (cards == NULL)
			return -1;
		for (int row = 0; row < PQntuples(cards); row++)
			describe_card(state, cards, row, &state->sync.properties);
		PQclear(cards);
	}
	contacts_sync_token(token, sizeof(token), book_id, book_seq);
	ex_dav_ms_sync_token(state->ms, token);
	return 0;
}

/* Describes row ROW of the changed vCards of a sync-collection report. */
static int describe_changed(void *opaque, int row)
{
	report_state *state = opaque;
	describe_card(state, state->changed_rows, row, &state->sync.properties);
	return 0;
}

static int sync_report(report_state *state, PGconn *connection, const char *book_id, const char *book_seq,
		       const char *pruned_seq, ex_db_error *error)
{
	contacts_context *context = state->context;
	char since_text[32];
	long long since = ex_dav_parse_sync_token(state->sync.sync_token, book_id, strtoll(book_seq, NULL, 10),
					   strtoll(pruned_seq, NULL, 10));

	if (since == EX_DAV_SYNC_INVALID) {
		contacts_reply_error(&context->reply, 403, EX_DAV_NS, "valid-sync-token",
				     "the sync-token is unknown for this address book; sync again with an empty sync-token");
		return 0;
	}
	if (contacts_is_gal(book_id))
		return sync_gal(state, connection, book_id, book_seq, since, error);
	snprintf(since_text, sizeof(since_text), "%lld", since);
	PGresult *cards = contacts_sql(connection, error,
				       "SELECT " CONTACTS_CARD_COLUMNS ", vcard, modseq::text FROM contact_cards "
				       "WHERE addressbook_id = $1 AND modseq > $2 ORDER BY modseq",
				       2, book_id, since_text);
	PGresult *removed = ex_dav_store_select_tombstones(connection, &contacts_dav_store, book_id, since_text, error);
	if (cards == NULL || removed == NULL) {
		PQclear(cards);
		PQclear(removed);
		return -1;
	}
	state->changed_rows = cards;
	ex_dav_sync_changes changes = {
		.ms = state->ms,
		.changed = cards,
		.modseq_column = 5,
		.removed = removed,
		.limit = state->sync.limit,
		.home = CONTACTS_HOME,
		.user_id = context->principal.user_id,
		.collection = context->target.book,
		.collection_id = book_id,
		.sequence = book_seq,
		.describe = describe_changed,
		.context = state,
	};
	ex_dav_write_sync_changes(&changes);
	PQclear(cards);
	PQclear(removed);
	return 0;
}

static int query_report(report_state *state, PGconn *connection, const char *book_id, ex_db_error *error)
{
	contacts_context *context = state->context;
	char err[256];
	long matched = 0;

	PGresult *cards = contacts_select_cards(connection, book_id, NULL, error);
	if (cards == NULL)
		return -1;
	for (int row = 0; row < PQntuples(cards); row++) {
		const char *data = PQgetvalue(cards, row, 4);
		ex_vcard_list *parsed = ex_vcard_parse(data, (size_t)PQgetlength(cards, row, 4), err, sizeof(err));
		bool matches = parsed != NULL && ex_vcard_count(parsed) > 0 &&
			       ex_card_filter_matches(&state->filter, ex_vcard_at(parsed, 0));
		ex_vcard_list_free(parsed);
		if (!matches)
			continue;
		if (state->limit > 0 && matched == state->limit) {
			char href[CONTACTS_MAX_HREF];
			contacts_href_book(href, context->principal.user_id, context->target.book);
			ex_dav_ms_begin_response(state->ms, href);
			ex_dav_ms_status(state->ms, 507);
			ex_dav_ms_end_response(state->ms);
			break;
		}
		describe_card(state, cards, row, &state->properties);
		matched++;
	}
	PQclear(cards);
	return 0;
}

/* Reduces HREF (absolute URL or path, percent-encoded) to the name of a vCard in the request's book, or NULL. */
static int multiget_report(report_state *state, PGconn *connection, const char *book_id, ex_db_error *error)
{
	const xmlNode *root = xmlDocGetRootElement(state->context->document);
	char name[CONTACTS_MAX_CARD_NAME + 1];

	for (xmlNode *child = root->children; child != NULL; child = child->next) {
		if (!ex_dav_xml_is(child, EX_DAV_NS, "href"))
			continue;
		xmlChar *content = xmlNodeGetContent(child);
		const char *href = content ? (const char *)content : "";
		while (*href == ' ' || *href == '\n' || *href == '\r' || *href == '\t')
			href++;
		PGresult *cards = NULL;
		if (ex_dav_resource_name_of_href(href, CONTACTS_HOME, state->context->principal.user_id, state->context->target.book, name,
						 sizeof(name)) != NULL) {
			cards = contacts_select_cards(connection, book_id, name, error);
			if (cards == NULL) {
				xmlFree(content);
				return -1;
			}
		}
		if (cards != NULL && PQntuples(cards) == 1)
			describe_card(state, cards, 0, &state->properties);
		else
			describe_missing(state, href);
		PQclear(cards);
		xmlFree(content);
	}
	return 0;
}

static int report_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	report_state *state = opaque;
	contacts_context *context = state->context;
	bool failed;
	int status = 0;

	contacts_reply_reset(&context->reply);
	ex_dav_multistatus_free(state->ms);
	PQclear(state->dead_properties);
	state->dead_properties = NULL;
	state->ms = ex_dav_multistatus_new();
	if (state->ms == NULL || contacts_ensure_default_book(connection, context, error) != 0)
		return -1;
	PGresult *book = contacts_find_book(connection, context, context->target.book, false, error, &failed);
	if (book == NULL) {
		if (!failed)
			contacts_reply_error(&context->reply, 404, NULL, NULL, "the address book %s does not exist",
					     context->target.book);
		return failed ? -1 : 0;
	}
	state->dead_properties = contacts_load_dead_properties(connection, context, error);
	if (state->dead_properties == NULL) {
		PQclear(book);
		return -1;
	}

	const char *book_id = PQgetvalue(book, 0, 0);
	if (state->kind == REPORT_SYNC)
		status = sync_report(state, connection, book_id, PQgetvalue(book, 0, 3), PQgetvalue(book, 0, 4), error);
	else if (state->kind == REPORT_QUERY)
		status = query_report(state, connection, book_id, error);
	else
		status = multiget_report(state, connection, book_id, error);
	PQclear(book);
	return status;
}

/* Reads the DAV:prop (or DAV:allprop) and, for a query, the filter and limit of ROOT. */
static int read_query(report_state *state, const xmlNode *root, char *err, size_t errlen)
{
	contacts_reply *reply = &state->context->reply;
	if (ex_dav_xml_child(root, EX_DAV_NS, "allprop") != NULL) {
		state->properties.kind = EX_DAV_PROPFIND_ALLPROP;
		state->properties.count = 0;
	} else if (ex_dav_collect_properties(ex_dav_xml_child(root, EX_DAV_NS, "prop"), &state->properties, err,
					     errlen) != 0) {
		contacts_reply_error(reply, 400, NULL, NULL, "%s", err);
		return -1;
	}
	if (state->kind != REPORT_QUERY)
		return 0;

	const xmlNode *filter = ex_dav_xml_child(root, EX_CARDDAV_NS, "filter");
	ex_card_filter_status status = ex_card_filter_parse(filter, &state->filter, err, errlen);
	if (status == EX_CARD_FILTER_UNSUPPORTED_COLLATION) {
		contacts_reply_error(reply, 403, EX_CARDDAV_NS, "supported-collation", "%s", err);
		return -1;
	}
	if (status != EX_CARD_FILTER_OK) {
		contacts_reply_error(reply, 400, NULL, NULL, "%s", err);
		return -1;
	}
	const xmlNode *nresults = ex_dav_xml_child(ex_dav_xml_child(root, EX_CARDDAV_NS, "limit"), EX_CARDDAV_NS, "nresults");
	if (nresults != NULL) {
		xmlChar *text = xmlNodeGetContent(nresults);
		state->limit = text ? strtol((const char *)text, NULL, 10) : 0;
		xmlFree(text);
	}
	return 0;
}

/*
 * Reads the content-type and version attributes of CARDDAV:address-data
 * among PROPERTIES into STATE; sets a 403 reply and returns -1 when the
 * server cannot produce them.
 */
static int read_address_data_type(report_state *state, const ex_dav_propfind *properties)
{
	for (size_t i = 0; i < properties->count; i++) {
		if (!ex_dav_xml_is(properties->properties[i], EX_CARDDAV_NS, "address-data"))
			continue;
		xmlChar *type = xmlGetProp(properties->properties[i], BAD_CAST "content-type");
		xmlChar *version = xmlGetProp(properties->properties[i], BAD_CAST "version");
		int status = 0;
		if (type != NULL && strcasecmp((const char *)type, "text/vcard") != 0) {
			contacts_reply_error(&state->context->reply, 403, EX_CARDDAV_NS, "supported-address-data",
					     "address-data is served as text/vcard only");
			status = -1;
		} else if (version != NULL && strcmp((const char *)version, "3.0") != 0 &&
			   strcmp((const char *)version, "4.0") != 0) {
			contacts_reply_error(&state->context->reply, 403, EX_CARDDAV_NS, "supported-address-data-conversion",
					     "address-data is served as vCard 3.0 or 4.0");
			status = -1;
		} else if (version != NULL) {
			snprintf(state->address_data_version, sizeof(state->address_data_version), "%s", (const char *)version);
		}
		xmlFree(type);
		xmlFree(version);
		return status;
	}
	return 0;
}

void contacts_handle_report(contacts_context *context)
{
	report_state *state = calloc(1, sizeof(*state));
	char err[256];

	if (state == NULL) {
		contacts_reply_error(&context->reply, 500, NULL, NULL, "out of memory");
		return;
	}
	state->context = context;
	const xmlNode *root = context->document ? xmlDocGetRootElement(context->document) : NULL;
	if (context->target.kind != TARGET_BOOK) {
		contacts_reply_error(&context->reply, 403, EX_DAV_NS, "supported-report",
				     "REPORTs are served on address books only");
	} else if (ex_dav_xml_is(root, EX_DAV_NS, "sync-collection")) {
		state->kind = REPORT_SYNC;
		if (ex_dav_parse_sync_collection(context->document, &state->sync, err, sizeof(err)) != 0)
			contacts_reply_error(&context->reply, 400, NULL, NULL, "%s", err);
	} else if (ex_dav_xml_is(root, EX_CARDDAV_NS, "addressbook-query")) {
		state->kind = REPORT_QUERY;
		read_query(state, root, err, sizeof(err));
	} else if (ex_dav_xml_is(root, EX_CARDDAV_NS, "addressbook-multiget")) {
		state->kind = REPORT_MULTIGET;
		read_query(state, root, err, sizeof(err));
	} else {
		contacts_reply_error(&context->reply, 403, EX_DAV_NS, "supported-report",
				     "this REPORT is not supported; use sync-collection, addressbook-query or addressbook-multiget");
	}

	if (context->reply.status == 0)
		read_address_data_type(state, state->kind == REPORT_SYNC ? &state->sync.properties : &state->properties);
	if (context->reply.status == 0) {
		contacts_run(context, EX_DB_REPEATABLE_READ, report_work, state);
		if (context->reply.status == 0) {
			contacts_reply_multistatus(&context->reply, state->ms);
			state->ms = NULL;
		}
	}
	ex_dav_multistatus_free(state->ms);
	PQclear(state->dead_properties);
	free(state);
}
