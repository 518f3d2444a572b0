/*
 * Parser of the tus concatenation extension's Upload-Concat header:
 * "partial", or "final;" followed by the space-separated URLs of the
 * partial uploads in the order their bytes are joined. A URL is either
 * the upload's path (/api/v1/drive/uploads/<id>) or that path behind a
 * scheme and authority ("http://host:port"), as tus-js-client resolves the
 * Location it was given. Only the upload id is kept; the host is not
 * checked, because the id alone names the upload.
 */
#include <string.h>
#include <strings.h>

#include "drive_parse.h"

#define UPLOADS_PATH_PREFIX "/api/v1/drive/uploads/"

static bool is_uuid_text(const char *text, size_t length)
{
	static const char layout[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (length != sizeof(layout) - 1)
		return false;
	for (size_t i = 0; i < length; i++) {
		char c = text[i];
		bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		if (layout[i] == '-' ? c != '-' : !hex)
			return false;
	}
	return true;
}

/* Returns the length of the "scheme://authority" that starts URL (LENGTH bytes), or 0 when there is none. */
static size_t skip_origin(const char *url, size_t length)
{
	const char *separator = memchr(url, ':', length);

	if (separator == NULL || (size_t)(separator - url) + 3 > length || separator[1] != '/' || separator[2] != '/')
		return 0;
	for (const char *p = url; p < separator; p++) {
		bool scheme_char = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
				   (p > url && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'));
		if (!scheme_char)
			return 0;
	}
	const char *authority = separator + 3;
	const char *path = memchr(authority, '/', length - (size_t)(authority - url));
	return path == NULL ? length : (size_t)(path - url);
}

/* Reads the upload id out of one partial upload URL into OUT. */
static bool parse_part_url(const char *url, size_t length, char out[EX_TUS_CONCAT_ID_TEXT + 1])
{
	size_t start = skip_origin(url, length);
	size_t prefix = sizeof(UPLOADS_PATH_PREFIX) - 1;

	if (length - start <= prefix || memcmp(url + start, UPLOADS_PATH_PREFIX, prefix) != 0)
		return false;
	const char *id = url + start + prefix;
	size_t id_length = length - start - prefix;
	if (!is_uuid_text(id, id_length))
		return false;
	memcpy(out, id, id_length);
	out[id_length] = '\0';
	return true;
}

static bool is_duplicate(const ex_tus_concat *concat, const char *id)
{
	for (size_t i = 0; i < concat->count; i++) {
		if (strcasecmp(concat->part_ids[i], id) == 0)
			return true;
	}
	return false;
}

ex_tus_concat_status ex_tus_concat_parse(const char *header, ex_tus_concat *out)
{
	static const char final_prefix[] = "final;";

	out->kind = EX_TUS_CONCAT_NONE;
	out->count = 0;
	if (header == NULL)
		return EX_TUS_CONCAT_OK;
	size_t length = strlen(header);
	if (length > EX_TUS_CONCAT_MAX_HEADER)
		return EX_TUS_CONCAT_TOO_LONG;
	if (strcmp(header, "partial") == 0) {
		out->kind = EX_TUS_CONCAT_PARTIAL;
		return EX_TUS_CONCAT_OK;
	}
	if (strncmp(header, final_prefix, sizeof(final_prefix) - 1) != 0)
		return EX_TUS_CONCAT_MALFORMED;

	const char *p = header + sizeof(final_prefix) - 1;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		const char *end = strchr(p, ' ');
		size_t url_length = end ? (size_t)(end - p) : strlen(p);
		if (out->count == EX_TUS_CONCAT_MAX_PARTS)
			return EX_TUS_CONCAT_TOO_MANY_PARTS;
		char *id = out->part_ids[out->count];
		if (!parse_part_url(p, url_length, id))
			return EX_TUS_CONCAT_INVALID_URL;
		if (is_duplicate(out, id))
			return EX_TUS_CONCAT_DUPLICATE_PART;
		out->count++;
		p += url_length;
	}
	if (out->count == 0)
		return EX_TUS_CONCAT_MALFORMED;
	out->kind = EX_TUS_CONCAT_FINAL;
	return EX_TUS_CONCAT_OK;
}

const char *ex_tus_concat_status_message(ex_tus_concat_status status)
{
	switch (status) {
	case EX_TUS_CONCAT_OK:
		return "valid";
	case EX_TUS_CONCAT_MALFORMED:
		return "Upload-Concat must be \"partial\" or \"final;\" followed by the partial upload URLs";
	case EX_TUS_CONCAT_TOO_LONG:
		return "Upload-Concat is longer than 8192 bytes";
	case EX_TUS_CONCAT_TOO_MANY_PARTS:
		return "Upload-Concat names more than 64 partial uploads";
	case EX_TUS_CONCAT_INVALID_URL:
		return "Upload-Concat names a URL that is not an upload URL of this server";
	case EX_TUS_CONCAT_DUPLICATE_PART:
		return "Upload-Concat names the same partial upload twice";
	}
	return "invalid Upload-Concat";
}
