/*
 * Fuzzes the Upload-Checksum parser: an accepted header always names a
 * supported algorithm and carries a digest of exactly its size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drive_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char header[512];
	ex_tus_checksum checksum;

	if (size >= sizeof(header))
		return 0;
	memcpy(header, data, size);
	header[size] = '\0';

	if (ex_tus_checksum_parse(header, &checksum) != EX_TUS_CHECKSUM_OK)
		return 0;
	size_t expected = ex_tus_checksum_digest_size(checksum.algorithm);
	if (expected == 0 || checksum.digest_length != expected || checksum.digest_length > EX_TUS_DIGEST_MAX)
		abort();
	if (strncmp(header, "sha1 ", 5) != 0 && strncmp(header, "sha256 ", 7) != 0 && strncmp(header, "md5 ", 4) != 0)
		abort();
	return 0;
}
