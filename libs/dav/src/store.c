/*
 * Writes to the collections, resources, tombstones and dead properties
 * that CalDAV and CardDAV store alike. The SQL is written from the table
 * names of the ex_dav_store descriptor, and every value is bound.
 */
#include "expresso/dav_store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "expresso/dav_target.h"

#include "dav_internal.h"

enum { SQL_TEXT_SIZE = 768 };

PGresult *ex_dav_sql(PGconn *connection, ex_db_error *error, const char *sql, int count, ...)
{
	const char *params[EX_DAV_SQL_MAX_PARAMETERS];
	va_list arguments;

	if (count < 0 || count > EX_DAV_SQL_MAX_PARAMETERS) {
		snprintf(error->message, sizeof(error->message), "%d SQL parameters are more than the maximum of %d",
			 count, EX_DAV_SQL_MAX_PARAMETERS);
		return NULL;
	}
	va_start(arguments, count);
	for (int i = 0; i < count; i++)
		params[i] = va_arg(arguments, const char *);
	va_end(arguments);
	return ex_db_exec(connection, sql, count, params, error);
}

int ex_dav_write_sql(char *out, size_t size, ex_db_error *error, const char *format, ...)
{
	va_list arguments;

	va_start(arguments, format);
	int written = vsnprintf(out, size, format, arguments);
	va_end(arguments);
	if (written > 0 && (size_t)written < size)
		return 0;
	snprintf(error->message, sizeof(error->message), "an SQL statement is longer than %zu bytes", size);
	return -1;
}

/* Runs SQL and discards its result. Returns 0 or -1. */
static int run_sql(PGconn *connection, ex_db_error *error, const char *sql, int count, const char *first,
		   const char *second, const char *third, const char *fourth)
{
	PGresult *result = ex_dav_sql(connection, error, sql, count, first, second, third, fourth);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

int ex_dav_store_next_sequence(PGconn *connection, const ex_dav_store *store, const char *collection_id,
			       char *sequence, ex_db_error *error)
{
	char sql[SQL_TEXT_SIZE];

	if (ex_dav_write_sql(sql, sizeof(sql), error,
			     "UPDATE %s SET sync_seq = sync_seq + 1 WHERE id = $1 RETURNING sync_seq::text",
			     store->collection_table) != 0)
		return -1;
	PGresult *result = ex_dav_sql(connection, error, sql, 1, collection_id);
	if (result == NULL)
		return -1;
	snprintf(sequence, EX_DAV_SEQUENCE_SIZE, "%s", PQgetvalue(result, 0, 0));
	PQclear(result);
	return 0;
}

PGresult *ex_dav_store_lock_resource(PGconn *connection, const ex_dav_store *store, const char *collection_id,
				     const char *name, const char *columns, ex_db_error *error)
{
	char sql[SQL_TEXT_SIZE];

	if (ex_dav_write_sql(sql, sizeof(sql), error, "SELECT etag%s%s FROM %s WHERE %s = $1 AND name = $2 FOR UPDATE",
			     columns != NULL ? ", " : "", columns != NULL ? columns : "", store->resource_table,
			     store->collection_column) != 0)
		return NULL;
	return ex_dav_sql(connection, error, sql, 2, collection_id, name);
}

int ex_dav_store_remove_resource(PGconn *connection, const ex_dav_store *store, const char *tenant_id,
				 const char *user_id, const char *collection_id, const char *name,
				 const char *sequence, const char *property_path, ex_db_error *error)
{
	char sql[SQL_TEXT_SIZE];

	if (ex_dav_write_sql(sql, sizeof(sql), error,
			     "DELETE FROM %s WHERE %s = $1 AND name = $2", store->resource_table,
			     store->collection_column) != 0 ||
	    run_sql(connection, error, sql, 2, collection_id, name, NULL, NULL) != 0)
		return -1;
	if (ex_dav_write_sql(sql, sizeof(sql), error,
			     "INSERT INTO %s (tenant_id, %s, name, modseq) VALUES ($1, $2, $3, $4) "
			     "ON CONFLICT (%s, name) DO UPDATE SET modseq = excluded.modseq, deleted_at = now()",
			     store->tombstone_table, store->collection_column, store->collection_column) != 0 ||
	    run_sql(connection, error, sql, 4, tenant_id, collection_id, name, sequence) != 0)
		return -1;
	return run_sql(connection, error, "DELETE FROM dav_properties WHERE user_id = $1 AND path = $2", 2, user_id,
		       property_path, NULL, NULL);
}

int ex_dav_store_prune_tombstones(PGconn *connection, const ex_dav_store *store, const char *collection_id,
				  int days, ex_db_error *error)
{
	char sql[SQL_TEXT_SIZE];
	char days_text[16];

	snprintf(days_text, sizeof(days_text), "%d", days);
	if (ex_dav_write_sql(sql, sizeof(sql), error,
			     "WITH pruned AS (DELETE FROM %s WHERE %s = $1 "
			     "AND deleted_at < now() - make_interval(days => $2::int) RETURNING modseq) "
			     "UPDATE %s SET tombstones_pruned_seq = greatest(tombstones_pruned_seq, "
			     "(SELECT max(modseq) FROM pruned)) WHERE id = $1 AND EXISTS (SELECT 1 FROM pruned)",
			     store->tombstone_table, store->collection_column, store->collection_table) != 0)
		return -1;
	return run_sql(connection, error, sql, 2, collection_id, days_text, NULL, NULL);
}

int ex_dav_store_remove_collection(PGconn *connection, const ex_dav_store *store, const char *user_id,
				   const char *name, ex_db_error *error)
{
	char sql[SQL_TEXT_SIZE];
	char prefix[EX_DAV_MAX_HREF];

	if (ex_dav_write_sql(sql, sizeof(sql), error, "DELETE FROM %s WHERE user_id = $1 AND name = $2 RETURNING id",
			     store->collection_table) != 0)
		return -1;
	PGresult *deleted = ex_dav_sql(connection, error, sql, 2, user_id, name);
	if (deleted == NULL)
		return -1;
	int found = PQntuples(deleted) > 0;
	PQclear(deleted);
	if (!found)
		return 0;
	snprintf(prefix, sizeof(prefix), "%s/%s/%s/", store->home, user_id, name);
	if (run_sql(connection, error, "DELETE FROM dav_properties WHERE user_id = $1 AND left(path, length($2)) = $2", 2,
		    user_id, prefix, NULL, NULL) != 0)
		return -1;
	return 1;
}
