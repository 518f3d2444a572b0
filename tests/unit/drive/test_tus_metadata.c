/*
 * Upload-Metadata parsing, table-driven: accepted headers with the pairs
 * they decode to, and each rejected form with its status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "drive_parse.h"

typedef struct {
	const char *header;
	ex_tus_metadata_status status;
	size_t count;
	const char *key;   /* a key to look up; NULL for none */
	const char *value; /* its expected decoded value; NULL when the key has no value */
} metadata_case;

static const metadata_case cases[] = {
	{ NULL, EX_TUS_METADATA_OK, 0, NULL, NULL },
	{ "", EX_TUS_METADATA_OK, 0, NULL, NULL },
	{ "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==", EX_TUS_METADATA_OK, 1, "filename",
	  "world_domination_plan.pdf" },
	{ "filename YS50eHQ=,filetype dGV4dC9wbGFpbg==", EX_TUS_METADATA_OK, 2, "filetype", "text/plain" },
	{ "filename YS50eHQ=, filetype dGV4dC9wbGFpbg==", EX_TUS_METADATA_OK, 2, "filename", "a.txt" },
	{ "is_confidential", EX_TUS_METADATA_OK, 1, "is_confidential", "" },
	{ "a YQ==,b,c Yw==", EX_TUS_METADATA_OK, 3, "b", "" },
	{ "name w6fDo28=", EX_TUS_METADATA_OK, 1, "name", "\xc3\xa7\xc3\xa3o" },
	{ "k AA==", EX_TUS_METADATA_OK, 1, "k", "" }, /* a NUL byte: decoded length 1, checked below */
	/* invalid keys */
	{ ",", EX_TUS_METADATA_INVALID_KEY, 0, NULL, NULL },
	{ "a YQ==,", EX_TUS_METADATA_INVALID_KEY, 0, NULL, NULL },
	{ "a YQ==, ,b", EX_TUS_METADATA_INVALID_KEY, 0, NULL, NULL },
	{ "k\x01 YQ==", EX_TUS_METADATA_INVALID_KEY, 0, NULL, NULL },
	{ "k\xc3\xa7 YQ==", EX_TUS_METADATA_INVALID_KEY, 0, NULL, NULL },
	{ "a YQ==,a Yg==", EX_TUS_METADATA_DUPLICATE_KEY, 0, NULL, NULL },
	/* invalid values */
	{ "filename YQ", EX_TUS_METADATA_INVALID_VALUE, 0, NULL, NULL },
	{ "filename Y===", EX_TUS_METADATA_INVALID_VALUE, 0, NULL, NULL },
	{ "filename YR==", EX_TUS_METADATA_INVALID_VALUE, 0, NULL, NULL }, /* non-zero padding bits */
	{ "filename YQ==YQ==", EX_TUS_METADATA_INVALID_VALUE, 0, NULL, NULL },
	{ "filename Y Q==", EX_TUS_METADATA_INVALID_VALUE, 0, NULL, NULL },
	{ "filename YQ-_", EX_TUS_METADATA_INVALID_VALUE, 0, NULL, NULL },
	{ "filename  YQ==", EX_TUS_METADATA_INVALID_VALUE, 0, NULL, NULL },
};

static void metadata_table(void **state)
{
	(void)state;
	static ex_tus_metadata metadata;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const metadata_case *c = &cases[i];
		ex_tus_metadata_status status = ex_tus_metadata_parse(c->header, &metadata);
		if (status != c->status)
			fail_msg("case %zu \"%s\": status %d, expected %d", i, c->header ? c->header : "(null)",
				 (int)status, (int)c->status);
		assert_int_equal(metadata.count, c->count);
		if (c->key == NULL)
			continue;
		size_t length = 99;
		const char *value = ex_tus_metadata_get(&metadata, c->key, &length);
		assert_non_null(value);
		if (strcmp(c->key, "k") != 0) {
			assert_string_equal(value, c->value);
			assert_int_equal(length, strlen(c->value));
		}
	}
}

static void metadata_keeps_nul_byte(void **state)
{
	(void)state;
	static ex_tus_metadata metadata;
	size_t length = 0;

	assert_int_equal(ex_tus_metadata_parse("k AA==", &metadata), EX_TUS_METADATA_OK);
	const char *value = ex_tus_metadata_get(&metadata, "k", &length);
	assert_non_null(value);
	assert_int_equal(length, 1);
	assert_int_equal(value[0], '\0');
}

static void metadata_missing_key(void **state)
{
	(void)state;
	static ex_tus_metadata metadata;

	assert_int_equal(ex_tus_metadata_parse("a YQ==", &metadata), EX_TUS_METADATA_OK);
	assert_null(ex_tus_metadata_get(&metadata, "b", NULL));
}

static void metadata_pair_limit(void **state)
{
	(void)state;
	static ex_tus_metadata metadata;
	char header[1024] = "";

	for (int i = 0; i < EX_TUS_METADATA_MAX_PAIRS; i++) {
		char pair[16];
		snprintf(pair, sizeof(pair), "%sk%d", i ? "," : "", i);
		strcat(header, pair);
	}
	assert_int_equal(ex_tus_metadata_parse(header, &metadata), EX_TUS_METADATA_OK);
	assert_int_equal(metadata.count, EX_TUS_METADATA_MAX_PAIRS);
	strcat(header, ",one_more");
	assert_int_equal(ex_tus_metadata_parse(header, &metadata), EX_TUS_METADATA_TOO_MANY);
}

static void metadata_length_limit(void **state)
{
	(void)state;
	static ex_tus_metadata metadata;
	static char header[EX_TUS_METADATA_MAX_HEADER + 2];

	/* "k " followed by base64 of zero bytes ("AAAA" groups), exactly at the limit. */
	memset(header, 'A', sizeof(header) - 1);
	header[0] = 'k';
	header[1] = ' ';
	size_t value_length = ((EX_TUS_METADATA_MAX_HEADER - 2) / 4) * 4;
	header[2 + value_length] = '\0';
	assert_int_equal(ex_tus_metadata_parse(header, &metadata), EX_TUS_METADATA_OK);

	memset(header, 'A', sizeof(header) - 1);
	header[0] = 'k';
	header[1] = ' ';
	header[EX_TUS_METADATA_MAX_HEADER + 1] = '\0';
	assert_int_equal(ex_tus_metadata_parse(header, &metadata), EX_TUS_METADATA_TOO_LONG);
}

static void metadata_key_length_limit(void **state)
{
	(void)state;
	static ex_tus_metadata metadata;
	char key[EX_TUS_METADATA_MAX_KEY + 2];

	memset(key, 'k', EX_TUS_METADATA_MAX_KEY);
	key[EX_TUS_METADATA_MAX_KEY] = '\0';
	assert_int_equal(ex_tus_metadata_parse(key, &metadata), EX_TUS_METADATA_OK);
	key[EX_TUS_METADATA_MAX_KEY] = 'k';
	key[EX_TUS_METADATA_MAX_KEY + 1] = '\0';
	assert_int_equal(ex_tus_metadata_parse(key, &metadata), EX_TUS_METADATA_INVALID_KEY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(metadata_table),
		cmocka_unit_test(metadata_keeps_nul_byte),
		cmocka_unit_test(metadata_missing_key),
		cmocka_unit_test(metadata_pair_limit),
		cmocka_unit_test(metadata_length_limit),
		cmocka_unit_test(metadata_key_length_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
