/*
 * sync-collection (RFC 6578) as both DAV daemons serve it. A sync-token
 * names a collection and the sync_seq it was issued at. Every change of a
 * resource takes the next sync_seq as its modseq, so the changes since a
 * token are the resources and tombstones with a higher modseq.
 */
#ifndef EXPRESSO_DAV_SYNC_H
#define EXPRESSO_DAV_SYNC_H

#include <libpq-fe.h>
#include <stddef.h>

#include "expresso/dav_multistatus.h"
#include "expresso/dav_store.h"

#define EX_DAV_SYNC_TOKEN_PREFIX "urn:x-expresso:sync:"

enum {
	EX_DAV_SYNC_INITIAL = -1, /* an empty sync-token: report every resource */
	EX_DAV_SYNC_INVALID = -2, /* a token of another collection, malformed, pruned or from the future */
};

/* Writes the sync-token of COLLECTION_ID at SEQUENCE into OUT. */
void ex_dav_format_sync_token(char *out, size_t size, const char *collection_id, const char *sequence);

/*
 * Parses TOKEN for the collection COLLECTION_ID, whose sync_seq is
 * CURRENT and whose tombstones below PRUNED are gone. Returns the
 * sequence of the token, EX_DAV_SYNC_INITIAL or EX_DAV_SYNC_INVALID.
 */
long long ex_dav_parse_sync_token(const char *token, const char *collection_id, long long current,
				  long long pruned);

/*
 * Selects the tombstones (name, modseq) of COLLECTION_ID with a modseq
 * above SINCE, ordered by modseq. An initial sync (SINCE below 0) gets
 * no rows. Returns NULL with ERROR filled on failure.
 */
PGresult *ex_dav_store_select_tombstones(PGconn *connection, const ex_dav_store *store, const char *collection_id,
					 const char *since, ex_db_error *error);

/* Writes the response for row ROW of the changed resources; returns 0, or -1 to stop the report there. */
typedef int (*ex_dav_sync_describe)(void *context, int row);

/* The changes of one collection since a sync-token, merged by ex_dav_write_sync_changes. */
typedef struct {
	ex_dav_multistatus *ms;
	const PGresult *changed;     /* resources with a modseq above the token's, ordered by modseq */
	int modseq_column;           /* column of CHANGED with the modseq as text */
	const PGresult *removed;     /* ex_dav_store_select_tombstones rows */
	long limit;                  /* DAV:limit of changes reported, 0 for none */
	const char *home;            /* home segment for the hrefs of removed resources */
	const char *user_id;
	const char *collection;      /* collection name */
	const char *collection_id;
	const char *sequence;        /* the collection's sync_seq now */
	ex_dav_sync_describe describe;
	void *context;               /* passed to DESCRIBE */
} ex_dav_sync_changes;

/*
 * Writes the changes in modseq order: a resource through DESCRIBE, a
 * removed one as a 404 response. When LIMIT cuts the list, adds a 507
 * response with DAV:number-of-matches-within-limits for the collection
 * and issues the sync-token of the last change reported, else that of
 * SEQUENCE.
 */
void ex_dav_write_sync_changes(const ex_dav_sync_changes *changes);

#endif
