/* The response to a GET of a stored file's content; see download_send.h. */
#include "download_send.h"

#include <inttypes.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "download_stream.h"
#include "drive_parse.h"
#include "expresso/log.h"

enum {
	DISPOSITION_MAX = 2048, /* a 255-byte name takes at most 255 bytes in filename= and 765 in filename* */
};

/* Returns true when If-None-Match lists ETAG or is "*" (RFC 9110 section 13.1.2, weak comparison). */
static bool if_none_match_hits(const char *header, const char *etag)
{
	if (header == NULL)
		return false;
	const char *cursor = header;
	while (*cursor) {
		while (*cursor == ' ' || *cursor == '\t' || *cursor == ',')
			cursor++;
		if (*cursor == '\0')
			break;
		if (*cursor == '*')
			return true;
		if (strncmp(cursor, "W/", 2) == 0)
			cursor += 2;
		size_t length = strcspn(cursor, ", \t");
		if (length == strlen(etag) && strncmp(cursor, etag, length) == 0)
			return true;
		cursor += length;
	}
	return false;
}

/*
 * Reads the Range header, honoured only when If-Range is absent or names
 * ETAG. Returns false after responding 416 when no range fits the size.
 * Sets *PARTIAL when the response is a 206.
 */
static bool read_ranges(ex_http_request *request, const char *etag, uint64_t size, ex_http_range_set *ranges,
			bool *partial)
{
	const char *if_range = ex_http_header(request, MHD_HTTP_HEADER_IF_RANGE);
	ex_http_range_status status = EX_HTTP_RANGE_IGNORED;

	if (if_range == NULL || strcmp(if_range, etag) == 0)
		status = ex_http_range_parse(ex_http_header(request, MHD_HTTP_HEADER_RANGE), size, ranges);
	if (status == EX_HTTP_RANGE_UNSATISFIABLE) {
		char content_range[64];
		snprintf(content_range, sizeof(content_range), "bytes */%" PRIu64, size);
		ex_http_respond_error(request, 416, "range_not_satisfiable",
				      "no requested range overlaps the file's %" PRIu64 " bytes", size);
		ex_http_add_header(request, MHD_HTTP_HEADER_CONTENT_RANGE, content_range);
		return false;
	}
	/* NOTE: ranges that overlap or are out of order get the whole file (200), which RFC 9110 allows. */
	*partial = status == EX_HTTP_RANGE_SATISFIABLE && (ranges->count == 1 || ex_http_ranges_are_sequential(ranges));
	return true;
}

void ex_drive_send_download(ex_drive_service *service, ex_http_request *request, const ex_drive_download *download)
{
	char etag[64];
	char disposition[DISPOSITION_MAX];
	char err[EX_STORAGE_ERROR_MAX];
	ex_http_range_set ranges;
	bool partial = false;
	uint64_t stored_size = 0;
	ex_storage_reader *reader = NULL;

	snprintf(etag, sizeof(etag), "\"%s\"", download->version_id);
	if (if_none_match_hits(ex_http_header(request, MHD_HTTP_HEADER_IF_NONE_MATCH), etag)) {
		ex_http_respond_bytes(request, 304, NULL, "", 0);
		ex_http_add_header(request, MHD_HTTP_HEADER_ETAG, etag);
		return;
	}
	if (!read_ranges(request, etag, download->size, &ranges, &partial))
		return;

	if (ex_storage_open_read(service->storage, download->tenant_id, download->storage_key, &reader, &stored_size, err,
				 sizeof(err)) != EX_STORAGE_OK ||
	    stored_size != download->size) {
		ex_log(EX_LOG_ERROR, "download_open_failed", "{s:s, s:s, s:I, s:I}", "key", download->storage_key, "error",
		       reader ? "stored size differs from the version's size" : err, "stored_size",
		       (json_int_t)stored_size, "size", (json_int_t)download->size);
		ex_storage_reader_close(reader);
		ex_http_respond_error(request, 500, "storage_error", "the file's content could not be read");
		return;
	}
	struct MHD_Response *response =
		ex_drive_download_response(reader, download->size, partial ? &ranges : NULL, download->content_type);
	if (response == NULL) {
		ex_http_respond_error(request, 500, "internal_error", "the download could not be prepared");
		return;
	}

	ex_http_respond_mhd(request, partial ? 206 : 200, response);
	if (partial && ranges.count == 1) {
		char content_range[96];
		snprintf(content_range, sizeof(content_range), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
			 ranges.ranges[0].first, ranges.ranges[0].last, download->size);
		ex_http_add_header(request, MHD_HTTP_HEADER_CONTENT_RANGE, content_range);
	}
	if (ex_drive_content_disposition(disposition, sizeof(disposition), "attachment", download->filename) < 0)
		snprintf(disposition, sizeof(disposition), "attachment");
	ex_http_add_header(request, MHD_HTTP_HEADER_ETAG, etag);
	ex_http_add_header(request, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	ex_http_add_header(request, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disposition);
	ex_http_add_header(request, "X-Content-Type-Options", "nosniff");
	ex_http_add_header(request, MHD_HTTP_HEADER_CACHE_CONTROL, download->cache_control);
}
