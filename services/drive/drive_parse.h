/*
 * Parsers and checks of request header values that expresso-drive reads
 * from clients: tus Upload-Metadata and Upload-Checksum, HTTP Range, file
 * and folder names, media types, and the Content-Disposition value of a
 * download. Nothing here does I/O or allocates, so the unit tests and
 * fuzz targets link exactly the daemon's code.
 */
#ifndef EXPRESSO_DRIVE_PARSE_H
#define EXPRESSO_DRIVE_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	EX_TUS_METADATA_MAX_HEADER = 4096, /* bytes of the Upload-Metadata value */
	EX_TUS_METADATA_MAX_PAIRS = 32,
	EX_TUS_METADATA_MAX_KEY = 64,      /* bytes of one key */
	EX_DRIVE_NAME_MAX = 255,           /* bytes of a file or folder name (UTF-8) */
	EX_DRIVE_MEDIA_TYPE_MAX = 255,     /* bytes of a filetype */
	EX_TUS_DIGEST_MAX = 32,            /* bytes of the largest digest (SHA-256) */
	EX_HTTP_RANGE_MAX = 16,            /* ranges kept from one Range header */
	EX_HTTP_RANGE_MAX_HEADER = 1024,   /* bytes of a Range value that is parsed */
	EX_TUS_CONCAT_MAX_HEADER = 8192,   /* bytes of an Upload-Concat value */
	EX_TUS_CONCAT_MAX_PARTS = 64,      /* partial uploads joined by one final upload */
	EX_TUS_CONCAT_ID_TEXT = 36,        /* an upload id (UUID) in text form */
};

/* ---- Upload-Metadata (tus 1.0.0): "key base64,key2,key3 base64" ---- */

typedef enum {
	EX_TUS_METADATA_OK = 0,
	EX_TUS_METADATA_TOO_LONG,      /* header over EX_TUS_METADATA_MAX_HEADER bytes */
	EX_TUS_METADATA_TOO_MANY,      /* more than EX_TUS_METADATA_MAX_PAIRS pairs */
	EX_TUS_METADATA_INVALID_KEY,   /* empty, too long, or not printable ASCII without space and comma */
	EX_TUS_METADATA_DUPLICATE_KEY,
	EX_TUS_METADATA_INVALID_VALUE, /* not strict base64 with padding */
} ex_tus_metadata_status;

typedef struct {
	char key[EX_TUS_METADATA_MAX_KEY + 1];
	size_t value_offset; /* into ex_tus_metadata.values; the value is NUL terminated there */
	size_t value_length; /* decoded bytes; 0 for a key without a value */
	bool has_value;
} ex_tus_metadata_pair;

typedef struct {
	size_t count;
	ex_tus_metadata_pair pairs[EX_TUS_METADATA_MAX_PAIRS];
	/* Decoded values, each followed by a NUL; base64 shrinks, so the header size bounds them. */
	unsigned char values[EX_TUS_METADATA_MAX_HEADER];
} ex_tus_metadata;

/* Parses HEADER (may be NULL or empty: no pairs) into *out. */
ex_tus_metadata_status ex_tus_metadata_parse(const char *header, ex_tus_metadata *out);

/* Returns the decoded value of KEY (NUL terminated) and its length, or NULL when KEY is absent. */
const char *ex_tus_metadata_get(const ex_tus_metadata *metadata, const char *key, size_t *length);

/* A sentence naming what is wrong, for error messages. */
const char *ex_tus_metadata_status_message(ex_tus_metadata_status status);

/* ---- Upload-Checksum (tus checksum extension): "<algorithm> <base64 digest>" ---- */

typedef enum {
	EX_TUS_CHECKSUM_SHA1 = 0,
	EX_TUS_CHECKSUM_SHA256,
	EX_TUS_CHECKSUM_MD5,
} ex_tus_checksum_algorithm;

typedef enum {
	EX_TUS_CHECKSUM_OK = 0,
	EX_TUS_CHECKSUM_MALFORMED,             /* not "<algorithm> <base64>" */
	EX_TUS_CHECKSUM_UNSUPPORTED_ALGORITHM, /* not sha1, sha256 or md5 */
	EX_TUS_CHECKSUM_INVALID_DIGEST,        /* not base64, or the wrong length for the algorithm */
} ex_tus_checksum_status;

typedef struct {
	ex_tus_checksum_algorithm algorithm;
	unsigned char digest[EX_TUS_DIGEST_MAX];
	size_t digest_length;
} ex_tus_checksum;

/* The algorithms advertised in Tus-Checksum-Algorithm. */
#define EX_TUS_CHECKSUM_ALGORITHMS "sha1,sha256,md5"

ex_tus_checksum_status ex_tus_checksum_parse(const char *header, ex_tus_checksum *out);

/* Digest size in bytes of ALGORITHM. */
size_t ex_tus_checksum_digest_size(ex_tus_checksum_algorithm algorithm);

/* ---- Upload-Concat (tus concatenation): "partial" or "final;<url> <url> ..." ---- */

typedef enum {
	EX_TUS_CONCAT_NONE = 0, /* no Upload-Concat: an ordinary upload */
	EX_TUS_CONCAT_PARTIAL,
	EX_TUS_CONCAT_FINAL,
} ex_tus_concat_kind;

typedef enum {
	EX_TUS_CONCAT_OK = 0,
	EX_TUS_CONCAT_MALFORMED,      /* neither "partial" nor "final;" with at least one URL */
	EX_TUS_CONCAT_TOO_LONG,       /* over EX_TUS_CONCAT_MAX_HEADER bytes */
	EX_TUS_CONCAT_TOO_MANY_PARTS, /* more than EX_TUS_CONCAT_MAX_PARTS URLs */
	EX_TUS_CONCAT_INVALID_URL,    /* not [scheme://authority]/api/v1/drive/uploads/<uuid> */
	EX_TUS_CONCAT_DUPLICATE_PART, /* one partial upload named twice */
} ex_tus_concat_status;

typedef struct {
	ex_tus_concat_kind kind;
	size_t count; /* partial uploads of a final upload, in order */
	char part_ids[EX_TUS_CONCAT_MAX_PARTS][EX_TUS_CONCAT_ID_TEXT + 1];
} ex_tus_concat;

/* Parses HEADER (NULL: no concatenation) into *out. */
ex_tus_concat_status ex_tus_concat_parse(const char *header, ex_tus_concat *out);
const char *ex_tus_concat_status_message(ex_tus_concat_status status);

/* ---- Range (RFC 9110 section 14.2), byte ranges only ---- */

typedef enum {
	EX_HTTP_RANGE_SATISFIABLE = 0, /* out->count ranges, clipped to the size */
	EX_HTTP_RANGE_IGNORED,         /* malformed, another unit, or too many ranges: send the whole content */
	EX_HTTP_RANGE_UNSATISFIABLE,   /* well formed but no range overlaps the content: 416 */
} ex_http_range_status;

typedef struct {
	uint64_t first; /* offsets of the first and last byte, inclusive */
	uint64_t last;
} ex_http_byte_range;

typedef struct {
	size_t count;
	ex_http_byte_range ranges[EX_HTTP_RANGE_MAX];
} ex_http_range_set;

/* Resolves HEADER against content of SIZE bytes. */
ex_http_range_status ex_http_range_parse(const char *header, uint64_t size, ex_http_range_set *out);

/* Returns true when the ranges are ascending and disjoint, so one sequential read serves them. */
bool ex_http_ranges_are_sequential(const ex_http_range_set *ranges);

/* ---- Names and media types ---- */

typedef enum {
	EX_DRIVE_NAME_OK = 0,
	EX_DRIVE_NAME_EMPTY,
	EX_DRIVE_NAME_TOO_LONG,          /* over EX_DRIVE_NAME_MAX bytes */
	EX_DRIVE_NAME_INVALID_UTF8,
	EX_DRIVE_NAME_FORBIDDEN_CHARACTER, /* '/', '\\', NUL or a control character */
	EX_DRIVE_NAME_DOT,               /* "." or ".." */
} ex_drive_name_status;

/* Checks a file or folder name of LENGTH bytes (which may contain NUL, so it is rejected). */
ex_drive_name_status ex_drive_name_check(const char *name, size_t length);
const char *ex_drive_name_status_message(ex_drive_name_status status);

/* Returns true when TEXT (LENGTH bytes) is type "/" subtype with optional ";name=value" parameters. */
bool ex_drive_media_type_is_valid(const char *text, size_t length);

/* Returns true when the LENGTH bytes of TEXT are valid UTF-8 (no overlongs or surrogates). */
bool ex_drive_utf8_is_valid(const char *text, size_t length);

/*
 * Writes the Content-Disposition value for NAME (valid UTF-8): DISPOSITION
 * ("attachment" or "inline"), an ASCII fallback filename="..." with other
 * bytes replaced by '_', and filename*=UTF-8''<percent-encoded> (RFC 6266,
 * RFC 8187). Returns the length written, or -1 when OUT is too small.
 */
int ex_drive_content_disposition(char *out, size_t size, const char *disposition, const char *name);

/* Decodes strict base64 (RFC 4648 alphabet, '=' padding, length a multiple of 4). Returns the byte count or -1. */
long ex_drive_base64_decode(const char *text, size_t length, unsigned char *out, size_t out_size);

#endif
