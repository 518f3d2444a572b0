/*
 * An upload's bytes sent to object storage as they arrive, when the
 * storage backend has multipart objects (S3). Each acknowledged chunk that
 * leaves at least EX_STORAGE_MIN_PART_SIZE (5 MiB) bytes past the last
 * part becomes the next part, read from the upload file, so with chunks of
 * 5 MiB or more every chunk is one part. Smaller chunks stay in the upload
 * file until they add up to 5 MiB, because S3 rejects smaller parts except
 * the last. The completion sends the rest as the last part and joins the
 * parts. An upload that never sent a part (the local backend, a partial
 * upload for concatenation, or a short upload) is imported whole instead.
 */
#ifndef EXPRESSO_DRIVE_UPLOAD_PARTS_H
#define EXPRESSO_DRIVE_UPLOAD_PARTS_H

#include "upload_store.h"

/*
 * Sends the bytes between the last part and the upload offset as the next
 * part when they reach the minimum part size, or, with LAST, when there are
 * any. Returns 0, or -1 when storage or the database failed (logged); the
 * bytes stay in the upload file and a later call sends them.
 */
int ex_drive_upload_send_parts(ex_drive_service *service, const char *tenant_id, ex_drive_upload *upload, bool last);

/*
 * Sends the rest of a fully received upload as its last part and joins its
 * parts into the object KEY, then removes the upload file. Returns 0, 1
 * when the upload has no parts (the caller imports the upload file), or -1
 * on failure (logged), after which a retry may complete it.
 */
int ex_drive_upload_complete_parts(ex_drive_service *service, const char *tenant_id, ex_drive_upload *upload,
				   const char *key);

/* Discards the multipart object STORAGE_UPLOAD_ID of upload UPLOAD_ID, when not empty. A failure is logged. */
void ex_drive_upload_abort_parts(ex_drive_service *service, const char *tenant_id, const char *upload_id,
				 const char *storage_upload_id);

#endif
