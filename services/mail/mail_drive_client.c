/*
 * expresso-drive client for drive attachments. Two GET requests with
 * libcurl carry the user's own Authorization header: the metadata gives the
 * name, type and size, then the content is read into memory, stopping as
 * soon as it passes the caller's limit. Redirects are not followed and
 * only http and https are allowed, so the base URL setting alone decides
 * where the token goes.
 */
#include "mail_drive_client.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	MAX_METADATA = 64 * 1024, /* bytes of the metadata reply */
	MAX_HEADER = 8192,        /* bytes of one request header line we send */
};

/* A response body read into memory, up to limit bytes. */
typedef struct {
	unsigned char *data;
	size_t length;
	size_t capacity;
	uint64_t limit;
	bool over_limit;
	bool no_memory;
} body_buffer;

static size_t take_body(char *bytes, size_t size, size_t count, void *opaque)
{
	body_buffer *body = opaque;
	size_t length = size * count;

	if (length > body->limit - body->length) {
		body->over_limit = true;
		return 0; /* libcurl stops the transfer with CURLE_WRITE_ERROR */
	}
	if (body->length + length + 1 > body->capacity) {
		size_t capacity = body->capacity ? body->capacity : 16384;
		while (capacity < body->length + length + 1)
			capacity *= 2;
		unsigned char *grown = realloc(body->data, capacity);
		if (grown == NULL) {
			body->no_memory = true;
			return 0;
		}
		body->data = grown;
		body->capacity = capacity;
	}
	memcpy(body->data + body->length, bytes, length);
	body->length += length;
	body->data[body->length] = '\0';
	return length;
}

/* Runs one GET of BASE_URL + PATH into BODY; returns the HTTP status, or 0 when drive did not respond. */
static long get(const ex_mail_drive_caller *caller, const char *path, body_buffer *body, char *err, size_t errlen)
{
	char url[2048];
	char authorization[MAX_HEADER];
	char request_id[256];
	long status = 0;

	if (snprintf(url, sizeof(url), "%s%s", caller->base_url, path) >= (int)sizeof(url) ||
	    snprintf(authorization, sizeof(authorization), "Authorization: %s", caller->authorization) >=
		    (int)sizeof(authorization)) {
		snprintf(err, errlen, "the drive URL or the access token is too long");
		return 0;
	}
	CURL *easy = curl_easy_init();
	struct curl_slist *headers = curl_slist_append(NULL, authorization);
	if (headers != NULL && caller->request_id != NULL) {
		snprintf(request_id, sizeof(request_id), "X-Request-Id: %s", caller->request_id);
		struct curl_slist *more = curl_slist_append(headers, request_id);
		headers = more != NULL ? more : headers;
	}
	if (easy == NULL || headers == NULL) {
		body->no_memory = true;
		curl_slist_free_all(headers);
		if (easy != NULL)
			curl_easy_cleanup(easy);
		return 0;
	}

	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)caller->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)caller->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, take_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, body);

	CURLcode code = curl_easy_perform(easy);
	if (code == CURLE_OK)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	else if (!body->over_limit && !body->no_memory)
		snprintf(err, errlen, "expresso-drive at %s did not respond: %s", caller->base_url, curl_easy_strerror(code));
	curl_slist_free_all(headers);
	curl_easy_cleanup(easy);
	return status;
}

/* Maps a non-200 status of a request for FILE_ID to a status and a message. */
static ex_mail_drive_status status_error(long status, const char *file_id, char *err, size_t errlen)
{
	if (status == 403 || status == 404 || status == 400) {
		snprintf(err, errlen, "drive file %s does not exist or is not yours", file_id);
		return EX_MAIL_DRIVE_NOT_FOUND;
	}
	if (status == 401)
		snprintf(err, errlen, "expresso-drive rejected the access token for file %s", file_id);
	else
		snprintf(err, errlen, "expresso-drive answered %ld for file %s", status, file_id);
	return EX_MAIL_DRIVE_UNAVAILABLE;
}

/* Reads name, content_type and size from the metadata reply into OUT. */
static ex_mail_drive_status read_metadata(const body_buffer *body, const char *file_id, ex_mail_drive_file *out,
					  uint64_t *size, char *err, size_t errlen)
{
	json_t *metadata = json_loadb((const char *)body->data, body->length, 0, NULL);
	const char *name = json_string_value(json_object_get(metadata, "name"));
	const char *content_type = json_string_value(json_object_get(metadata, "content_type"));
	json_t *size_value = json_object_get(metadata, "size");

	if (name == NULL || !json_is_integer(size_value) || json_integer_value(size_value) < 0) {
		json_decref(metadata);
		snprintf(err, errlen, "expresso-drive sent unreadable metadata for file %s", file_id);
		return EX_MAIL_DRIVE_UNAVAILABLE;
	}
	*size = (uint64_t)json_integer_value(size_value);
	out->filename = strdup(name);
	if (content_type == NULL || content_type[0] == '\0')
		content_type = "application/octet-stream";
	/* Only "type/subtype" goes into the attachment's header; parameters such as charset are dropped. */
	size_t type_length = strcspn(content_type, "; \t");
	out->content_type = strndup(content_type, type_length);
	json_decref(metadata);
	return out->filename != NULL && out->content_type != NULL ? EX_MAIL_DRIVE_OK : EX_MAIL_DRIVE_NO_MEMORY;
}

static ex_mail_drive_status too_large(const char *file_id, uint64_t max_bytes, char *err, size_t errlen)
{
	snprintf(err, errlen, "drive file %s is larger than %llu bytes", file_id, (unsigned long long)max_bytes);
	return EX_MAIL_DRIVE_TOO_LARGE;
}

static ex_mail_drive_status fetch(const ex_mail_drive_caller *caller, const char *file_id, uint64_t max_bytes,
				  ex_mail_drive_file *out, char *err, size_t errlen)
{
	char path[256];
	uint64_t size = 0;

	snprintf(path, sizeof(path), "/api/v1/drive/files/%s", file_id);
	body_buffer metadata = { .limit = MAX_METADATA };
	long status = get(caller, path, &metadata, err, errlen);
	ex_mail_drive_status result = EX_MAIL_DRIVE_OK;
	if (metadata.no_memory)
		result = EX_MAIL_DRIVE_NO_MEMORY;
	else if (metadata.over_limit)
		snprintf(err, errlen, "expresso-drive sent more than %d bytes of metadata for file %s", MAX_METADATA, file_id);
	if (result == EX_MAIL_DRIVE_OK && (status == 0 || metadata.over_limit))
		result = EX_MAIL_DRIVE_UNAVAILABLE;
	else if (result == EX_MAIL_DRIVE_OK && status != 200)
		result = status_error(status, file_id, err, errlen);
	if (result == EX_MAIL_DRIVE_OK)
		result = read_metadata(&metadata, file_id, out, &size, err, errlen);
	free(metadata.data);
	if (result != EX_MAIL_DRIVE_OK)
		return result;
	if (size > max_bytes)
		return too_large(file_id, max_bytes, err, errlen);

	/* The metadata's size is only a hint: the content may have changed since, so the limit is enforced while reading. */
	snprintf(path, sizeof(path), "/api/v1/drive/files/%s/content", file_id);
	body_buffer content = { .limit = max_bytes };
	status = get(caller, path, &content, err, errlen);
	if (content.no_memory)
		result = EX_MAIL_DRIVE_NO_MEMORY;
	else if (content.over_limit)
		result = too_large(file_id, max_bytes, err, errlen);
	else if (status == 0)
		result = EX_MAIL_DRIVE_UNAVAILABLE;
	else if (status != 200)
		result = status_error(status, file_id, err, errlen);
	if (result != EX_MAIL_DRIVE_OK) {
		free(content.data);
		return result;
	}
	out->data = content.data != NULL ? content.data : malloc(1);
	out->length = content.length;
	return out->data != NULL ? EX_MAIL_DRIVE_OK : EX_MAIL_DRIVE_NO_MEMORY;
}

ex_mail_drive_status ex_mail_drive_fetch(const ex_mail_drive_caller *caller, const char *file_id, uint64_t max_bytes,
					 ex_mail_drive_file *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	ex_mail_drive_status status = fetch(caller, file_id, max_bytes, out, err, errlen);
	if (status == EX_MAIL_DRIVE_NO_MEMORY)
		snprintf(err, errlen, "out of memory while reading drive file %s", file_id);
	if (status != EX_MAIL_DRIVE_OK)
		ex_mail_drive_file_clear(out);
	return status;
}

void ex_mail_drive_file_clear(ex_mail_drive_file *file)
{
	free(file->filename);
	free(file->content_type);
	free(file->data);
	memset(file, 0, sizeof(*file));
}
