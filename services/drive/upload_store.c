/*
 * The state of tus uploads in drive_uploads and their bytes in upload
 * files. Order of durable steps, so that a crash at any point leaves a
 * state the next request can finish or the purge can remove:
 *   create:   upload file (fsynced with its directory), then the row;
 *   append:   bytes written and fsynced, then the row's offset advanced
 *             (upload_chunk.c);
 *   complete: upload file moved into object storage, then one transaction
 *             creating the file or version and marking the upload done.
 */
#include "upload_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "expresso/log.h"
#include "upload_parts.h"

int ex_drive_upload_path(const ex_drive_service *service, const char *tenant_id, const char *id, char *out,
			 size_t size)
{
	int written = id ? snprintf(out, size, "%s/%s/%s", service->upload_dir, tenant_id, id)
			 : snprintf(out, size, "%s/%s", service->upload_dir, tenant_id);
	return written < 0 || (size_t)written >= size ? -1 : 0;
}

static void log_file_error(const char *operation, const char *path, int code)
{
	ex_log(EX_LOG_ERROR, "upload_file_failed", "{s:s, s:s, s:s}", "operation", operation, "path", path, "error",
	       strerror(code));
}

static void log_database_error(const char *operation, const ex_db_error *error)
{
	ex_log(EX_LOG_ERROR, "database_failed", "{s:s, s:s, s:s}", "operation", operation, "sqlstate",
	       error->sqlstate, "error", error->message);
}

static int fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int result = fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return result;
}

static uint64_t parse_u64(const char *text)
{
	return text && text[0] ? strtoull(text, NULL, 10) : 0;
}

int ex_drive_usage_read(ex_drive_service *service, const char *tenant_id, const char *user_id, ex_drive_usage *out,
			ex_db_error *error)
{
	static const char sql[] =
		"SELECT (SELECT quota_bytes FROM users WHERE id = $1), "
		"COALESCE((SELECT sum(v.size) FROM drive_file_versions v JOIN drive_files f ON f.id = v.file_id "
		"          WHERE f.owner_id = $1), 0), "
		"COALESCE((SELECT sum(COALESCE(upload_length, upload_offset)) FROM drive_uploads "
		"          WHERE owner_id = $1 AND state = 'uploading' AND expires_at > now()), 0)";
	const char *params[] = { user_id };

	PGresult *result = ex_drive_query(service, tenant_id, sql, 1, params, error);
	if (result == NULL)
		return -1;
	out->quota_bytes = PQgetisnull(result, 0, 0) ? service->default_quota : parse_u64(PQgetvalue(result, 0, 0));
	out->used_bytes = parse_u64(PQgetvalue(result, 0, 1));
	out->reserved_bytes = parse_u64(PQgetvalue(result, 0, 2));
	PQclear(result);
	return 0;
}

int ex_drive_folder_exists(ex_drive_service *service, const char *tenant_id, const char *user_id,
			   const char *folder_id, ex_db_error *error)
{
	const char *params[] = { folder_id, user_id };
	PGresult *result = ex_drive_query(service, tenant_id,
					  "SELECT 1 FROM drive_folders WHERE id = $1 AND owner_id = $2 AND trashed_at IS NULL "
					  "AND NOT drive_folder_in_trash(parent_id)",
					  2, params, error);
	if (result == NULL)
		return -1;
	int found = PQntuples(result) > 0;
	PQclear(result);
	return found;
}

/* Creates the empty upload file and makes its directory entry durable. */
static int create_upload_file(const ex_drive_service *service, const char *tenant_id, const char *id)
{
	char directory[EX_DRIVE_PATH_MAX];
	char path[EX_DRIVE_PATH_MAX];

	if (ex_drive_upload_path(service, tenant_id, NULL, directory, sizeof(directory)) != 0 ||
	    ex_drive_upload_path(service, tenant_id, id, path, sizeof(path)) != 0)
		return -1;
	if (mkdir(directory, 0700) != 0 && errno != EEXIST) {
		log_file_error("mkdir", directory, errno);
		return -1;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_file_error("create", path, errno);
		return -1;
	}
	close(fd);
	if (fsync_path(directory, O_RDONLY | O_DIRECTORY) != 0 || fsync_path(service->upload_dir, O_RDONLY | O_DIRECTORY) != 0) {
		log_file_error("fsync", directory, errno);
		unlink(path);
		return -1;
	}
	return 0;
}

ex_upload_result ex_drive_upload_create(ex_drive_service *service, const char *tenant_id, const char *user_id,
					ex_drive_upload *upload)
{
	static const char sql[] =
		"INSERT INTO drive_uploads (id, tenant_id, owner_id, folder_id, filename, filetype, metadata, "
		"                           upload_length, expires_at, concat, concat_header) "
		"VALUES ($1, $2, $3, NULLIF($4, '')::uuid, NULLIF($5, ''), $6, $7, NULLIF($8, '')::bigint, "
		"        now() + make_interval(secs => $9::double precision), NULLIF($10, ''), $11) "
		"RETURNING extract(epoch FROM expires_at)::bigint";
	char length[24] = "";
	char expiry[24];
	char path[EX_DRIVE_PATH_MAX];
	ex_db_error error;

	if (ex_drive_new_uuid(upload->id) != 0)
		return EX_UPLOAD_FAILED;
	if (upload->length >= 0)
		snprintf(length, sizeof(length), "%" PRId64, upload->length);
	snprintf(expiry, sizeof(expiry), "%" PRIu64, service->upload_expiry_s);
	if (create_upload_file(service, tenant_id, upload->id) != 0)
		return EX_UPLOAD_FAILED;

	const char *concat = upload->concat == EX_TUS_CONCAT_PARTIAL ? "partial"
			     : upload->concat == EX_TUS_CONCAT_FINAL ? "final"
								      : "";
	const char *params[] = { upload->id, tenant_id, user_id, upload->folder_id, upload->filename,
				 upload->filetype, upload->metadata, length, expiry, concat, upload->concat_header };
	PGresult *result = ex_drive_query(service, tenant_id, sql, 11, params, &error);
	if (result == NULL) {
		log_database_error("create upload", &error);
		if (ex_drive_upload_path(service, tenant_id, upload->id, path, sizeof(path)) == 0)
			unlink(path);
		return EX_UPLOAD_FAILED;
	}
	upload->offset = 0;
	upload->completed = false;
	upload->expired = false;
	upload->expires_at = strtoll(PQgetvalue(result, 0, 0), NULL, 10);
	upload->file_id[0] = '\0';
	upload->version = 0;
	PQclear(result);
	ex_counter_add(service->uploads_created, 1);
	ex_log(EX_LOG_INFO, "upload_created", "{s:s, s:I}", "upload", upload->id, "length", (json_int_t)upload->length);
	return EX_UPLOAD_OK;
}

static void copy_column(char *out, size_t size, PGresult *result, int column)
{
	snprintf(out, size, "%s", PQgetvalue(result, 0, column));
}

ex_upload_result ex_drive_upload_load(ex_drive_service *service, const char *tenant_id, const char *user_id,
				      const char *id, ex_drive_upload *out)
{
	static const char sql[] =
		"SELECT id::text, COALESCE(folder_id::text, ''), COALESCE(filename, ''), filetype, metadata, "
		"       COALESCE(upload_length, -1), upload_offset, state = 'completed', expires_at <= now(), "
		"       extract(epoch FROM expires_at)::bigint, COALESCE(file_id::text, ''), COALESCE(version, 0), "
		"       COALESCE(concat, ''), concat_header, COALESCE(storage_upload_id, '') "
		"  FROM drive_uploads WHERE id = $1 AND owner_id = $2";
	const char *params[] = { id, user_id };
	ex_db_error error;

	if (!ex_drive_is_uuid(id))
		return EX_UPLOAD_NOT_FOUND;
	PGresult *result = ex_drive_query(service, tenant_id, sql, 2, params, &error);
	if (result == NULL) {
		log_database_error("load upload", &error);
		return EX_UPLOAD_FAILED;
	}
	if (PQntuples(result) == 0) {
		PQclear(result);
		return EX_UPLOAD_NOT_FOUND;
	}
	copy_column(out->id, sizeof(out->id), result, 0);
	copy_column(out->folder_id, sizeof(out->folder_id), result, 1);
	copy_column(out->filename, sizeof(out->filename), result, 2);
	copy_column(out->filetype, sizeof(out->filetype), result, 3);
	copy_column(out->metadata, sizeof(out->metadata), result, 4);
	out->length = strtoll(PQgetvalue(result, 0, 5), NULL, 10);
	out->offset = strtoll(PQgetvalue(result, 0, 6), NULL, 10);
	out->completed = PQgetvalue(result, 0, 7)[0] == 't';
	out->expired = !out->completed && PQgetvalue(result, 0, 8)[0] == 't';
	out->expires_at = strtoll(PQgetvalue(result, 0, 9), NULL, 10);
	copy_column(out->file_id, sizeof(out->file_id), result, 10);
	out->version = (int)strtol(PQgetvalue(result, 0, 11), NULL, 10);
	const char *concat = PQgetvalue(result, 0, 12);
	out->concat = strcmp(concat, "partial") == 0 ? EX_TUS_CONCAT_PARTIAL
		      : strcmp(concat, "final") == 0 ? EX_TUS_CONCAT_FINAL
						      : EX_TUS_CONCAT_NONE;
	copy_column(out->concat_header, sizeof(out->concat_header), result, 13);
	copy_column(out->storage_upload_id, sizeof(out->storage_upload_id), result, 14);
	PQclear(result);
	return EX_UPLOAD_OK;
}

ex_upload_result ex_drive_upload_check_offset(ex_drive_service *service, const char *tenant_id,
					     const ex_drive_upload *upload)
{
	const char *params[] = { upload->id };
	ex_db_error error;

	PGresult *result = ex_drive_query(service, tenant_id,
					  "SELECT upload_offset FROM drive_uploads WHERE id = $1 AND state = 'uploading'",
					  1, params, &error);
	if (result == NULL) {
		log_database_error("read upload offset", &error);
		return EX_UPLOAD_FAILED;
	}
	bool unchanged = PQntuples(result) == 1 && strtoll(PQgetvalue(result, 0, 0), NULL, 10) == upload->offset;
	PQclear(result);
	return unchanged ? EX_UPLOAD_OK : EX_UPLOAD_CONFLICT;
}

ex_upload_result ex_drive_upload_advance_offset(ex_drive_service *service, const char *tenant_id, ex_drive_upload *upload,
				       int64_t next, int64_t new_length)
{
	static const char sql[] =
		"UPDATE drive_uploads SET upload_offset = $3::bigint, "
		"       upload_length = COALESCE(upload_length, NULLIF($4, '')::bigint), "
		"       expires_at = LEAST(now() + make_interval(secs => $5::double precision), "
		"                          COALESCE(storage_upload_deadline, 'infinity')) "
		" WHERE id = $1 AND upload_offset = $2::bigint AND state = 'uploading' "
		"RETURNING extract(epoch FROM expires_at)::bigint";
	char old_offset[24];
	char offset[24];
	char length_text[24] = "";
	char expiry[24];
	ex_db_error error;

	snprintf(old_offset, sizeof(old_offset), "%" PRId64, upload->offset);
	snprintf(offset, sizeof(offset), "%" PRId64, next);
	if (new_length >= 0)
		snprintf(length_text, sizeof(length_text), "%" PRId64, new_length);
	snprintf(expiry, sizeof(expiry), "%" PRIu64, service->upload_expiry_s);
	const char *params[] = { upload->id, old_offset, offset, length_text, expiry };
	PGresult *result = ex_drive_query(service, tenant_id, sql, 5, params, &error);
	if (result == NULL) {
		log_database_error("advance upload offset", &error);
		return EX_UPLOAD_FAILED;
	}
	if (PQntuples(result) == 0) {
		PQclear(result);
		return EX_UPLOAD_CONFLICT;
	}
	upload->expires_at = strtoll(PQgetvalue(result, 0, 0), NULL, 10);
	PQclear(result);
	upload->offset = next;
	if (new_length >= 0 && upload->length < 0)
		upload->length = new_length;
	return EX_UPLOAD_OK;
}

typedef struct {
	const char *tenant_id;
	const char *user_id;
	const ex_drive_upload *upload;
	const char *storage_key;
	char file_id[EX_DRIVE_UUID_TEXT + 1];
	int version;
	bool completed_now; /* false when an earlier attempt had completed it */
	unsigned max_versions;
	PGresult *pruned;   /* storage_key of the old versions this completion removed */
} complete_work;

static PGresult *exec_one(PGconn *connection, const char *sql, int count, const char *const *params,
			  ex_db_error *error)
{
	return ex_db_exec(connection, sql, count, params, error);
}

static int complete_in_transaction(PGconn *connection, void *context, ex_db_error *error)
{
	complete_work *work = context;
	const ex_drive_upload *upload = work->upload;
	char size[24];
	char version[16];

	work->completed_now = false;
	const char *lock_params[] = { upload->id };
	PGresult *result = exec_one(connection,
				    "SELECT state = 'completed', COALESCE(file_id::text, ''), COALESCE(version, 0) "
				    "FROM drive_uploads WHERE id = $1 FOR UPDATE",
				    1, lock_params, error);
	if (result == NULL)
		return -1;
	if (PQntuples(result) == 0) {
		PQclear(result);
		snprintf(error->message, sizeof(error->message), "upload %s disappeared", upload->id);
		error->sqlstate[0] = '\0';
		return -1;
	}
	if (PQgetvalue(result, 0, 0)[0] == 't') {
		snprintf(work->file_id, sizeof(work->file_id), "%s", PQgetvalue(result, 0, 1));
		work->version = (int)strtol(PQgetvalue(result, 0, 2), NULL, 10);
		PQclear(result);
		return 0;
	}
	PQclear(result);

	snprintf(size, sizeof(size), "%" PRId64, upload->length);
	const char *find_params[] = { work->user_id, upload->folder_id, upload->filename };
	result = exec_one(connection,
			  "SELECT id::text FROM drive_files WHERE owner_id = $1 "
			  "AND folder_id IS NOT DISTINCT FROM NULLIF($2, '')::uuid AND name = $3 AND trashed_at IS NULL "
			  "FOR UPDATE",
			  3, find_params, error);
	if (result == NULL)
		return -1;
	if (PQntuples(result) > 0) {
		snprintf(work->file_id, sizeof(work->file_id), "%s", PQgetvalue(result, 0, 0));
		PQclear(result);
		const char *update_params[] = { work->file_id, size, upload->filetype };
		result = exec_one(connection,
				  "UPDATE drive_files SET current_version = (SELECT max(version) + 1 FROM drive_file_versions "
				  "WHERE file_id = $1), size = $2::bigint, "
				  "content_type = $3, updated_at = now() WHERE id = $1 RETURNING current_version",
				  3, update_params, error);
	} else {
		PQclear(result);
		const char *insert_params[] = { work->tenant_id, work->user_id, upload->folder_id, upload->filename,
						size, upload->filetype };
		result = exec_one(connection,
				  "INSERT INTO drive_files (tenant_id, owner_id, folder_id, name, size, content_type) "
				  "VALUES ($1, $2, NULLIF($3, '')::uuid, $4, $5::bigint, $6) "
				  "RETURNING current_version, id::text",
				  6, insert_params, error);
		if (result != NULL)
			snprintf(work->file_id, sizeof(work->file_id), "%s", PQgetvalue(result, 0, 1));
	}
	if (result == NULL)
		return -1;
	work->version = (int)strtol(PQgetvalue(result, 0, 0), NULL, 10);
	PQclear(result);

	snprintf(version, sizeof(version), "%d", work->version);
	const char *version_params[] = { upload->id, work->tenant_id, work->file_id, version, size,
					 upload->filetype, work->storage_key, work->user_id };
	result = exec_one(connection,
			  "INSERT INTO drive_file_versions (id, tenant_id, file_id, version, size, content_type, "
			  "storage_key, created_by) VALUES ($1, $2, $3, $4::integer, $5::bigint, $6, $7, $8)",
			  8, version_params, error);
	if (result == NULL)
		return -1;
	PQclear(result);

	const char *done_params[] = { upload->id, work->file_id, version };
	result = exec_one(connection,
			  "UPDATE drive_uploads SET state = 'completed', file_id = $2, version = $3::integer "
			  "WHERE id = $1",
			  3, done_params, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	/* Keeps the max_versions newest versions and the current one. */
	char keep[16];
	snprintf(keep, sizeof(keep), "%u", work->max_versions);
	const char *prune_params[] = { work->file_id, keep };
	work->pruned = exec_one(connection,
				"DELETE FROM drive_file_versions WHERE file_id = $1 AND version NOT IN ("
				"  SELECT version FROM drive_file_versions WHERE file_id = $1 "
				"   ORDER BY version DESC LIMIT $2::integer) "
				"  AND version <> (SELECT current_version FROM drive_files WHERE id = $1) "
				"RETURNING storage_key",
				2, prune_params, error);
	if (work->pruned == NULL)
		return -1;
	work->completed_now = true;
	return 0;
}

/*
 * Moves the upload file into object storage unless an earlier attempt
 * already did: by joining the parts already sent (upload_parts.c), or else
 * by importing the file.
 */
static int store_upload_bytes(ex_drive_service *service, const char *tenant_id, ex_drive_upload *upload,
			      const char *key)
{
	char path[EX_DRIVE_PATH_MAX];
	char err[EX_STORAGE_ERROR_MAX];
	struct stat info;
	uint64_t stored_size = 0;

	if (ex_drive_upload_path(service, tenant_id, upload->id, path, sizeof(path)) != 0)
		return -1;
	int sent = ex_drive_upload_complete_parts(service, tenant_id, upload, key);
	if (sent <= 0)
		return sent;
	if (stat(path, &info) != 0) {
		if (errno == ENOENT &&
		    ex_storage_stat(service->storage, tenant_id, key, &stored_size, err, sizeof(err)) == EX_STORAGE_OK &&
		    stored_size == (uint64_t)upload->length)
			return 0;
		log_file_error("stat", path, errno);
		return -1;
	}
	/* A chunk written before a crash but never acknowledged may lie past the offset. */
	if ((uint64_t)info.st_size != (uint64_t)upload->length && truncate(path, (off_t)upload->length) != 0) {
		log_file_error("truncate", path, errno);
		return -1;
	}
	if (ex_storage_import_file(service->storage, tenant_id, key, path, err, sizeof(err)) != EX_STORAGE_OK) {
		ex_log(EX_LOG_ERROR, "storage_import_failed", "{s:s, s:s, s:s}", "upload", upload->id, "key", key,
		       "error", err);
		return -1;
	}
	return 0;
}

static void publish_uploaded(ex_drive_service *service, const char *tenant_id, const char *user_id,
			     const ex_drive_upload *upload, const complete_work *work)
{
	char err[256];

	if (service->bus == NULL)
		return;
	json_t *event = json_pack("{s:s, s:s, s:i, s:s, s:s, s:I, s:s, s:s?}", "file_id", work->file_id,
				  "upload_id", upload->id, "version", work->version, "owner_id", user_id, "name",
				  upload->filename, "size", (json_int_t)upload->length, "content_type",
				  upload->filetype, "folder_id", upload->folder_id[0] ? upload->folder_id : NULL);
	if (event == NULL)
		return;
	if (ex_bus_publish(service->bus, tenant_id, "drive", "uploaded", event, err, sizeof(err)) != 0)
		ex_log(EX_LOG_ERROR, "event_publish_failed", "{s:s, s:s, s:s}", "event", "drive.uploaded", "file",
		       work->file_id, "error", err);
	json_decref(event);
}

ex_upload_result ex_drive_upload_complete(ex_drive_service *service, const char *tenant_id, const char *user_id,
					  ex_drive_upload *upload)
{
	char key[EX_STORAGE_MAX_KEY];
	ex_db_error error;

	if (upload->completed)
		return EX_UPLOAD_OK;
	snprintf(key, sizeof(key), "drive/%s", upload->id);
	if (store_upload_bytes(service, tenant_id, upload, key) != 0)
		return EX_UPLOAD_FAILED;

	complete_work work = { .tenant_id = tenant_id, .user_id = user_id, .upload = upload, .storage_key = key,
			       .max_versions = service->max_versions };
	if (ex_db_tenant_transaction(service->database, tenant_id, EX_DB_READ_COMMITTED, complete_in_transaction,
				     &work, &error) != 0) {
		PQclear(work.pruned);
		log_database_error("complete upload", &error);
		return EX_UPLOAD_FAILED;
	}
	ex_drive_delete_objects(service, tenant_id, work.pruned, 0);
	PQclear(work.pruned);
	upload->completed = true;
	snprintf(upload->file_id, sizeof(upload->file_id), "%s", work.file_id);
	upload->version = work.version;
	if (work.completed_now) {
		ex_counter_add(service->uploads_completed, 1);
		ex_log(EX_LOG_INFO, "upload_completed", "{s:s, s:s, s:i, s:I}", "upload", upload->id, "file",
		       work.file_id, "version", work.version, "size", (json_int_t)upload->length);
		publish_uploaded(service, tenant_id, user_id, upload, &work);
	}
	return EX_UPLOAD_OK;
}

ex_upload_result ex_drive_upload_terminate(ex_drive_service *service, const char *tenant_id, const char *user_id,
					   const ex_drive_upload *upload)
{
	const char *params[] = { upload->id, user_id };
	char path[EX_DRIVE_PATH_MAX];
	ex_db_error error;

	PGresult *result = ex_drive_query(service, tenant_id,
					  "DELETE FROM drive_uploads WHERE id = $1 AND owner_id = $2 RETURNING id",
					  2, params, &error);
	if (result == NULL) {
		log_database_error("terminate upload", &error);
		return EX_UPLOAD_FAILED;
	}
	int deleted = PQntuples(result);
	PQclear(result);
	if (deleted == 0)
		return EX_UPLOAD_NOT_FOUND;
	if (!upload->completed)
		ex_drive_upload_abort_parts(service, tenant_id, upload->id, upload->storage_upload_id);
	if (!upload->completed && ex_drive_upload_path(service, tenant_id, upload->id, path, sizeof(path)) == 0 &&
	    unlink(path) != 0 && errno != ENOENT)
		log_file_error("unlink", path, errno);
	ex_counter_add(service->uploads_terminated, 1);
	ex_log(EX_LOG_INFO, "upload_terminated", "{s:s}", "upload", upload->id);
	return EX_UPLOAD_OK;
}

/*
 * Purges one tenant's expired uploads, then upload files without an
 * unfinished row (left by a crash between creating the file and the row)
 * once they are older than the expiry.
 */
static int purge_tenant(ex_drive_service *service, const char *tenant_id)
{
	char directory[EX_DRIVE_PATH_MAX];
	char path[EX_DRIVE_PATH_MAX];
	ex_db_error error;
	int purged = 0;

	if (ex_drive_upload_path(service, tenant_id, NULL, directory, sizeof(directory)) != 0)
		return 0;
	PGresult *result = ex_drive_query(service, tenant_id,
					  "DELETE FROM drive_uploads WHERE state = 'uploading' AND expires_at <= now() "
					  "RETURNING id::text, COALESCE(storage_upload_id, '')",
					  0, NULL, &error);
	if (result == NULL) {
		log_database_error("purge expired uploads", &error);
		return 0;
	}
	for (int i = 0; i < PQntuples(result); i++) {
		if (ex_drive_upload_path(service, tenant_id, PQgetvalue(result, i, 0), path, sizeof(path)) == 0 &&
		    unlink(path) != 0 && errno != ENOENT)
			log_file_error("unlink", path, errno);
		ex_drive_upload_abort_parts(service, tenant_id, PQgetvalue(result, i, 0), PQgetvalue(result, i, 1));
		purged++;
	}
	PQclear(result);

	DIR *dir = opendir(directory);
	if (dir == NULL)
		return purged;
	time_t now = time(NULL);
	struct dirent *entry;
	while ((entry = readdir(dir)) != NULL) {
		struct stat info;
		if (!ex_drive_is_uuid(entry->d_name) ||
		    ex_drive_upload_path(service, tenant_id, entry->d_name, path, sizeof(path)) != 0 || stat(path, &info) != 0 ||
		    (uint64_t)(now - info.st_mtime) < service->upload_expiry_s)
			continue;
		const char *params[] = { entry->d_name };
		result = ex_drive_query(service, tenant_id,
					"SELECT 1 FROM drive_uploads WHERE id = $1 AND state = 'uploading'", 1, params,
					&error);
		if (result == NULL)
			break;
		bool orphan = PQntuples(result) == 0;
		PQclear(result);
		if (orphan && unlink(path) == 0)
			purged++;
	}
	closedir(dir);
	return purged;
}

int ex_drive_upload_purge_expired(ex_drive_service *service)
{
	DIR *dir = opendir(service->upload_dir);
	int purged = 0;

	if (dir == NULL) {
		log_file_error("opendir", service->upload_dir, errno);
		return -1;
	}
	struct dirent *entry;
	while ((entry = readdir(dir)) != NULL) {
		if (ex_drive_is_uuid(entry->d_name))
			purged += purge_tenant(service, entry->d_name);
	}
	closedir(dir);
	ex_counter_add(service->uploads_purged, (uint64_t)purged);
	if (purged > 0)
		ex_log(EX_LOG_INFO, "uploads_purged", "{s:i}", "count", purged);
	return purged;
}
