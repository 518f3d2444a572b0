/*
 * S3 backend (MinIO or any S3-compatible server), path-style addressing:
 * object <tenant>/<key> of the configured bucket. Requests go through
 * s3_request.c, which signs them with AWS Signature Version 4 and retries.
 *
 * Writes: an object up to part_size bytes is one PutObject. A larger one
 * is a multipart upload of part_size parts, so a writer keeps at most one
 * part in memory and ex_storage_import_file streams parts from the file.
 * An object becomes visible only when PutObject or
 * CompleteMultipartUpload succeeds, which S3 acknowledges after storing
 * it durably. A failed write aborts its multipart upload.
 * Reads stream the GET response through a buffer of READ_BUFFER bytes,
 * pausing the transfer while the caller has not taken the bytes. A skip
 * longer than SKIP_BY_READING ends the transfer and starts a GET with a
 * Range from the new position.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3_request.h"

enum {
	MIN_PART_SIZE = EX_STORAGE_MIN_PART_SIZE,
	MAX_PARTS = EX_STORAGE_MAX_PARTS,
	READ_BUFFER = 256 * 1024,
	SKIP_BY_READING = 1024 * 1024,
	UPLOAD_ID_MAX = EX_STORAGE_UPLOAD_ID_MAX,
};

static const ex_storage_backend s3_backend;

typedef struct {
	ex_storage_writer base;
	s3_storage *storage;
	char *tenant_id;
	char *key;
	unsigned char *buffer; /* grows up to part_size */
	size_t buffered;
	size_t capacity;
	char upload_id[UPLOAD_ID_MAX]; /* empty until the writer needs a multipart upload */
	char **etags;                  /* of parts 1..part_count */
	unsigned part_count;
} s3_writer;

typedef struct {
	ex_storage_reader base;
	const s3_storage *storage;
	char *url;
	uint64_t position; /* of buffer[start] in the object */
	CURLM *multi;
	CURL *easy;
	struct curl_slist *headers;
	unsigned char buffer[READ_BUFFER];
	size_t start; /* bytes buffer[start..end) not yet taken by the caller */
	size_t end;
	bool paused;
	bool done;
	CURLcode result;
} s3_reader;

ex_storage *ex_storage_open_s3(const ex_storage_s3_config *config, char *err, size_t errlen)
{
	if (config->endpoint == NULL || (strncmp(config->endpoint, "http://", 7) != 0 &&
					 strncmp(config->endpoint, "https://", 8) != 0)) {
		snprintf(err, errlen, "S3 endpoint must be an http:// or https:// URL, got %s",
			 config->endpoint ? config->endpoint : "(unset)");
		return NULL;
	}
	if (config->bucket == NULL || config->bucket[0] == '\0' || strchr(config->bucket, '/') != NULL) {
		snprintf(err, errlen, "S3 bucket must be set to a bucket name");
		return NULL;
	}
	if (config->access_key == NULL || config->access_key[0] == '\0' || config->secret_key == NULL ||
	    config->secret_key[0] == '\0') {
		snprintf(err, errlen, "S3 access key and secret key must both be set");
		return NULL;
	}
	if (config->part_size < MIN_PART_SIZE) {
		snprintf(err, errlen, "S3 part size %" PRIu64 " is below S3's minimum of %d bytes", config->part_size,
			 MIN_PART_SIZE);
		return NULL;
	}
	s3_storage *storage = calloc(1, sizeof(*storage));
	if (storage == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	storage->base.backend = &s3_backend;
	storage->endpoint = strdup(config->endpoint);
	storage->bucket = strdup(config->bucket);
	storage->ca_file = config->ca_file ? strdup(config->ca_file) : NULL;
	storage->access_key = strdup(config->access_key);
	storage->secret_key = strdup(config->secret_key);
	if (storage->endpoint == NULL || storage->bucket == NULL || storage->access_key == NULL ||
	    storage->secret_key == NULL) {
		s3_backend.free(&storage->base);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	size_t endpoint_length = strlen(storage->endpoint);
	if (endpoint_length > 0 && storage->endpoint[endpoint_length - 1] == '/')
		storage->endpoint[endpoint_length - 1] = '\0';
	snprintf(storage->sigv4, sizeof(storage->sigv4), "aws:amz:%s:s3",
		 config->region && config->region[0] ? config->region : "us-east-1");
	storage->part_size = config->part_size;
	storage->max_attempts = config->max_attempts > 0 ? config->max_attempts : 1;
	storage->retry_delay_ms = config->retry_delay_ms > 0 ? config->retry_delay_ms : 100;
	storage->timeout_ms = config->timeout_ms > 0 ? config->timeout_ms : 30000;
	return &storage->base;
}

static void s3_free(ex_storage *base)
{
	s3_storage *storage = (s3_storage *)base;

	free(storage->endpoint);
	free(storage->bucket);
	free(storage->access_key);
	if (storage->secret_key != NULL)
		memset(storage->secret_key, 0, strlen(storage->secret_key));
	free(storage->secret_key);
	free(storage->ca_file);
	free(storage);
}

/* Fills ERR with the status and the start of the server's error body. */
static ex_storage_status fail_status(const s3_response *response, const char *operation, const char *key,
				     char *err, size_t errlen)
{
	if (response->status == 404) {
		snprintf(err, errlen, "object %s not found", key);
		return EX_STORAGE_NOT_FOUND;
	}
	return ex_storage_fail(err, errlen, "S3 %s of %s answered HTTP %ld: %.200s", operation, key, response->status,
			       response->body ? response->body : "");
}

/* ---- multipart uploads ---- */

static ex_storage_status create_multipart(const s3_storage *storage, const char *tenant_id, const char *key,
					  char upload_id[UPLOAD_ID_MAX], char *err, size_t errlen)
{
	s3_response response = { 0 };
	char *url = s3_object_url(storage, tenant_id, key, "uploads=");
	ex_storage_status status = url ? s3_perform(storage, "POST", url, NULL, NULL, &response, err, errlen)
				       : ex_storage_fail(err, errlen, "out of memory");

	free(url);
	if (status != EX_STORAGE_OK)
		return status;
	const char *start = response.body ? strstr(response.body, "<UploadId>") : NULL;
	const char *end = start ? strstr(start, "</UploadId>") : NULL;
	if (response.status != 200 || start == NULL || end == NULL ||
	    (size_t)(end - start) - 10 >= UPLOAD_ID_MAX) {
		status = fail_status(&response, "CreateMultipartUpload", key, err, errlen);
		s3_response_clear(&response);
		return status == EX_STORAGE_NOT_FOUND ? EX_STORAGE_IO_ERROR : status;
	}
	start += 10;
	memcpy(upload_id, start, (size_t)(end - start));
	upload_id[end - start] = '\0';
	s3_response_clear(&response);
	return EX_STORAGE_OK;
}

/* Builds "partNumber=N&uploadId=<encoded>" (sorted, as SigV4 canonical queries are). */
static char *part_query(const char *upload_id, unsigned part_number)
{
	char *encoded = curl_easy_escape(NULL, upload_id, 0);
	if (encoded == NULL)
		return NULL;
	size_t size = strlen(encoded) + 48;
	char *query = malloc(size);
	if (query != NULL) {
		if (part_number > 0)
			snprintf(query, size, "partNumber=%u&uploadId=%s", part_number, encoded);
		else
			snprintf(query, size, "uploadId=%s", encoded);
	}
	curl_free(encoded);
	return query;
}

/* Uploads part PART_NUMBER from BODY and returns its ETag (the caller frees it) in *etag. */
static ex_storage_status upload_part(const s3_storage *storage, const char *tenant_id, const char *key,
				     const char *upload_id, unsigned part_number, s3_body *body, char **etag,
				     char *err, size_t errlen)
{
	s3_response response = { 0 };
	char *query = part_query(upload_id, part_number);
	char *url = query ? s3_object_url(storage, tenant_id, key, query) : NULL;
	ex_storage_status status = url ? s3_perform(storage, "PUT", url, body, NULL, &response, err, errlen)
				       : ex_storage_fail(err, errlen, "out of memory");

	free(query);
	free(url);
	if (status != EX_STORAGE_OK)
		return status;
	if (response.status != 200 || response.etag[0] == '\0') {
		status = fail_status(&response, "UploadPart", key, err, errlen);
		s3_response_clear(&response);
		return status == EX_STORAGE_NOT_FOUND ? EX_STORAGE_IO_ERROR : status;
	}
	*etag = strdup(response.etag);
	s3_response_clear(&response);
	return *etag ? EX_STORAGE_OK : ex_storage_fail(err, errlen, "out of memory");
}

static ex_storage_status complete_multipart(const s3_storage *storage, const char *tenant_id, const char *key,
					    const char *upload_id, const char *const *etags, unsigned part_count,
					    char *err, size_t errlen)
{
	size_t size = 64 + (size_t)part_count * 200;
	char *xml = malloc(size);
	s3_response response = { 0 };
	ex_storage_status status;

	if (xml == NULL)
		return ex_storage_fail(err, errlen, "out of memory");
	size_t used = (size_t)snprintf(xml, size, "<CompleteMultipartUpload>");
	for (unsigned i = 0; i < part_count; i++)
		used += (size_t)snprintf(xml + used, size - used, "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag></Part>",
					 i + 1, etags[i]);
	used += (size_t)snprintf(xml + used, size - used, "</CompleteMultipartUpload>");

	char *query = part_query(upload_id, 0);
	char *url = query ? s3_object_url(storage, tenant_id, key, query) : NULL;
	s3_body body = { .memory = (const unsigned char *)xml, .fd = -1, .length = used };
	status = url ? s3_perform(storage, "POST", url, &body, "application/xml", &response, err, errlen)
		     : ex_storage_fail(err, errlen, "out of memory");
	free(query);
	free(url);
	free(xml);
	if (status != EX_STORAGE_OK)
		return status;
	/* S3 may return 200 and report the failure in the body. */
	if (response.status != 200 || response.body == NULL || strstr(response.body, "<Error>") != NULL)
		status = ex_storage_fail(err, errlen, "S3 CompleteMultipartUpload of %s answered HTTP %ld: %.200s", key,
					 response.status, response.body ? response.body : "");
	s3_response_clear(&response);
	return status;
}

/* Sends AbortMultipartUpload, which S3 acknowledges with 204. */
static ex_storage_status abort_multipart_checked(const s3_storage *storage, const char *tenant_id, const char *key,
						 const char *upload_id, char *err, size_t errlen)
{
	s3_response response = { 0 };
	char *query = part_query(upload_id, 0);
	char *url = query ? s3_object_url(storage, tenant_id, key, query) : NULL;
	ex_storage_status status = url ? s3_perform(storage, "DELETE", url, NULL, NULL, &response, err, errlen)
				       : ex_storage_fail(err, errlen, "out of memory");

	free(query);
	free(url);
	if (status != EX_STORAGE_OK)
		return status;
	if (response.status != 204 && response.status != 200)
		status = fail_status(&response, "AbortMultipartUpload", key, err, errlen);
	s3_response_clear(&response);
	return status;
}

static void abort_multipart(const s3_storage *storage, const char *tenant_id, const char *key, const char *upload_id)
{
	char err[EX_STORAGE_ERROR_MAX];
	abort_multipart_checked(storage, tenant_id, key, upload_id, err, sizeof(err));
}

static ex_storage_status put_object(const s3_storage *storage, const char *tenant_id, const char *key, s3_body *body,
				    char *err, size_t errlen)
{
	s3_response response = { 0 };
	char *url = s3_object_url(storage, tenant_id, key, NULL);
	ex_storage_status status = url ? s3_perform(storage, "PUT", url, body, NULL, &response, err, errlen)
				       : ex_storage_fail(err, errlen, "out of memory");

	free(url);
	if (status != EX_STORAGE_OK)
		return status;
	if (response.status != 200) {
		status = fail_status(&response, "PutObject", key, err, errlen);
		if (status == EX_STORAGE_NOT_FOUND)
			status = EX_STORAGE_IO_ERROR;
	}
	s3_response_clear(&response);
	return status;
}

/* ---- writer ---- */

static ex_storage_status s3_writer_begin(ex_storage *base, const char *tenant_id, const char *key,
					 ex_storage_writer **out, char *err, size_t errlen)
{
	s3_writer *writer = calloc(1, sizeof(*writer));

	if (writer == NULL)
		return ex_storage_fail(err, errlen, "out of memory");
	writer->base.backend = &s3_backend;
	writer->storage = (s3_storage *)base;
	writer->tenant_id = strdup(tenant_id);
	writer->key = strdup(key);
	if (writer->tenant_id == NULL || writer->key == NULL) {
		s3_backend.writer_abort(&writer->base);
		return ex_storage_fail(err, errlen, "out of memory");
	}
	*out = &writer->base;
	return EX_STORAGE_OK;
}

/* Uploads the buffered bytes as the next part, starting the multipart upload first if needed. */
static ex_storage_status flush_part(s3_writer *writer, char *err, size_t errlen)
{
	ex_storage_status status = EX_STORAGE_OK;

	if (writer->part_count == MAX_PARTS)
		return ex_storage_fail(err, errlen, "object %s needs more than %d parts; raise the S3 part size",
				       writer->key, MAX_PARTS);
	if (writer->upload_id[0] == '\0')
		status = create_multipart(writer->storage, writer->tenant_id, writer->key, writer->upload_id, err,
					  errlen);
	if (status != EX_STORAGE_OK)
		return status;
	char **etags = realloc(writer->etags, (writer->part_count + 1) * sizeof(*etags));
	if (etags == NULL)
		return ex_storage_fail(err, errlen, "out of memory");
	writer->etags = etags;
	s3_body body = { .memory = writer->buffer, .fd = -1, .length = writer->buffered };
	status = upload_part(writer->storage, writer->tenant_id, writer->key, writer->upload_id, writer->part_count + 1,
			     &body, &writer->etags[writer->part_count], err, errlen);
	if (status != EX_STORAGE_OK)
		return status;
	writer->part_count++;
	writer->buffered = 0;
	return EX_STORAGE_OK;
}

static ex_storage_status s3_writer_write(ex_storage_writer *base, const void *data, size_t length, char *err,
					 size_t errlen)
{
	s3_writer *writer = (s3_writer *)base;
	const unsigned char *cursor = data;
	size_t part_size = (size_t)writer->storage->part_size;

	while (length > 0) {
		if (writer->buffered == part_size) {
			ex_storage_status status = flush_part(writer, err, errlen);
			if (status != EX_STORAGE_OK)
				return status;
		}
		size_t room = part_size - writer->buffered;
		size_t take = length < room ? length : room;
		if (writer->buffered + take > writer->capacity) {
			size_t capacity = writer->capacity ? writer->capacity : 64 * 1024;
			while (capacity < writer->buffered + take)
				capacity *= 2;
			if (capacity > part_size)
				capacity = part_size;
			unsigned char *grown = realloc(writer->buffer, capacity);
			if (grown == NULL)
				return ex_storage_fail(err, errlen, "out of memory");
			writer->buffer = grown;
			writer->capacity = capacity;
		}
		memcpy(writer->buffer + writer->buffered, cursor, take);
		writer->buffered += take;
		writer->base.size += take;
		cursor += take;
		length -= take;
	}
	return EX_STORAGE_OK;
}

static void free_writer(s3_writer *writer)
{
	for (unsigned i = 0; i < writer->part_count; i++)
		free(writer->etags[i]);
	free(writer->etags);
	free(writer->buffer);
	free(writer->tenant_id);
	free(writer->key);
	free(writer);
}

static void s3_writer_abort(ex_storage_writer *base)
{
	s3_writer *writer = (s3_writer *)base;

	if (writer->upload_id[0] != '\0')
		abort_multipart(writer->storage, writer->tenant_id, writer->key, writer->upload_id);
	free_writer(writer);
}

static ex_storage_status s3_writer_commit(ex_storage_writer *base, char *err, size_t errlen)
{
	s3_writer *writer = (s3_writer *)base;
	ex_storage_status status;

	if (writer->upload_id[0] == '\0') {
		s3_body body = { .memory = writer->buffer ? writer->buffer : (const unsigned char *)"", .fd = -1,
				 .length = writer->buffered };
		status = put_object(writer->storage, writer->tenant_id, writer->key, &body, err, errlen);
		free_writer(writer);
		return status;
	}
	status = writer->buffered > 0 ? flush_part(writer, err, errlen) : EX_STORAGE_OK;
	if (status == EX_STORAGE_OK)
		status = complete_multipart(writer->storage, writer->tenant_id, writer->key, writer->upload_id,
					    (const char *const *)writer->etags, writer->part_count, err, errlen);
	if (status != EX_STORAGE_OK) {
		s3_writer_abort(base);
		return status;
	}
	free_writer(writer);
	return EX_STORAGE_OK;
}

/* ---- import of a file ---- */

/* Uploads the SIZE bytes of FD as a multipart upload of part_size parts read straight from the file. */
static ex_storage_status import_multipart(const s3_storage *storage, const char *tenant_id, const char *key, int fd,
					  uint64_t size, char *err, size_t errlen)
{
	uint64_t part_count64 = (size + storage->part_size - 1) / storage->part_size;
	char upload_id[UPLOAD_ID_MAX];

	if (part_count64 > MAX_PARTS)
		return ex_storage_fail(err, errlen, "object %s of %" PRIu64 " bytes needs more than %d parts; raise the "
				       "S3 part size", key, size, MAX_PARTS);
	unsigned part_count = (unsigned)part_count64;
	char **etags = calloc(part_count, sizeof(*etags));
	if (etags == NULL)
		return ex_storage_fail(err, errlen, "out of memory");
	ex_storage_status status = create_multipart(storage, tenant_id, key, upload_id, err, errlen);
	bool started = status == EX_STORAGE_OK;
	for (unsigned i = 0; status == EX_STORAGE_OK && i < part_count; i++) {
		uint64_t offset = (uint64_t)i * storage->part_size;
		s3_body body = { .fd = fd, .offset = (off_t)offset,
				 .length = size - offset < storage->part_size ? size - offset : storage->part_size };
		status = upload_part(storage, tenant_id, key, upload_id, i + 1, &body, &etags[i], err, errlen);
	}
	if (status == EX_STORAGE_OK)
		status = complete_multipart(storage, tenant_id, key, upload_id, (const char *const *)etags, part_count,
					    err, errlen);
	if (status != EX_STORAGE_OK && started)
		abort_multipart(storage, tenant_id, key, upload_id);
	for (unsigned i = 0; i < part_count; i++)
		free(etags[i]);
	free(etags);
	return status;
}

static ex_storage_status s3_import_file(ex_storage *base, const char *tenant_id, const char *key, const char *path,
					char *err, size_t errlen)
{
	const s3_storage *storage = (const s3_storage *)base;
	struct stat info;
	ex_storage_status status;

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ex_storage_fail(err, errlen, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &info) != 0) {
		status = ex_storage_fail(err, errlen, "stat of %s failed: %s", path, strerror(errno));
		close(fd);
		return status;
	}
	uint64_t size = (uint64_t)info.st_size;
	if (size <= storage->part_size) {
		s3_body body = { .fd = fd, .length = size };
		status = put_object(storage, tenant_id, key, &body, err, errlen);
	} else {
		status = import_multipart(storage, tenant_id, key, fd, size, err, errlen);
	}
	close(fd);
	if (status == EX_STORAGE_OK && unlink(path) != 0)
		return ex_storage_fail(err, errlen, "the object was stored but %s could not be removed: %s", path,
				       strerror(errno));
	return status;
}

/* ---- multipart objects built over time ---- */

static ex_storage_status s3_parts_begin(ex_storage *base, const char *tenant_id, const char *key, char *upload_id,
					char *err, size_t errlen)
{
	return create_multipart((const s3_storage *)base, tenant_id, key, upload_id, err, errlen);
}

static ex_storage_status s3_parts_put(ex_storage *base, const char *tenant_id, const char *key, const char *upload_id,
				      unsigned part_number, int fd, uint64_t offset, uint64_t length, char *etag,
				      char *err, size_t errlen)
{
	s3_body body = { .fd = fd, .offset = (off_t)offset, .length = length };
	char *received = NULL;

	ex_storage_status status = upload_part((const s3_storage *)base, tenant_id, key, upload_id, part_number, &body,
					       &received, err, errlen);
	if (status != EX_STORAGE_OK)
		return status;
	if (received == NULL)
		return ex_storage_fail(err, errlen, "out of memory");
	if (strlen(received) >= EX_STORAGE_ETAG_MAX) {
		free(received);
		return ex_storage_fail(err, errlen, "S3 UploadPart of %s returned an ETag longer than %d bytes", key,
				       EX_STORAGE_ETAG_MAX - 1);
	}
	snprintf(etag, EX_STORAGE_ETAG_MAX, "%s", received);
	free(received);
	return EX_STORAGE_OK;
}

static ex_storage_status s3_parts_complete(ex_storage *base, const char *tenant_id, const char *key,
					   const char *upload_id, const char *const *etags, unsigned count, char *err,
					   size_t errlen)
{
	return complete_multipart((const s3_storage *)base, tenant_id, key, upload_id, etags, count, err, errlen);
}

static ex_storage_status s3_parts_abort(ex_storage *base, const char *tenant_id, const char *key,
					const char *upload_id, char *err, size_t errlen)
{
	return abort_multipart_checked((const s3_storage *)base, tenant_id, key, upload_id, err, errlen);
}

/* ---- streaming reader ---- */

static size_t reader_take(char *data, size_t size, size_t count, void *context)
{
	s3_reader *reader = context;
	size_t length = size * count;

	if (reader->end + length > sizeof(reader->buffer) && reader->start > 0) {
		memmove(reader->buffer, reader->buffer + reader->start, reader->end - reader->start);
		reader->end -= reader->start;
		reader->start = 0;
	}
	if (reader->end + length > sizeof(reader->buffer)) {
		reader->paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	memcpy(reader->buffer + reader->end, data, length);
	reader->end += length;
	return length;
}

/* Runs the transfer until bytes are buffered or it ends. Returns 0, or -1 when libcurl fails. */
static int reader_pump(s3_reader *reader)
{
	while (reader->start == reader->end && !reader->done) {
		if (reader->paused) {
			reader->paused = false;
			curl_easy_pause(reader->easy, CURLPAUSE_CONT);
			continue;
		}
		int running = 0;
		if (curl_multi_perform(reader->multi, &running) != CURLM_OK)
			return -1;
		int left = 0;
		CURLMsg *message;
		while ((message = curl_multi_info_read(reader->multi, &left)) != NULL) {
			if (message->msg == CURLMSG_DONE) {
				reader->done = true;
				reader->result = message->data.result;
			}
		}
		if (reader->start == reader->end && !reader->done && !reader->paused &&
		    curl_multi_poll(reader->multi, NULL, 0, 1000, NULL) != CURLM_OK)
			return -1;
	}
	return 0;
}

/* Ends the reader's transfer and empties its buffer. */
static void reader_stop(s3_reader *reader)
{
	if (reader->multi != NULL && reader->easy != NULL)
		curl_multi_remove_handle(reader->multi, reader->easy);
	curl_easy_cleanup(reader->easy);
	curl_multi_cleanup(reader->multi);
	curl_slist_free_all(reader->headers);
	reader->easy = NULL;
	reader->multi = NULL;
	reader->headers = NULL;
	reader->start = reader->end = 0;
	reader->paused = reader->done = false;
	reader->result = CURLE_OK;
}

static void s3_reader_close(ex_storage_reader *base)
{
	s3_reader *reader = (s3_reader *)base;

	reader_stop(reader);
	free(reader->url);
	free(reader);
}

/* Starts the GET of URL from byte FIRST (a ranged GET unless 0) and waits for its first bytes or its end. */
static ex_storage_status reader_start(const s3_storage *storage, s3_reader *reader, const char *url, uint64_t first,
				      char *err, size_t errlen)
{
	char hash_header[96] = "x-amz-content-sha256: ";
	char range[32];

	reader->multi = curl_multi_init();
	reader->easy = curl_easy_init();
	if (reader->multi == NULL || reader->easy == NULL || s3_body_sha256(NULL, hash_header + strlen(hash_header)) != 0)
		return ex_storage_fail(err, errlen, "out of memory");
	reader->headers = curl_slist_append(NULL, hash_header);
	s3_configure_easy(storage, reader->easy);
	curl_easy_setopt(reader->easy, CURLOPT_URL, url);
	curl_easy_setopt(reader->easy, CURLOPT_HTTPHEADER, reader->headers);
	curl_easy_setopt(reader->easy, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(reader->easy, CURLOPT_WRITEFUNCTION, reader_take);
	curl_easy_setopt(reader->easy, CURLOPT_WRITEDATA, reader);
	if (first > 0) {
		snprintf(range, sizeof(range), "%" PRIu64 "-", first);
		curl_easy_setopt(reader->easy, CURLOPT_RANGE, range);
	}
	curl_multi_add_handle(reader->multi, reader->easy);
	if (reader_pump(reader) != 0)
		return ex_storage_fail(err, errlen, "GET %s failed in libcurl", url);
	return EX_STORAGE_OK;
}

static ex_storage_status s3_open_read(ex_storage *base, const char *tenant_id, const char *key,
				      ex_storage_reader **out, uint64_t *size, char *err, size_t errlen)
{
	const s3_storage *storage = (const s3_storage *)base;
	char *url = s3_object_url(storage, tenant_id, key, NULL);
	s3_reader *reader = NULL;
	ex_storage_status status = EX_STORAGE_IO_ERROR;

	if (url == NULL)
		return ex_storage_fail(err, errlen, "out of memory");
	/* Only the start of a read is retried: once bytes reached the caller, a failure ends the read. */
	for (unsigned attempt = 1; attempt <= storage->max_attempts; attempt++) {
		long http_status = 0;
		reader = calloc(1, sizeof(*reader));
		if (reader == NULL) {
			status = ex_storage_fail(err, errlen, "out of memory");
			break;
		}
		reader->base.backend = &s3_backend;
		status = reader_start(storage, reader, url, 0, err, errlen);
		curl_easy_getinfo(reader->easy, CURLINFO_RESPONSE_CODE, &http_status);
		if (status == EX_STORAGE_OK && reader->done && reader->result != CURLE_OK) {
			if (http_status == 404) {
				snprintf(err, errlen, "object %s not found", key);
				status = EX_STORAGE_NOT_FOUND;
			} else {
				status = ex_storage_fail(err, errlen, "GET %s failed: HTTP %ld, %s", url, http_status,
							 curl_easy_strerror(reader->result));
			}
		}
		if (status == EX_STORAGE_OK)
			break;
		s3_reader_close(&reader->base);
		reader = NULL;
		bool retryable = http_status == 0 || http_status >= 500;
		if (status == EX_STORAGE_NOT_FOUND || !retryable || attempt == storage->max_attempts)
			break;
		struct timespec delay = { .tv_sec = 0, .tv_nsec = (long)storage->retry_delay_ms * 1000000L << (attempt - 1) };
		if (delay.tv_nsec >= 1000000000L) {
			delay.tv_sec = delay.tv_nsec / 1000000000L;
			delay.tv_nsec %= 1000000000L;
		}
		nanosleep(&delay, NULL);
	}
	if (status != EX_STORAGE_OK || reader == NULL) {
		free(url);
		return status != EX_STORAGE_OK ? status : ex_storage_fail(err, errlen, "GET of %s was not attempted", key);
	}
	reader->storage = storage;
	reader->url = url;
	curl_off_t length = 0;
	curl_easy_getinfo(reader->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
	if (size != NULL)
		*size = length > 0 ? (uint64_t)length : 0;
	*out = &reader->base;
	return EX_STORAGE_OK;
}

static ssize_t s3_read(ex_storage_reader *base, void *buffer, size_t length)
{
	s3_reader *reader = (s3_reader *)base;

	if (reader_pump(reader) != 0)
		return -1;
	if (reader->start == reader->end)
		return reader->result == CURLE_OK ? 0 : -1;
	size_t available = reader->end - reader->start;
	size_t take = length < available ? length : available;
	memcpy(buffer, reader->buffer + reader->start, take);
	reader->start += take;
	reader->position += take;
	return (ssize_t)take;
}

static int s3_skip(ex_storage_reader *base, uint64_t count)
{
	s3_reader *reader = (s3_reader *)base;
	char buffer[64 * 1024];

	while (count > 0) {
		uint64_t buffered = reader->end - reader->start;
		if (buffered == 0 && count > SKIP_BY_READING) {
			char err[EX_STORAGE_ERROR_MAX];
			long http_status = 0;
			uint64_t target = reader->position + count;
			reader_stop(reader);
			if (reader_start(reader->storage, reader, reader->url, target, err, sizeof(err)) != EX_STORAGE_OK)
				return -1;
			curl_easy_getinfo(reader->easy, CURLINFO_RESPONSE_CODE, &http_status);
			/* A server that ignores Range returns 200 with the whole object. */
			if (http_status != 206)
				return -1;
			reader->position = target;
			return 0;
		}
		size_t step = count < sizeof(buffer) ? (size_t)count : sizeof(buffer);
		if (buffered > 0 && step > buffered)
			step = (size_t)buffered;
		ssize_t got = s3_read(base, buffer, step);
		if (got <= 0)
			return -1;
		count -= (uint64_t)got;
	}
	return 0;
}

/* ---- stat, delete, sweep ---- */

static ex_storage_status s3_stat(ex_storage *base, const char *tenant_id, const char *key, uint64_t *size,
				 char *err, size_t errlen)
{
	const s3_storage *storage = (const s3_storage *)base;
	s3_response response = { 0 };
	char *url = s3_object_url(storage, tenant_id, key, NULL);
	ex_storage_status status = url ? s3_perform(storage, "HEAD", url, NULL, NULL, &response, err, errlen)
				       : ex_storage_fail(err, errlen, "out of memory");

	free(url);
	if (status != EX_STORAGE_OK)
		return status;
	if (response.status == 200 && response.has_content_length)
		*size = response.content_length;
	else
		status = fail_status(&response, "HeadObject", key, err, errlen);
	s3_response_clear(&response);
	return status;
}

static ex_storage_status s3_delete(ex_storage *base, const char *tenant_id, const char *key, char *err,
				   size_t errlen)
{
	const s3_storage *storage = (const s3_storage *)base;
	uint64_t size = 0;
	s3_response response = { 0 };

	/* DeleteObject returns 204 for a missing key too, so a HEAD tells the two apart. */
	ex_storage_status status = s3_stat(base, tenant_id, key, &size, err, errlen);
	if (status != EX_STORAGE_OK)
		return status;
	char *url = s3_object_url(storage, tenant_id, key, NULL);
	status = url ? s3_perform(storage, "DELETE", url, NULL, NULL, &response, err, errlen)
		     : ex_storage_fail(err, errlen, "out of memory");
	free(url);
	if (status != EX_STORAGE_OK)
		return status;
	if (response.status != 204 && response.status != 200)
		status = fail_status(&response, "DeleteObject", key, err, errlen);
	s3_response_clear(&response);
	return status;
}

/*
 * NOTE: multipart uploads left by a crash between begin and commit are
 * not listed or aborted here; a bucket lifecycle rule
 * (AbortIncompleteMultipartUpload) removes them.
 */
static int s3_sweep_temporary(ex_storage *storage, unsigned max_age_seconds)
{
	(void)storage;
	(void)max_age_seconds;
	return 0;
}

static const ex_storage_backend s3_backend = {
	.free = s3_free,
	.writer_begin = s3_writer_begin,
	.writer_write = s3_writer_write,
	.writer_commit = s3_writer_commit,
	.writer_abort = s3_writer_abort,
	.import_file = s3_import_file,
	.open_read = s3_open_read,
	.read = s3_read,
	.skip = s3_skip,
	.reader_close = s3_reader_close,
	.delete_object = s3_delete,
	.stat = s3_stat,
	.sweep_temporary = s3_sweep_temporary,
	.parts_begin = s3_parts_begin,
	.parts_put = s3_parts_put,
	.parts_complete = s3_parts_complete,
	.parts_abort = s3_parts_abort,
};
