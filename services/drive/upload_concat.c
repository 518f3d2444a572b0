/*
 * tus concatenation: joins finished partial uploads into a final upload.
 * The bytes are copied (copy_file_range, so the kernel moves them without
 * a user-space buffer) into the final upload's file, which is fsynced
 * before its offset moves. Only then are the partial uploads deleted.
 * A crash before the offset moves leaves a final upload at offset 0 that
 * expires, and the partial uploads intact for another attempt.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "expresso/log.h"
#include "upload_store.h"

static void log_concat_error(const char *operation, const char *upload_id, const char *reason)
{
	ex_log(EX_LOG_ERROR, "upload_concat_failed", "{s:s, s:s, s:s}", "operation", operation, "upload", upload_id,
	       "error", reason);
}

/* Appends the LENGTH bytes of the file at SOURCE_PATH to the open file OUT at OFFSET. */
static int copy_part(int out, int64_t offset, const char *source_path, int64_t length, const char *upload_id)
{
	int in = open(source_path, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		log_concat_error("open partial upload", upload_id, strerror(errno));
		return -1;
	}
	loff_t in_offset = 0;
	loff_t out_offset = (loff_t)offset;
	int64_t left = length;
	while (left > 0) {
		ssize_t copied = copy_file_range(in, &in_offset, out, &out_offset, (size_t)left, 0);
		if (copied < 0 && errno == EINTR)
			continue;
		if (copied <= 0) {
			/* 0 means the partial file is shorter than its offset, which a correct store never leaves. */
			log_concat_error("copy partial upload", upload_id, copied < 0 ? strerror(errno) : "file too short");
			close(in);
			return -1;
		}
		left -= copied;
	}
	close(in);
	return 0;
}

/* Loads and checks every part, and sums their lengths into *total. */
static ex_upload_result load_parts(ex_drive_service *service, const char *tenant_id, const char *user_id,
				   const ex_tus_concat *parts, ex_drive_upload *loaded, int64_t *total,
				   size_t *bad_part)
{
	*total = 0;
	for (size_t i = 0; i < parts->count; i++) {
		*bad_part = i;
		ex_upload_result result = ex_drive_upload_load(service, tenant_id, user_id, parts->part_ids[i], loaded);
		if (result != EX_UPLOAD_OK)
			return result;
		if (loaded->concat != EX_TUS_CONCAT_PARTIAL || loaded->completed || loaded->expired ||
		    loaded->length < 0 || loaded->offset != loaded->length)
			return EX_UPLOAD_CONFLICT;
		*total += loaded->length;
		if ((uint64_t)*total > service->max_upload_size)
			return EX_UPLOAD_TOO_LARGE;
	}
	return EX_UPLOAD_OK;
}

/* Copies the parts into FINAL's upload file and fsyncs it. */
static int fill_final_file(ex_drive_service *service, const char *tenant_id, const ex_drive_upload *final,
			   const ex_tus_concat *parts, ex_drive_upload *loaded, const char *user_id)
{
	char path[EX_DRIVE_PATH_MAX];
	char part_path[EX_DRIVE_PATH_MAX];
	int64_t offset = 0;

	if (ex_drive_upload_path(service, tenant_id, final->id, path, sizeof(path)) != 0)
		return -1;
	int out = open(path, O_WRONLY | O_CLOEXEC);
	if (out < 0) {
		log_concat_error("open final upload", final->id, strerror(errno));
		return -1;
	}
	int status = flock(out, LOCK_EX | LOCK_NB);
	for (size_t i = 0; status == 0 && i < parts->count; i++) {
		if (ex_drive_upload_load(service, tenant_id, user_id, parts->part_ids[i], loaded) != EX_UPLOAD_OK ||
		    ex_drive_upload_path(service, tenant_id, loaded->id, part_path, sizeof(part_path)) != 0 ||
		    copy_part(out, offset, part_path, loaded->length, loaded->id) != 0)
			status = -1;
		offset += loaded->length;
	}
	if (status == 0 && fdatasync(out) != 0) {
		log_concat_error("fsync final upload", final->id, strerror(errno));
		status = -1;
	}
	close(out);
	return status;
}

/* Deletes the partial uploads' rows, then their files. */
static void delete_parts(ex_drive_service *service, const char *tenant_id, const char *user_id,
			 const ex_tus_concat *parts)
{
	char path[EX_DRIVE_PATH_MAX];
	ex_db_error error;

	for (size_t i = 0; i < parts->count; i++) {
		const char *params[] = { parts->part_ids[i], user_id };
		PGresult *result = ex_drive_query(service, tenant_id,
						  "DELETE FROM drive_uploads WHERE id = $1 AND owner_id = $2 "
						  "AND concat = 'partial'",
						  2, params, &error);
		if (result == NULL) {
			/* The row expires and the purge removes it with its file. */
			log_concat_error("delete partial upload", parts->part_ids[i], error.message);
			continue;
		}
		PQclear(result);
		if (ex_drive_upload_path(service, tenant_id, parts->part_ids[i], path, sizeof(path)) == 0 &&
		    unlink(path) != 0 && errno != ENOENT)
			log_concat_error("unlink partial upload", parts->part_ids[i], strerror(errno));
	}
}

ex_upload_result ex_drive_upload_concatenate(ex_drive_service *service, const char *tenant_id, const char *user_id,
					     ex_drive_upload *final, const ex_tus_concat *parts, size_t *bad_part)
{
	ex_drive_upload *loaded = calloc(1, sizeof(*loaded));
	size_t locked = 0;
	int64_t total = 0;
	ex_upload_result result = EX_UPLOAD_FAILED;

	if (loaded == NULL)
		return EX_UPLOAD_FAILED;
	/* No PATCH or other final upload may use a part while its bytes are copied. */
	for (; locked < parts->count; locked++) {
		if (!ex_drive_upload_lock(&service->locks, parts->part_ids[locked])) {
			*bad_part = locked;
			result = EX_UPLOAD_LOCKED;
			goto done;
		}
	}
	result = load_parts(service, tenant_id, user_id, parts, loaded, &total, bad_part);
	if (result != EX_UPLOAD_OK)
		goto done;

	final->length = total;
	final->concat = EX_TUS_CONCAT_FINAL;
	result = ex_drive_upload_create(service, tenant_id, user_id, final);
	if (result != EX_UPLOAD_OK)
		goto done;
	if (fill_final_file(service, tenant_id, final, parts, loaded, user_id) != 0) {
		ex_drive_upload_terminate(service, tenant_id, user_id, final);
		result = EX_UPLOAD_FAILED;
		goto done;
	}
	result = ex_drive_upload_advance_offset(service, tenant_id, final, total, -1);
	if (result != EX_UPLOAD_OK)
		goto done;
	delete_parts(service, tenant_id, user_id, parts);
	ex_log(EX_LOG_INFO, "upload_concatenated", "{s:s, s:i, s:I}", "upload", final->id, "parts",
	       (int)parts->count, "length", (json_int_t)total);
done:
	while (locked > 0)
		ex_drive_upload_unlock(&service->locks, parts->part_ids[--locked]);
	free(loaded);
	return result;
}
