/*
 * The PostgreSQL storage that both DAV daemons share, described by one
 * ex_dav_store per daemon. Collections carry a sync_seq. Resources are
 * keyed by collection and name and carry a strong ETag. Deleted resources
 * leave tombstones for sync-collection (RFC 6578), and dead properties sit
 * in dav_properties keyed by user and path. The functions run inside the
 * caller's tenant transaction and bind every value from a request, so only
 * the table and column names of the descriptor are written into the SQL.
 */
#ifndef EXPRESSO_DAV_STORE_H
#define EXPRESSO_DAV_STORE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "expresso/db.h"

typedef struct {
	const char *home;              /* path segment of the homes below the DAV root: "calendars" */
	const char *collection_table;  /* "calendars": id, user_id, name, sync_seq, tombstones_pruned_seq */
	const char *resource_table;    /* "calendar_objects": <collection_column>, name, etag, data */
	const char *tombstone_table;   /* "calendar_tombstones": <collection_column>, name, modseq, deleted_at */
	const char *collection_column; /* column naming the collection in the resource and tombstone tables */
	const char *resource_noun;     /* "calendar object": used in error messages, with "s" for the plural */
	const char *collection_noun;   /* "calendar": used in error messages */
	const char *data_column;       /* "ical": the column of the resource's body in resource_table */
	const char *protocol_ns;       /* namespace of the protocol's preconditions such as no-uid-conflict */
	const char *protocol;          /* "caldav": prefix of the log events of the requests */
	const char *service_noun;      /* "calendar": names the daemon's database in error messages */
	const char *event_domain;      /* "calendar": bus domain of the change events */
	const char *event_collection;  /* "calendar": key of the collection name in a change event */
} ex_dav_store;

enum {
	EX_DAV_SQL_MAX_PARAMETERS = 12, /* bound parameters ex_dav_sql takes */
	EX_DAV_SEQUENCE_SIZE = 32,      /* bytes of a sync_seq as decimal text with its NUL */
};

/*
 * Runs SQL with COUNT bound text parameters (const char *, NULL for SQL
 * NULL). Returns the result, or NULL with ERROR filled when the statement
 * failed or COUNT is above EX_DAV_SQL_MAX_PARAMETERS.
 */
PGresult *ex_dav_sql(PGconn *connection, ex_db_error *error, const char *sql, int count, ...);

/* Takes the next sync_seq of the collection COLLECTION_ID into SEQUENCE (EX_DAV_SEQUENCE_SIZE bytes). Returns 0 or -1. */
int ex_dav_store_next_sequence(PGconn *connection, const ex_dav_store *store, const char *collection_id,
			       char *sequence, ex_db_error *error);

/*
 * Selects the resource NAME of COLLECTION_ID FOR UPDATE, with the columns
 * etag then COLUMNS (NULL for none, else a comma-separated list). Returns
 * the result, with no row when the resource does not exist, or NULL on error.
 */
PGresult *ex_dav_store_lock_resource(PGconn *connection, const ex_dav_store *store, const char *collection_id,
				     const char *name, const char *columns, ex_db_error *error);

/*
 * Deletes the resource NAME of COLLECTION_ID, records its tombstone at
 * SEQUENCE and deletes the dead properties stored under PROPERTY_PATH
 * for USER_ID. Returns 0 or -1.
 */
int ex_dav_store_remove_resource(PGconn *connection, const ex_dav_store *store, const char *tenant_id,
				 const char *user_id, const char *collection_id, const char *name,
				 const char *sequence, const char *property_path, ex_db_error *error);

/*
 * Deletes the tombstones of COLLECTION_ID older than DAYS days and raises
 * the collection's tombstones_pruned_seq to the highest modseq deleted, so
 * that sync-tokens older than it are rejected. Returns 0 or -1.
 */
int ex_dav_store_prune_tombstones(PGconn *connection, const ex_dav_store *store, const char *collection_id,
				  int days, ex_db_error *error);

/*
 * Deletes the collection NAME of USER_ID with its resources (by the
 * foreign key) and the dead properties stored below it. Returns 1 when
 * it was deleted, 0 when it does not exist, -1 on error.
 */
int ex_dav_store_remove_collection(PGconn *connection, const ex_dav_store *store, const char *user_id,
				   const char *name, ex_db_error *error);

#endif
