/*
 * The no-uid-conflict and quota checks of a PUT (dav_store_checks.h).
 * The SQL is written from the names of the ex_dav_store descriptor and
 * every value is bound.
 */
#include "expresso/dav_store_checks.h"

#include <stdio.h>
#include <stdlib.h>

#include "expresso/dav_target.h"
#include "expresso/dav_xml.h"

#include "dav_internal.h"

enum { SQL_TEXT_SIZE = 512 };

long long ex_dav_store_quota_used(PGconn *connection, const ex_dav_store *store, const char *user_id,
				  ex_db_error *error)
{
	char sql[SQL_TEXT_SIZE];

	/* Each collection counts the bytes of its resources in octets, so this reads one row per collection. */
	if (ex_dav_write_sql(sql, sizeof(sql), error,
			     "SELECT coalesce(sum(octets), 0)::text FROM %s WHERE user_id = $1",
			     store->collection_table) != 0)
		return -1;
	PGresult *result = ex_dav_sql(connection, error, sql, 1, user_id);
	if (result == NULL)
		return -1;
	long long used = strtoll(PQgetvalue(result, 0, 0), NULL, 10);
	PQclear(result);
	return used;
}

int ex_dav_store_uid_conflict(PGconn *connection, const ex_dav_store *store, ex_dav_reply *reply,
			      const char *user_id, const char *collection, const char *collection_id,
			      const char *name, const char *uid, ex_db_error *error)
{
	char sql[SQL_TEXT_SIZE];

	if (ex_dav_write_sql(sql, sizeof(sql), error,
			     "SELECT name FROM %s WHERE %s = $1 AND uid = $2 AND name <> $3", store->resource_table,
			     store->collection_column) != 0)
		return -1;
	PGresult *other = ex_dav_sql(connection, error, sql, 3, collection_id, uid, name);
	if (other == NULL)
		return -1;
	int conflict = PQntuples(other) > 0;
	if (conflict) {
		char href[EX_DAV_MAX_HREF] = "";
		ex_dav_format_href(href, store->home, user_id, collection, PQgetvalue(other, 0, 0));
		ex_dav_reply_error(reply, 403, store->protocol_ns, "no-uid-conflict",
				   "another %s of this %s has the same UID: %s", store->resource_noun,
				   store->collection_noun, href);
	}
	PQclear(other);
	return conflict;
}

int ex_dav_store_quota_exceeded(PGconn *connection, const ex_dav_store *store, ex_dav_reply *reply,
				const char *user_id, const char *collection_id, const char *name, bool replaces,
				size_t length, long long quota_bytes, ex_db_error *error)
{
	char sql[SQL_TEXT_SIZE];
	long long used = ex_dav_store_quota_used(connection, store, user_id, error);

	if (used < 0)
		return -1;
	long long replaced = 0;
	if (replaces) {
		if (ex_dav_write_sql(sql, sizeof(sql), error,
				     "SELECT octet_length(%s)::text FROM %s WHERE %s = $1 AND name = $2",
				     store->data_column, store->resource_table, store->collection_column) != 0)
			return -1;
		PGresult *size = ex_dav_sql(connection, error, sql, 2, collection_id, name);
		if (size == NULL)
			return -1;
		replaced = strtoll(PQgetvalue(size, 0, 0), NULL, 10);
		PQclear(size);
	}
	long long after = used - replaced + (long long)length;
	if (after <= quota_bytes)
		return 0;
	ex_dav_reply_error(reply, 507, EX_DAV_NS, "quota-not-exceeded",
			   "storing this %s would use %lld bytes, more than your %s quota of %lld bytes; "
			   "delete some %ss first",
			   store->resource_noun, after, store->service_noun, quota_bytes, store->resource_noun);
	return 1;
}
