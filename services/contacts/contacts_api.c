/*
 * The read side of the JSON API: the caller's address books with their
 * ctag, an address book exported as one text/vcard file, and a search of
 * the global address list. Credentials are those of the DAV routes (Bearer
 * or Basic with an app password). Errors use the JSON error form. The
 * write side is in contacts_api_write.c and contacts_api_import.c.
 */
#include "contacts_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"

enum {
	GAL_SEARCH_MAX_QUERY = 200, /* bytes of q */
	GAL_SEARCH_MAX_RESULTS = 50,
};

typedef struct {
	contacts_context *context;
	json_t *result;   /* JSON response body, or NULL */
	char *vcards;     /* export body, or NULL */
	size_t vcards_length;
	const char *query;
	bool not_found;
} api_state;

static void reset(api_state *state)
{
	json_decref(state->result);
	state->result = NULL;
	free(state->vcards);
	state->vcards = NULL;
	state->vcards_length = 0;
	state->not_found = false;
}

static int list_books_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	api_state *state = opaque;
	char token[256];

	reset(state);
	if (contacts_ensure_default_book(connection, state->context, error) != 0)
		return -1;
	PGresult *books = contacts_sql(connection, error,
				       "SELECT b.name, b.displayname, b.description, b.id::text, b.sync_seq::text, "
				       "(SELECT count(*) FROM contact_cards AS c WHERE c.addressbook_id = b.id)::text "
				       "FROM addressbooks AS b WHERE b.user_id = $1 ORDER BY b.name LIMIT 1000",
				       1, state->context->principal.user_id);
	if (books == NULL)
		return -1;
	json_t *list = json_array();
	for (int row = 0; row < PQntuples(books); row++) {
		contacts_sync_token(token, sizeof(token), PQgetvalue(books, row, 3), PQgetvalue(books, row, 4));
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:I, s:b}", "name", PQgetvalue(books, row, 0),
						      "displayname", PQgetvalue(books, row, 1), "description",
						      PQgetvalue(books, row, 2), "ctag", token, "count",
						      (json_int_t)strtoll(PQgetvalue(books, row, 5), NULL, 10), "read_only", 0));
	}
	PQclear(books);

	PGresult *gal = contacts_gal_book(connection, error);
	PGresult *members = gal ? contacts_select_cards(connection, CONTACTS_GAL_BOOK, NULL, error) : NULL;
	if (members != NULL) {
		contacts_sync_token(token, sizeof(token), PQgetvalue(gal, 0, 0), PQgetvalue(gal, 0, 3));
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:I, s:b}", "name", CONTACTS_GAL_BOOK,
						      "displayname", PQgetvalue(gal, 0, 1), "description",
						      PQgetvalue(gal, 0, 2), "ctag", token, "count",
						      (json_int_t)PQntuples(members), "read_only", 1));
	}
	PQclear(members);
	PQclear(gal);
	if (members == NULL) {
		json_decref(list);
		return -1;
	}
	state->result = json_pack("{s:o}", "addressbooks", list);
	return state->result ? 0 : -1;
}

static int export_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	api_state *state = opaque;
	bool failed;

	reset(state);
	if (contacts_ensure_default_book(connection, state->context, error) != 0)
		return -1;
	PGresult *book = contacts_find_book(connection, state->context, state->context->target.book, false, error, &failed);
	if (book == NULL) {
		state->not_found = !failed;
		return failed ? -1 : 0;
	}
	PGresult *cards = contacts_select_cards(connection, PQgetvalue(book, 0, 0), NULL, error);
	PQclear(book);
	if (cards == NULL)
		return -1;
	size_t total = 0;
	for (int row = 0; row < PQntuples(cards); row++)
		total += (size_t)PQgetlength(cards, row, 4) + 2;
	state->vcards = malloc(total + 1);
	if (state->vcards == NULL) {
		PQclear(cards);
		return -1;
	}
	/* Each stored vCard keeps its bytes; a CRLF is added where one does not end in a line break. */
	for (int row = 0; row < PQntuples(cards); row++) {
		size_t length = (size_t)PQgetlength(cards, row, 4);
		memcpy(state->vcards + state->vcards_length, PQgetvalue(cards, row, 4), length);
		state->vcards_length += length;
		if (length > 0 && state->vcards[state->vcards_length - 1] != '\n') {
			memcpy(state->vcards + state->vcards_length, "\r\n", 2);
			state->vcards_length += 2;
		}
	}
	PQclear(cards);
	return 0;
}

static int gal_search_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	api_state *state = opaque;

	reset(state);
	PGresult *users = contacts_sql(
		connection, error,
		"SELECT id::text, coalesce(nullif(display_name, ''), username), email, username FROM users "
		"WHERE NOT disabled AND (strpos(lower(display_name), lower($1)) > 0 OR strpos(lower(email), lower($1)) > 0 "
		"OR strpos(lower(username), lower($1)) > 0) ORDER BY 2, email LIMIT 50",
		1, state->query);
	if (users == NULL)
		return -1;
	json_t *list = json_array();
	for (int row = 0; row < PQntuples(users); row++)
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "id", PQgetvalue(users, row, 0), "name",
						      PQgetvalue(users, row, 1), "email", PQgetvalue(users, row, 2),
						      "username", PQgetvalue(users, row, 3)));
	PQclear(users);
	state->result = json_pack("{s:o}", "results", list);
	return state->result ? 0 : -1;
}


static void handle_list(ex_http_request *request, void *opaque)
{
	contacts_context context = { .service = opaque, .request = request };
	api_state state = { .context = &context };

	if (!contacts_api_authenticate(opaque, request, &context))
		return;
	if (contacts_api_run(&context, EX_DB_REPEATABLE_READ, list_books_work, &state)) {
		ex_http_respond_json(request, 200, state.result);
		state.result = NULL;
	}
	reset(&state);
}

static void handle_export(ex_http_request *request, void *opaque)
{
	contacts_context context = { .service = opaque, .request = request };
	api_state state = { .context = &context };
	const char *book = ex_http_param(request, "book");

	if (!contacts_api_authenticate(opaque, request, &context))
		return;
	if (book == NULL || !contacts_book_name_is_valid(book)) {
		ex_http_respond_error(request, 404, "addressbook_not_found", "no address book has this name");
		return;
	}
	snprintf(context.target.book, sizeof(context.target.book), "%s", book);
	if (contacts_api_run(&context, EX_DB_REPEATABLE_READ, export_work, &state)) {
		if (state.not_found) {
			ex_http_respond_error(request, 404, "addressbook_not_found", "the address book %s does not exist", book);
		} else {
			char disposition[128];
			ex_http_respond_bytes(request, 200, "text/vcard; charset=utf-8", state.vcards ? state.vcards : "",
					      state.vcards_length);
			snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s.vcf\"", book);
			ex_http_add_header(request, "Content-Disposition", disposition);
		}
	}
	reset(&state);
}

static void handle_gal_search(ex_http_request *request, void *opaque)
{
	contacts_context context = { .service = opaque, .request = request };
	api_state state = { .context = &context };
	char query[GAL_SEARCH_MAX_QUERY + 1];

	if (!contacts_api_authenticate(opaque, request, &context))
		return;
	int found = ex_http_query(request, "q", query, sizeof(query));
	if (found != 0 || query[0] == '\0') {
		ex_http_respond_error(request, 400, "invalid_query",
				      found < 0 ? "the q parameter is invalid or longer than 200 bytes"
						: "the q parameter is missing; send the text to search for, e.g. ?q=maria");
		return;
	}
	state.query = query;
	if (contacts_api_run(&context, EX_DB_READ_COMMITTED, gal_search_work, &state)) {
		ex_http_respond_json(request, 200, state.result);
		state.result = NULL;
	}
	reset(&state);
}

int contacts_add_api_routes(contacts_service *service, ex_http_server *http)
{
	int status = 0;
	status |= ex_http_route(http, "GET", "/api/v1/addressbooks", handle_list, service);
	status |= ex_http_route(http, "GET", "/api/v1/addressbooks/{book}/export.vcf", handle_export, service);
	status |= ex_http_route(http, "GET", "/api/v1/gal/search", handle_gal_search, service);
	status |= contacts_add_api_write_routes(service, http);
	status |= contacts_add_api_import_routes(service, http);
	return status == 0 ? 0 : -1;
}
