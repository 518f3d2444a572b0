/*
 * GET, PUT and DELETE of vCards (RFC 6352 section 6.3.2) and DELETE of
 * address books. A PUT stores the body byte for byte after checking it.
 * Every change takes the next sync_seq of its address book, and the row
 * lock on the book orders concurrent changes. A deletion leaves a
 * tombstone for sync-collection.
 */
#include "contacts_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expresso/dav_http.h"
#include "expresso/dav_store.h"
#include "expresso/dav_store_checks.h"
#include "vcard.h"

typedef struct {
	contacts_context *context;
	char etag[80];
	const char *uid;
} put_state;

/* Applies If-Match and If-None-Match to a resource whose ETag is CURRENT (NULL: absent). Returns true when it may go on. */
static bool conditions_pass(contacts_context *context, const char *current, bool read_only)
{
	if (context->create_only && current != NULL) {
		contacts_reply_error(&context->reply, 412, NULL, NULL, "a vCard named %s exists already", context->target.card);
		return false;
	}
	return ex_dav_reply_check_conditions(&context->reply, ex_http_header(context->request, "If-Match"),
					     ex_http_header(context->request, "If-None-Match"), current, read_only,
					     contacts_dav_store.resource_noun);
}

static int get_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	contacts_context *context = opaque;
	bool failed;

	contacts_reply_reset(&context->reply);
	if (contacts_ensure_default_book(connection, context, error) != 0)
		return -1;
	PGresult *book = contacts_find_book(connection, context, context->target.book, false, error, &failed);
	if (book == NULL) {
		if (!failed)
			contacts_reply_error(&context->reply, 404, NULL, NULL, "the address book %s does not exist",
					     context->target.book);
		return failed ? -1 : 0;
	}
	PGresult *card = contacts_select_cards(connection, PQgetvalue(book, 0, 0), context->target.card, error);
	PQclear(book);
	if (card == NULL)
		return -1;
	if (PQntuples(card) == 0) {
		contacts_reply_error(&context->reply, 404, NULL, NULL, "the vCard %s does not exist", context->target.card);
	} else if (conditions_pass(context, PQgetvalue(card, 0, 1), true)) {
		size_t length = (size_t)PQgetlength(card, 0, 4);
		context->reply.body = malloc(length + 1);
		if (context->reply.body == NULL) {
			PQclear(card);
			return -1;
		}
		memcpy(context->reply.body, PQgetvalue(card, 0, 4), length);
		context->reply.length = length;
		context->reply.status = 200;
		context->reply.content_type = "text/vcard; charset=utf-8";
		snprintf(context->reply.etag, sizeof(context->reply.etag), "%s", PQgetvalue(card, 0, 1));
	}
	PQclear(card);
	return 0;
}

void contacts_handle_get(contacts_context *context)
{
	if (context->target.kind != TARGET_CARD) {
		contacts_reply_error(&context->reply, 405, NULL, NULL,
				     "GET is served on vCards only; use PROPFIND or REPORT on collections");
		snprintf(context->reply.allow, sizeof(context->reply.allow), "OPTIONS, PROPFIND, PROPPATCH, REPORT, MKCOL, DELETE");
		return;
	}
	contacts_run(context, EX_DB_REPEATABLE_READ, get_work, context);
}

/* Returns true when TEXT is valid UTF-8 without overlong forms or surrogates. */
static bool is_utf8(const unsigned char *text, size_t length)
{
	for (size_t i = 0; i < length;) {
		unsigned char c = text[i];
		size_t extra;
		if (c < 0x80)
			extra = 0;
		else if (c >= 0xC2 && c <= 0xDF)
			extra = 1;
		else if (c >= 0xE0 && c <= 0xEF)
			extra = 2;
		else if (c >= 0xF0 && c <= 0xF4)
			extra = 3;
		else
			return false;
		if (extra > 0 && i + extra >= length)
			return false;
		for (size_t k = 1; k <= extra; k++) {
			if ((text[i + k] & 0xC0) != 0x80)
				return false;
		}
		if ((c == 0xE0 && text[i + 1] < 0xA0) || (c == 0xED && text[i + 1] >= 0xA0) ||
		    (c == 0xF0 && text[i + 1] < 0x90) || (c == 0xF4 && text[i + 1] >= 0x90))
			return false;
		i += extra + 1;
	}
	return true;
}

/* Checks the body of a PUT; sets the error reply and returns false when it cannot be stored. */
static bool check_put_body(contacts_context *context, put_state *state, ex_vcard_list **parsed)
{
	contacts_reply *reply = &context->reply;
	const char *content_type = ex_http_header(context->request, "Content-Type");
	char err[300];

	if (context->body_length > context->service->max_resource_size) {
		contacts_reply_error(reply, 413, EX_CARDDAV_NS, "max-resource-size",
				     "the vCard has %zu bytes, more than the limit of %zu bytes", context->body_length,
				     context->service->max_resource_size);
		return false;
	}
	if (content_type != NULL && strncasecmp(content_type, "text/vcard", 10) != 0 &&
	    strncasecmp(content_type, "text/x-vcard", 12) != 0) {
		contacts_reply_error(reply, 415, EX_CARDDAV_NS, "supported-address-data",
				     "the body must be text/vcard, not %.100s", content_type);
		return false;
	}
	if (!is_utf8((const unsigned char *)context->body, context->body_length)) {
		contacts_reply_error(reply, 403, EX_CARDDAV_NS, "valid-address-data",
				     "the vCard is not valid UTF-8; convert it to UTF-8 before uploading");
		return false;
	}
	*parsed = ex_vcard_parse(context->body ? context->body : "", context->body_length, err, sizeof(err));
	if (*parsed == NULL) {
		contacts_reply_error(reply, 403, EX_CARDDAV_NS, "valid-address-data", "the vCard is invalid: %s", err);
		return false;
	}
	const ex_vcard *card = ex_vcard_at(*parsed, 0);
	if (ex_vcard_count(*parsed) != 1) {
		contacts_reply_error(reply, 403, EX_CARDDAV_NS, "valid-address-data",
				     "a vCard resource holds exactly one vCard; this body has %zu", ex_vcard_count(*parsed));
		return false;
	}
	if (card->version == NULL) {
		contacts_reply_error(reply, 403, EX_CARDDAV_NS, "valid-address-data", "the vCard has no VERSION property");
		return false;
	}
	/* NOTE: vCards without UID (vCard 2.1 exports) are keyed by their resource name for no-uid-conflict. */
	state->uid = card->uid != NULL && card->uid[0] != '\0' ? card->uid : context->target.card;
	if (strlen(state->uid) > 1024) {
		contacts_reply_error(reply, 403, EX_CARDDAV_NS, "valid-address-data", "the UID is longer than 1024 bytes");
		return false;
	}
	contacts_compute_etag(context->body, context->body_length, state->etag);
	return true;
}

/* Checks no-uid-conflict: returns 1 with the reply set when another resource has UID, 0 when not, -1 on error. */
static int uid_conflict(contacts_context *context, PGconn *connection, const char *book_id, const char *uid,
			ex_db_error *error)
{
	return ex_dav_store_uid_conflict(connection, &contacts_dav_store, &context->reply, context->principal.user_id,
					 context->target.book, book_id, context->target.card, uid, error);
}

/* Checks the user's quota for the new body: returns 1 with the reply set when it is exceeded, 0 when not, -1 on error. */
static int quota_exceeded(contacts_context *context, PGconn *connection, const char *book_id, PGresult *existing,
			  ex_db_error *error)
{
	return ex_dav_store_quota_exceeded(connection, &contacts_dav_store, &context->reply, context->principal.user_id,
					   book_id, context->target.card, PQntuples(existing) == 1, context->body_length,
					   context->service->quota_bytes, error);
}

static int put_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	put_state *state = opaque;
	contacts_context *context = state->context;
	char sequence[EX_DAV_SEQUENCE_SIZE];
	bool failed;

	contacts_reply_reset(&context->reply);
	if (contacts_ensure_default_book(connection, context, error) != 0)
		return -1;
	PGresult *book = contacts_find_book(connection, context, context->target.book, true, error, &failed);
	if (book == NULL) {
		if (!failed)
			contacts_reply_error(&context->reply, 409, NULL, NULL,
					     "the address book %s does not exist; create it first (MKCOL, or POST /api/v1/addressbooks)",
					     context->target.book);
		return failed ? -1 : 0;
	}
	const char *book_id = PQgetvalue(book, 0, 0);
	PGresult *existing = ex_dav_store_lock_resource(connection, &contacts_dav_store, book_id, context->target.card,
							NULL, error);
	int status = existing == NULL ? -1 : 0;
	const char *current = existing && PQntuples(existing) == 1 ? PQgetvalue(existing, 0, 0) : NULL;

	if (status == 0 && conditions_pass(context, current, false) &&
	    (status = uid_conflict(context, connection, book_id, state->uid, error)) == 0 &&
	    (status = quota_exceeded(context, connection, book_id, existing, error)) == 0) {
		snprintf(context->reply.etag, sizeof(context->reply.etag), "%s", state->etag);
		context->reply.status = current ? 204 : 201;
		/* Storing the same bytes again changes nothing, so neither the ETag nor the sync-token moves. */
		if (current == NULL || strcmp(current, state->etag) != 0) {
			PGresult *stored = NULL;
			status = ex_dav_store_next_sequence(connection, &contacts_dav_store, book_id, sequence, error);
			if (status == 0)
				stored = contacts_sql(
					connection, error,
					"INSERT INTO contact_cards (tenant_id, addressbook_id, name, uid, etag, vcard, modseq) "
					"VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (addressbook_id, name) DO UPDATE SET "
					"uid = excluded.uid, etag = excluded.etag, vcard = excluded.vcard, "
					"modseq = excluded.modseq, modified_at = now()",
					7, context->principal.tenant_id, book_id, context->target.card, state->uid, state->etag,
					context->body ? context->body : "", sequence);
			PGresult *cleared = stored ? contacts_sql(connection, error,
								  "DELETE FROM contact_tombstones WHERE addressbook_id = $1 AND name = $2",
								  2, book_id, context->target.card)
						   : NULL;
			status = cleared != NULL ? 0 : -1;
			PQclear(stored);
			PQclear(cleared);
			context->reply.changed = true;
			context->reply.change_kind = current ? "updated" : "created";
		}
	}
	if (status > 0)
		status = 0;
	PQclear(existing);
	PQclear(book);
	return status;
}

void contacts_handle_put(contacts_context *context)
{
	put_state state = { .context = context };
	ex_vcard_list *parsed = NULL;

	if (context->target.kind != TARGET_CARD) {
		contacts_reply_error(&context->reply, 405, NULL, NULL, "PUT is served on vCard resources inside an address book");
		snprintf(context->reply.allow, sizeof(context->reply.allow), "OPTIONS, PROPFIND, PROPPATCH, REPORT, MKCOL, DELETE");
		return;
	}
	if (!contacts_reject_gal_write(context) && check_put_body(context, &state, &parsed)) {
		/* The UID points into the parsed vCard, which lives until the transaction ends. */
		contacts_run(context, EX_DB_READ_COMMITTED, put_work, &state);
		snprintf(context->reply.changed_collection, sizeof(context->reply.changed_collection), "%s", context->target.book);
		snprintf(context->reply.changed_resource, sizeof(context->reply.changed_resource), "%s", context->target.card);
	}
	ex_vcard_list_free(parsed);
}

static int delete_card_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	contacts_context *context = opaque;
	char sequence[EX_DAV_SEQUENCE_SIZE];
	bool failed;

	contacts_reply_reset(&context->reply);
	PGresult *book = contacts_find_book(connection, context, context->target.book, true, error, &failed);
	if (book == NULL) {
		if (!failed)
			contacts_reply_error(&context->reply, 404, NULL, NULL, "the address book %s does not exist",
					     context->target.book);
		return failed ? -1 : 0;
	}
	const char *book_id = PQgetvalue(book, 0, 0);
	PGresult *existing = ex_dav_store_lock_resource(connection, &contacts_dav_store, book_id, context->target.card,
							NULL, error);
	int status = existing == NULL ? -1 : 0;
	if (status == 0 && PQntuples(existing) == 0) {
		contacts_reply_error(&context->reply, 404, NULL, NULL, "the vCard %s does not exist", context->target.card);
	} else if (status == 0 && conditions_pass(context, PQgetvalue(existing, 0, 0), false)) {
		char path[CONTACTS_MAX_HREF] = "";
		contacts_property_path(path, sizeof(path), context->principal.user_id, &context->target);
		status = ex_dav_store_next_sequence(connection, &contacts_dav_store, book_id, sequence, error);
		if (status == 0)
			status = ex_dav_store_remove_resource(connection, &contacts_dav_store, context->principal.tenant_id,
							      context->principal.user_id, book_id, context->target.card,
							      sequence, path, error);
		if (status == 0)
			status = ex_dav_store_prune_tombstones(connection, &contacts_dav_store, book_id,
							       context->service->tombstone_days, error);
		context->reply.status = 204;
		context->reply.changed = true;
		context->reply.change_kind = "deleted";
	}
	PQclear(existing);
	PQclear(book);
	return status;
}

static int delete_book_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	contacts_context *context = opaque;

	contacts_reply_reset(&context->reply);
	int found = ex_dav_store_remove_collection(connection, &contacts_dav_store, context->principal.user_id,
						   context->target.book, error);
	if (found < 0)
		return -1;
	if (found == 0) {
		contacts_reply_error(&context->reply, 404, NULL, NULL, "the address book %s does not exist", context->target.book);
		return 0;
	}
	context->reply.status = 204;
	context->reply.changed = true;
	context->reply.change_kind = "deleted";
	return 0;
}

void contacts_handle_delete(contacts_context *context)
{
	if (contacts_reject_gal_write(context))
		return;
	if (context->target.kind == TARGET_CARD) {
		contacts_run(context, EX_DB_READ_COMMITTED, delete_card_work, context);
	} else if (context->target.kind == TARGET_BOOK) {
		if (ex_http_header(context->request, "If-Match") != NULL) {
			contacts_reply_error(&context->reply, 412, NULL, NULL, "address books have no ETag; send DELETE without If-Match");
			return;
		}
		contacts_run(context, EX_DB_READ_COMMITTED, delete_book_work, context);
	} else {
		contacts_reply_error(&context->reply, 403, NULL, NULL, "only address books and vCards can be deleted");
		return;
	}
	snprintf(context->reply.changed_collection, sizeof(context->reply.changed_collection), "%s", context->target.book);
	snprintf(context->reply.changed_resource, sizeof(context->reply.changed_resource), "%s", context->target.card);
}
