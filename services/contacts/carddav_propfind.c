/*
 * PROPFIND (RFC 4918 section 9.1) on every CardDAV resource with Depth 0
 * or 1. Depth: infinity (also the default when the header is absent) is
 * answered 403 with DAV:propfind-finite-depth before any work.
 */
#include "contacts_service.h"

#include <stdio.h>
#include <string.h>


typedef struct {
	contacts_context *context;
	ex_dav_propfind request;
	PGresult *dead_properties;
	ex_dav_multistatus *ms;
} propfind_state;

static void describe(propfind_state *state, contacts_resource *resource, const char *href)
{
	char path[CONTACTS_MAX_HREF];
	contacts_target target = state->context->target;

	resource->context = state->context;
	resource->dead_properties = state->dead_properties;
	target.kind = resource->kind;
	resource->property_path = contacts_property_path(path, sizeof(path), state->context->principal.user_id,
							 &target) == 0
					  ? path
					  : NULL;
	ex_dav_ms_begin_response(state->ms, href);
	contacts_write_properties(state->ms, &state->request, resource);
	ex_dav_ms_end_response(state->ms);
}

static void describe_simple(propfind_state *state, target_kind kind, const char *href)
{
	contacts_resource resource = { .kind = kind };
	describe(state, &resource, href);
}

static void fill_book(contacts_resource *resource, PGresult *book, int row, int offset)
{
	resource->kind = TARGET_BOOK;
	resource->book_id = PQgetvalue(book, row, offset + 0);
	resource->displayname = PQgetvalue(book, row, offset + 1);
	resource->description = PQgetvalue(book, row, offset + 2);
	resource->sync_seq = PQgetvalue(book, row, offset + 3);
}

static void fill_card(contacts_resource *resource, PGresult *cards, int row)
{
	resource->kind = TARGET_CARD;
	resource->card_etag = PQgetvalue(cards, row, 1);
	resource->card_length = PQgetvalue(cards, row, 2);
	resource->card_lastmod = PQgetvalue(cards, row, 3);
}

/* Describes the home and, at Depth 1, each address book in it. */
static int describe_home(propfind_state *state, PGconn *connection, ex_db_error *error)
{
	contacts_context *context = state->context;
	char href[CONTACTS_MAX_HREF];

	contacts_href_home(href, context->principal.user_id);
	describe_simple(state, TARGET_HOME, href);
	if (context->depth != EX_DAV_DEPTH_1)
		return 0;

	PGresult *books = contacts_sql(connection, error,
				       "SELECT name, id::text, displayname, description, sync_seq::text FROM addressbooks "
				       "WHERE user_id = $1 ORDER BY name LIMIT 1000",
				       1, context->principal.user_id);
	if (books == NULL)
		return -1;
	for (int row = 0; row < PQntuples(books); row++) {
		contacts_resource resource = { 0 };
		fill_book(&resource, books, row, 1);
		snprintf(state->context->target.book, sizeof(state->context->target.book), "%s", PQgetvalue(books, row, 0));
		if (contacts_href_book(href, context->principal.user_id, PQgetvalue(books, row, 0)) == 0)
			describe(state, &resource, href);
	}
	PQclear(books);

	PGresult *gal = contacts_gal_book(connection, error);
	if (gal == NULL)
		return -1;
	contacts_resource resource = { 0 };
	fill_book(&resource, gal, 0, 0);
	snprintf(state->context->target.book, sizeof(state->context->target.book), "%s", CONTACTS_GAL_BOOK);
	if (contacts_href_book(href, context->principal.user_id, CONTACTS_GAL_BOOK) == 0)
		describe(state, &resource, href);
	PQclear(gal);
	return 0;
}

/* Describes an address book and, at Depth 1, each vCard in it; or one vCard. */
static int describe_book(propfind_state *state, PGconn *connection, ex_db_error *error)
{
	contacts_context *context = state->context;
	const char *user = context->principal.user_id;
	char href[CONTACTS_MAX_HREF];
	bool failed;

	PGresult *book = contacts_find_book(connection, context, context->target.book, false, error, &failed);
	if (book == NULL) {
		if (!failed)
			contacts_reply_error(&context->reply, 404, NULL, NULL, "the address book %s does not exist",
					     context->target.book);
		return failed ? -1 : 0;
	}
	const char *book_id = PQgetvalue(book, 0, 0);
	PGresult *cards = NULL;
	if (context->target.kind == TARGET_CARD)
		cards = contacts_select_cards(connection, book_id, context->target.card, error);
	else if (context->depth == EX_DAV_DEPTH_1)
		cards = contacts_select_cards(connection, book_id, NULL, error);
	if ((context->target.kind == TARGET_CARD || context->depth == EX_DAV_DEPTH_1) && cards == NULL) {
		PQclear(book);
		return -1;
	}

	if (context->target.kind == TARGET_CARD && PQntuples(cards) == 0) {
		contacts_reply_error(&context->reply, 404, NULL, NULL, "the vCard %s does not exist", context->target.card);
	} else {
		if (context->target.kind == TARGET_BOOK) {
			contacts_resource resource = { 0 };
			fill_book(&resource, book, 0, 0);
			contacts_href_book(href, user, context->target.book);
			describe(state, &resource, href);
		}
		for (int row = 0; cards != NULL && row < PQntuples(cards); row++) {
			contacts_resource resource = { 0 };
			fill_card(&resource, cards, row);
			resource.book_id = book_id;
			snprintf(context->target.card, sizeof(context->target.card), "%s", PQgetvalue(cards, row, 0));
			if (contacts_href_card(href, user, context->target.book, PQgetvalue(cards, row, 0)) == 0)
				describe(state, &resource, href);
		}
	}
	PQclear(cards);
	PQclear(book);
	return 0;
}

static int propfind_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	propfind_state *state = opaque;
	contacts_context *context = state->context;
	contacts_target original = context->target;
	char href[CONTACTS_MAX_HREF];
	int status = 0;

	contacts_reply_reset(&context->reply);
	ex_dav_multistatus_free(state->ms);
	PQclear(state->dead_properties);
	state->dead_properties = NULL;
	state->ms = ex_dav_multistatus_new();
	if (state->ms == NULL || contacts_ensure_default_book(connection, context, error) != 0)
		return -1;
	state->dead_properties = contacts_load_dead_properties(connection, context, error);
	if (state->dead_properties == NULL)
		return -1;
	if (context->target.kind == TARGET_HOME || context->target.kind == TARGET_BOOK) {
		context->quota_used = contacts_quota_used(connection, context, error);
		if (context->quota_used < 0)
			return -1;
	}

	switch (context->target.kind) {
	case TARGET_SERVER_ROOT:
		describe_simple(state, TARGET_SERVER_ROOT, "/");
		break;
	case TARGET_DAV_ROOT:
		describe_simple(state, TARGET_DAV_ROOT, CONTACTS_DAV_ROOT);
		break;
	case TARGET_PRINCIPALS:
		describe_simple(state, TARGET_PRINCIPALS, CONTACTS_DAV_ROOT "principals/");
		if (context->depth == EX_DAV_DEPTH_1 && contacts_href_principal(href, context->principal.user_id) == 0)
			describe_simple(state, TARGET_PRINCIPAL, href);
		break;
	case TARGET_PRINCIPAL:
		contacts_href_principal(href, context->principal.user_id);
		describe_simple(state, TARGET_PRINCIPAL, href);
		break;
	case TARGET_HOME:
		status = describe_home(state, connection, error);
		break;
	default:
		status = describe_book(state, connection, error);
		break;
	}
	context->target = original;
	return status;
}

void contacts_handle_propfind(contacts_context *context)
{
	propfind_state state = { .context = context };

	if (!ex_dav_reply_parse_propfind(&context->reply, context->depth, context->document, &state.request))
		return;

	contacts_run(context, EX_DB_REPEATABLE_READ, propfind_work, &state);
	ex_dav_reply_take_multistatus(&context->reply, state.ms);
	PQclear(state.dead_properties);
}
