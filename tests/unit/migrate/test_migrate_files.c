/*
 * Unit tests of migration file names, directory loading order, checksums
 * and error line mapping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "migrate_files.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_name_rules(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		int valid;
		const char *reason_part;
	} cases[] = {
		{ "20260417120000_core_schema.sql", 1, NULL },
		{ "20260417143000_rls_bootstrap_and_mailbox_stats.sql", 1, NULL },
		{ "20240229000000_leap_day.sql", 1, NULL },
		{ "20260101235959_v2.sql", 1, NULL },
		{ "20230229000000_not_leap.sql", 0, "day 29" },
		{ "20261301000000_month.sql", 0, "month 13" },
		{ "20260400000000_day_zero.sql", 0, "day 00" },
		{ "20260431000000_april.sql", 0, "day 31" },
		{ "20260417240000_hour.sql", 0, "24:00:00" },
		{ "20260417126000_minute.sql", 0, "12:60:00" },
		{ "19691231235959_before_epoch.sql", 0, "1969" },
		{ "20260417120000_Upper.sql", 0, "YYYYMMDDHHMMSS_description.sql" },
		{ "20260417120000_with-dash.sql", 0, "YYYYMMDDHHMMSS_description.sql" },
		{ "20260417120000_.sql", 0, "YYYYMMDDHHMMSS_description.sql" },
		{ "20260417120000core.sql", 0, "YYYYMMDDHHMMSS_description.sql" },
		{ "2026041712000_short.sql", 0, "YYYYMMDDHHMMSS_description.sql" },
		{ "20260417120000_core.SQL", 0, "YYYYMMDDHHMMSS_description.sql" },
		{ "20260417120000_core.sql.orig", 0, "YYYYMMDDHHMMSS_description.sql" },
		{ "001_init.sql", 0, "YYYYMMDDHHMMSS_description.sql" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char reason[200] = "";
		int valid = ex_migrate_name_valid(cases[i].name, reason, sizeof(reason));

		if (valid != cases[i].valid)
			fail_msg("%s: expected %s, reason: %s", cases[i].name, cases[i].valid ? "valid" : "invalid",
				 reason);
		if (cases[i].reason_part != NULL && strstr(reason, cases[i].reason_part) == NULL)
			fail_msg("%s: reason \"%s\" lacks \"%s\"", cases[i].name, reason, cases[i].reason_part);
	}
}

static void test_name_too_long(void **state)
{
	(void)state;
	/* A name of EX_MIGRATE_NAME_MAX + 9 characters: prefix, description and ".sql". */
	enum { NAME_SIZE = EX_MIGRATE_NAME_MAX + 10, DESCRIPTION_SIZE = NAME_SIZE - 15 - 4 };
	char name[NAME_SIZE];
	char description[DESCRIPTION_SIZE];
	char reason[200];

	memset(description, 'a', DESCRIPTION_SIZE - 1);
	description[DESCRIPTION_SIZE - 1] = '\0';
	snprintf(name, sizeof(name), "20260417120000_%s.sql", description);
	assert_int_equal(ex_migrate_name_valid(name, reason, sizeof(reason)), 0);
	assert_non_null(strstr(reason, "maximum"));
}

static void test_checksum_known_vectors(void **state)
{
	(void)state;
	char hex[EX_MIGRATE_CHECKSUM_HEX_LEN + 1];

	assert_int_equal(ex_migrate_checksum_hex("", 0, hex), 0);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(ex_migrate_checksum_hex("abc", 3, hex), 0);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void write_file(const char *dir, const char *name, const char *contents, size_t length)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *file = fopen(path, "wb");
	assert_non_null(file);
	assert_int_equal(fwrite(contents, 1, length, file), length);
	assert_int_equal(fclose(file), 0);
}

static int remove_entry(const char *path, const struct stat *info, int type, struct FTW *walk)
{
	(void)info;
	(void)type;
	(void)walk;
	return remove(path);
}

static void remove_tree(const char *dir)
{
	assert_int_equal(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void make_dir(char *dir, size_t size)
{
	snprintf(dir, size, "%s/expresso-migrate-test-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
}

static void test_load_sorts_and_skips(void **state)
{
	(void)state;
	char dir[256];
	make_dir(dir, sizeof(dir));

	/* Created out of order; readdir order is unspecified anyway. */
	write_file(dir, "20260417130000_b.sql", "SELECT 2;\n", 10);
	write_file(dir, "20260417120000_a.sql", "SELECT 1;\n", 10);
	write_file(dir, "20250101000000_first.sql", "", 0);
	write_file(dir, "README.md", "not a migration", 15);
	write_file(dir, ".20260417140000_hidden.sql", "SELECT 3;", 9);
	write_file(dir, "notes.txt", "x", 1);

	ex_migration_list list;
	char error[512] = "";
	assert_int_equal(ex_migrate_list_load(dir, &list, error, sizeof(error)), 0);
	assert_int_equal(list.count, 3);
	assert_string_equal(list.items[0].name, "20250101000000_first.sql");
	assert_string_equal(list.items[1].name, "20260417120000_a.sql");
	assert_string_equal(list.items[2].name, "20260417130000_b.sql");
	assert_string_equal(list.items[1].sql, "SELECT 1;\n");
	assert_int_equal(list.items[1].sql_length, 10);
	assert_int_equal(list.items[0].sql_length, 0);
	assert_string_equal(list.items[0].checksum,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

	char expected[EX_MIGRATE_CHECKSUM_HEX_LEN + 1];
	assert_int_equal(ex_migrate_checksum_hex("SELECT 2;\n", 10, expected), 0);
	assert_string_equal(list.items[2].checksum, expected);

	ex_migrate_list_free(&list);
	assert_null(list.items);
	remove_tree(dir);
}

static void test_load_rejects_bad_name(void **state)
{
	(void)state;
	char dir[256];
	make_dir(dir, sizeof(dir));
	write_file(dir, "20260417120000_ok.sql", "SELECT 1;", 9);
	write_file(dir, "002_users.sql", "SELECT 1;", 9);

	ex_migration_list list;
	char error[512] = "";
	assert_int_equal(ex_migrate_list_load(dir, &list, error, sizeof(error)), -1);
	assert_non_null(strstr(error, "002_users.sql"));
	assert_int_equal(list.count, 0);
	remove_tree(dir);
}

static void test_load_rejects_nul_byte(void **state)
{
	(void)state;
	char dir[256];
	make_dir(dir, sizeof(dir));
	write_file(dir, "20260417120000_binary.sql", "SELECT\0 1;", 10);

	ex_migration_list list;
	char error[512] = "";
	assert_int_equal(ex_migrate_list_load(dir, &list, error, sizeof(error)), -1);
	assert_non_null(strstr(error, "NUL byte"));
	remove_tree(dir);
}

static void test_load_missing_dir(void **state)
{
	(void)state;
	ex_migration_list list;
	char error[512] = "";

	assert_int_equal(ex_migrate_list_load("/nonexistent/expresso/migrations", &list, error, sizeof(error)), -1);
	assert_non_null(strstr(error, "/nonexistent/expresso/migrations"));
	assert_non_null(strstr(error, "--dir"));
}

static void test_sort_by_name(void **state)
{
	(void)state;
	ex_migration_file items[3];
	memset(items, 0, sizeof(items));
	strcpy(items[0].name, "20260417143000_c.sql");
	strcpy(items[1].name, "20260417120000_a.sql");
	strcpy(items[2].name, "20260417130000_b.sql");
	ex_migration_list list = { items, 3 };

	ex_migrate_list_sort(&list);
	assert_string_equal(items[0].name, "20260417120000_a.sql");
	assert_string_equal(items[1].name, "20260417130000_b.sql");
	assert_string_equal(items[2].name, "20260417143000_c.sql");
}

static void test_line_at_positions(void **state)
{
	(void)state;
	const char *text = "CREATE TABLE a ();\nCREATE TABLE b ();\nSELEC 1;\n";
	size_t length = strlen(text);

	assert_int_equal(ex_migrate_line_at(text, length, 1), 1);
	assert_int_equal(ex_migrate_line_at(text, length, 19), 1);
	assert_int_equal(ex_migrate_line_at(text, length, 20), 2);
	assert_int_equal(ex_migrate_line_at(text, length, 39), 3);
	assert_int_equal(ex_migrate_line_at(text, length, 0), 0);
	assert_int_equal(ex_migrate_line_at(text, length, 1000), 0);
}

static void test_line_at_counts_characters(void **state)
{
	(void)state;
	/* "é" is two bytes but one character, as the server counts. */
	const char *text = "-- \xc3\xa9\xc3\xa9\nSELEC 1;";
	size_t length = strlen(text);

	assert_int_equal(ex_migrate_line_at(text, length, 6), 1);
	assert_int_equal(ex_migrate_line_at(text, length, 7), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_rules),
		cmocka_unit_test(test_name_too_long),
		cmocka_unit_test(test_checksum_known_vectors),
		cmocka_unit_test(test_load_sorts_and_skips),
		cmocka_unit_test(test_load_rejects_bad_name),
		cmocka_unit_test(test_load_rejects_nul_byte),
		cmocka_unit_test(test_load_missing_dir),
		cmocka_unit_test(test_sort_by_name),
		cmocka_unit_test(test_line_at_positions),
		cmocka_unit_test(test_line_at_counts_characters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
