/*
 * Streams a download out of object storage as a list of segments: text
 * (multipart boundaries and part headers) and byte ranges of the object.
 * The object is read once from start to end, so the ranges must be
 * ascending and disjoint. The whole object or one range of a local file
 * goes out with sendfile(2) instead, without passing through this process.
 * The bytes before each range are skipped with ex_storage_skip, which
 * seeks in a local file and starts a ranged GET on S3 for a long jump.
 */
#include "download_stream.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "expresso/log.h"

enum {
	DOWNLOAD_BLOCK = 256 * 1024,
	SEGMENTS_MAX = 2 * EX_HTTP_RANGE_MAX + 1,
	PART_HEADER_MAX = 96 + EX_DRIVE_CONTENT_TYPE_MAX + 64,
	BOUNDARY_HEX = 24,
};

typedef struct {
	bool is_text;
	size_t text_offset; /* into the stream's text buffer */
	uint64_t length;
	uint64_t first; /* of the object's byte range */
} segment;

typedef struct {
	ex_storage_reader *reader;
	uint64_t reader_position; /* bytes of the object read so far */
	segment segments[SEGMENTS_MAX];
	size_t segment_count;
	size_t current;
	uint64_t done_in_current;
	char text[SEGMENTS_MAX * PART_HEADER_MAX];
	size_t text_used;
} download_stream;

static bool add_text(download_stream *stream, const char *format, ...) __attribute__((format(printf, 2, 3)));

static bool add_text(download_stream *stream, const char *format, ...)
{
	va_list args;
	size_t room = sizeof(stream->text) - stream->text_used;

	va_start(args, format);
	int written = vsnprintf(stream->text + stream->text_used, room, format, args);
	va_end(args);
	if (written < 0 || (size_t)written >= room || stream->segment_count == SEGMENTS_MAX)
		return false;
	stream->segments[stream->segment_count++] =
		(segment){ .is_text = true, .text_offset = stream->text_used, .length = (uint64_t)written };
	stream->text_used += (size_t)written;
	return true;
}

static bool add_range(download_stream *stream, uint64_t first, uint64_t last)
{
	if (stream->segment_count == SEGMENTS_MAX)
		return false;
	stream->segments[stream->segment_count++] =
		(segment){ .is_text = false, .first = first, .length = last - first + 1 };
	return true;
}

/* Moves the reader forward to the object byte TARGET. */
static bool skip_to(download_stream *stream, uint64_t target)
{
	if (stream->reader_position >= target)
		return true;
	if (ex_storage_skip(stream->reader, target - stream->reader_position) != 0)
		return false;
	stream->reader_position = target;
	return true;
}

static ssize_t read_segments(void *context, uint64_t position, char *buffer, size_t max)
{
	download_stream *stream = context;
	size_t filled = 0;
	(void)position;

	while (filled < max && stream->current < stream->segment_count) {
		const segment *part = &stream->segments[stream->current];
		uint64_t left = part->length - stream->done_in_current;
		size_t room = max - filled;
		size_t take = left < room ? (size_t)left : room;

		if (part->is_text) {
			memcpy(buffer + filled, stream->text + part->text_offset + stream->done_in_current, take);
		} else {
			if (!skip_to(stream, part->first + stream->done_in_current))
				goto failed;
			ssize_t got = ex_storage_read(stream->reader, buffer + filled, take);
			if (got <= 0)
				goto failed;
			take = (size_t)got;
			stream->reader_position += take;
		}
		filled += take;
		stream->done_in_current += take;
		if (stream->done_in_current == part->length) {
			stream->current++;
			stream->done_in_current = 0;
		}
	}
	if (filled == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return (ssize_t)filled;

failed:
	ex_log(EX_LOG_ERROR, "download_read_failed", "{s:I}", "position", (json_int_t)stream->reader_position);
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void free_stream(void *context)
{
	download_stream *stream = context;
	ex_storage_reader_close(stream->reader);
	free(stream);
}

static bool new_boundary(char out[BOUNDARY_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char bytes[BOUNDARY_HEX / 2];

	if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
		return false;
	for (size_t i = 0; i < sizeof(bytes); i++) {
		out[2 * i] = hex[bytes[i] >> 4];
		out[2 * i + 1] = hex[bytes[i] & 0x0f];
	}
	out[BOUNDARY_HEX] = '\0';
	return true;
}

/* Lays out multipart/byteranges; writes the response's Content-Type into CONTENT_TYPE_OUT. */
static bool add_multipart(download_stream *stream, uint64_t size, const ex_http_range_set *ranges,
			  const char *content_type, char *content_type_out, size_t out_size)
{
	char boundary[BOUNDARY_HEX + 1];

	if (!new_boundary(boundary))
		return false;
	for (size_t i = 0; i < ranges->count; i++) {
		const ex_http_byte_range *range = &ranges->ranges[i];
		if (!add_text(stream, "%s--%s\r\nContent-Type: %s\r\nContent-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n\r\n",
			      i == 0 ? "" : "\r\n", boundary, content_type, range->first, range->last, size) ||
		    !add_range(stream, range->first, range->last))
			return false;
	}
	if (!add_text(stream, "\r\n--%s--\r\n", boundary))
		return false;
	snprintf(content_type_out, out_size, "multipart/byteranges; boundary=%s", boundary);
	return true;
}

/* Builds a response that sends LENGTH bytes from FIRST of the file FD, which it takes, with sendfile(2). */
static struct MHD_Response *file_response(int fd, uint64_t first, uint64_t length, const char *content_type)
{
	struct MHD_Response *response = MHD_create_response_from_fd_at_offset64(length, fd, first);
	if (response == NULL) {
		close(fd);
		return NULL;
	}
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	return response;
}

struct MHD_Response *ex_drive_download_response(ex_storage_reader *reader, uint64_t size,
						 const ex_http_range_set *ranges, const char *content_type)
{
	char response_type[EX_DRIVE_CONTENT_TYPE_MAX + 64];

	if (ranges == NULL || ranges->count == 1) {
		int fd = ex_storage_reader_steal_fd(reader);
		if (fd >= 0) {
			ex_storage_reader_close(reader);
			if (ranges == NULL)
				return file_response(fd, 0, size, content_type);
			return file_response(fd, ranges->ranges[0].first,
					     ranges->ranges[0].last - ranges->ranges[0].first + 1, content_type);
		}
	}
	download_stream *stream = calloc(1, sizeof(*stream));
	bool laid_out = stream != NULL && strlen(content_type) <= EX_DRIVE_CONTENT_TYPE_MAX;

	snprintf(response_type, sizeof(response_type), "%s", content_type);
	if (laid_out) {
		stream->reader = reader;
		if (ranges == NULL)
			laid_out = size == 0 || add_range(stream, 0, size - 1);
		else if (ranges->count == 1)
			laid_out = add_range(stream, ranges->ranges[0].first, ranges->ranges[0].last);
		else
			laid_out = ex_http_ranges_are_sequential(ranges) &&
				   add_multipart(stream, size, ranges, content_type, response_type, sizeof(response_type));
	}
	if (!laid_out) {
		ex_storage_reader_close(reader);
		free(stream);
		return NULL;
	}

	uint64_t total = 0;
	for (size_t i = 0; i < stream->segment_count; i++)
		total += stream->segments[i].length;
	struct MHD_Response *response =
		MHD_create_response_from_callback(total, DOWNLOAD_BLOCK, read_segments, stream, free_stream);
	if (response == NULL) {
		free_stream(stream);
		return NULL;
	}
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, response_type);
	return response;
}
