/*
 * An upload's bytes sent to object storage as multipart parts while they
 * arrive; see upload_parts.h. The upload file stays the durable copy of
 * each part until the part is recorded, so a failed part loses nothing:
 * the next chunk or the completion sends the same bytes again under the
 * same part number. A recorded part's bytes are punched out of the file.
 */
#include "upload_parts.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expresso/log.h"

static void log_storage_error(const char *operation, const char *upload_id, const char *err)
{
	ex_log(EX_LOG_ERROR, "upload_parts_failed", "{s:s, s:s, s:s}", "operation", operation, "upload", upload_id,
	       "error", err);
}

static void log_database_error(const char *operation, const char *upload_id, const ex_db_error *error)
{
	ex_log(EX_LOG_ERROR, "database_failed", "{s:s, s:s, s:s, s:s}", "operation", operation, "upload", upload_id,
	       "sqlstate", error->sqlstate, "error", error->message);
}

static void object_key(const ex_drive_upload *upload, char key[EX_STORAGE_MAX_KEY])
{
	snprintf(key, EX_STORAGE_MAX_KEY, "drive/%s", upload->id);
}

/* Reads where the last part ends and its number (0 and 0 without parts). Returns 0 or -1. */
static int read_last_part(ex_drive_service *service, const char *tenant_id, const ex_drive_upload *upload,
			  int64_t *covered, unsigned *last_number)
{
	const char *params[] = { upload->id };
	ex_db_error error;

	PGresult *result = ex_drive_query(service, tenant_id,
					  "SELECT COALESCE(max(end_offset), 0), COALESCE(max(part_number), 0) "
					  "FROM drive_upload_parts WHERE upload_id = $1",
					  1, params, &error);
	if (result == NULL) {
		log_database_error("read upload parts", upload->id, &error);
		return -1;
	}
	*covered = strtoll(PQgetvalue(result, 0, 0), NULL, 10);
	*last_number = (unsigned)strtoul(PQgetvalue(result, 0, 1), NULL, 10);
	PQclear(result);
	return 0;
}

/*
 * Starts the upload's multipart object and records its id in the row,
 * with the deadline until which the store keeps its parts. The upload
 * then expires by that deadline at the latest.
 */
static int begin_object(ex_drive_service *service, const char *tenant_id, ex_drive_upload *upload)
{
	static const char sql[] =
		"UPDATE drive_uploads SET storage_upload_id = $2, "
		"       storage_upload_deadline = now() + make_interval(secs => $3::double precision), "
		"       expires_at = LEAST(expires_at, now() + make_interval(secs => $3::double precision)) "
		" WHERE id = $1 "
		"RETURNING extract(epoch FROM expires_at)::bigint";
	char key[EX_STORAGE_MAX_KEY];
	char err[EX_STORAGE_ERROR_MAX];
	char max_age[24];
	ex_db_error error;

	object_key(upload, key);
	if (ex_storage_parts_begin(service->storage, tenant_id, key, upload->storage_upload_id, err, sizeof(err)) !=
	    EX_STORAGE_OK) {
		log_storage_error("begin", upload->id, err);
		upload->storage_upload_id[0] = '\0';
		return -1;
	}
	snprintf(max_age, sizeof(max_age), "%" PRIu64, service->multipart_max_age_s);
	const char *params[] = { upload->id, upload->storage_upload_id, max_age };
	PGresult *result = ex_drive_query(service, tenant_id, sql, 3, params, &error);
	if (result == NULL)
		log_database_error("record multipart upload", upload->id, &error);
	if (result == NULL || PQntuples(result) != 1) {
		/* No row: the upload was removed meanwhile, so its multipart upload has no use either. */
		PQclear(result);
		ex_storage_parts_abort(service->storage, tenant_id, key, upload->storage_upload_id, err, sizeof(err));
		upload->storage_upload_id[0] = '\0';
		return -1;
	}
	upload->expires_at = strtoll(PQgetvalue(result, 0, 0), NULL, 10);
	PQclear(result);
	return 0;
}

/*
 * Frees the disk blocks of bytes FIRST..END of the upload file once they
 * are a recorded part, which S3 stored durably and which is never read
 * from the file again. The file keeps its size, so offsets do not move,
 * and the local disk holds only the bytes not yet sent. A filesystem
 * without hole punching keeps the blocks until the file is removed.
 */
static void release_sent_bytes(int fd, const char *path, int64_t first, int64_t end)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)first, (off_t)(end - first)) == 0)
		return;
	if (errno != EOPNOTSUPP)
		ex_log(EX_LOG_WARN, "upload_file_failed", "{s:s, s:s, s:s}", "operation", "punch hole", "path", path,
		       "error", strerror(errno));
}

/* Sends bytes FIRST..END of the upload file as part NUMBER and records it. */
static int send_part(ex_drive_service *service, const char *tenant_id, const ex_drive_upload *upload, unsigned number,
		     int64_t first, int64_t end)
{
	char key[EX_STORAGE_MAX_KEY];
	char path[EX_DRIVE_PATH_MAX];
	char etag[EX_STORAGE_ETAG_MAX];
	char err[EX_STORAGE_ERROR_MAX];
	ex_db_error error;

	object_key(upload, key);
	if (ex_drive_upload_path(service, tenant_id, upload->id, path, sizeof(path)) != 0)
		return -1;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ex_log(EX_LOG_ERROR, "upload_file_failed", "{s:s, s:s, s:s}", "operation", "open", "path", path, "error",
		       strerror(errno));
		return -1;
	}
	ex_storage_status status = ex_storage_parts_put(service->storage, tenant_id, key, upload->storage_upload_id,
							number, fd, (uint64_t)first, (uint64_t)(end - first), etag,
							err, sizeof(err));
	if (status != EX_STORAGE_OK) {
		close(fd);
		log_storage_error("put part", upload->id, err);
		return -1;
	}

	char number_text[16];
	char end_text[24];
	snprintf(number_text, sizeof(number_text), "%u", number);
	snprintf(end_text, sizeof(end_text), "%" PRId64, end);
	const char *params[] = { tenant_id, upload->id, number_text, end_text, etag };
	PGresult *result = ex_drive_query(service, tenant_id,
					  "INSERT INTO drive_upload_parts (tenant_id, upload_id, part_number, end_offset, etag) "
					  "VALUES ($1, $2, $3::integer, $4::bigint, $5) "
					  "ON CONFLICT (upload_id, part_number) DO UPDATE "
					  "SET end_offset = EXCLUDED.end_offset, etag = EXCLUDED.etag",
					  5, params, &error);
	if (result == NULL) {
		close(fd);
		log_database_error("record upload part", upload->id, &error);
		return -1;
	}
	PQclear(result);
	release_sent_bytes(fd, path, first, end);
	close(fd);
	ex_log(EX_LOG_DEBUG, "upload_part_sent", "{s:s, s:i, s:I}", "upload", upload->id, "part", (int)number, "bytes",
	       (json_int_t)(end - first));
	return 0;
}

int ex_drive_upload_send_parts(ex_drive_service *service, const char *tenant_id, ex_drive_upload *upload, bool last)
{
	int64_t covered = 0;
	unsigned last_number = 0;

	if (!ex_storage_has_parts(service->storage) || upload->concat == EX_TUS_CONCAT_PARTIAL)
		return 0;
	if (read_last_part(service, tenant_id, upload, &covered, &last_number) != 0)
		return -1;
	int64_t pending = upload->offset - covered;
	if (pending <= 0 || (!last && pending < EX_STORAGE_MIN_PART_SIZE))
		return 0;
	/* The part count is bounded, so the last allowed part waits for the whole rest of the upload. */
	if (!last && last_number + 1 >= EX_STORAGE_MAX_PARTS)
		return 0;
	if (upload->storage_upload_id[0] == '\0' && begin_object(service, tenant_id, upload) != 0)
		return -1;
	return send_part(service, tenant_id, upload, last_number + 1, covered, upload->offset);
}

/* Reads the ETags of every part in order into a new array of COUNT strings inside one PGresult (*holder). */
static const char **read_etags(ex_drive_service *service, const char *tenant_id, const ex_drive_upload *upload,
			       unsigned *count, PGresult **holder)
{
	const char *params[] = { upload->id };
	ex_db_error error;

	*holder = ex_drive_query(service, tenant_id,
				 "SELECT etag FROM drive_upload_parts WHERE upload_id = $1 ORDER BY part_number", 1,
				 params, &error);
	if (*holder == NULL) {
		log_database_error("read upload parts", upload->id, &error);
		return NULL;
	}
	*count = (unsigned)PQntuples(*holder);
	const char **etags = calloc(*count ? *count : 1, sizeof(*etags));
	for (unsigned i = 0; etags != NULL && i < *count; i++)
		etags[i] = PQgetvalue(*holder, (int)i, 0);
	return etags;
}

int ex_drive_upload_complete_parts(ex_drive_service *service, const char *tenant_id, ex_drive_upload *upload,
				   const char *key)
{
	char err[EX_STORAGE_ERROR_MAX];
	char path[EX_DRIVE_PATH_MAX];
	uint64_t stored_size = 0;
	unsigned count = 0;
	PGresult *holder = NULL;

	if (!ex_storage_has_parts(service->storage) || upload->storage_upload_id[0] == '\0')
		return 1;
	if (ex_drive_upload_path(service, tenant_id, upload->id, path, sizeof(path)) != 0)
		return -1;
	/* An earlier attempt joined the parts but stopped before the upload file was removed. */
	if (ex_storage_stat(service->storage, tenant_id, key, &stored_size, err, sizeof(err)) == EX_STORAGE_OK &&
	    stored_size == (uint64_t)upload->length) {
		unlink(path);
		return 0;
	}
	if (ex_drive_upload_send_parts(service, tenant_id, upload, true) != 0)
		return -1;

	const char **etags = read_etags(service, tenant_id, upload, &count, &holder);
	int result = -1;
	if (etags != NULL && ex_storage_parts_complete(service->storage, tenant_id, key, upload->storage_upload_id,
						       etags, count, err, sizeof(err)) == EX_STORAGE_OK)
		result = 0;
	else if (etags != NULL)
		log_storage_error("complete", upload->id, err);
	free(etags);
	PQclear(holder);
	if (result == 0 && unlink(path) != 0 && errno != ENOENT)
		ex_log(EX_LOG_WARN, "upload_file_failed", "{s:s, s:s, s:s}", "operation", "unlink", "path", path, "error",
		       strerror(errno));
	return result;
}

/*
 * Runs on termination and on expiry. tests/e2e/drive-swift.test.mjs checks
 * that the parts are gone from Swift's S3 API afterwards. s3rver, the S3
 * server of the other S3 tests, rejects AbortMultipartUpload with 405.
 */
void ex_drive_upload_abort_parts(ex_drive_service *service, const char *tenant_id, const char *upload_id,
				 const char *storage_upload_id)
{
	char key[EX_STORAGE_MAX_KEY];
	char err[EX_STORAGE_ERROR_MAX];

	if (storage_upload_id == NULL || storage_upload_id[0] == '\0' || !ex_storage_has_parts(service->storage))
		return;
	snprintf(key, sizeof(key), "drive/%s", upload_id);
	if (ex_storage_parts_abort(service->storage, tenant_id, key, storage_upload_id, err, sizeof(err)) !=
	    EX_STORAGE_OK)
		log_storage_error("abort", upload_id, err);
}
