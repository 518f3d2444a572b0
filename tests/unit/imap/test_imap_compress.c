/*
 * Unit tests of the COMPRESS=DEFLATE streams (services/mail/imap_compress.c):
 * server output must inflate back with zlib's raw inflate after each sync
 * flush, client input compressed by zlib must decode in any slice size,
 * and invalid or ended streams must be reported as errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#define ZLIB_CONST
#include <zlib.h>

#include "imap_compress.h"

/* Compresses TEXT with zlib the way a client does after COMPRESS; returns the length written to OUT. */
static size_t client_deflate(const char *text, unsigned char *out, size_t size, int flush)
{
	z_stream stream = { 0 };
	assert_int_equal(deflateInit2(&stream, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	stream.next_in = (const Bytef *)text;
	stream.avail_in = (uInt)strlen(text);
	stream.next_out = out;
	stream.avail_out = (uInt)size;
	assert_true(deflate(&stream, flush) >= Z_OK);
	size_t length = stream.total_out;
	deflateEnd(&stream);
	return length;
}

static void test_output_inflates_after_each_burst(void **state)
{
	(void)state;
	static const char *const bursts[] = { "* OK [CAPABILITY IMAP4rev1] ready\r\n", "a OK Logged in\r\n",
					       "* 1 EXISTS\r\n* 1 FETCH (FLAGS (\\Seen))\r\n" };
	ex_imap_compress *compress = ex_imap_compress_new();
	assert_non_null(compress);
	z_stream stream = { 0 };
	assert_int_equal(inflateInit2(&stream, -15), Z_OK);

	for (size_t i = 0; i < sizeof(bursts) / sizeof(bursts[0]); i++) {
		assert_int_equal(ex_imap_compress_deflate(compress, bursts[i], strlen(bursts[i])), 0);
		size_t length = 0;
		const char *compressed = ex_imap_compress_output(compress, &length);
		assert_true(length > 0);
		char plain[256];
		stream.next_in = (const Bytef *)compressed;
		stream.avail_in = (uInt)length;
		stream.next_out = (Bytef *)plain;
		stream.avail_out = sizeof(plain);
		assert_int_equal(inflate(&stream, Z_SYNC_FLUSH), Z_OK);
		/* The sync flush makes every octet of the burst decodable at once. */
		assert_int_equal(sizeof(plain) - stream.avail_out, strlen(bursts[i]));
		assert_memory_equal(plain, bursts[i], strlen(bursts[i]));
		ex_imap_compress_clear_output(compress);
	}
	inflateEnd(&stream);
	ex_imap_compress_free(compress);
}

static void test_large_output_round_trip(void **state)
{
	(void)state;
	size_t size = 3 * 1024 * 1024;
	char *data = malloc(size);
	assert_non_null(data);
	for (size_t i = 0; i < size; i++)
		data[i] = (char)('a' + (i * 7 + i / 13) % 26);
	ex_imap_compress *compress = ex_imap_compress_new();
	assert_int_equal(ex_imap_compress_deflate(compress, data, size), 0);
	size_t length = 0;
	const char *compressed = ex_imap_compress_output(compress, &length);

	char *plain = malloc(size);
	size_t plain_length = 0;
	z_stream stream = { 0 };
	assert_int_equal(inflateInit2(&stream, -15), Z_OK);
	stream.next_in = (const Bytef *)compressed;
	stream.avail_in = (uInt)length;
	stream.next_out = (Bytef *)plain;
	stream.avail_out = (uInt)size;
	assert_int_equal(inflate(&stream, Z_SYNC_FLUSH), Z_OK);
	plain_length = stream.total_out;
	assert_int_equal(plain_length, size);
	assert_memory_equal(plain, data, size);
	inflateEnd(&stream);
	free(plain);
	free(data);
	ex_imap_compress_free(compress);
}

static void test_input_decodes_in_any_slice(void **state)
{
	(void)state;
	static const size_t out_sizes[] = { 1, 3, 7, 64, 4096 };
	const char *text = "a SELECT INBOX\r\nb FETCH 1:* (FLAGS)\r\nc IDLE\r\n";
	unsigned char compressed[512];
	size_t length = client_deflate(text, compressed, sizeof(compressed), Z_SYNC_FLUSH);

	for (size_t i = 0; i < sizeof(out_sizes) / sizeof(out_sizes[0]); i++) {
		ex_imap_compress *compress = ex_imap_compress_new();
		char decoded[512];
		size_t decoded_length = 0;
		size_t offset = 0;
		for (unsigned calls = 0; calls < 1000; calls++) {
			size_t used = 0;
			size_t produced = 0;
			/* Input arrives two octets at a time, as a slow socket would deliver it. */
			size_t slice = length - offset < 2 ? length - offset : 2;
			ex_imap_inflate_status status = ex_imap_compress_inflate(
				compress, (const char *)compressed + offset, slice, &used, decoded + decoded_length,
				out_sizes[i], &produced);
			assert_int_not_equal(status, EX_IMAP_INFLATE_ERROR);
			offset += used;
			decoded_length += produced;
			if (offset == length && status == EX_IMAP_INFLATE_NEED_INPUT)
				break;
		}
		assert_int_equal(decoded_length, strlen(text));
		assert_memory_equal(decoded, text, strlen(text));
		ex_imap_compress_free(compress);
	}
}

static void test_invalid_and_ended_input(void **state)
{
	(void)state;
	char out[64];
	size_t used = 0;
	size_t produced = 0;

	/* Block type 3 does not exist in DEFLATE (RFC 1951 3.2.3). */
	const char invalid[] = { 0x07, 0x00 };
	ex_imap_compress *compress = ex_imap_compress_new();
	assert_int_equal(ex_imap_compress_inflate(compress, invalid, sizeof(invalid), &used, out, sizeof(out), &produced),
			 EX_IMAP_INFLATE_ERROR);
	ex_imap_compress_free(compress);

	/* A client that finishes its stream ends the compressed session. */
	unsigned char finished[128];
	size_t length = client_deflate("a NOOP\r\n", finished, sizeof(finished), Z_FINISH);
	compress = ex_imap_compress_new();
	assert_int_equal(ex_imap_compress_inflate(compress, (const char *)finished, length, &used, out, sizeof(out),
						  &produced),
			 EX_IMAP_INFLATE_ERROR);
	ex_imap_compress_free(compress);

	/* No input is no output, not an error. */
	compress = ex_imap_compress_new();
	assert_int_equal(ex_imap_compress_inflate(compress, "", 0, &used, out, sizeof(out), &produced),
			 EX_IMAP_INFLATE_NEED_INPUT);
	assert_int_equal(produced, 0);
	ex_imap_compress_free(compress);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output_inflates_after_each_burst),
		cmocka_unit_test(test_large_output_round_trip),
		cmocka_unit_test(test_input_decodes_in_any_slice),
		cmocka_unit_test(test_invalid_and_ended_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
