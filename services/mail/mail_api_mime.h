/*
 * Reading stored messages for the JSON API with GMime 3: decoded header
 * fields (RFC 2047), the text and HTML bodies in UTF-8, and the list and
 * content of attachments by part id. Part ids follow IMAP section numbers
 * (RFC 9051 section 6.4.5): "1" for a single-part message, "2.1" for the
 * first child of the second part of a multipart.
 */
#ifndef EXPRESSO_MAIL_API_MIME_H
#define EXPRESSO_MAIL_API_MIME_H

#include <jansson.h>
#include <stddef.h>

enum {
	EX_MAIL_PART_ID_MAX = 64,  /* bytes of a part id */
	EX_MAIL_PART_MAX_DEPTH = 16, /* multipart nesting that is walked; deeper parts are not listed */
};

/* Returns the decoded UTF-8 text of a raw header value (NULL in, NULL out); the caller frees it with free(). */
char *ex_mail_api_decode_header(const char *raw);

/* Returns [{"name": ..., "address": ...}, ...] for a raw address list; [] for NULL. */
json_t *ex_mail_api_addresses_json(const char *raw);

/*
 * Parses a whole message and returns {"text", "html", "attachments"} with
 * every attachment as {"part_id", "filename", "content_type", "size",
 * "inline", "content_id"}. NULL when the message cannot be parsed.
 */
json_t *ex_mail_api_message_body_json(const char *content, size_t length);

typedef struct {
	char *data; /* decoded content, malloc'd */
	size_t length;
	char *content_type; /* "type/subtype" as written in the message */
	char *filename;     /* UTF-8, or NULL */
} ex_mail_api_part;

/* Finds the leaf part PART_ID and decodes it into PART. Returns 0, 1 when there is no such part, -1 on failure. */
int ex_mail_api_find_part(const char *content, size_t length, const char *part_id, ex_mail_api_part *part);
void ex_mail_api_part_clear(ex_mail_api_part *part);

/* Returns true when PART_ID is digits separated by single dots, e.g. "2.1". */
int ex_mail_api_part_id_is_valid(const char *part_id);

#endif
