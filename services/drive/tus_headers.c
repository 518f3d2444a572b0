/*
 * Parsers of the tus 1.0.0 request headers whose values need more than a
 * number: Upload-Metadata (comma-separated pairs of a key and an optional
 * base64 value) and Upload-Checksum (an algorithm name and a base64
 * digest). Both reject anything that is not exactly the documented form.
 */
#include <string.h>

#include "drive_parse.h"

static int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long ex_drive_base64_decode(const char *text, size_t length, unsigned char *out, size_t out_size)
{
	size_t written = 0;

	if (length % 4 != 0)
		return -1;
	for (size_t i = 0; i < length; i += 4) {
		int values[4];
		int padding = 0;
		for (size_t j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)text[i + j];
			if (c == '=' && i + 4 == length && j >= 2) {
				values[j] = 0;
				padding++;
				continue;
			}
			if (padding > 0)
				return -1; /* data after '=' */
			values[j] = base64_value(c);
			if (values[j] < 0)
				return -1;
		}
		unsigned long group = ((unsigned long)values[0] << 18) | ((unsigned long)values[1] << 12) |
				      ((unsigned long)values[2] << 6) | (unsigned long)values[3];
		size_t bytes = 3 - (size_t)padding;
		/* Bits beyond the last byte must be zero, so each value has one encoding. */
		if ((padding == 1 && (group & 0xff) != 0) || (padding == 2 && (group & 0xffff) != 0))
			return -1;
		if (written + bytes > out_size)
			return -1;
		out[written++] = (unsigned char)(group >> 16);
		if (bytes > 1)
			out[written++] = (unsigned char)(group >> 8);
		if (bytes > 2)
			out[written++] = (unsigned char)group;
	}
	return (long)written;
}

static bool key_character_is_valid(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != ',';
}

/* Parses one "key[ value]" element of LENGTH bytes into the next pair of OUT. */
static ex_tus_metadata_status parse_pair(const char *element, size_t length, ex_tus_metadata *out, size_t *used)
{
	size_t key_length = 0;
	while (key_length < length && element[key_length] != ' ')
		key_length++;
	if (key_length == 0 || key_length > EX_TUS_METADATA_MAX_KEY)
		return EX_TUS_METADATA_INVALID_KEY;
	for (size_t i = 0; i < key_length; i++) {
		if (!key_character_is_valid((unsigned char)element[i]))
			return EX_TUS_METADATA_INVALID_KEY;
	}
	for (size_t i = 0; i < out->count; i++) {
		if (strlen(out->pairs[i].key) == key_length && memcmp(out->pairs[i].key, element, key_length) == 0)
			return EX_TUS_METADATA_DUPLICATE_KEY;
	}
	if (out->count == EX_TUS_METADATA_MAX_PAIRS)
		return EX_TUS_METADATA_TOO_MANY;

	ex_tus_metadata_pair *pair = &out->pairs[out->count];
	memcpy(pair->key, element, key_length);
	pair->key[key_length] = '\0';
	pair->value_offset = *used;
	pair->value_length = 0;
	pair->has_value = key_length < length;
	if (pair->has_value) {
		const char *value = element + key_length + 1;
		size_t value_length = length - key_length - 1;
		long decoded = ex_drive_base64_decode(value, value_length, out->values + *used,
						      sizeof(out->values) - *used - 1);
		if (decoded < 0 || (value_length == 0))
			return EX_TUS_METADATA_INVALID_VALUE;
		pair->value_length = (size_t)decoded;
	}
	out->values[*used + pair->value_length] = '\0';
	*used += pair->value_length + 1;
	out->count++;
	return EX_TUS_METADATA_OK;
}

ex_tus_metadata_status ex_tus_metadata_parse(const char *header, ex_tus_metadata *out)
{
	size_t used = 0;

	out->count = 0;
	if (header == NULL || header[0] == '\0')
		return EX_TUS_METADATA_OK;
	size_t length = strnlen(header, EX_TUS_METADATA_MAX_HEADER + 1);
	if (length > EX_TUS_METADATA_MAX_HEADER)
		return EX_TUS_METADATA_TOO_LONG;

	const char *cursor = header;
	const char *end = header + length;
	while (cursor <= end) {
		const char *comma = memchr(cursor, ',', (size_t)(end - cursor));
		const char *element_end = comma ? comma : end;
		/* Optional whitespace around each element, as clients join with ", " or ",". */
		while (cursor < element_end && *cursor == ' ')
			cursor++;
		const char *trimmed_end = element_end;
		while (trimmed_end > cursor && trimmed_end[-1] == ' ')
			trimmed_end--;
		ex_tus_metadata_status status = parse_pair(cursor, (size_t)(trimmed_end - cursor), out, &used);
		if (status != EX_TUS_METADATA_OK) {
			out->count = 0;
			return status;
		}
		if (comma == NULL)
			break;
		cursor = comma + 1;
	}
	return EX_TUS_METADATA_OK;
}

const char *ex_tus_metadata_get(const ex_tus_metadata *metadata, const char *key, size_t *length)
{
	for (size_t i = 0; i < metadata->count; i++) {
		const ex_tus_metadata_pair *pair = &metadata->pairs[i];
		if (strcmp(pair->key, key) == 0) {
			if (length != NULL)
				*length = pair->value_length;
			return (const char *)metadata->values + pair->value_offset;
		}
	}
	return NULL;
}

const char *ex_tus_metadata_status_message(ex_tus_metadata_status status)
{
	switch (status) {
	case EX_TUS_METADATA_OK:
		return "valid";
	case EX_TUS_METADATA_TOO_LONG:
		return "Upload-Metadata is longer than 4096 bytes";
	case EX_TUS_METADATA_TOO_MANY:
		return "Upload-Metadata has more than 32 pairs";
	case EX_TUS_METADATA_INVALID_KEY:
		return "an Upload-Metadata key is empty, longer than 64 bytes or not printable ASCII";
	case EX_TUS_METADATA_DUPLICATE_KEY:
		return "an Upload-Metadata key appears twice";
	case EX_TUS_METADATA_INVALID_VALUE:
		return "an Upload-Metadata value is not base64 with '=' padding";
	}
	return "invalid Upload-Metadata";
}

static const struct {
	const char *name;
	ex_tus_checksum_algorithm algorithm;
	size_t digest_size;
} checksum_algorithms[] = {
	{ "sha1", EX_TUS_CHECKSUM_SHA1, 20 },
	{ "sha256", EX_TUS_CHECKSUM_SHA256, 32 },
	{ "md5", EX_TUS_CHECKSUM_MD5, 16 },
};

size_t ex_tus_checksum_digest_size(ex_tus_checksum_algorithm algorithm)
{
	for (size_t i = 0; i < sizeof(checksum_algorithms) / sizeof(checksum_algorithms[0]); i++) {
		if (checksum_algorithms[i].algorithm == algorithm)
			return checksum_algorithms[i].digest_size;
	}
	return 0;
}

ex_tus_checksum_status ex_tus_checksum_parse(const char *header, ex_tus_checksum *out)
{
	if (header == NULL)
		return EX_TUS_CHECKSUM_MALFORMED;
	const char *space = strchr(header, ' ');
	if (space == NULL || space == header || space[1] == '\0' || strchr(space + 1, ' ') != NULL)
		return EX_TUS_CHECKSUM_MALFORMED;

	size_t name_length = (size_t)(space - header);
	for (size_t i = 0; i < sizeof(checksum_algorithms) / sizeof(checksum_algorithms[0]); i++) {
		if (strlen(checksum_algorithms[i].name) != name_length ||
		    memcmp(checksum_algorithms[i].name, header, name_length) != 0)
			continue;
		const char *digest = space + 1;
		size_t digest_length = strnlen(digest, 64);
		if (digest_length >= 64)
			return EX_TUS_CHECKSUM_INVALID_DIGEST;
		long decoded = ex_drive_base64_decode(digest, digest_length, out->digest, sizeof(out->digest));
		if (decoded < 0 || (size_t)decoded != checksum_algorithms[i].digest_size)
			return EX_TUS_CHECKSUM_INVALID_DIGEST;
		out->algorithm = checksum_algorithms[i].algorithm;
		out->digest_length = (size_t)decoded;
		return EX_TUS_CHECKSUM_OK;
	}
	return EX_TUS_CHECKSUM_UNSUPPORTED_ALGORITHM;
}
