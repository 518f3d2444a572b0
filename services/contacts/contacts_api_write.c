/*
 * The write side of the JSON API under /api/v1/addressbooks: address
 * books created, renamed and deleted, and contacts listed, read, created,
 * replaced and deleted as vCards. vCard writes and deletions go through
 * the CardDAV handlers (carddav_resource.c), so a contact written here
 * passes the checks of a CardDAV PUT, counts against the same quota and
 * publishes the same contacts.changed event.
 */
#include "contacts_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vcard.h"

enum {
	MAX_DISPLAYNAME = 255,  /* bytes, as the addressbooks table allows */
	MAX_DESCRIPTION = 4096,
	MAX_BOOK_BODY = 128 * 1024,
	MAX_LISTED_CONTACTS = 10000,
};

/* The members of a POST or PATCH body of an address book; NULL when absent. */
typedef struct {
	const char *name;
	const char *displayname;
	const char *description;
} book_fields;

typedef struct {
	contacts_context *context;
	book_fields fields;
	bool conflict;
	bool not_found;
	json_t *result;
} book_write;

/* Reads a string member NAME of at most MAX bytes into *OUT (kept when absent). Returns false when it is invalid. */
static bool read_string(json_t *input, const char *name, size_t max, const char **out)
{
	json_t *value = json_object_get(input, name);
	if (value == NULL)
		return true;
	if (!json_is_string(value) || json_string_length(value) > max)
		return false;
	*out = json_string_value(value);
	return true;
}

/* Parses the JSON body of REQUEST into FIELDS; sends 400 and returns NULL when it is invalid. Free with json_decref. */
static json_t *read_book_fields(ex_http_request *request, book_fields *fields)
{
	size_t length;
	json_error_t parse_error;
	const char *body = ex_http_body(request, &length);
	json_t *input = json_loadb(body ? body : "", length, 0, &parse_error);

	if (!json_is_object(input)) {
		ex_http_respond_error(request, 400, "invalid_body", "the body must be a JSON object: %s",
				      input == NULL ? parse_error.text : "found another JSON value");
		json_decref(input);
		return NULL;
	}
	if (!read_string(input, "name", CONTACTS_MAX_BOOK_NAME, &fields->name) ||
	    !read_string(input, "displayname", MAX_DISPLAYNAME, &fields->displayname) ||
	    !read_string(input, "description", MAX_DESCRIPTION, &fields->description)) {
		ex_http_respond_error(request, 400, "invalid_field",
				      "name (up to 64 bytes), displayname (255) and description (4096) must be strings");
		json_decref(input);
		return NULL;
	}
	return input;
}

static int create_book_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	book_write *write = opaque;
	contacts_context *context = write->context;

	/* The default address book comes first, as for a user's first CardDAV request. */
	if (contacts_ensure_default_book(connection, context, error) != 0)
		return -1;
	PGresult *created = contacts_sql(connection, error,
					 "INSERT INTO addressbooks (tenant_id, user_id, name, displayname, description) "
					 "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, name) DO NOTHING RETURNING id",
					 5, context->principal.tenant_id, context->principal.user_id, write->fields.name,
					 write->fields.displayname ? write->fields.displayname : write->fields.name,
					 write->fields.description ? write->fields.description : "");
	if (created == NULL)
		return -1;
	write->conflict = PQntuples(created) == 0;
	PQclear(created);
	return 0;
}

/* Publishes contacts.changed for a change of the address book BOOK itself. */
static void publish_book_change(contacts_context *context, const char *book, const char *kind)
{
	snprintf(context->reply.changed_collection, sizeof(context->reply.changed_collection), "%s", book);
	context->reply.changed_resource[0] = '\0';
	context->reply.changed = true;
	context->reply.change_kind = kind;
	if (context->service->dav.changes != NULL)
		ex_counter_add(context->service->dav.changes, 1);
	contacts_publish_change(context);
}

static void handle_create_book(ex_http_request *request, void *opaque)
{
	contacts_context context = { .service = opaque, .request = request, .quota_used = -1 };
	book_write write = { .context = &context };

	if (!contacts_api_authenticate(opaque, request, &context))
		return;
	json_t *input = read_book_fields(request, &write.fields);
	if (input == NULL)
		return;
	if (write.fields.name == NULL || !contacts_book_name_is_valid(write.fields.name)) {
		ex_http_respond_error(request, 400, "invalid_name",
				      "name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit");
	} else if (contacts_is_gal(write.fields.name)) {
		ex_http_respond_error(request, 409, "addressbook_exists",
				      "%s is the global address list, which exists already and is read-only; choose another name",
				      write.fields.name);
	} else if (contacts_api_run(&context, EX_DB_READ_COMMITTED, create_book_work, &write)) {
		if (write.conflict) {
			ex_http_respond_error(request, 409, "addressbook_exists", "the address book %s exists already",
					      write.fields.name);
		} else {
			ex_http_respond_json(request, 201, json_pack("{s:s}", "name", write.fields.name));
			publish_book_change(&context, write.fields.name, "created");
		}
	}
	json_decref(input);
	contacts_reply_reset(&context.reply);
}

static int update_book_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	book_write *write = opaque;
	contacts_context *context = write->context;

	/* A NULL parameter keeps the stored value. */
	PGresult *updated = contacts_sql(connection, error,
					 "UPDATE addressbooks SET displayname = coalesce($3, displayname), "
					 "description = coalesce($4, description) WHERE user_id = $1 AND name = $2 RETURNING id",
					 4, context->principal.user_id, context->target.book, write->fields.displayname,
					 write->fields.description);
	if (updated == NULL)
		return -1;
	write->not_found = PQntuples(updated) == 0;
	PQclear(updated);
	return 0;
}

static void handle_update_book(ex_http_request *request, void *opaque)
{
	contacts_context context = { .service = opaque, .request = request, .quota_used = -1 };
	book_write write = { .context = &context };

	if (!contacts_api_authenticate(opaque, request, &context) || !contacts_api_read_target(request, &context, false))
		return;
	if (contacts_is_gal(context.target.book)) {
		ex_http_respond_error(request, 403, "read_only", "the global address list is read-only");
		return;
	}
	json_t *input = read_book_fields(request, &write.fields);
	if (input == NULL)
		return;
	if (write.fields.name != NULL) {
		ex_http_respond_error(request, 400, "invalid_field",
				      "the name of an address book is its URL and cannot change; change displayname instead");
	} else if (contacts_api_run(&context, EX_DB_READ_COMMITTED, update_book_work, &write)) {
		if (write.not_found) {
			ex_http_respond_error(request, 404, "addressbook_not_found", "the address book %s does not exist",
					      context.target.book);
		} else {
			ex_http_respond_bytes(request, 204, NULL, "", 0);
			publish_book_change(&context, context.target.book, "updated");
		}
	}
	json_decref(input);
	contacts_reply_reset(&context.reply);
}

/* DELETE of an address book, and GET, PUT and DELETE of a contact, through the CardDAV handlers. */
static void handle_through_dav(ex_http_request *request, void *opaque, bool card, void (*handler)(contacts_context *))
{
	contacts_context context = { .service = opaque, .request = request, .quota_used = -1 };

	if (!contacts_api_authenticate(opaque, request, &context) || !contacts_api_read_target(request, &context, card))
		return;
	context.body = ex_http_body(request, &context.body_length);
	handler(&context);
	contacts_api_send_dav_reply(&context);
	contacts_reply_reset(&context.reply);
}

static void handle_delete_book(ex_http_request *request, void *opaque)
{
	handle_through_dav(request, opaque, false, contacts_handle_delete);
}

static void handle_get_contact(ex_http_request *request, void *opaque)
{
	handle_through_dav(request, opaque, true, contacts_handle_get);
}

static void handle_put_contact(ex_http_request *request, void *opaque)
{
	handle_through_dav(request, opaque, true, contacts_handle_put);
}

static void handle_delete_contact(ex_http_request *request, void *opaque)
{
	handle_through_dav(request, opaque, true, contacts_handle_delete);
}

void contacts_api_card_name(const char *uid, const char *text, size_t length, char *out, size_t size)
{
	char etag[80];
	bool safe = uid != NULL && uid[0] != '\0' && strlen(uid) <= 200;

	for (const char *c = uid; safe && *c != '\0'; c++) {
		safe = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		       *c == '_' || *c == '.' || *c == '@';
	}
	if (safe) {
		snprintf(out, size, "%s.vcf", uid);
		return;
	}
	if (uid != NULL && uid[0] != '\0')
		contacts_compute_etag(uid, strlen(uid), etag);
	else
		contacts_compute_etag(text, length, etag);
	/* The ETag is a quoted hex digest: 40 of its digits name the resource. */
	snprintf(out, size, "%.40s.vcf", etag + 1);
}

/* POST of a vCard: stored under a name made from its UID, never over an existing vCard. */
static void handle_create_contact(ex_http_request *request, void *opaque)
{
	contacts_context context = { .service = opaque, .request = request, .quota_used = -1, .create_only = true };
	char err[256];

	if (!contacts_api_authenticate(opaque, request, &context) || !contacts_api_read_target(request, &context, false))
		return;
	context.body = ex_http_body(request, &context.body_length);
	ex_vcard_list *parsed = ex_vcard_parse(context.body ? context.body : "", context.body_length, err, sizeof(err));
	const ex_vcard *card = parsed != NULL && ex_vcard_count(parsed) == 1 ? ex_vcard_at(parsed, 0) : NULL;
	contacts_api_card_name(card != NULL ? card->uid : NULL, context.body ? context.body : "", context.body_length,
			       context.target.card, sizeof(context.target.card));
	ex_vcard_list_free(parsed);
	context.target.kind = TARGET_CARD;

	/* The PUT handler checks the body again and sets the error reply. */
	contacts_handle_put(&context);
	if (context.reply.status == 412) {
		ex_http_respond_error(request, 409, "contact_exists",
				      "a contact named %s exists already in %s; replace it with PUT and If-Match", context.target.card,
				      context.target.book);
	} else if (context.reply.status < 300) {
		char location[CONTACTS_MAX_HREF + 64];
		ex_http_respond_json(request, 201, json_pack("{s:s, s:s}", "name", context.target.card, "etag", context.reply.etag));
		ex_http_add_header(request, "ETag", context.reply.etag);
		snprintf(location, sizeof(location), "/api/v1/addressbooks/%s/contacts/%s", context.target.book,
			 context.target.card);
		ex_http_add_header(request, "Location", location);
		if (context.reply.changed && context.service->dav.changes != NULL)
			ex_counter_add(context.service->dav.changes, 1);
		contacts_publish_change(&context);
	} else {
		contacts_api_send_dav_reply(&context);
	}
	contacts_reply_reset(&context.reply);
}

typedef struct {
	contacts_context *context;
	json_t *result;
	bool not_found;
} list_state;

/* Returns the FN of the vCard TEXT (LENGTH bytes) as a new JSON string, or JSON null. */
static json_t *formatted_name(const char *text, size_t length)
{
	char err[128];
	ex_vcard_list *parsed = ex_vcard_parse(text, length, err, sizeof(err));
	json_t *name = NULL;

	const ex_vcard *card = parsed != NULL && ex_vcard_count(parsed) > 0 ? ex_vcard_at(parsed, 0) : NULL;
	for (size_t i = 0; card != NULL && i < card->property_count && name == NULL; i++) {
		if (strcmp(card->properties[i].name, "FN") == 0)
			name = json_stringn(card->properties[i].value, card->properties[i].value_length);
	}
	ex_vcard_list_free(parsed);
	return name != NULL ? name : json_null();
}

static int list_contacts_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	list_state *state = opaque;
	contacts_context *context = state->context;
	bool failed = false;

	json_decref(state->result);
	state->result = NULL;
	if (contacts_ensure_default_book(connection, context, error) != 0)
		return -1;
	PGresult *book = contacts_is_gal(context->target.book)
				 ? NULL
				 : contacts_find_book(connection, context, context->target.book, false, error, &failed);
	if (book == NULL && !contacts_is_gal(context->target.book)) {
		state->not_found = !failed;
		return failed ? -1 : 0;
	}
	PGresult *cards =
		contacts_select_cards(connection, book != NULL ? PQgetvalue(book, 0, 0) : CONTACTS_GAL_BOOK, NULL, error);
	PQclear(book);
	if (cards == NULL)
		return -1;
	json_t *list = json_array();
	for (int row = 0; row < PQntuples(cards) && row < MAX_LISTED_CONTACTS; row++) {
		const char *vcard = PQgetvalue(cards, row, 4);
		size_t length = (size_t)PQgetlength(cards, row, 4);
		json_array_append_new(list, json_pack("{s:s, s:s, s:o, s:s%}", "name", PQgetvalue(cards, row, 0), "etag",
						      PQgetvalue(cards, row, 1), "fn", formatted_name(vcard, length), "vcard",
						      vcard, length));
	}
	bool truncated = PQntuples(cards) > MAX_LISTED_CONTACTS;
	PQclear(cards);
	state->result = json_pack("{s:o, s:b}", "contacts", list, "truncated", truncated);
	return state->result != NULL ? 0 : -1;
}

static void handle_list_contacts(ex_http_request *request, void *opaque)
{
	contacts_context context = { .service = opaque, .request = request, .quota_used = -1 };
	list_state state = { .context = &context };

	if (!contacts_api_authenticate(opaque, request, &context) || !contacts_api_read_target(request, &context, false))
		return;
	if (contacts_api_run(&context, EX_DB_REPEATABLE_READ, list_contacts_work, &state)) {
		if (state.not_found) {
			ex_http_respond_error(request, 404, "addressbook_not_found", "the address book %s does not exist",
					      context.target.book);
		} else {
			ex_http_respond_json(request, 200, state.result);
			state.result = NULL;
		}
	}
	json_decref(state.result);
}

int contacts_add_api_write_routes(contacts_service *service, ex_http_server *http)
{
	size_t put_limit = service->max_resource_size * 2;
	int status = 0;

	status |= ex_http_route_limited(http, "POST", "/api/v1/addressbooks", handle_create_book, service, MAX_BOOK_BODY);
	status |= ex_http_route_limited(http, "PATCH", "/api/v1/addressbooks/{book}", handle_update_book, service,
					MAX_BOOK_BODY);
	status |= ex_http_route(http, "DELETE", "/api/v1/addressbooks/{book}", handle_delete_book, service);
	status |= ex_http_route(http, "GET", "/api/v1/addressbooks/{book}/contacts", handle_list_contacts, service);
	status |= ex_http_route_limited(http, "POST", "/api/v1/addressbooks/{book}/contacts", handle_create_contact, service,
					put_limit);
	status |= ex_http_route(http, "GET", "/api/v1/addressbooks/{book}/contacts/{contact}", handle_get_contact, service);
	status |= ex_http_route_limited(http, "PUT", "/api/v1/addressbooks/{book}/contacts/{contact}", handle_put_contact,
					service, put_limit);
	status |= ex_http_route(http, "DELETE", "/api/v1/addressbooks/{book}/contacts/{contact}", handle_delete_contact,
				service);
	return status == 0 ? 0 : -1;
}
