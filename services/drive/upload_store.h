/*
 * Uploads in progress: the drive_uploads row that is the state of a tus
 * upload (length, offset, state, expiry) and the upload file under
 * <upload dir>/<tenant>/<upload id> that contains its bytes. The row's
 * upload_offset only ever counts bytes that were written and fsynced to
 * the upload file first, so after a crash HEAD reports an offset whose
 * bytes are all stored.
 */
#ifndef EXPRESSO_DRIVE_UPLOAD_STORE_H
#define EXPRESSO_DRIVE_UPLOAD_STORE_H

#include "drive_parse.h"
#include "drive_service.h"

typedef struct {
	char id[EX_DRIVE_UUID_TEXT + 1];
	char folder_id[EX_DRIVE_UUID_TEXT + 1]; /* empty: the root folder */
	char filename[EX_DRIVE_NAME_MAX + 1]; /* empty only for a partial upload */
	char filetype[EX_DRIVE_MEDIA_TYPE_MAX + 1];
	char metadata[EX_TUS_METADATA_MAX_HEADER + 1];
	int64_t length; /* -1 while deferred */
	int64_t offset;
	bool completed;
	bool expired;
	int64_t expires_at; /* seconds since the epoch */
	char file_id[EX_DRIVE_UUID_TEXT + 1]; /* set once completed */
	int version;
	ex_tus_concat_kind concat;
	char concat_header[EX_TUS_CONCAT_MAX_HEADER + 1]; /* Upload-Concat of a final upload, echoed by HEAD */
	char storage_upload_id[EX_STORAGE_UPLOAD_ID_MAX]; /* multipart object of its parts; empty: none yet */
} ex_drive_upload;

typedef enum {
	EX_UPLOAD_OK = 0,
	EX_UPLOAD_NOT_FOUND,
	EX_UPLOAD_CONFLICT, /* the offset moved, or the upload was completed or terminated meanwhile */
	EX_UPLOAD_LOCKED,   /* another request is writing to the upload file */
	EX_UPLOAD_TOO_LARGE, /* concatenated partial uploads exceed the maximum upload size */
	EX_UPLOAD_FAILED,   /* database or file error, logged */
} ex_upload_result;

/* Bytes the user's files and unfinished uploads take, and the user's quota (0: none). */
typedef struct {
	uint64_t quota_bytes;
	uint64_t used_bytes;     /* every stored version of the user's files */
	uint64_t reserved_bytes; /* Upload-Length (or offset while deferred) of unfinished uploads */
} ex_drive_usage;

int ex_drive_usage_read(ex_drive_service *service, const char *tenant_id, const char *user_id, ex_drive_usage *out,
			ex_db_error *error);

/* Returns 1 when FOLDER_ID is a folder of the user outside the trash, 0 when not, -1 on error. */
int ex_drive_folder_exists(ex_drive_service *service, const char *tenant_id, const char *user_id,
			   const char *folder_id, ex_db_error *error);

/*
 * Writes the path of upload ID's file (or, with ID NULL, of the tenant's
 * upload directory) into OUT. Returns 0, or -1 when OUT is too small.
 */
int ex_drive_upload_path(const ex_drive_service *service, const char *tenant_id, const char *id, char *out,
			 size_t size);

/*
 * Moves the row's offset from upload->offset to NEXT (and sets a deferred
 * length when NEW_LENGTH >= 0), only if no other request moved it first,
 * and extends the expiry. The bytes up to NEXT must already be fsynced.
 */
ex_upload_result ex_drive_upload_advance_offset(ex_drive_service *service, const char *tenant_id,
						ex_drive_upload *upload, int64_t next, int64_t new_length);

/* Creates the upload file and the row of UPLOAD (id, folder, names, metadata, length) and sets expires_at. */
ex_upload_result ex_drive_upload_create(ex_drive_service *service, const char *tenant_id, const char *user_id,
					ex_drive_upload *upload);

/* Loads the user's upload ID into *out. */
ex_upload_result ex_drive_upload_load(ex_drive_service *service, const char *tenant_id, const char *user_id,
				      const char *id, ex_drive_upload *out);

/* Returns EX_UPLOAD_OK when the row still has upload->offset, else EX_UPLOAD_CONFLICT. */
ex_upload_result ex_drive_upload_check_offset(ex_drive_service *service, const char *tenant_id,
					     const ex_drive_upload *upload);

/*
 * Turns a fully received upload into a file (or a new version of the file
 * of that name in the folder) in one transaction, after moving its bytes
 * into object storage, and publishes drive.uploaded. Safe to call again
 * after a crash at any step.
 */
ex_upload_result ex_drive_upload_complete(ex_drive_service *service, const char *tenant_id, const char *user_id,
					  ex_drive_upload *upload);

/*
 * Fills the final upload FINAL (names, metadata, concat_header set by the
 * caller) with the bytes of the caller's partial uploads PARTS, in order:
 * checks that each is a finished partial upload of the user, creates the
 * final upload of their total length, copies their bytes into its upload
 * file and fsyncs it, moves its offset to the end, then deletes the
 * partial uploads. The caller completes the final upload. Returns
 * EX_UPLOAD_NOT_FOUND when a part is missing, EX_UPLOAD_CONFLICT when a
 * part is not a finished partial upload (*bad_part names it) and
 * EX_UPLOAD_TOO_LARGE when the total exceeds the maximum upload size.
 */
ex_upload_result ex_drive_upload_concatenate(ex_drive_service *service, const char *tenant_id, const char *user_id,
					     ex_drive_upload *final, const ex_tus_concat *parts, size_t *bad_part);

/* Removes an unfinished upload's row and file, or a completed upload's row. */
ex_upload_result ex_drive_upload_terminate(ex_drive_service *service, const char *tenant_id, const char *user_id,
					   const ex_drive_upload *upload);

/* Deletes expired unfinished uploads of every tenant that has an upload directory; returns the count. */
int ex_drive_upload_purge_expired(ex_drive_service *service);

#endif
