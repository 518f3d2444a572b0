/*
 * The two DEFLATE streams of an IMAP connection after COMPRESS=DEFLATE
 * (RFC 4978): raw deflate (zlib windowBits -15, no zlib header) from the
 * server and raw inflate of what the client sends. No I/O here; the
 * connection layer (imap_connection.c) moves the bytes.
 */
#ifndef EXPRESSO_MAIL_IMAP_COMPRESS_H
#define EXPRESSO_MAIL_IMAP_COMPRESS_H

#include <stddef.h>

typedef struct ex_imap_compress ex_imap_compress;

typedef enum {
	EX_IMAP_INFLATE_OK = 0,     /* *produced octets were written to OUT */
	EX_IMAP_INFLATE_NEED_INPUT, /* nothing more can be decoded from the input given */
	EX_IMAP_INFLATE_ERROR,      /* invalid DEFLATE data, or the client ended its stream */
} ex_imap_inflate_status;

/* Returns NULL when out of memory. */
ex_imap_compress *ex_imap_compress_new(void);
void ex_imap_compress_free(ex_imap_compress *compress);

/*
 * Compresses LENGTH octets of DATA and ends them with Z_SYNC_FLUSH, so the
 * client can decode every response sent so far. Appends to the output
 * that ex_imap_compress_output() returns. Returns 0, or -1 when out of
 * memory.
 */
int ex_imap_compress_deflate(ex_imap_compress *compress, const char *data, size_t length);

/* Compressed octets waiting to be sent. */
const char *ex_imap_compress_output(const ex_imap_compress *compress, size_t *length);
void ex_imap_compress_clear_output(ex_imap_compress *compress);

/*
 * Decodes compressed client input. Uses up to IN_LENGTH octets of IN and
 * sets *USED to the octets taken; writes at most OUT_SIZE octets to OUT and
 * sets *PRODUCED. When *PRODUCED equals OUT_SIZE, call again before
 * reading the socket: zlib may hold more decoded octets.
 */
ex_imap_inflate_status ex_imap_compress_inflate(ex_imap_compress *compress, const char *in, size_t in_length,
						size_t *used, char *out, size_t out_size, size_t *produced);

#endif
