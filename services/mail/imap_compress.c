/*
 * COMPRESS=DEFLATE streams with zlib. The deflate side uses zlib's default
 * level and memLevel 8, its default too. NOTE: by zconf.h's formula that
 * is 256 KiB of zlib state per compressed connection, so a client that
 * sends COMPRESS costs that much more while it stays connected. The
 * inflate side accepts any window the client chose (windowBits -15).
 */
#include "imap_compress.h"

#include <limits.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#define ZLIB_CONST
#include <zlib.h>

enum {
	RAW_DEFLATE_WINDOW_BITS = -15,
	DEFLATE_MEM_LEVEL = 8,
	/* zlib counts in uInt; larger inputs go through in slices of this size. */
	MAX_SLICE = 1 << 30,
};

struct ex_imap_compress {
	z_stream deflater;
	z_stream inflater;
	bool deflater_ready;
	bool inflater_ready;
	char *output;
	size_t output_length;
	size_t output_capacity;
};

ex_imap_compress *ex_imap_compress_new(void)
{
	ex_imap_compress *compress = calloc(1, sizeof(*compress));
	if (compress == NULL)
		return NULL;
	if (deflateInit2(&compress->deflater, Z_DEFAULT_COMPRESSION, Z_DEFLATED, RAW_DEFLATE_WINDOW_BITS,
			 DEFLATE_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK) {
		ex_imap_compress_free(compress);
		return NULL;
	}
	compress->deflater_ready = true;
	if (inflateInit2(&compress->inflater, RAW_DEFLATE_WINDOW_BITS) != Z_OK) {
		ex_imap_compress_free(compress);
		return NULL;
	}
	compress->inflater_ready = true;
	return compress;
}

void ex_imap_compress_free(ex_imap_compress *compress)
{
	if (compress == NULL)
		return;
	if (compress->deflater_ready)
		deflateEnd(&compress->deflater);
	if (compress->inflater_ready)
		inflateEnd(&compress->inflater);
	free(compress->output);
	free(compress);
}

static int reserve(ex_imap_compress *compress, size_t extra)
{
	if (extra > SIZE_MAX / 2 - compress->output_length)
		return -1;
	size_t needed = compress->output_length + extra;
	if (needed <= compress->output_capacity)
		return 0;
	size_t capacity = compress->output_capacity == 0 ? 4096 : compress->output_capacity;
	while (capacity < needed)
		capacity *= 2;
	char *grown = realloc(compress->output, capacity);
	if (grown == NULL)
		return -1;
	compress->output = grown;
	compress->output_capacity = capacity;
	return 0;
}

int ex_imap_compress_deflate(ex_imap_compress *compress, const char *data, size_t length)
{
	z_stream *stream = &compress->deflater;
	do {
		size_t slice = length > MAX_SLICE ? MAX_SLICE : length;
		int flush = slice == length ? Z_SYNC_FLUSH : Z_NO_FLUSH;
		stream->next_in = (const Bytef *)data;
		stream->avail_in = (uInt)slice;
		/* deflateBound() covers the data; the sync flush marker and block headers need a few octets more. */
		size_t room = deflateBound(stream, (uLong)slice) + 64;
		do {
			if (reserve(compress, room) != 0)
				return -1;
			size_t space = compress->output_capacity - compress->output_length;
			stream->next_out = (Bytef *)compress->output + compress->output_length;
			stream->avail_out = space > UINT_MAX ? UINT_MAX : (uInt)space;
			uInt before = stream->avail_out;
			int status = deflate(stream, flush);
			if (status != Z_OK && status != Z_BUF_ERROR)
				return -1;
			compress->output_length += before - stream->avail_out;
			room = 4096;
		} while (stream->avail_in > 0 || stream->avail_out == 0);
		data += slice;
		length -= slice;
	} while (length > 0);
	return 0;
}

const char *ex_imap_compress_output(const ex_imap_compress *compress, size_t *length)
{
	*length = compress->output_length;
	return compress->output;
}

void ex_imap_compress_clear_output(ex_imap_compress *compress)
{
	compress->output_length = 0;
}

ex_imap_inflate_status ex_imap_compress_inflate(ex_imap_compress *compress, const char *in, size_t in_length,
						size_t *used, char *out, size_t out_size, size_t *produced)
{
	z_stream *stream = &compress->inflater;
	*used = 0;
	*produced = 0;
	if (out_size == 0)
		return EX_IMAP_INFLATE_OK;
	stream->next_in = (const Bytef *)in;
	stream->avail_in = in_length > MAX_SLICE ? MAX_SLICE : (uInt)in_length;
	stream->next_out = (Bytef *)out;
	stream->avail_out = out_size > MAX_SLICE ? MAX_SLICE : (uInt)out_size;
	uInt in_before = stream->avail_in;
	uInt out_before = stream->avail_out;

	int status = inflate(stream, Z_SYNC_FLUSH);
	*used = in_before - stream->avail_in;
	*produced = out_before - stream->avail_out;
	if (status == Z_STREAM_END || status == Z_DATA_ERROR || status == Z_NEED_DICT || status == Z_MEM_ERROR ||
	    status == Z_STREAM_ERROR)
		return EX_IMAP_INFLATE_ERROR;
	return *produced > 0 ? EX_IMAP_INFLATE_OK : EX_IMAP_INFLATE_NEED_INPUT;
}
