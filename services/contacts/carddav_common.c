/*
 * Pieces every CardDAV handler uses: request paths, hrefs, replies,
 * ETags, the SQL helper, the default address book and the change events.
 */
#include "contacts_service.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_http.h"
#include "expresso/log.h"

enum { SQL_MAX_PARAMETERS = 8 };

bool contacts_book_name_is_valid(const char *name)
{
	size_t length = strlen(name);
	if (length == 0 || length > CONTACTS_MAX_BOOK_NAME)
		return false;
	for (size_t i = 0; i < length; i++) {
		char c = name[i];
		bool letter_or_digit = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!letter_or_digit && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

static bool card_name_is_valid(const char *name)
{
	size_t length = strlen(name);
	if (length == 0 || length > CONTACTS_MAX_CARD_NAME || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < length; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return false;
	}
	return true;
}

/* Copies the next segment of *PATH into OUT; returns its length or -1 when it does not fit. */
static long next_segment(const char **path, char *out, size_t size)
{
	const char *slash = strchr(*path, '/');
	size_t length = slash ? (size_t)(slash - *path) : strlen(*path);
	if (length >= size)
		return -1;
	memcpy(out, *path, length);
	out[length] = '\0';
	*path += length + (slash ? 1 : 0);
	return (long)length;
}

void contacts_parse_target(const char *path, const char *user_id, contacts_target *target)
{
	char kind[32];
	char user[64];

	memset(target, 0, sizeof(*target));
	target->kind = TARGET_NOT_FOUND;
	if (path[0] == '\0') {
		target->kind = TARGET_DAV_ROOT;
		return;
	}
	if (next_segment(&path, kind, sizeof(kind)) < 0)
		return;
	if (strcmp(kind, "principals") == 0 && path[0] == '\0') {
		target->kind = TARGET_PRINCIPALS;
		return;
	}
	if (next_segment(&path, user, sizeof(user)) <= 0 || strcmp(user, user_id) != 0)
		return;
	if (strcmp(kind, "principals") == 0) {
		if (path[0] == '\0')
			target->kind = TARGET_PRINCIPAL;
		return;
	}
	if (strcmp(kind, "addressbooks") != 0)
		return;
	if (path[0] == '\0') {
		target->kind = TARGET_HOME;
		return;
	}
	if (next_segment(&path, target->book, sizeof(target->book)) <= 0 || !contacts_book_name_is_valid(target->book))
		return;
	if (path[0] == '\0') {
		target->kind = TARGET_BOOK;
		return;
	}
	if (next_segment(&path, target->card, sizeof(target->card)) <= 0 || path[0] != '\0' ||
	    !card_name_is_valid(target->card))
		return;
	target->kind = TARGET_CARD;
}

/* Writes CONTACTS_DAV_ROOT KIND "/" USER "/" [BOOK "/" [CARD]] into OUT, percent-encoding BOOK and CARD. */
static int format_href(char *out, const char *kind, const char *user_id, const char *book, const char *card)
{
	char encoded_book[CONTACTS_MAX_HREF] = "";
	char encoded_card[CONTACTS_MAX_HREF] = "";

	if ((book != NULL && ex_dav_encode_segment(book, encoded_book, sizeof(encoded_book)) != 0) ||
	    (card != NULL && ex_dav_encode_segment(card, encoded_card, sizeof(encoded_card)) != 0))
		return -1;
	int written = snprintf(out, CONTACTS_MAX_HREF, "%s%s/%s/%s%s%s", CONTACTS_DAV_ROOT, kind, user_id, encoded_book,
			       book != NULL ? "/" : "", encoded_card);
	return written > 0 && written < CONTACTS_MAX_HREF ? 0 : -1;
}

int contacts_href_principal(char *out, const char *user_id)
{
	return format_href(out, "principals", user_id, NULL, NULL);
}

int contacts_href_home(char *out, const char *user_id)
{
	return format_href(out, "addressbooks", user_id, NULL, NULL);
}

int contacts_href_book(char *out, const char *user_id, const char *book)
{
	return format_href(out, "addressbooks", user_id, book, NULL);
}

int contacts_href_card(char *out, const char *user_id, const char *book, const char *card)
{
	return format_href(out, "addressbooks", user_id, book, card);
}

int contacts_property_path(char *out, size_t size, const char *user_id, const contacts_target *target)
{
	int written;
	switch (target->kind) {
	case TARGET_PRINCIPAL:
		written = snprintf(out, size, "principals/%s/", user_id);
		break;
	case TARGET_HOME:
		written = snprintf(out, size, "addressbooks/%s/", user_id);
		break;
	case TARGET_BOOK:
		written = snprintf(out, size, "addressbooks/%s/%s/", user_id, target->book);
		break;
	case TARGET_CARD:
		written = snprintf(out, size, "addressbooks/%s/%s/%s", user_id, target->book, target->card);
		break;
	default:
		return -1;
	}
	return written > 0 && (size_t)written < size ? 0 : -1;
}

void contacts_reply_reset(contacts_reply *reply)
{
	free(reply->body);
	memset(reply, 0, sizeof(*reply));
}

void contacts_reply_error(contacts_reply *reply, unsigned status, const char *ns, const char *condition,
			  const char *format, ...)
{
	va_list arguments;

	free(reply->body);
	reply->body = NULL;
	reply->status = status;
	reply->condition_ns = ns;
	reply->condition = condition;
	reply->changed = false;
	va_start(arguments, format);
	vsnprintf(reply->message, sizeof(reply->message), format, arguments);
	va_end(arguments);
}

void contacts_reply_multistatus(contacts_reply *reply, ex_dav_multistatus *ms)
{
	size_t length = 0;
	const char *body = ms ? ex_dav_ms_finish(ms, &length) : NULL;

	free(reply->body);
	reply->body = body ? malloc(length + 1) : NULL;
	if (reply->body == NULL) {
		ex_dav_multistatus_free(ms);
		contacts_reply_error(reply, 500, NULL, NULL, "the multistatus response could not be written");
		return;
	}
	memcpy(reply->body, body, length);
	reply->body[length] = '\0';
	reply->length = length;
	reply->status = 207;
	reply->content_type = "application/xml; charset=utf-8";
	ex_dav_multistatus_free(ms);
}

void contacts_compute_etag(const char *data, size_t length, char *out)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_length = 0;
	static const char hex[] = "0123456789abcdef";

	EVP_Digest(data, length, digest, &digest_length, EVP_sha256(), NULL);
	out[0] = '"';
	for (unsigned int i = 0; i < digest_length && i < 32; i++) {
		out[1 + 2 * i] = hex[digest[i] >> 4];
		out[2 + 2 * i] = hex[digest[i] & 0x0f];
	}
	out[1 + 2 * digest_length] = '"';
	out[2 + 2 * digest_length] = '\0';
}

PGresult *contacts_sql(PGconn *connection, ex_db_error *error, const char *sql, int count, ...)
{
	const char *params[SQL_MAX_PARAMETERS];
	va_list arguments;

	if (count > SQL_MAX_PARAMETERS)
		return NULL;
	va_start(arguments, count);
	for (int i = 0; i < count; i++)
		params[i] = va_arg(arguments, const char *);
	va_end(arguments);
	return ex_db_exec(connection, sql, count, params, error);
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
	/* addressbooks.octets is kept by a trigger on contact_cards, so this reads one row per address book. */
	PGresult *result = contacts_sql(connection, error,
					"SELECT coalesce(sum(octets), 0)::text FROM addressbooks WHERE user_id = $1", 1,
					context->principal.user_id);
	if (result == NULL)
		return -1;
	long long used = strtoll(PQgetvalue(result, 0, 0), NULL, 10);
	PQclear(result);
	return used;
}

void contacts_sync_token(char *out, size_t size, const char *book_id, const char *sequence)
{
	snprintf(out, size, CONTACTS_SYNC_TOKEN_PREFIX "%s:%s", book_id, sequence);
}

PGresult *contacts_load_dead_properties(PGconn *connection, const contacts_context *context, ex_db_error *error)
{
	return contacts_sql(connection, error,
			    "SELECT path, namespace, name, value FROM dav_properties WHERE user_id = $1 "
			    "ORDER BY path, namespace, name LIMIT 10000",
			    1, context->principal.user_id);
}

void contacts_run(contacts_context *context, ex_db_isolation isolation, ex_db_work work, void *argument)
{
	ex_db_error error;

	memset(&error, 0, sizeof(error));
	if (ex_db_tenant_transaction(context->service->database, context->principal.tenant_id, isolation, work,
				     argument, &error) == 0)
		return;
	/* foreign_key_violation: the user row the address books hang on does not exist yet. */
	if (strcmp(error.sqlstate, "23503") == 0) {
		ex_log(EX_LOG_WARN, "carddav_user_not_provisioned", "{s:s}", "user", context->principal.user_id);
		contacts_reply_error(&context->reply, 403, NULL, NULL,
				     "your account has no user record yet; log in once through expresso-auth, then retry");
		return;
	}
	ex_log(EX_LOG_ERROR, "carddav_database_failed", "{s:s, s:s, s:s}", "user", context->principal.user_id,
	       "sqlstate", error.sqlstate, "error", error.message);
	contacts_reply_error(&context->reply, 503, NULL, NULL,
			     "the contacts database is unavailable or failed; retry the request later");
}

void contacts_publish_change(const contacts_context *context)
{
	const contacts_reply *reply = &context->reply;
	ex_bus *bus = context->service->bus;
	char err[256];

	if (!reply->changed || bus == NULL)
		return;
	json_t *event = json_pack("{s:s, s:s, s:s, s:s}", "user", context->principal.user_id, "addressbook",
				  reply->changed_book, "resource", reply->changed_card, "change",
				  reply->change_kind ? reply->change_kind : "updated");
	if (event == NULL)
		return;
	if (ex_bus_publish(bus, context->principal.tenant_id, "contacts", "changed", event, err, sizeof(err)) != 0)
		ex_log(EX_LOG_WARN, "contacts_event_publish_failed", "{s:s, s:s}", "user", context->principal.user_id,
		       "error", err);
	json_decref(event);
}
