/*
 * expresso-contacts: the CardDAV server (RFC 6352, RFC 6578) of Expresso.
 * This header carries the daemon's resources, the parsed form of a DAV
 * request path, and the per-request state the CardDAV handlers share.
 *
 * URL layout below the DAV root /dav/:
 *   principals/<user id>/                  the user's principal
 *   addressbooks/<user id>/                the address-book home (a container of address books)
 *   addressbooks/<user id>/<book>/         an address book
 *   addressbooks/<user id>/<book>/<name>   one vCard
 * A path naming another user answers 404, whatever its tenant.
 */
#ifndef EXPRESSO_CONTACTS_SERVICE_H
#define EXPRESSO_CONTACTS_SERVICE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "expresso/authclient.h"
#include "expresso/bus.h"
#include "expresso/daemon.h"
#include "expresso/dav_auth.h"
#include "expresso/dav_multistatus.h"
#include "expresso/dav_reply.h"
#include "expresso/dav_request.h"
#include "expresso/dav_service.h"
#include "expresso/dav_store.h"
#include "expresso/dav_sync.h"
#include "expresso/dav_target.h"
#include "expresso/dav_xml.h"
#include "expresso/db.h"

#define CONTACTS_DAV_ROOT EX_DAV_ROOT
/* Path segment of the address-book homes below the DAV root. */
#define CONTACTS_HOME "addressbooks"
#define CONTACTS_DEFAULT_BOOK "default"
/* The read-only global address list in every home (carddav_gal.c). */
#define CONTACTS_GAL_BOOK "gal"
#define CONTACTS_SYNC_TOKEN_PREFIX EX_DAV_SYNC_TOKEN_PREFIX

/* The columns of a vCard row that PROPFIND and REPORT read: name, etag, length, last modification. */
#define CONTACTS_CARD_COLUMNS \
	"name, etag, octet_length(vcard)::text, " \
	"to_char(modified_at AT TIME ZONE 'UTC', 'Dy, DD Mon YYYY HH24:MI:SS') || ' GMT'"

enum {
	CONTACTS_MAX_BOOK_NAME = EX_DAV_MAX_COLLECTION_NAME,
	CONTACTS_MAX_CARD_NAME = EX_DAV_MAX_RESOURCE_NAME,
	CONTACTS_MAX_HREF = EX_DAV_MAX_HREF,
	CONTACTS_MAX_DEAD_PROPERTY = 65536, /* bytes of one stored dead property */
	CONTACTS_MAX_BOOKS = 1000,          /* address books listed per home */
	CONTACTS_MAX_MULTIGET = 1000,       /* hrefs in one addressbook-multiget */
};

extern const ex_setting contacts_settings[];

typedef struct {
	ex_dav_service dav; /* verifier, authenticator, database, bus, XML limits, counters */
	size_t max_resource_size; /* bytes of one vCard (CARDDAV:max-resource-size) */
	long long quota_bytes;    /* bytes of vCards one user may store (RFC 4331) */
	size_t max_import_size;   /* bytes of one .vcf file sent to the import API */
	int tombstone_days;       /* days a deletion stays reported to sync-collection */
} contacts_service;

int contacts_service_open(contacts_service *service, ex_daemon *daemon);
void contacts_service_close(contacts_service *service);
int contacts_add_routes(contacts_service *service, ex_http_server *http);

/* Adds the JSON API routes under /api/v1 (contacts_api.c). */
int contacts_add_api_routes(contacts_service *service, ex_http_server *http);

typedef enum {
	TARGET_NOT_FOUND,
	TARGET_SERVER_ROOT, /* "/" */
	TARGET_DAV_ROOT,    /* /dav/ */
	TARGET_PRINCIPALS,  /* /dav/principals/ */
	TARGET_PRINCIPAL,
	TARGET_HOME,
	TARGET_BOOK,
	TARGET_CARD,
} target_kind;

typedef struct {
	target_kind kind;
	char book[CONTACTS_MAX_BOOK_NAME + 1];
	char card[CONTACTS_MAX_CARD_NAME + 1];
} contacts_target;

/* Parses PATH (percent-decoded, below /dav/) for USER_ID. */
void contacts_parse_target(const char *path, const char *user_id, contacts_target *target);

/* Returns true when NAME may name an address book (letters, digits, '.', '_', '-'). */
bool contacts_book_name_is_valid(const char *name);

/* What a handler's transaction decided; sent after the commit. */
typedef ex_dav_reply contacts_reply;

/* The state of one DAV request, shared by the handlers and their transactions. */
typedef struct {
	contacts_service *service;
	ex_http_request *request;
	ex_dav_principal principal;
	contacts_target target;
	const char *body;
	size_t body_length;
	xmlDoc *document; /* parsed XML body, or NULL */
	ex_dav_depth depth;
	long long quota_used; /* bytes of the user's vCards, -1 until a handler reads it */
	bool create_only;     /* a PUT must not replace an existing vCard, as with If-None-Match: * */
	contacts_reply reply;
} contacts_context;

/* The reply functions are the shared ones of libexpresso-dav. */
#define contacts_reply_reset ex_dav_reply_reset
#define contacts_reply_error ex_dav_reply_error
#define contacts_reply_multistatus ex_dav_reply_multistatus

/* Href helpers; each writes into OUT (CONTACTS_MAX_HREF bytes) and returns 0, or -1 when it does not fit. */
int contacts_href_principal(char *out, const char *user_id);
int contacts_href_home(char *out, const char *user_id);
int contacts_href_book(char *out, const char *user_id, const char *book);
int contacts_href_card(char *out, const char *user_id, const char *book, const char *card);

/* The key under which dead properties of the target are stored. */
int contacts_property_path(char *out, size_t size, const char *user_id, const contacts_target *target);

/* Writes the strong ETag (quoted, hex of SHA-256) of DATA into OUT (at least 70 bytes). */
void contacts_compute_etag(const char *data, size_t length, char *out);

/* Runs the SQL with bound text parameters; returns NULL and fills ERROR on failure. */
#define contacts_sql ex_dav_sql

/* The tables and names of the daemon's DAV store. */
extern const ex_dav_store contacts_dav_store;

/* Creates the default address book of the user when the home has none. */
int contacts_ensure_default_book(PGconn *connection, const contacts_context *context, ex_db_error *error);

/*
 * Looks up the address book NAME of the user: returns its row (id,
 * displayname, description, sync_seq, tombstones_pruned_seq) or NULL.
 */
PGresult *contacts_find_book(PGconn *connection, const contacts_context *context, const char *name,
			     bool for_update, ex_db_error *error, bool *failed);

/* Writes the sync-token of a book into OUT. */
void contacts_sync_token(char *out, size_t size, const char *book_id, const char *sequence);

/* Handlers of the methods (carddav_*.c). */
void contacts_handle_propfind(contacts_context *context);
void contacts_handle_proppatch(contacts_context *context);
void contacts_handle_report(contacts_context *context);
void contacts_handle_get(contacts_context *context);
void contacts_handle_put(contacts_context *context);
void contacts_handle_delete(contacts_context *context);
void contacts_handle_mkcol(contacts_context *context);

/* Runs WORK(ARGUMENT) in the tenant transaction of CONTEXT; on a database failure sets a 503 reply. */
void contacts_run(contacts_context *context, ex_db_isolation isolation, ex_db_work work, void *argument);

/* Writes the properties of a card row (name, etag, length, lastmod[, vcard]) for the resolvers of PROPFIND and REPORT. */
typedef struct {
	contacts_context *context;
	const char *book_id;
	const char *sync_seq;
	const char *displayname;
	const char *description;
	const char *card_etag;
	const char *card_length;
	const char *card_lastmod;
	const char *card_data; /* NULL unless the request wants address-data */
	const char *address_data_version; /* vCard version the request wants in address-data, or NULL for as stored */
	target_kind kind;
	const char *property_path;
	PGresult *dead_properties; /* rows: path, namespace, name, value */
} contacts_resource;

bool contacts_resolve_property(void *resource, ex_dav_multistatus *ms, const char *ns, const char *name);

/* Writes the propstats of RESOURCE for REQUEST; allprop and propname list its live and dead properties. */
void contacts_write_properties(ex_dav_multistatus *ms, const ex_dav_propfind *request, contacts_resource *resource);

/* Loads every dead property of the user (path, namespace, name, value). */
PGresult *contacts_load_dead_properties(PGconn *connection, const contacts_context *context, ex_db_error *error);

/* Returns true when BOOK names the global address list. */
bool contacts_is_gal(const char *book);

/* Returns the row of the global address list in the shape of contacts_find_book's rows. */
PGresult *contacts_gal_book(PGconn *connection, ex_db_error *error);

/*
 * Selects the vCards of BOOK_ID (an address book id, or CONTACTS_GAL_BOOK)
 * as CONTACTS_CARD_COLUMNS then vcard. NAME NULL selects all of them,
 * ordered by name, else only the one named NAME.
 */
PGresult *contacts_select_cards(PGconn *connection, const char *book_id, const char *name, ex_db_error *error);

/* Sets a 403 reply and returns true when the request writes to the global address list. */
bool contacts_reject_gal_write(contacts_context *context);

/* Returns the bytes of every vCard of the user, or -1 on a database error. */
long long contacts_quota_used(PGconn *connection, const contacts_context *context, ex_db_error *error);

/* Publishes contacts.changed for a committed change. */
void contacts_publish_change(const contacts_context *context);

#endif
