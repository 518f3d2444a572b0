/*
 * expresso-drive's shared state and the helpers its route files use:
 * settings, the database pool, object storage, the event bus, the token
 * verifier, the upload directory and the per-upload locks.
 */
#ifndef EXPRESSO_DRIVE_SERVICE_H
#define EXPRESSO_DRIVE_SERVICE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "expresso/authclient.h"
#include "expresso/daemon.h"
#include "expresso/storage.h"
#include "upload_buffers.h"
#include "upload_locks.h"

enum {
	EX_DRIVE_PATH_MAX = 1024,
};

#define EX_DRIVE_SESSION_COOKIE "expresso_session"

typedef struct {
	ex_db_pool *database;
	ex_bus *bus;
	ex_storage *storage;
	ex_auth_verifier *verifier;
	char *issuer;
	char *upload_dir;        /* <storage dir>/.uploads; one subdirectory per tenant */
	uint64_t max_upload_size; /* Tus-Max-Size, bytes */
	uint64_t max_chunk_size;  /* body limit of PATCH and POST, bytes */
	uint64_t upload_expiry_s; /* an upload expires this long after its last chunk */
	uint64_t multipart_max_age_s; /* on S3, an upload expires at the latest this long after its first part */
	uint64_t default_quota;   /* bytes for users without quota_bytes; 0: no quota */
	unsigned max_versions;    /* versions kept per file, the current one included */
	uint64_t trash_retention_s; /* a trashed item is purged this long after it was trashed */
	uint64_t purge_interval_ms;
	ex_drive_upload_locks locks;
	ex_upload_buffers buffers;
	pthread_t purge_thread;
	bool purge_running;
	pthread_mutex_t purge_mutex;
	pthread_cond_t purge_wake;
	bool stopping;
	/* Counters in /metrics; NULL (ignored by ex_counter_add) when the registry had no room. */
	ex_counter *uploads_created;
	ex_counter *uploads_completed;
	ex_counter *uploads_terminated;
	ex_counter *uploads_purged;
	ex_counter *upload_bytes;
	ex_counter *checksum_mismatches;
} ex_drive_service;

/* The authenticated caller of a request. */
typedef struct {
	ex_auth_claims claims;
	const char *tenant_id; /* from the token; borrowed from claims */
	const char *user_id;   /* sub; borrowed from claims */
} ex_drive_caller;

extern const ex_setting ex_drive_settings[];

int ex_drive_service_open(ex_drive_service *service, ex_daemon *daemon);

/* Opens the local or S3 object store that the settings name, or logs why it cannot and returns NULL. */
ex_storage *ex_drive_open_storage(const ex_config *config);
void ex_drive_service_close(ex_drive_service *service);

/* Verifies the request's token, or sends 401 (or 503) and returns false when it fails. */
bool ex_drive_authenticate(ex_drive_service *service, ex_http_request *request, ex_drive_caller *caller);
void ex_drive_caller_clear(ex_drive_caller *caller);

/* Sends 500 for a database failure and logs it once. */
void ex_drive_respond_database_error(ex_http_request *request, const char *operation, const ex_db_error *error);

/*
 * Runs one statement with bound text parameters in a transaction bound to
 * TENANT_ID, in one round trip (ex_db_tenant_statement). Returns the
 * result (the caller clears it) or NULL with ERROR filled in.
 */
PGresult *ex_drive_query(ex_drive_service *service, const char *tenant_id, const char *sql, int param_count,
			 const char *const *params, ex_db_error *error);

/* Returns true when TEXT is a UUID in text form (either case). */
bool ex_drive_is_uuid(const char *text);

/* Writes a new random (version 4) UUID; returns 0 or -1. */
int ex_drive_new_uuid(char out[EX_DRIVE_UUID_TEXT + 1]);

/* Formats SECONDS since the epoch as an HTTP-date (RFC 9110 IMF-fixdate). */
void ex_drive_http_date(char *out, size_t size, int64_t seconds);

/*
 * Deletes from object storage the key in COLUMN of every row of RESULT
 * (rows whose database records are already gone). A failure is logged and
 * leaves an object without a row, which costs space but loses nothing.
 */
void ex_drive_delete_objects(ex_drive_service *service, const char *tenant_id, const PGresult *result, int column);

/* Route registration, one file each. */
int ex_drive_add_tus_routes(ex_drive_service *service, ex_http_server *http);
int ex_drive_add_file_routes(ex_drive_service *service, ex_http_server *http);
int ex_drive_add_manage_routes(ex_drive_service *service, ex_http_server *http);
int ex_drive_add_share_routes(ex_drive_service *service, ex_http_server *http);

/* Purges the trashed items of every tenant with an upload directory that are past the retention. */
int ex_drive_trash_purge_expired(ex_drive_service *service);

/* Starts and stops the thread that purges expired uploads. */
int ex_drive_purge_start(ex_drive_service *service);
void ex_drive_purge_stop(ex_drive_service *service);

#endif
