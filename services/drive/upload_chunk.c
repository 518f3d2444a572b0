/*
 * A tus chunk written into its upload file, small pieces gathered in a bounded
 * buffer, with the Upload-Checksum digest computed on the way; see upload_chunk.h.
 */
#include "upload_chunk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "expresso/log.h"

struct ex_upload_chunk {
	ex_drive_service *service;
	const char *tenant_id;
	ex_drive_upload *upload;
	int fd;
	char path[EX_DRIVE_PATH_MAX];
	uint64_t received;      /* bytes of the chunk received */
	uint64_t written;       /* bytes of the chunk written to the file */
	uint64_t writeback_started; /* bytes of the chunk whose writeback was started */
	bool committed;
	ex_tus_checksum checksum;
	EVP_MD_CTX *digest;     /* NULL without a checksum */
	unsigned char *buffer;  /* large (lent by the pool) or own */
	size_t capacity;
	size_t buffered;
	unsigned char *large;   /* the pool's buffer, NULL when none was free */
	unsigned char own[EX_UPLOAD_CHUNK_BUFFER];
};

static void log_file_error(const char *operation, const char *path, int code)
{
	ex_log(EX_LOG_ERROR, "upload_file_failed", "{s:s, s:s, s:s}", "operation", operation, "path", path, "error",
	       strerror(code));
}

static const EVP_MD *digest_type(ex_tus_checksum_algorithm algorithm)
{
	switch (algorithm) {
	case EX_TUS_CHECKSUM_SHA1:
		return EVP_sha1();
	case EX_TUS_CHECKSUM_SHA256:
		return EVP_sha256();
	default:
		return EVP_md5();
	}
}

/* Opens the upload file and takes its lock without waiting. */
static ex_upload_result open_locked(ex_upload_chunk *chunk)
{
	chunk->fd = open(chunk->path, O_WRONLY | O_CLOEXEC);
	if (chunk->fd < 0) {
		/* Terminated, completed or purged since it was loaded. */
		if (errno == ENOENT)
			return EX_UPLOAD_CONFLICT;
		log_file_error("open", chunk->path, errno);
		return EX_UPLOAD_FAILED;
	}
	if (flock(chunk->fd, LOCK_EX | LOCK_NB) != 0) {
		int code = errno;
		if (code == EWOULDBLOCK)
			return EX_UPLOAD_LOCKED;
		log_file_error("flock", chunk->path, code);
		return EX_UPLOAD_FAILED;
	}
	return EX_UPLOAD_OK;
}

ex_upload_result ex_upload_chunk_begin(ex_drive_service *service, const char *tenant_id, ex_drive_upload *upload,
				       const ex_tus_checksum *checksum, ex_upload_chunk **out)
{
	*out = NULL;
	ex_upload_chunk *chunk = calloc(1, sizeof(*chunk));
	if (chunk == NULL)
		return EX_UPLOAD_FAILED;
	chunk->service = service;
	chunk->tenant_id = tenant_id;
	chunk->upload = upload;
	chunk->fd = -1;
	chunk->large = ex_upload_buffers_take(&service->buffers);
	chunk->buffer = chunk->large != NULL ? chunk->large : chunk->own;
	chunk->capacity = chunk->large != NULL ? EX_UPLOAD_BUFFER_LARGE : sizeof(chunk->own);
	if (ex_drive_upload_path(service, tenant_id, upload->id, chunk->path, sizeof(chunk->path)) != 0) {
		ex_upload_chunk_free(chunk);
		return EX_UPLOAD_FAILED;
	}

	if (checksum != NULL) {
		chunk->checksum = *checksum;
		chunk->digest = EVP_MD_CTX_new();
		if (chunk->digest == NULL || EVP_DigestInit_ex(chunk->digest, digest_type(checksum->algorithm), NULL) != 1) {
			ex_upload_chunk_free(chunk);
			return EX_UPLOAD_FAILED;
		}
	}

	ex_upload_result result = open_locked(chunk);
	if (result == EX_UPLOAD_OK)
		result = ex_drive_upload_check_offset(service, tenant_id, upload);
	if (result != EX_UPLOAD_OK) {
		ex_upload_chunk_free(chunk);
		return result;
	}
	*out = chunk;
	return EX_UPLOAD_OK;
}

/*
 * Writes DATA at the upload offset plus the bytes already written. Then,
 * for every EX_UPLOAD_CHUNK_WRITEBACK bytes written, it starts their
 * writeback, so that the disk works while the rest of the chunk arrives
 * and the fdatasync at commit waits for less.
 */
static int write_at_end(ex_upload_chunk *chunk, const unsigned char *data, size_t length)
{
	size_t done = 0;
	off_t start = (off_t)chunk->upload->offset + (off_t)chunk->written;

	while (done < length) {
		ssize_t count = pwrite(chunk->fd, data + done, length - done, start + (off_t)done);
		if (count < 0 && errno == EINTR)
			continue;
		if (count <= 0) {
			log_file_error("write", chunk->path, count < 0 ? errno : EIO);
			return -1;
		}
		done += (size_t)count;
	}
	chunk->written += length;

	uint64_t pending = chunk->written - chunk->writeback_started;
	if (pending >= EX_UPLOAD_CHUNK_WRITEBACK) {
		off_t from = (off_t)chunk->upload->offset + (off_t)chunk->writeback_started;
		if (sync_file_range(chunk->fd, from, (off_t)pending, SYNC_FILE_RANGE_WRITE) != 0)
			log_file_error("sync_file_range", chunk->path, errno);
		chunk->writeback_started = chunk->written;
	}
	return 0;
}

static int flush_buffer(ex_upload_chunk *chunk)
{
	if (chunk->buffered > 0 && write_at_end(chunk, chunk->buffer, chunk->buffered) != 0)
		return -1;
	chunk->buffered = 0;
	return 0;
}

int ex_upload_chunk_write(ex_upload_chunk *chunk, const void *data, size_t length)
{
	const unsigned char *bytes = data;

	if (chunk->digest != NULL && EVP_DigestUpdate(chunk->digest, data, length) != 1)
		return -1;
	chunk->received += length;
	/*
	 * Without a large buffer, a large piece goes straight to the file, saving a copy.
	 * With one, every piece is gathered, so that the file is written 4 MiB at a time.
	 */
	if (chunk->large == NULL && chunk->buffered == 0 && length >= EX_UPLOAD_CHUNK_DIRECT_WRITE)
		return write_at_end(chunk, bytes, length);
	while (length > 0) {
		size_t room = chunk->capacity - chunk->buffered;
		size_t take = length < room ? length : room;
		memcpy(chunk->buffer + chunk->buffered, bytes, take);
		chunk->buffered += take;
		bytes += take;
		length -= take;
		if (chunk->buffered == chunk->capacity && flush_buffer(chunk) != 0)
			return -1;
	}
	return 0;
}

uint64_t ex_upload_chunk_size(const ex_upload_chunk *chunk)
{
	return chunk->received;
}

bool ex_upload_chunk_checksum_matches(ex_upload_chunk *chunk)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_length = 0;

	if (chunk->digest == NULL)
		return true;
	if (EVP_DigestFinal_ex(chunk->digest, digest, &digest_length) != 1)
		return false;
	return digest_length == chunk->checksum.digest_length &&
	       CRYPTO_memcmp(digest, chunk->checksum.digest, digest_length) == 0;
}

ex_upload_result ex_upload_chunk_commit(ex_upload_chunk *chunk, int64_t new_length)
{
	ex_drive_upload *upload = chunk->upload;

	if (flush_buffer(chunk) != 0)
		return EX_UPLOAD_FAILED;
	if (chunk->written > 0 && fdatasync(chunk->fd) != 0) {
		log_file_error("fsync", chunk->path, errno);
		return EX_UPLOAD_FAILED;
	}

	ex_upload_result result = ex_drive_upload_advance_offset(chunk->service, chunk->tenant_id, upload,
								 upload->offset + (int64_t)chunk->written, new_length);
	if (result != EX_UPLOAD_OK)
		return result;
	chunk->committed = true;
	ex_counter_add(chunk->service->upload_bytes, chunk->written);
	return EX_UPLOAD_OK;
}

void ex_upload_chunk_free(ex_upload_chunk *chunk)
{
	if (chunk == NULL)
		return;
	/* Bytes past the offset would be overwritten by the next chunk anyway; truncating keeps the file exact. */
	if (chunk->fd >= 0 && !chunk->committed && chunk->written > 0 &&
	    ftruncate(chunk->fd, (off_t)chunk->upload->offset) != 0)
		log_file_error("truncate", chunk->path, errno);
	if (chunk->fd >= 0)
		close(chunk->fd);
	ex_upload_buffers_give(&chunk->service->buffers, chunk->large);
	EVP_MD_CTX_free(chunk->digest);
	free(chunk);
}
