/*
 * One signed S3 request with retries: libcurl signs it with AWS Signature
 * Version 4 (CURLOPT_AWS_SIGV4) over path-style URLs
 * (<endpoint>/<bucket>/<tenant>/<key>). A body comes from memory or from a
 * region of a file and is streamed, so a retry reads it again.
 */
#ifndef EXPRESSO_STORAGE_S3_REQUEST_H
#define EXPRESSO_STORAGE_S3_REQUEST_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend.h"

typedef struct {
	ex_storage base;
	char *endpoint; /* scheme://host[:port], without a trailing slash */
	char *bucket;
	/* Set apart (CURLOPT_USERNAME, CURLOPT_PASSWORD), because an access key may contain ':' (Swift's s3api). */
	char *access_key;
	char *secret_key; /* never logged */
	char sigv4[128];  /* CURLOPT_AWS_SIGV4 value: aws:amz:<region>:s3 */
	char *ca_file;
	uint64_t part_size;
	unsigned max_attempts;
	unsigned retry_delay_ms;
	unsigned timeout_ms;
} s3_storage;

/* A request body: LENGTH bytes from MEMORY, or from file FD at OFFSET when MEMORY is NULL. */
typedef struct {
	const unsigned char *memory;
	int fd;
	off_t offset;
	uint64_t length;
	uint64_t position; /* bytes handed to libcurl in this attempt */
} s3_body;

enum { S3_RESPONSE_MAX = 64 * 1024 }; /* bytes of a response body kept (XML results and errors) */

typedef struct {
	long status;
	char *body; /* NUL terminated; at most S3_RESPONSE_MAX bytes */
	size_t length;
	char etag[128];
	uint64_t content_length;
	bool has_content_length;
} s3_response;

/*
 * Builds the URL of TENANT_ID/KEY with an optional QUERY (already encoded,
 * parameters in sorted order as SigV4 canonical queries need). Returns a
 * string the caller frees, or NULL.
 */
char *s3_object_url(const s3_storage *storage, const char *tenant_id, const char *key, const char *query);

/*
 * Sends METHOD to URL with BODY (or none) and fills *response. Retries
 * transport errors, 500, 502, 503 and 504 up to storage->max_attempts
 * times with a doubling delay. Returns EX_STORAGE_OK when an HTTP response
 * arrived (any status), else EX_STORAGE_IO_ERROR with ERR filled in.
 */
ex_storage_status s3_perform(const s3_storage *storage, const char *method, const char *url, s3_body *body,
			     const char *content_type, s3_response *response, char *err, size_t errlen);

void s3_response_clear(s3_response *response);

/* Sets the options every request shares on EASY: signing, credentials, timeouts, TLS. */
void s3_configure_easy(const s3_storage *storage, CURL *easy);

/* Writes the lowercase hex SHA-256 of BODY's bytes into HEX. Returns 0 or -1 (read error). */
int s3_body_sha256(const s3_body *body, char hex[65]);

#endif
