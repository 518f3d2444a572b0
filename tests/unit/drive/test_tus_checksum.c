/*
 * Upload-Checksum parsing, table-driven: each supported algorithm with a
 * digest of its size, and every malformed form with its status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "drive_parse.h"

typedef struct {
	const char *header;
	ex_tus_checksum_status status;
	ex_tus_checksum_algorithm algorithm;
	size_t digest_length;
} checksum_case;

static const checksum_case cases[] = {
	/* sha1("") and sha256("") and md5("") */
	{ "sha1 2jmj7l5rSw0yVb/vlWAYkK/YBwk=", EX_TUS_CHECKSUM_OK, EX_TUS_CHECKSUM_SHA1, 20 },
	{ "sha256 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", EX_TUS_CHECKSUM_OK, EX_TUS_CHECKSUM_SHA256, 32 },
	{ "md5 1B2M2Y8AsgTpgAmY7PhCfg==", EX_TUS_CHECKSUM_OK, EX_TUS_CHECKSUM_MD5, 16 },
	/* unsupported algorithms */
	{ "crc32 AAAAAA==", EX_TUS_CHECKSUM_UNSUPPORTED_ALGORITHM, 0, 0 },
	{ "SHA1 2jmj7l5rSw0yVb/vlWAYkK/YBwk=", EX_TUS_CHECKSUM_UNSUPPORTED_ALGORITHM, 0, 0 },
	{ "sha512 AAAA", EX_TUS_CHECKSUM_UNSUPPORTED_ALGORITHM, 0, 0 },
	/* digests of the wrong size or encoding */
	{ "sha1 1B2M2Y8AsgTpgAmY7PhCfg==", EX_TUS_CHECKSUM_INVALID_DIGEST, 0, 0 },
	{ "sha256 2jmj7l5rSw0yVb/vlWAYkK/YBwk=", EX_TUS_CHECKSUM_INVALID_DIGEST, 0, 0 },
	{ "md5 1B2M2Y8AsgTpgAmY7PhCfg", EX_TUS_CHECKSUM_INVALID_DIGEST, 0, 0 },
	{ "md5 1B2M2Y8AsgTpgAmY7PhCf!==", EX_TUS_CHECKSUM_INVALID_DIGEST, 0, 0 },
	{ "sha1 2jmj7l5rSw0yVb_vlWAYkK_YBwk=", EX_TUS_CHECKSUM_INVALID_DIGEST, 0, 0 },
	/* malformed */
	{ "", EX_TUS_CHECKSUM_MALFORMED, 0, 0 },
	{ "sha1", EX_TUS_CHECKSUM_MALFORMED, 0, 0 },
	{ "sha1 ", EX_TUS_CHECKSUM_MALFORMED, 0, 0 },
	{ " 2jmj7l5rSw0yVb/vlWAYkK/YBwk=", EX_TUS_CHECKSUM_MALFORMED, 0, 0 },
	{ "sha1  2jmj7l5rSw0yVb/vlWAYkK/YBwk=", EX_TUS_CHECKSUM_MALFORMED, 0, 0 },
	{ "sha1 2jmj7l5rSw0yVb/vlWAYkK/YBwk= x", EX_TUS_CHECKSUM_MALFORMED, 0, 0 },
};

static void checksum_table(void **state)
{
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const checksum_case *c = &cases[i];
		ex_tus_checksum checksum;
		ex_tus_checksum_status status = ex_tus_checksum_parse(c->header, &checksum);
		if (status != c->status)
			fail_msg("case %zu \"%s\": status %d, expected %d", i, c->header, (int)status, (int)c->status);
		if (c->status != EX_TUS_CHECKSUM_OK)
			continue;
		assert_int_equal(checksum.algorithm, c->algorithm);
		assert_int_equal(checksum.digest_length, c->digest_length);
		assert_int_equal(ex_tus_checksum_digest_size(c->algorithm), c->digest_length);
	}
}

static void checksum_decodes_digest(void **state)
{
	(void)state;
	static const unsigned char md5_of_empty[16] = { 0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04,
							0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e };
	ex_tus_checksum checksum;

	assert_int_equal(ex_tus_checksum_parse("md5 1B2M2Y8AsgTpgAmY7PhCfg==", &checksum), EX_TUS_CHECKSUM_OK);
	assert_memory_equal(checksum.digest, md5_of_empty, sizeof(md5_of_empty));
}

static void checksum_null_header(void **state)
{
	(void)state;
	ex_tus_checksum checksum;

	assert_int_equal(ex_tus_checksum_parse(NULL, &checksum), EX_TUS_CHECKSUM_MALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(checksum_table),
		cmocka_unit_test(checksum_decodes_digest),
		cmocka_unit_test(checksum_null_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
