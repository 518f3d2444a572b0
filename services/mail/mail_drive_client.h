/*
 * Reads a user's file from expresso-drive over its HTTP API, as that user:
 * the caller passes the Authorization header of the mail API request, so
 * drive applies its own ownership and tenant checks. Used to attach drive
 * files to messages written through the mail API. Never touches drive's
 * tables or storage.
 */
#ifndef EXPRESSO_MAIL_DRIVE_CLIENT_H
#define EXPRESSO_MAIL_DRIVE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
	EX_MAIL_DRIVE_OK = 0,
	EX_MAIL_DRIVE_NOT_FOUND,   /* drive returned 400, 403 or 404: no such file for this user */
	EX_MAIL_DRIVE_TOO_LARGE,   /* the file has more than max_bytes; reading stopped there */
	EX_MAIL_DRIVE_UNAVAILABLE, /* no response, a timeout, a 401, a 5xx or an unreadable reply */
	EX_MAIL_DRIVE_NO_MEMORY,
} ex_mail_drive_status;

typedef struct {
	const char *base_url;      /* "http://127.0.0.1:8004", without a trailing slash */
	const char *authorization; /* the request's "Bearer <token>" header value */
	const char *request_id;    /* sent as X-Request-Id; may be NULL */
	uint64_t timeout_ms;       /* for each of the two requests */
} ex_mail_drive_caller;

typedef struct {
	char *filename;     /* the file's name in drive */
	char *content_type; /* its media type, "application/octet-stream" when drive has none */
	unsigned char *data;
	size_t length;
} ex_mail_drive_file;

/*
 * Fetches the metadata (GET /api/v1/drive/files/{id}) and the current
 * content (GET .../content) of FILE_ID into OUT, reading at most MAX_BYTES
 * of content. On failure OUT is empty and ERR describes the failure.
 */
ex_mail_drive_status ex_mail_drive_fetch(const ex_mail_drive_caller *caller, const char *file_id, uint64_t max_bytes,
					 ex_mail_drive_file *out, char *err, size_t errlen);

void ex_mail_drive_file_clear(ex_mail_drive_file *file);

#endif
