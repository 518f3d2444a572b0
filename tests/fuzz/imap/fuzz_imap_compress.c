/*
 * libFuzzer target: COMPRESS=DEFLATE streams (services/mail/imap_compress.c).
 * The input is taken twice: as compressed client input, inflated in slices
 * of a size set by its first byte, which must end in decoded octets or an
 * error without overrunning the buffer; and as plain server output, which
 * must come back unchanged through deflate and a zlib raw inflate.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#define ZLIB_CONST
#include <zlib.h>

#include "imap_compress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inflate_input(const uint8_t *data, size_t size)
{
	ex_imap_compress *compress = ex_imap_compress_new();
	if (compress == NULL || size < 1)
		goto done;
	size_t out_size = (size_t)data[0] % 64 + 1;
	char out[64];
	size_t offset = 1;
	/* Each call takes input or yields output, so 4 * size calls are enough to reach the end. */
	for (size_t calls = 0; calls < 4 * size + 16; calls++) {
		size_t used = 0;
		size_t produced = 0;
		ex_imap_inflate_status status = ex_imap_compress_inflate(compress, (const char *)data + offset, size - offset,
									 &used, out, out_size, &produced);
		if (used > size - offset || produced > out_size)
			abort();
		offset += used;
		if (status == EX_IMAP_INFLATE_ERROR || (status == EX_IMAP_INFLATE_NEED_INPUT && offset == size))
			break;
	}
done:
	ex_imap_compress_free(compress);
}

static void round_trip(const uint8_t *data, size_t size)
{
	ex_imap_compress *compress = ex_imap_compress_new();
	if (compress == NULL)
		return;
	/* Two bursts, as two responses would go out. */
	size_t half = size / 2;
	if (ex_imap_compress_deflate(compress, (const char *)data, half) != 0 ||
	    ex_imap_compress_deflate(compress, (const char *)data + half, size - half) != 0)
		abort();
	size_t length = 0;
	const char *compressed = ex_imap_compress_output(compress, &length);

	z_stream stream = { 0 };
	if (inflateInit2(&stream, -15) != Z_OK)
		abort();
	unsigned char *plain = malloc(size + 1);
	stream.next_in = (const Bytef *)compressed;
	stream.avail_in = (uInt)length;
	stream.next_out = plain;
	stream.avail_out = (uInt)size + 1;
	int status = inflate(&stream, Z_SYNC_FLUSH);
	if ((status != Z_OK && status != Z_BUF_ERROR) || stream.total_out != size || memcmp(plain, data, size) != 0)
		abort();
	inflateEnd(&stream);
	free(plain);
	ex_imap_compress_free(compress);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	inflate_input(data, size);
	round_trip(data, size);
	return 0;
}
