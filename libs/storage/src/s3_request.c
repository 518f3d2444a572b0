/*
 * Signed S3 requests with retries (see s3_request.h). Every request sends
 * x-amz-content-sha256 with the real digest of its body, computed before
 * the request by reading the body once, because libcurl hashes only a
 * body it has in memory (CURLOPT_POSTFIELDS) and these bodies are streamed. The digest is part of the signature,
 * so the server rejects a body that changed on the way.
 */
#include "s3_request.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "expresso/log.h"

enum { HASH_BUFFER = 256 * 1024, MAX_RETRY_DELAY_MS = 5000 };

char *s3_object_url(const s3_storage *storage, const char *tenant_id, const char *key, const char *query)
{
	size_t size = strlen(storage->endpoint) + strlen(storage->bucket) + strlen(tenant_id) + strlen(key) +
		      (query ? strlen(query) : 0) + 8;
	char *url = malloc(size);

	if (url == NULL)
		return NULL;
	snprintf(url, size, "%s/%s/%s/%s%s%s", storage->endpoint, storage->bucket, tenant_id, key, query ? "?" : "",
		 query ? query : "");
	return url;
}

void s3_response_clear(s3_response *response)
{
	free(response->body);
	memset(response, 0, sizeof(*response));
}

int s3_body_sha256(const s3_body *body, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char digest[32];
	unsigned int digest_length = 0;
	EVP_MD_CTX *context = EVP_MD_CTX_new();
	unsigned char *buffer = NULL;
	int result = -1;

	if (context == NULL || EVP_DigestInit_ex(context, EVP_sha256(), NULL) != 1)
		goto done;
	if (body != NULL && body->memory != NULL) {
		if (EVP_DigestUpdate(context, body->memory, (size_t)body->length) != 1)
			goto done;
	} else if (body != NULL) {
		buffer = malloc(HASH_BUFFER);
		if (buffer == NULL)
			goto done;
		for (uint64_t done_bytes = 0; done_bytes < body->length;) {
			size_t want = body->length - done_bytes < HASH_BUFFER ? (size_t)(body->length - done_bytes)
									   : HASH_BUFFER;
			ssize_t got = pread(body->fd, buffer, want, body->offset + (off_t)done_bytes);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0 || EVP_DigestUpdate(context, buffer, (size_t)got) != 1)
				goto done;
			done_bytes += (uint64_t)got;
		}
	}
	if (EVP_DigestFinal_ex(context, digest, &digest_length) != 1)
		goto done;
	for (unsigned i = 0; i < digest_length; i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 0xf];
	}
	hex[2 * digest_length] = '\0';
	result = 0;
done:
	free(buffer);
	EVP_MD_CTX_free(context);
	return result;
}

static size_t read_body(char *out, size_t size, size_t count, void *context)
{
	s3_body *body = context;
	uint64_t left = body->length - body->position;
	size_t want = size * count < left ? size * count : (size_t)left;

	if (want == 0)
		return 0;
	if (body->memory != NULL) {
		memcpy(out, body->memory + body->position, want);
		body->position += want;
		return want;
	}
	for (;;) {
		ssize_t got = pread(body->fd, out, want, body->offset + (off_t)body->position);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return CURL_READFUNC_ABORT;
		body->position += (uint64_t)got;
		return (size_t)got;
	}
}

static size_t keep_response(char *data, size_t size, size_t count, void *context)
{
	s3_response *response = context;
	size_t length = size * count;
	size_t keep = response->length + length > S3_RESPONSE_MAX ? S3_RESPONSE_MAX - response->length : length;

	if (keep > 0) {
		char *grown = realloc(response->body, response->length + keep + 1);
		if (grown == NULL)
			return 0;
		response->body = grown;
		memcpy(response->body + response->length, data, keep);
		response->length += keep;
		response->body[response->length] = '\0';
	}
	return length;
}

/* Keeps the ETag header, which UploadPart returns and CompleteMultipartUpload needs. */
static size_t keep_header(char *data, size_t size, size_t count, void *context)
{
	s3_response *response = context;
	size_t length = size * count;
	static const char name[] = "etag:";

	if (length > sizeof(name) && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		size_t start = sizeof(name) - 1;
		while (start < length && data[start] == ' ')
			start++;
		size_t end = length;
		while (end > start && (data[end - 1] == '\r' || data[end - 1] == '\n' || data[end - 1] == ' '))
			end--;
		if (end - start < sizeof(response->etag)) {
			memcpy(response->etag, data + start, end - start);
			response->etag[end - start] = '\0';
		}
	}
	return length;
}

void s3_configure_easy(const s3_storage *storage, CURL *easy)
{
	curl_easy_setopt(easy, CURLOPT_AWS_SIGV4, storage->sigv4);
	curl_easy_setopt(easy, CURLOPT_USERNAME, storage->access_key);
	curl_easy_setopt(easy, CURLOPT_PASSWORD, storage->secret_key);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)storage->timeout_ms);
	/* A transfer that moves less than 1 byte/s for the timeout is abandoned. */
	curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, (long)(storage->timeout_ms / 1000 > 0 ? storage->timeout_ms / 1000 : 1));
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	if (storage->ca_file != NULL)
		curl_easy_setopt(easy, CURLOPT_CAINFO, storage->ca_file);
}

static bool is_retryable(CURLcode code, long status)
{
	if (code == CURLE_OK)
		return status == 500 || status == 502 || status == 503 || status == 504;
	return code == CURLE_COULDNT_CONNECT || code == CURLE_OPERATION_TIMEDOUT || code == CURLE_SEND_ERROR ||
	       code == CURLE_RECV_ERROR || code == CURLE_GOT_NOTHING || code == CURLE_PARTIAL_FILE;
}

static void sleep_ms(unsigned milliseconds)
{
	struct timespec delay = { .tv_sec = milliseconds / 1000, .tv_nsec = (long)(milliseconds % 1000) * 1000000L };
	while (nanosleep(&delay, &delay) != 0 && errno == EINTR) {
	}
}

/* Sends the request once. */
static CURLcode perform_once(const s3_storage *storage, const char *method, const char *url, s3_body *body,
			     struct curl_slist *headers, s3_response *response)
{
	CURL *easy = curl_easy_init();
	if (easy == NULL)
		return CURLE_OUT_OF_MEMORY;
	s3_configure_easy(storage, easy);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep_response);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, response);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, keep_header);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, response);
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
	} else if (body != NULL) {
		body->position = 0;
		curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(easy, CURLOPT_READFUNCTION, read_body);
		curl_easy_setopt(easy, CURLOPT_READDATA, body);
		curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body->length);
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
	}

	CURLcode code = curl_easy_perform(easy);
	if (code == CURLE_OK) {
		curl_off_t length = -1;
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response->status);
		if (curl_easy_getinfo(easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK && length >= 0) {
			response->content_length = (uint64_t)length;
			response->has_content_length = true;
		}
	}
	curl_easy_cleanup(easy);
	return code;
}

ex_storage_status s3_perform(const s3_storage *storage, const char *method, const char *url, s3_body *body,
			     const char *content_type, s3_response *response, char *err, size_t errlen)
{
	char hash_header[96] = "x-amz-content-sha256: ";
	char type_header[128];
	struct curl_slist *headers = NULL;
	unsigned delay_ms = storage->retry_delay_ms;
	CURLcode code = CURLE_OK;

	memset(response, 0, sizeof(*response));
	if (s3_body_sha256(body, hash_header + strlen(hash_header)) != 0)
		return ex_storage_fail(err, errlen, "reading the body of %s %s failed: %s", method, url, strerror(errno));
	/*
	 * NOTE: an "Expect:" line (to drop 100-continue) breaks the signature
	 * with libcurl 7.88.1: the server computes another one.
	 */
	headers = curl_slist_append(headers, hash_header);
	if (content_type != NULL) {
		snprintf(type_header, sizeof(type_header), "Content-Type: %s", content_type);
		headers = curl_slist_append(headers, type_header);
	}

	for (unsigned attempt = 1;; attempt++) {
		s3_response_clear(response);
		code = perform_once(storage, method, url, body, headers, response);
		if (!is_retryable(code, response->status) || attempt >= storage->max_attempts)
			break;
		ex_log(EX_LOG_WARN, "s3_request_retry", "{s:s, s:s, s:i, s:i, s:s}", "method", method, "url", url,
		       "attempt", (int)attempt, "status", (int)response->status, "error",
		       code == CURLE_OK ? "server error" : curl_easy_strerror(code));
		sleep_ms(delay_ms);
		delay_ms = delay_ms * 2 > MAX_RETRY_DELAY_MS ? MAX_RETRY_DELAY_MS : delay_ms * 2;
	}
	curl_slist_free_all(headers);
	if (code != CURLE_OK)
		return ex_storage_fail(err, errlen, "%s %s failed: %s", method, url, curl_easy_strerror(code));
	return EX_STORAGE_OK;
}
