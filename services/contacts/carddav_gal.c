/*
 * The global address list: a read-only address book named "gal" in every
 * home, holding one vCard per enabled user of the tenant. The vCards are
 * generated from the users table on each request (row-level security
 * limits the rows to the caller's tenant), so there is nothing to store.
 *
 * Its sync-token carries a number derived from a hash of every member's
 * ETag. A client with the current token gets no changes. A client with any
 * older token gets 403 DAV:valid-sync-token and syncs again from an empty
 * token, because without a change log the server cannot compute a delta.
 */
#include "contacts_service.h"

#include <string.h>

#define CRLF " || chr(13) || chr(10) || "
#define VCARD_TEXT(column) "replace(replace(replace(replace(" column ", '\\', '\\\\'), ',', '\\,'), ';', '\\;'), chr(10), '\\n')"

/* One row per member: name, etag, length, last modification, vcard (CONTACTS_CARD_COLUMNS then vcard). */
#define GAL_MEMBERS                                                                                                 \
	"SELECT name, '\"' || encode(sha256(convert_to(vcard, 'UTF8')), 'hex') || '\"' AS etag, "                  \
	"octet_length(vcard)::text AS length, lastmod, vcard FROM ("                                                \
	"SELECT u.id::text || '.vcf' AS name, "                                                                     \
	"to_char(u.created_at AT TIME ZONE 'UTC', 'Dy, DD Mon YYYY HH24:MI:SS') || ' GMT' AS lastmod, "             \
	"'BEGIN:VCARD'" CRLF "'VERSION:3.0'" CRLF "'UID:' || u.id::text" CRLF                                       \
	"'FN:' || " VCARD_TEXT("coalesce(nullif(u.display_name, ''), u.username)") CRLF                             \
	"'NICKNAME:' || " VCARD_TEXT("u.username") CRLF "'EMAIL;TYPE=INTERNET,WORK:' || u.email" CRLF               \
	"'END:VCARD'" CRLF "'' AS vcard FROM users AS u WHERE NOT u.disabled) AS members"

bool contacts_is_gal(const char *book)
{
	return strcmp(book, CONTACTS_GAL_BOOK) == 0;
}

PGresult *contacts_gal_book(PGconn *connection, ex_db_error *error)
{
	return contacts_sql(connection, error,
			    "SELECT '" CONTACTS_GAL_BOOK "', 'Global address list', "
			    "'Everyone in your organisation; read-only', "
			    "coalesce(('x' || substr(md5(string_agg(etag, ',' ORDER BY name)), 1, 15))::bit(60)::bigint, 0)::text, '0' "
			    "FROM (" GAL_MEMBERS ") AS g",
			    0);
}

PGresult *contacts_select_cards(PGconn *connection, const char *book_id, const char *name, ex_db_error *error)
{
	if (contacts_is_gal(book_id)) {
		if (name == NULL)
			return contacts_sql(connection, error, "SELECT * FROM (" GAL_MEMBERS ") AS g ORDER BY name", 0);
		return contacts_sql(connection, error, "SELECT * FROM (" GAL_MEMBERS ") AS g WHERE name = $1", 1, name);
	}
	if (name == NULL)
		return contacts_sql(connection, error,
				    "SELECT " CONTACTS_CARD_COLUMNS ", vcard FROM contact_cards WHERE addressbook_id = $1 "
				    "ORDER BY name",
				    1, book_id);
	return contacts_sql(connection, error,
			    "SELECT " CONTACTS_CARD_COLUMNS ", vcard FROM contact_cards WHERE addressbook_id = $1 AND name = $2", 2,
			    book_id, name);
}

bool contacts_reject_gal_write(contacts_context *context)
{
	if (!contacts_is_gal(context->target.book))
		return false;
	contacts_reply_error(&context->reply, 403, EX_DAV_NS, "need-privileges",
			     "the global address list is read-only; it lists the users of your organisation");
	return true;
}
