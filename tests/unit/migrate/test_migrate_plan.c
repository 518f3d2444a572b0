/*
 * Unit tests of the comparison between migration files and applied rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "migrate_plan.h"

#include <string.h>

static const char checksum_a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char checksum_b[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static void set_file(ex_migration_file *file, const char *name, const char *checksum)
{
	memset(file, 0, sizeof(*file));
	strcpy(file->name, name);
	strcpy(file->checksum, checksum);
}

static void set_applied(ex_applied_migration *row, const char *name, const char *checksum)
{
	memset(row, 0, sizeof(*row));
	strcpy(row->name, name);
	strcpy(row->checksum, checksum);
	strcpy(row->applied_at, "2026-04-17T12:00:00Z");
}

static void test_fresh_database_all_pending(void **state)
{
	(void)state;
	ex_migration_file files[2];
	set_file(&files[0], "20260417120000_a.sql", checksum_a);
	set_file(&files[1], "20260417130000_b.sql", checksum_a);
	ex_migration_list list = { files, 2 };
	ex_applied_list applied = { NULL, 0 };
	ex_migrate_plan plan;

	assert_int_equal(ex_migrate_plan_build(&list, &applied, &plan), 0);
	assert_int_equal(plan.count, 2);
	assert_int_equal(plan.pending, 2);
	assert_int_equal(plan.applied, 0);
	assert_null(plan.last_applied);
	assert_false(ex_migrate_plan_blocked(&plan));
	assert_int_equal(plan.entries[0].state, EX_MIGRATION_PENDING);
	assert_ptr_equal(plan.entries[0].file, &files[0]);
	assert_null(plan.entries[0].applied);
	ex_migrate_plan_free(&plan);
}

static void test_applied_and_pending(void **state)
{
	(void)state;
	ex_migration_file files[3];
	set_file(&files[0], "20260417120000_a.sql", checksum_a);
	set_file(&files[1], "20260417130000_b.sql", checksum_b);
	set_file(&files[2], "20260417143000_c.sql", checksum_a);
	ex_migration_list list = { files, 3 };
	/* Rows arrive unsorted; the build sorts them. */
	ex_applied_migration rows[2];
	set_applied(&rows[0], "20260417130000_b.sql", checksum_b);
	set_applied(&rows[1], "20260417120000_a.sql", checksum_a);
	ex_applied_list applied = { rows, 2 };
	ex_migrate_plan plan;

	assert_int_equal(ex_migrate_plan_build(&list, &applied, &plan), 0);
	assert_int_equal(plan.count, 3);
	assert_int_equal(plan.applied, 2);
	assert_int_equal(plan.pending, 1);
	assert_false(ex_migrate_plan_blocked(&plan));
	assert_string_equal(plan.last_applied->name, "20260417130000_b.sql");
	assert_int_equal(plan.entries[0].state, EX_MIGRATION_APPLIED);
	assert_int_equal(plan.entries[1].state, EX_MIGRATION_APPLIED);
	assert_int_equal(plan.entries[2].state, EX_MIGRATION_PENDING);
	assert_string_equal(plan.entries[2].name, "20260417143000_c.sql");
	ex_migrate_plan_free(&plan);
}

static void test_edited_file_is_modified(void **state)
{
	(void)state;
	ex_migration_file files[1];
	set_file(&files[0], "20260417120000_a.sql", checksum_b);
	ex_migration_list list = { files, 1 };
	ex_applied_migration rows[1];
	set_applied(&rows[0], "20260417120000_a.sql", checksum_a);
	ex_applied_list applied = { rows, 1 };
	ex_migrate_plan plan;

	assert_int_equal(ex_migrate_plan_build(&list, &applied, &plan), 0);
	assert_int_equal(plan.modified, 1);
	assert_true(ex_migrate_plan_blocked(&plan));
	assert_int_equal(plan.entries[0].state, EX_MIGRATION_MODIFIED);
	assert_string_equal(plan.entries[0].applied->checksum, checksum_a);
	assert_string_equal(plan.entries[0].file->checksum, checksum_b);
	assert_string_equal(ex_migration_state_name(plan.entries[0].state), "modified");
	ex_migrate_plan_free(&plan);
}

static void test_removed_file_is_missing(void **state)
{
	(void)state;
	ex_migration_file files[1];
	set_file(&files[0], "20260417130000_b.sql", checksum_a);
	ex_migration_list list = { files, 1 };
	ex_applied_migration rows[2];
	set_applied(&rows[0], "20260417120000_a.sql", checksum_a);
	set_applied(&rows[1], "20260417130000_b.sql", checksum_a);
	ex_applied_list applied = { rows, 2 };
	ex_migrate_plan plan;

	assert_int_equal(ex_migrate_plan_build(&list, &applied, &plan), 0);
	assert_int_equal(plan.count, 2);
	assert_int_equal(plan.missing, 1);
	assert_int_equal(plan.applied, 1);
	assert_true(ex_migrate_plan_blocked(&plan));
	assert_int_equal(plan.entries[0].state, EX_MIGRATION_MISSING);
	assert_null(plan.entries[0].file);
	assert_string_equal(plan.entries[0].name, "20260417120000_a.sql");
	ex_migrate_plan_free(&plan);
}

static void test_late_older_file_is_out_of_order(void **state)
{
	(void)state;
	ex_migration_file files[3];
	set_file(&files[0], "20260417120000_a.sql", checksum_a);
	set_file(&files[1], "20260417125000_merged_late.sql", checksum_a);
	set_file(&files[2], "20260417130000_b.sql", checksum_a);
	ex_migration_list list = { files, 3 };
	ex_applied_migration rows[2];
	set_applied(&rows[0], "20260417120000_a.sql", checksum_a);
	set_applied(&rows[1], "20260417130000_b.sql", checksum_a);
	ex_applied_list applied = { rows, 2 };
	ex_migrate_plan plan;

	assert_int_equal(ex_migrate_plan_build(&list, &applied, &plan), 0);
	assert_int_equal(plan.out_of_order, 1);
	assert_int_equal(plan.pending, 0);
	assert_true(ex_migrate_plan_blocked(&plan));
	assert_int_equal(plan.entries[1].state, EX_MIGRATION_OUT_OF_ORDER);
	assert_string_equal(ex_migration_state_name(plan.entries[1].state), "out-of-order");
	ex_migrate_plan_free(&plan);
}

static void test_no_files_no_rows(void **state)
{
	(void)state;
	ex_migration_list list = { NULL, 0 };
	ex_applied_list applied = { NULL, 0 };
	ex_migrate_plan plan;

	assert_int_equal(ex_migrate_plan_build(&list, &applied, &plan), 0);
	assert_int_equal(plan.count, 0);
	assert_false(ex_migrate_plan_blocked(&plan));
	ex_migrate_plan_free(&plan);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_database_all_pending),
		cmocka_unit_test(test_applied_and_pending),
		cmocka_unit_test(test_edited_file_is_modified),
		cmocka_unit_test(test_removed_file_is_missing),
		cmocka_unit_test(test_late_older_file_is_out_of_order),
		cmocka_unit_test(test_no_files_no_rows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
