/*
 * Upload-Concat parsing, table-driven: "partial", "final;" with upload
 * paths and absolute URLs, and every malformed form with its status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drive_parse.h"

#define ID_A "0b7c5f7e-2a57-4c39-9f3e-1f6d0c1b2a3d"
#define ID_B "6f1d2c3b-4a59-4e68-8f7a-9b0c1d2e3f40"
#define PATH_A "/api/v1/drive/uploads/" ID_A
#define PATH_B "/api/v1/drive/uploads/" ID_B

typedef struct {
	const char *header;
	ex_tus_concat_status status;
	ex_tus_concat_kind kind;
	size_t count;
} concat_case;

static const concat_case cases[] = {
	{ "partial", EX_TUS_CONCAT_OK, EX_TUS_CONCAT_PARTIAL, 0 },
	{ "final;" PATH_A, EX_TUS_CONCAT_OK, EX_TUS_CONCAT_FINAL, 1 },
	{ "final;" PATH_A " " PATH_B, EX_TUS_CONCAT_OK, EX_TUS_CONCAT_FINAL, 2 },
	{ "final;http://127.0.0.1:8004" PATH_A " https://drive.example" PATH_B, EX_TUS_CONCAT_OK,
	  EX_TUS_CONCAT_FINAL, 2 },
	{ "final; " PATH_A "  " PATH_B " ", EX_TUS_CONCAT_OK, EX_TUS_CONCAT_FINAL, 2 },
	/* malformed */
	{ "", EX_TUS_CONCAT_MALFORMED, EX_TUS_CONCAT_NONE, 0 },
	{ "Partial", EX_TUS_CONCAT_MALFORMED, EX_TUS_CONCAT_NONE, 0 },
	{ "partial;", EX_TUS_CONCAT_MALFORMED, EX_TUS_CONCAT_NONE, 0 },
	{ "final", EX_TUS_CONCAT_MALFORMED, EX_TUS_CONCAT_NONE, 0 },
	{ "final;", EX_TUS_CONCAT_MALFORMED, EX_TUS_CONCAT_NONE, 0 },
	{ "final;   ", EX_TUS_CONCAT_MALFORMED, EX_TUS_CONCAT_NONE, 0 },
	/* URLs that are not upload URLs */
	{ "final;" ID_A, EX_TUS_CONCAT_INVALID_URL, EX_TUS_CONCAT_NONE, 0 },
	{ "final;/api/v1/drive/uploads/", EX_TUS_CONCAT_INVALID_URL, EX_TUS_CONCAT_NONE, 0 },
	{ "final;/api/v1/drive/files/" ID_A, EX_TUS_CONCAT_INVALID_URL, EX_TUS_CONCAT_NONE, 0 },
	{ "final;" PATH_A "x", EX_TUS_CONCAT_INVALID_URL, EX_TUS_CONCAT_NONE, 0 },
	{ "final;" PATH_A "/", EX_TUS_CONCAT_INVALID_URL, EX_TUS_CONCAT_NONE, 0 },
	{ "final;/api/v1/drive/uploads/../files/" ID_A, EX_TUS_CONCAT_INVALID_URL, EX_TUS_CONCAT_NONE, 0 },
	{ "final;1http://host" PATH_A, EX_TUS_CONCAT_INVALID_URL, EX_TUS_CONCAT_NONE, 0 },
	{ "final;http://host", EX_TUS_CONCAT_INVALID_URL, EX_TUS_CONCAT_NONE, 0 },
	{ "final;" PATH_A " " PATH_A, EX_TUS_CONCAT_DUPLICATE_PART, EX_TUS_CONCAT_NONE, 0 },
};

static void concat_table(void **state)
{
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const concat_case *c = &cases[i];
		ex_tus_concat *concat = malloc(sizeof(*concat));
		assert_non_null(concat);
		ex_tus_concat_status status = ex_tus_concat_parse(c->header, concat);
		if (status != c->status)
			fail_msg("case %zu \"%s\": status %d, expected %d", i, c->header, (int)status, (int)c->status);
		if (c->status == EX_TUS_CONCAT_OK) {
			assert_int_equal(concat->kind, c->kind);
			assert_int_equal(concat->count, c->count);
		}
		free(concat);
	}
}

static void concat_keeps_ids_in_order(void **state)
{
	(void)state;
	ex_tus_concat *concat = malloc(sizeof(*concat));

	assert_non_null(concat);
	assert_int_equal(ex_tus_concat_parse("final;http://h" PATH_B " " PATH_A, concat), EX_TUS_CONCAT_OK);
	assert_string_equal(concat->part_ids[0], ID_B);
	assert_string_equal(concat->part_ids[1], ID_A);
	free(concat);
}

static void concat_null_is_none(void **state)
{
	(void)state;
	ex_tus_concat *concat = malloc(sizeof(*concat));

	assert_non_null(concat);
	assert_int_equal(ex_tus_concat_parse(NULL, concat), EX_TUS_CONCAT_OK);
	assert_int_equal(concat->kind, EX_TUS_CONCAT_NONE);
	free(concat);
}

/* Builds "final;" with COUNT distinct upload paths. */
static char *final_header(size_t count)
{
	size_t size = 8 + count * (sizeof(PATH_A) + 1);
	char *header = malloc(size);
	size_t used = (size_t)snprintf(header, size, "final;");

	for (size_t i = 0; i < count; i++)
		used += (size_t)snprintf(header + used, size - used, "%s/api/v1/drive/uploads/%08zx-2a57-4c39-9f3e-1f6d0c1b2a3d",
					 i ? " " : "", i);
	return header;
}

static void concat_part_count_limit(void **state)
{
	(void)state;
	ex_tus_concat *concat = malloc(sizeof(*concat));
	char *at_limit = final_header(EX_TUS_CONCAT_MAX_PARTS);
	char *past_limit = final_header(EX_TUS_CONCAT_MAX_PARTS + 1);

	assert_non_null(concat);
	assert_int_equal(ex_tus_concat_parse(at_limit, concat), EX_TUS_CONCAT_OK);
	assert_int_equal(concat->count, EX_TUS_CONCAT_MAX_PARTS);
	assert_int_equal(ex_tus_concat_parse(past_limit, concat), EX_TUS_CONCAT_TOO_MANY_PARTS);
	free(at_limit);
	free(past_limit);
	free(concat);
}

static void concat_header_size_limit(void **state)
{
	(void)state;
	ex_tus_concat *concat = malloc(sizeof(*concat));
	char *header = malloc(EX_TUS_CONCAT_MAX_HEADER + 2);

	assert_non_null(concat);
	assert_non_null(header);
	/* At the limit: "final;" and one path, padded with spaces. */
	memset(header, ' ', EX_TUS_CONCAT_MAX_HEADER + 1);
	memcpy(header, "final;" PATH_A, sizeof("final;" PATH_A) - 1);
	header[EX_TUS_CONCAT_MAX_HEADER] = '\0';
	assert_int_equal(ex_tus_concat_parse(header, concat), EX_TUS_CONCAT_OK);
	header[EX_TUS_CONCAT_MAX_HEADER] = ' ';
	header[EX_TUS_CONCAT_MAX_HEADER + 1] = '\0';
	assert_int_equal(ex_tus_concat_parse(header, concat), EX_TUS_CONCAT_TOO_LONG);
	free(header);
	free(concat);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(concat_table),
		cmocka_unit_test(concat_keeps_ids_in_order),
		cmocka_unit_test(concat_null_is_none),
		cmocka_unit_test(concat_part_count_limit),
		cmocka_unit_test(concat_header_size_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
