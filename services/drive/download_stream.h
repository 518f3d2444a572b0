/*
 * The body of a download: the whole object, one byte range of it, or
 * several ranges as multipart/byteranges (RFC 9110 section 14.6), read
 * from object storage while libmicrohttpd sends it.
 */
#ifndef EXPRESSO_DRIVE_DOWNLOAD_STREAM_H
#define EXPRESSO_DRIVE_DOWNLOAD_STREAM_H

#include <microhttpd.h>

#include "drive_parse.h"
#include "expresso/storage.h"

enum { EX_DRIVE_CONTENT_TYPE_MAX = EX_DRIVE_MEDIA_TYPE_MAX };

/*
 * Builds a response that streams from READER (an object of SIZE bytes).
 * RANGES is NULL for the whole object. With one range the body is that
 * range; with several, which must be ascending and disjoint, it is
 * multipart/byteranges with parts of CONTENT_TYPE. Sets the response's
 * Content-Type and takes READER, also on failure. Returns NULL when out
 * of memory.
 */
struct MHD_Response *ex_drive_download_response(ex_storage_reader *reader, uint64_t size,
						 const ex_http_range_set *ranges, const char *content_type);

#endif
