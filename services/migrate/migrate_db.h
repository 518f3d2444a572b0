/*
 * PostgreSQL connection helpers of expresso-migrate: connecting as the owner
 * role, rejecting roles that bypass row-level security, the advisory lock
 * that keeps two runners apart, and error texts built from libpq results.
 */
#ifndef EXPRESSO_MIGRATE_DB_H
#define EXPRESSO_MIGRATE_DB_H

#include <libpq-fe.h>
#include <stddef.h>

/* Advisory lock key held while migrating or seeding: "expresso" in ASCII. */
#define EX_MIGRATE_LOCK_KEY "7311717631666647919"

typedef struct {
	/* libpq URL or key=value string. Never logged, because it contains a password. */
	const char *url;
	/* Seconds to wait for the server to accept the connection. */
	int connect_timeout_s;
	/* Seconds to wait for another runner to release the lock. */
	int lock_timeout_s;
} ex_migrate_db_settings;

/*
 * Connects and checks that the role is neither superuser nor BYPASSRLS:
 * objects created by such a role would not be owned by the owner role, and
 * its reads would skip row-level security. Server notices are logged as
 * events. Returns the connection, or NULL after logging why
 * (database_unavailable or role_rejected).
 */
PGconn *ex_migrate_db_open(const ex_migrate_db_settings *settings);

/*
 * Takes the session advisory lock, waiting at most lock_timeout_s seconds.
 * Returns 0, or -1 with a message in error.
 */
int ex_migrate_db_lock(PGconn *connection, int lock_timeout_s, char *error, size_t error_size);

/* Releases the advisory lock; the server also releases it on disconnect. */
void ex_migrate_db_unlock(PGconn *connection);

/*
 * Runs a statement with text parameters (params may be NULL when count is
 * 0). Returns the result when it succeeded, or NULL with the server's
 * message in error. The caller clears the result.
 */
PGresult *ex_migrate_db_query(PGconn *connection, const char *sql, int count, const char *const *params,
			      char *error, size_t error_size);

/* Runs a statement without parameters and discards its result. Returns 0 or -1. */
int ex_migrate_db_exec(PGconn *connection, const char *sql, char *error, size_t error_size);

/* Writes "message (SQLSTATE xxxxx)" plus detail and hint, when present, of a failed result. */
void ex_migrate_db_describe(const PGresult *result, PGconn *connection, char *out, size_t out_size);

/* Rolls back the current transaction, ignoring errors (the connection may be broken). */
void ex_migrate_db_rollback(PGconn *connection);

#endif
