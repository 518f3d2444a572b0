/*
 * One tus chunk on its way into an upload file. The chunk holds the upload
 * file open under an exclusive flock() from the offset check until it is
 * committed or discarded, so requests in other threads or other daemons
 * sharing the directory never write the same upload at once. Bytes go
 * into the file at the upload offset, gathered into writes of 4 MiB in a
 * buffer of the pool (upload_buffers.h). When none is free, small pieces
 * go through the chunk's own buffer. The checksum is computed on the way.
 * Nothing counts until commit has fsynced the bytes and advanced the row's
 * offset. A discarded chunk truncates the file back to the offset.
 */
#ifndef EXPRESSO_DRIVE_UPLOAD_CHUNK_H
#define EXPRESSO_DRIVE_UPLOAD_CHUNK_H

#include "upload_store.h"

enum {
	EX_UPLOAD_CHUNK_BUFFER = 256 * 1024,          /* bytes of the chunk's own buffer */
	EX_UPLOAD_CHUNK_DIRECT_WRITE = 16 * 1024,     /* with its own buffer, a piece this large is written at once */
	EX_UPLOAD_CHUNK_WRITEBACK = 4 * 1024 * 1024, /* bytes written between two starts of writeback */
};

typedef struct ex_upload_chunk ex_upload_chunk;

/*
 * Opens and locks UPLOAD's file and checks that the row still has
 * upload->offset. With CHECKSUM (may be NULL) the chunk computes that
 * algorithm's digest of its bytes. UPLOAD must outlive the chunk. Returns
 * EX_UPLOAD_LOCKED when another request holds the lock and
 * EX_UPLOAD_CONFLICT when the upload moved on or is gone.
 */
ex_upload_result ex_upload_chunk_begin(ex_drive_service *service, const char *tenant_id, ex_drive_upload *upload,
				       const ex_tus_checksum *checksum, ex_upload_chunk **out);

/* Appends DATA to the chunk. Returns 0, or -1 when the write failed (logged). */
int ex_upload_chunk_write(ex_upload_chunk *chunk, const void *data, size_t length);

/* Returns the bytes received so far. */
uint64_t ex_upload_chunk_size(const ex_upload_chunk *chunk);

/*
 * Returns true when the bytes received match the checksum given to begin,
 * or when no checksum was given. Call once, after the last write.
 */
bool ex_upload_chunk_checksum_matches(ex_upload_chunk *chunk);

/*
 * Writes the rest of the buffer, fsyncs the file, then advances the row's
 * offset past the chunk (setting a deferred length when NEW_LENGTH >= 0)
 * only if no other request moved it. Updates the upload on success.
 */
ex_upload_result ex_upload_chunk_commit(ex_upload_chunk *chunk, int64_t new_length);

/* Discards the chunk unless it was committed, unlocks and closes the file. Safe on NULL. */
void ex_upload_chunk_free(ex_upload_chunk *chunk);

#endif
