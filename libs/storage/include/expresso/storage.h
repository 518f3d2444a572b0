/*
 * Object storage for message bodies and drive files. Objects are named by
 * a tenant id and a key. The tenant becomes the first path component (or
 * key prefix), so one tenant's objects never share a name with another's.
 * Callers reach an object only through a database row that row-level
 * security has let through, and pass that row's tenant and key here.
 *
 * Backends: local disk (the default) and S3 (MinIO or another
 * S3-compatible server, path-style, signed with AWS Signature Version 4).
 *
 * Durability contract: an object is visible under its key only after
 * ex_storage_writer_commit() (or ex_storage_put / ex_storage_import_file)
 * returned 0. Then the local backend has fsynced it together with its
 * directory entry, and the S3 server has acknowledged it. A crash before
 * that leaves no object under the key. ex_storage_sweep_temporary()
 * removes the local backend's temporary files of interrupted writes.
 */
#ifndef EXPRESSO_STORAGE_H
#define EXPRESSO_STORAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ex_storage ex_storage;
typedef struct ex_storage_writer ex_storage_writer;
typedef struct ex_storage_reader ex_storage_reader;

enum {
	EX_STORAGE_MAX_KEY = 512, /* bytes */
	EX_STORAGE_ERROR_MAX = 256,
	EX_STORAGE_UPLOAD_ID_MAX = 1024, /* bytes of a multipart upload id, NUL included */
	EX_STORAGE_ETAG_MAX = 256,       /* bytes of a part's ETag, NUL included */
	EX_STORAGE_MAX_PARTS = 10000,    /* S3's maximum part count of one multipart upload */
	EX_STORAGE_MIN_PART_SIZE = 5 * 1024 * 1024, /* S3's minimum size of every part but the last */
};

typedef enum {
	EX_STORAGE_OK = 0,
	EX_STORAGE_NOT_FOUND,
	EX_STORAGE_INVALID_NAME, /* tenant is not a UUID, or the key is not a valid key */
	EX_STORAGE_TOO_LARGE,    /* ex_storage_read_all: object exceeds the caller's maximum */
	EX_STORAGE_IO_ERROR,     /* the message names the call that failed and the reason */
} ex_storage_status;

/*
 * Opens the local-disk backend rooted at ROOT (created if missing).
 * Returns NULL with a message in err.
 */
ex_storage *ex_storage_open_local(const char *root, char *err, size_t errlen);

/* Settings of the S3 backend. Objects are <bucket>/<tenant id>/<key>. */
typedef struct {
	const char *endpoint;   /* http:// or https:// URL of the server, e.g. http://127.0.0.1:9000 */
	const char *bucket;     /* an existing bucket */
	const char *region;     /* signing region; NULL or empty: us-east-1 */
	const char *access_key;
	const char *secret_key;
	const char *ca_file;    /* PEM CA bundle for https; NULL: the system's */
	uint64_t part_size;     /* bytes per multipart part and the largest single PutObject; at least 5 MiB */
	unsigned max_attempts;  /* tries of one request on transport errors and HTTP 500/502/503/504; 0: 1 */
	unsigned retry_delay_ms; /* delay before the first retry, doubled for each next one; 0: 100 */
	unsigned timeout_ms;    /* connect timeout, and the time a transfer may stall; 0: 30000 */
} ex_storage_s3_config;

/*
 * Opens the S3 backend. The bucket is not contacted here. Returns NULL
 * with a message in err when a setting is invalid.
 */
ex_storage *ex_storage_open_s3(const ex_storage_s3_config *config, char *err, size_t errlen);
void ex_storage_free(ex_storage *storage);

/*
 * Returns 1 when KEY is valid: 1..EX_STORAGE_MAX_KEY bytes of segments
 * separated by '/', each segment 1..255 bytes of [A-Za-z0-9._-], not "."
 * or "..", not starting with '.' (reserved for temporary files).
 */
int ex_storage_key_is_valid(const char *key);

/* Returns 1 when TENANT_ID is a lowercase or uppercase UUID in text form. */
int ex_storage_tenant_is_valid(const char *tenant_id);

/* Streaming write: begin, write any number of times, then commit or abort. */
ex_storage_status ex_storage_writer_begin(ex_storage *storage, const char *tenant_id, const char *key,
					  ex_storage_writer **out, char *err, size_t errlen);
ex_storage_status ex_storage_writer_write(ex_storage_writer *writer, const void *data, size_t length,
					  char *err, size_t errlen);
/* Returns the bytes written so far. */
uint64_t ex_storage_writer_size(const ex_storage_writer *writer);
/* Makes the object durable and visible, replacing any object of that key; frees the writer. */
ex_storage_status ex_storage_writer_commit(ex_storage_writer *writer, char *err, size_t errlen);
/*
 * Group commit of several objects. ex_storage_writer_commit_unsynced makes
 * the object visible under its key like ex_storage_writer_commit, but the
 * local backend leaves the fsync of its directory entry out, so a crash
 * may still take the object away. ex_storage_sync_objects then makes the
 * objects given durable, with one fsync per distinct directory: an fsync
 * of a directory covers every rename into it done before the call. A
 * caller that needs many objects durable at once (mail delivery) pays one
 * directory fsync for all of them. The S3 backend's commit is durable by
 * itself, and its sync does nothing.
 */
typedef struct {
	const char *tenant_id;
	const char *key;
} ex_storage_object_name;

ex_storage_status ex_storage_writer_commit_unsynced(ex_storage_writer *writer, char *err, size_t errlen);
ex_storage_status ex_storage_sync_objects(ex_storage *storage, const ex_storage_object_name *objects, size_t count,
					  char *err, size_t errlen);

/* Discards everything written; frees the writer. Safe on NULL. */
void ex_storage_writer_abort(ex_storage_writer *writer);

/* Writes a whole object from memory (begin, write, commit). */
ex_storage_status ex_storage_put(ex_storage *storage, const char *tenant_id, const char *key,
				 const void *data, size_t length, char *err, size_t errlen);

/*
 * Moves the file at PATH (which the caller wrote and no longer uses) into
 * the store as KEY, durably. The local backend renames it when PATH is on
 * the same filesystem as the store and copies it otherwise; PATH is gone
 * on success.
 */
ex_storage_status ex_storage_import_file(ex_storage *storage, const char *tenant_id, const char *key,
					 const char *path, char *err, size_t errlen);

/*
 * Multipart objects built part by part over time, each part read from a
 * range of a file, for uploads whose bytes arrive in chunks (tus). Every
 * part but the last must have at least EX_STORAGE_MIN_PART_SIZE bytes.
 * The object becomes visible only when ex_storage_parts_complete returns
 * EX_STORAGE_OK. Only the S3 backend has them; ex_storage_has_parts
 * returns 0 for the local backend, whose callers keep writing files.
 */
int ex_storage_has_parts(const ex_storage *storage);

/* Starts a multipart object for KEY and writes its upload id into UPLOAD_ID. */
ex_storage_status ex_storage_parts_begin(ex_storage *storage, const char *tenant_id, const char *key,
					 char upload_id[EX_STORAGE_UPLOAD_ID_MAX], char *err, size_t errlen);

/* Stores LENGTH bytes of FD from OFFSET as part PART_NUMBER (1..10000), replacing one of that number. */
ex_storage_status ex_storage_parts_put(ex_storage *storage, const char *tenant_id, const char *key,
				       const char *upload_id, unsigned part_number, int fd, uint64_t offset,
				       uint64_t length, char etag[EX_STORAGE_ETAG_MAX], char *err, size_t errlen);

/* Joins parts 1..COUNT, whose ETags are ETAGS in order, into the object KEY. */
ex_storage_status ex_storage_parts_complete(ex_storage *storage, const char *tenant_id, const char *key,
					    const char *upload_id, const char *const *etags, unsigned count,
					    char *err, size_t errlen);

/* Discards a multipart object and its parts. */
ex_storage_status ex_storage_parts_abort(ex_storage *storage, const char *tenant_id, const char *key,
					 const char *upload_id, char *err, size_t errlen);

/* Streaming read. */
ex_storage_status ex_storage_open_read(ex_storage *storage, const char *tenant_id, const char *key,
				       ex_storage_reader **out, uint64_t *size, char *err, size_t errlen);
/* Reads up to LENGTH bytes; returns the count, 0 at the end, -1 on error. */
ssize_t ex_storage_read(ex_storage_reader *reader, void *buffer, size_t length);
/*
 * Moves the reader COUNT bytes forward without returning them: the local
 * backend seeks, the S3 backend starts a ranged GET for a long jump.
 * Returns 0, or -1 on error or when the object ends first.
 */
int ex_storage_skip(ex_storage_reader *reader, uint64_t count);
void ex_storage_reader_close(ex_storage_reader *reader);

/*
 * Takes the open file descriptor of a reader over a local file, so that
 * the caller can send the object with sendfile(2) and then close it. The
 * reader reads nothing more but must still be closed. Returns -1 when the
 * backend streams from elsewhere (S3), and the reader then stays usable.
 */
int ex_storage_reader_steal_fd(ex_storage_reader *reader);

/*
 * Reads a whole object of at most MAX_SIZE bytes into a new buffer (NUL
 * terminated, not counted in *length) that the caller frees.
 */
ex_storage_status ex_storage_read_all(ex_storage *storage, const char *tenant_id, const char *key,
				      size_t max_size, char **data, size_t *length, char *err, size_t errlen);

/* Removes an object; removing a missing object returns EX_STORAGE_NOT_FOUND. */
ex_storage_status ex_storage_delete(ex_storage *storage, const char *tenant_id, const char *key,
				    char *err, size_t errlen);

/* Fills *size and returns EX_STORAGE_OK when the object exists. */
ex_storage_status ex_storage_stat(ex_storage *storage, const char *tenant_id, const char *key,
				  uint64_t *size, char *err, size_t errlen);

/*
 * Removes temporary files older than max_age_seconds left by interrupted
 * writes (a crash between begin and commit). Daemons call it at start.
 * Returns the number removed, or -1 on error.
 */
int ex_storage_sweep_temporary(ex_storage *storage, unsigned max_age_seconds);

#endif
