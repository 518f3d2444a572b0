/*
 * The checks of a PUT that read the store of either DAV daemon: the
 * no-uid-conflict precondition of CalDAV (RFC 4791) and CardDAV
 * (RFC 6352) and the user's quota (RFC 4331). They run inside the
 * caller's tenant transaction and set the error reply themselves.
 */
#ifndef EXPRESSO_DAV_STORE_CHECKS_H
#define EXPRESSO_DAV_STORE_CHECKS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "expresso/dav_reply.h"
#include "expresso/dav_store.h"
#include "expresso/db.h"

/* Returns the bytes of every resource of USER_ID (the octets of their collections), or -1 on a database error. */
long long ex_dav_store_quota_used(PGconn *connection, const ex_dav_store *store, const char *user_id,
				  ex_db_error *error);

/*
 * Checks no-uid-conflict for storing the resource NAME with UID in the
 * collection COLLECTION (COLLECTION_ID) of USER_ID. Returns 1 with a 403
 * reply naming the other resource when another resource of the
 * collection has the UID, 0 when none has, -1 on a database error.
 */
int ex_dav_store_uid_conflict(PGconn *connection, const ex_dav_store *store, ex_dav_reply *reply,
			      const char *user_id, const char *collection, const char *collection_id,
			      const char *name, const char *uid, ex_db_error *error);

/*
 * Checks the quota of USER_ID, QUOTA_BYTES, for storing LENGTH bytes as
 * the resource NAME of COLLECTION_ID, which REPLACES an existing resource
 * or not. Returns 1 with a 507 DAV:quota-not-exceeded reply when the
 * quota would be exceeded, 0 when not, -1 on a database error.
 */
int ex_dav_store_quota_exceeded(PGconn *connection, const ex_dav_store *store, ex_dav_reply *reply,
				const char *user_id, const char *collection_id, const char *name, bool replaces,
				size_t length, long long quota_bytes, ex_db_error *error);

#endif
