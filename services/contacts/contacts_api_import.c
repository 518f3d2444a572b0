/*
 * POST /api/v1/addressbooks/{book}/import: a text/vcard file of several
 * vCards, each stored as a resource of its own through the CardDAV PUT
 * handler and in a transaction of its own, so one bad vCard does not stop
 * the others and every stored one is committed. The response lists the
 * outcome of every vCard in file order.
 *
 * A vCard whose UID is already in the address book replaces that
 * resource, whatever its name, so importing an export again updates the
 * contacts instead of failing with no-uid-conflict. A new UID is stored
 * under the name contacts_api_card_name gives it.
 */
#include "contacts_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vcard.h"
#include "vcard_split.h"

/* A vCard of the address book: its UID and resource name. */
typedef struct {
	char *uid;
	char *name;
} stored_card;

typedef struct {
	contacts_context *context;
	stored_card *cards; /* sorted by UID in byte order */
	size_t count;
	bool not_found;
} existing_cards;

static void free_existing(existing_cards *existing)
{
	for (size_t i = 0; i < existing->count; i++) {
		free(existing->cards[i].uid);
		free(existing->cards[i].name);
	}
	free(existing->cards);
	existing->cards = NULL;
	existing->count = 0;
}

static int load_existing_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	existing_cards *existing = opaque;
	contacts_context *context = existing->context;
	bool failed;

	free_existing(existing);
	if (contacts_ensure_default_book(connection, context, error) != 0)
		return -1;
	PGresult *book = contacts_find_book(connection, context, context->target.book, false, error, &failed);
	if (book == NULL) {
		existing->not_found = !failed;
		return failed ? -1 : 0;
	}
	/* COLLATE "C" orders as strcmp does, so the list can be searched with bsearch. */
	PGresult *rows = contacts_sql(connection, error,
				      "SELECT uid, name FROM contact_cards WHERE addressbook_id = $1 ORDER BY uid COLLATE \"C\"",
				      1, PQgetvalue(book, 0, 0));
	PQclear(book);
	if (rows == NULL)
		return -1;
	existing->cards = calloc((size_t)PQntuples(rows) + 1, sizeof(*existing->cards));
	for (int row = 0; existing->cards != NULL && row < PQntuples(rows); row++) {
		stored_card *card = &existing->cards[existing->count++];
		card->uid = strdup(PQgetvalue(rows, row, 0));
		card->name = strdup(PQgetvalue(rows, row, 1));
		if (card->uid == NULL || card->name == NULL) {
			PQclear(rows);
			return -1;
		}
	}
	PQclear(rows);
	return existing->cards != NULL ? 0 : -1;
}

static int compare_uid(const void *key, const void *member)
{
	return strcmp(key, ((const stored_card *)member)->uid);
}

/* Returns the name of the stored vCard with UID, or NULL. */
static const char *existing_name(const existing_cards *existing, const char *uid)
{
	if (uid == NULL || existing->count == 0)
		return NULL;
	const stored_card *found = bsearch(uid, existing->cards, existing->count, sizeof(*existing->cards), compare_uid);
	return found != NULL ? found->name : NULL;
}

/* Returns the JSON error code of a PUT reply, as contacts_api_send_dav_reply writes it. */
static void reply_code(const contacts_reply *reply, char *code, size_t size)
{
	snprintf(code, size, "%s", reply->condition ? reply->condition
			      : reply->status == 409 ? "addressbook_not_found"
			      : reply->status == 503 ? "database_unavailable"
						     : "request_failed");
	for (char *c = code; *c != '\0'; c++) {
		if (*c == '-')
			*c = '_';
	}
}

/* Stores the vCard TEXT (LENGTH bytes, number INDEX from 1) and returns its entry of the response. */
static json_t *import_card(const contacts_context *base, const existing_cards *existing, const char *text, size_t length,
			   size_t index, unsigned line, bool *stored)
{
	contacts_context context = *base;
	char err[256];
	char code[64];

	memset(&context.reply, 0, sizeof(context.reply));
	context.body = text;
	context.body_length = length;
	context.target.kind = TARGET_CARD;
	ex_vcard_list *parsed = ex_vcard_parse(text, length, err, sizeof(err));
	const ex_vcard *card = parsed != NULL && ex_vcard_count(parsed) == 1 ? ex_vcard_at(parsed, 0) : NULL;
	const char *uid = card != NULL && card->uid != NULL && card->uid[0] != '\0' ? card->uid : NULL;
	const char *name = existing_name(existing, uid);
	if (name != NULL)
		snprintf(context.target.card, sizeof(context.target.card), "%s", name);
	else
		contacts_api_card_name(uid, text, length, context.target.card, sizeof(context.target.card));

	contacts_handle_put(&context);
	json_t *entry = json_pack("{s:I, s:I, s:s?, s:s}", "index", (json_int_t)index, "line", (json_int_t)line, "uid", uid,
				  "name", context.target.card);
	*stored = context.reply.status < 300;
	if (!*stored) {
		reply_code(&context.reply, code, sizeof(code));
		json_object_set_new(entry, "status", json_string("failed"));
		json_object_set_new(entry, "error", json_pack("{s:s, s:s}", "code", code, "message", context.reply.message));
	} else {
		json_object_set_new(entry, "status",
				    json_string(!context.reply.changed   ? "unchanged"
						: context.reply.status == 201 ? "created"
									      : "updated"));
		json_object_set_new(entry, "etag", json_string(context.reply.etag));
		if (context.reply.changed && context.service->dav.changes != NULL)
			ex_counter_add(context.service->dav.changes, 1);
		contacts_publish_change(&context);
	}
	ex_vcard_list_free(parsed);
	contacts_reply_reset(&context.reply);
	return entry;
}

/* Checks the request before anything is read; sends the error and returns false when it cannot be imported. */
static bool check_import_request(ex_http_request *request, contacts_context *context, size_t length)
{
	const char *content_type = ex_http_header(request, "Content-Type");

	if (contacts_is_gal(context->target.book)) {
		ex_http_respond_error(request, 403, "read_only", "the global address list is read-only");
		return false;
	}
	if (length > context->service->max_import_size) {
		ex_http_respond_error(request, 413, "import_too_large",
				      "the file has %zu bytes, more than the import limit of %zu bytes; split it", length,
				      context->service->max_import_size);
		return false;
	}
	if (content_type != NULL && strncasecmp(content_type, "text/vcard", 10) != 0 &&
	    strncasecmp(content_type, "text/x-vcard", 12) != 0) {
		ex_http_respond_error(request, 415, "unsupported_media_type", "the file must be text/vcard, not %.100s",
				      content_type);
		return false;
	}
	/* The conditions of one request cannot apply to every vCard of a file. */
	if (ex_http_header(request, "If-Match") != NULL || ex_http_header(request, "If-None-Match") != NULL) {
		ex_http_respond_error(request, 400, "invalid_header",
				      "an import takes no If-Match or If-None-Match; write single contacts with PUT for that");
		return false;
	}
	return true;
}

static void handle_import(ex_http_request *request, void *opaque)
{
	contacts_context context = { .service = opaque, .request = request, .quota_used = -1 };
	existing_cards existing = { .context = &context };
	size_t length;
	size_t count;
	char err[256];

	if (!contacts_api_authenticate(opaque, request, &context) || !contacts_api_read_target(request, &context, false))
		return;
	const char *body = ex_http_body(request, &length);
	if (!check_import_request(request, &context, length))
		return;
	ex_vcard_span *spans = malloc(EX_VCARD_MAX_CARDS * sizeof(*spans));
	if (spans == NULL) {
		ex_http_respond_error(request, 500, "out_of_memory", "out of memory");
		return;
	}
	ex_vcard_split_status split = ex_vcard_split(body ? body : "", length, spans, EX_VCARD_MAX_CARDS, &count, err, sizeof(err));
	if (split != EX_VCARD_SPLIT_OK) {
		ex_http_respond_error(request, split == EX_VCARD_SPLIT_TOO_MANY ? 413 : 400,
				      split == EX_VCARD_SPLIT_TOO_MANY ? "import_too_many_contacts" : "invalid_vcard_file", "%s",
				      err);
		free(spans);
		return;
	}
	if (!contacts_api_run(&context, EX_DB_REPEATABLE_READ, load_existing_work, &existing)) {
		free_existing(&existing);
		free(spans);
		return;
	}
	if (existing.not_found) {
		ex_http_respond_error(request, 404, "addressbook_not_found", "the address book %s does not exist",
				      context.target.book);
		free_existing(&existing);
		free(spans);
		return;
	}

	json_t *results = json_array();
	size_t stored = 0;
	for (size_t i = 0; i < count; i++) {
		bool ok = false;
		json_array_append_new(results, import_card(&context, &existing, body + spans[i].offset, spans[i].length, i + 1,
							   spans[i].line, &ok));
		stored += ok ? 1 : 0;
	}
	ex_http_respond_json(request, stored == count ? 200 : 207,
			     json_pack("{s:I, s:I, s:o}", "imported", (json_int_t)stored, "failed", (json_int_t)(count - stored),
				       "results", results));
	free_existing(&existing);
	free(spans);
}

int contacts_add_api_import_routes(contacts_service *service, ex_http_server *http)
{
	return ex_http_route_limited(http, "POST", "/api/v1/addressbooks/{book}/import", handle_import, service,
				     service->max_import_size + 1);
}
