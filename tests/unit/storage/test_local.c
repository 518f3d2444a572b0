/* Local-disk storage: names, round trips, durability rules, sweeping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "expresso/storage.h"

#define DEMO "6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11"
#define ACME "b8e4d2c1-5a3f-4e6b-8c9d-0f1e2a3b4c22"

static char root[64];
static ex_storage *storage;
static char err[EX_STORAGE_ERROR_MAX];

static int remove_entry(const char *path, const struct stat *info, int type, struct FTW *walk)
{
	(void)info;
	(void)type;
	(void)walk;
	return remove(path);
}

static int open_store(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/expresso-storage-XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	storage = ex_storage_open_local(root, err, sizeof(err));
	return storage == NULL ? -1 : 0;
}

static int close_store(void **state)
{
	(void)state;
	ex_storage_free(storage);
	nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static int count_files(const char *directory)
{
	DIR *dir = opendir(directory);
	if (dir == NULL)
		return 0;
	int count = 0;
	struct dirent *entry;
	while ((entry = readdir(dir)) != NULL) {
		if (entry->d_name[0] != '.')
			count++;
	}
	closedir(dir);
	return count;
}

static void key_validation_table(void **state)
{
	static const struct {
		const char *key;
		int valid;
	} cases[] = {
		{ "mail/ffccd4df/0001", 1 },
		{ "drive/file-1/v2.bin", 1 },
		{ "a", 1 },
		{ "", 0 },
		{ "/absolute", 0 },
		{ "trailing/", 0 },
		{ "double//slash", 0 },
		{ "../escape", 0 },
		{ "mail/../../etc/passwd", 0 },
		{ "mail/./x", 0 },
		{ ".tmp/x", 0 },
		{ "mail/.hidden", 0 },
		{ "space in/key", 0 },
		{ "back\\slash", 0 },
		{ "ção", 0 },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (ex_storage_key_is_valid(cases[i].key) != cases[i].valid)
			fail_msg("key \"%s\": expected %s", cases[i].key, cases[i].valid ? "valid" : "invalid");
	}

	char longest[EX_STORAGE_MAX_KEY + 2];
	for (size_t i = 0; i < EX_STORAGE_MAX_KEY; i++)
		longest[i] = (i % 200 == 199) ? '/' : 'k';
	longest[EX_STORAGE_MAX_KEY] = '\0';
	assert_int_equal(ex_storage_key_is_valid(longest), 1);
	longest[EX_STORAGE_MAX_KEY] = 'k';
	longest[EX_STORAGE_MAX_KEY + 1] = '\0';
	assert_int_equal(ex_storage_key_is_valid(longest), 0);

	char long_segment[300];
	memset(long_segment, 's', 256);
	long_segment[256] = '\0';
	assert_int_equal(ex_storage_key_is_valid(long_segment), 0);
	long_segment[255] = '\0';
	assert_int_equal(ex_storage_key_is_valid(long_segment), 1);
}

static void tenant_validation(void **state)
{
	(void)state;
	assert_int_equal(ex_storage_tenant_is_valid(DEMO), 1);
	assert_int_equal(ex_storage_tenant_is_valid("6F1C3A52-8D0E-4C57-9B7A-3E2D1F0A9B11"), 1);
	assert_int_equal(ex_storage_tenant_is_valid("../6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b"), 0);
	assert_int_equal(ex_storage_tenant_is_valid("6f1c3a528d0e4c579b7a3e2d1f0a9b11"), 0);
	assert_int_equal(ex_storage_tenant_is_valid(NULL), 0);
}

static void put_and_read_back(void **state)
{
	char *data = NULL;
	size_t length = 0;
	uint64_t size = 0;
	(void)state;

	assert_int_equal(ex_storage_put(storage, DEMO, "mail/u1/m1", "Subject: olá\r\n\r\ncorpo\r\n", 23, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(ex_storage_stat(storage, DEMO, "mail/u1/m1", &size, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(size, 23);
	assert_int_equal(ex_storage_read_all(storage, DEMO, "mail/u1/m1", 1024, &data, &length, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(length, 23);
	assert_memory_equal(data, "Subject: olá\r\n\r\ncorpo\r\n", 23);
	free(data);
}

static void skip_moves_the_reader(void **state)
{
	ex_storage_reader *reader = NULL;
	uint64_t size = 0;
	char buffer[8];
	(void)state;

	assert_int_equal(ex_storage_put(storage, DEMO, "files/skip", "0123456789", 10, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(ex_storage_open_read(storage, DEMO, "files/skip", &reader, &size, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(ex_storage_skip(reader, 0), 0);
	assert_int_equal(ex_storage_read(reader, buffer, 2), 2);
	assert_memory_equal(buffer, "01", 2);
	assert_int_equal(ex_storage_skip(reader, 5), 0);
	assert_int_equal(ex_storage_read(reader, buffer, 2), 2);
	assert_memory_equal(buffer, "78", 2);
	/* To the end is allowed, past it is an error. */
	assert_int_equal(ex_storage_skip(reader, 2), -1);
	assert_int_equal(ex_storage_skip(reader, 1), 0);
	assert_int_equal(ex_storage_read(reader, buffer, sizeof(buffer)), 0);
	ex_storage_reader_close(reader);
}

static void same_key_other_tenant_is_separate(void **state)
{
	char *data = NULL;
	size_t length = 0;
	(void)state;

	assert_int_equal(ex_storage_put(storage, DEMO, "shared/name", "demo", 4, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(ex_storage_read_all(storage, ACME, "shared/name", 64, &data, &length, err, sizeof(err)), EX_STORAGE_NOT_FOUND);
	assert_int_equal(ex_storage_put(storage, ACME, "shared/name", "acme", 4, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(ex_storage_read_all(storage, DEMO, "shared/name", 64, &data, &length, err, sizeof(err)), EX_STORAGE_OK);
	assert_memory_equal(data, "demo", 4);
	free(data);
}

static void streaming_writer_commit_replaces(void **state)
{
	ex_storage_writer *writer;
	char *data = NULL;
	size_t length = 0;
	(void)state;

	assert_int_equal(ex_storage_put(storage, DEMO, "replace/me", "old", 3, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(ex_storage_writer_begin(storage, DEMO, "replace/me", &writer, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(ex_storage_writer_write(writer, "new ", 4, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(ex_storage_writer_write(writer, "content", 7, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(ex_storage_writer_size(writer), 11);

	/* Until commit the old object is what readers see. */
	assert_int_equal(ex_storage_read_all(storage, DEMO, "replace/me", 64, &data, &length, err, sizeof(err)), EX_STORAGE_OK);
	assert_memory_equal(data, "old", 3);
	free(data);

	assert_int_equal(ex_storage_writer_commit(writer, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(ex_storage_read_all(storage, DEMO, "replace/me", 64, &data, &length, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(length, 11);
	assert_memory_equal(data, "new content", 11);
	free(data);
}

static void aborted_writer_leaves_nothing(void **state)
{
	ex_storage_writer *writer;
	uint64_t size;
	char temporary_dir[128];
	(void)state;

	assert_int_equal(ex_storage_writer_begin(storage, DEMO, "aborted/one", &writer, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(ex_storage_writer_write(writer, "partial", 7, err, sizeof(err)), EX_STORAGE_OK);
	ex_storage_writer_abort(writer);
	assert_int_equal(ex_storage_stat(storage, DEMO, "aborted/one", &size, err, sizeof(err)), EX_STORAGE_NOT_FOUND);
	snprintf(temporary_dir, sizeof(temporary_dir), "%s/%s/.tmp", root, DEMO);
	assert_int_equal(count_files(temporary_dir), 0);
}

/* A process that dies between begin and commit leaves no object, only a temporary file that the sweep removes. */
static void crash_before_commit_is_invisible(void **state)
{
	uint64_t size;
	char temporary_dir[128];
	(void)state;

	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		ex_storage_writer *writer;
		if (ex_storage_writer_begin(storage, DEMO, "crashed/one", &writer, err, sizeof(err)) != EX_STORAGE_OK)
			_exit(2);
		ex_storage_writer_write(writer, "half-written", 12, err, sizeof(err));
		_exit(0);
	}
	int status;
	waitpid(child, &status, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	assert_int_equal(ex_storage_stat(storage, DEMO, "crashed/one", &size, err, sizeof(err)), EX_STORAGE_NOT_FOUND);
	snprintf(temporary_dir, sizeof(temporary_dir), "%s/%s/.tmp", root, DEMO);
	assert_int_equal(count_files(temporary_dir), 1);
	assert_int_equal(ex_storage_sweep_temporary(storage, 3600), 0);
	assert_int_equal(ex_storage_sweep_temporary(storage, 0), 1);
	assert_int_equal(count_files(temporary_dir), 0);
}

static void import_file_moves_it(void **state)
{
	char path[128];
	char *data = NULL;
	size_t length = 0;
	(void)state;

	snprintf(path, sizeof(path), "%s/upload.part", root);
	FILE *file = fopen(path, "w");
	assert_non_null(file);
	fputs("uploaded bytes", file);
	fclose(file);

	assert_int_equal(ex_storage_import_file(storage, DEMO, "drive/f1/v1", path, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(ex_storage_read_all(storage, DEMO, "drive/f1/v1", 64, &data, &length, err, sizeof(err)), EX_STORAGE_OK);
	assert_memory_equal(data, "uploaded bytes", 14);
	free(data);
}

static void read_all_respects_maximum(void **state)
{
	char *data = NULL;
	size_t length = 0;
	(void)state;

	assert_int_equal(ex_storage_put(storage, DEMO, "sized/ten", "0123456789", 10, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(ex_storage_read_all(storage, DEMO, "sized/ten", 10, &data, &length, err, sizeof(err)), EX_STORAGE_OK);
	free(data);
	assert_int_equal(ex_storage_read_all(storage, DEMO, "sized/ten", 9, &data, &length, err, sizeof(err)), EX_STORAGE_TOO_LARGE);
	assert_null(data);
}

static void delete_removes_object(void **state)
{
	uint64_t size;
	(void)state;

	assert_int_equal(ex_storage_put(storage, DEMO, "gone/soon", "x", 1, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(ex_storage_delete(storage, DEMO, "gone/soon", err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(ex_storage_stat(storage, DEMO, "gone/soon", &size, err, sizeof(err)), EX_STORAGE_NOT_FOUND);
	assert_int_equal(ex_storage_delete(storage, DEMO, "gone/soon", err, sizeof(err)), EX_STORAGE_NOT_FOUND);
}

static void invalid_names_are_rejected(void **state)
{
	ex_storage_writer *writer = NULL;
	(void)state;

	assert_int_equal(ex_storage_put(storage, "not-a-uuid", "k", "x", 1, err, sizeof(err)), EX_STORAGE_INVALID_NAME);
	assert_int_equal(ex_storage_put(storage, DEMO, "../k", "x", 1, err, sizeof(err)), EX_STORAGE_INVALID_NAME);
	assert_int_equal(ex_storage_writer_begin(storage, DEMO, "a//b", &writer, err, sizeof(err)), EX_STORAGE_INVALID_NAME);
	assert_null(writer);
}

static void relative_root_is_rejected(void **state)
{
	(void)state;
	assert_null(ex_storage_open_local("relative/root", err, sizeof(err)));
	assert_non_null(strstr(err, "absolute"));
}

/* Objects committed without their directory fsync are readable, and one sync covers them all. */
static void unsynced_commit_then_sync(void **state)
{
	static const char *const keys[] = { "mail/u9/a", "mail/u9/b", "mail/u8/c" };
	ex_storage_object_name names[4];
	char *data = NULL;
	size_t length = 0;
	(void)state;

	for (size_t i = 0; i < 3; i++) {
		ex_storage_writer *writer = NULL;
		assert_int_equal(ex_storage_writer_begin(storage, DEMO, keys[i], &writer, err, sizeof(err)), EX_STORAGE_OK);
		assert_int_equal(ex_storage_writer_write(writer, keys[i], strlen(keys[i]), err, sizeof(err)), EX_STORAGE_OK);
		assert_int_equal(ex_storage_writer_commit_unsynced(writer, err, sizeof(err)), EX_STORAGE_OK);
		names[i] = (ex_storage_object_name){ .tenant_id = DEMO, .key = keys[i] };
	}
	assert_int_equal(ex_storage_read_all(storage, DEMO, "mail/u9/b", 64, &data, &length, err, sizeof(err)), EX_STORAGE_OK);
	assert_memory_equal(data, "mail/u9/b", length);
	free(data);

	assert_int_equal(ex_storage_sync_objects(storage, names, 3, err, sizeof(err)), EX_STORAGE_OK);
	assert_int_equal(ex_storage_sync_objects(storage, names, 0, err, sizeof(err)), EX_STORAGE_OK);

	names[3] = (ex_storage_object_name){ .tenant_id = DEMO, .key = "../escape" };
	assert_int_equal(ex_storage_sync_objects(storage, names, 4, err, sizeof(err)), EX_STORAGE_INVALID_NAME);
	names[3] = (ex_storage_object_name){ .tenant_id = "not-a-tenant", .key = "mail/u9/a" };
	assert_int_equal(ex_storage_sync_objects(storage, names, 4, err, sizeof(err)), EX_STORAGE_INVALID_NAME);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(key_validation_table),
		cmocka_unit_test(tenant_validation),
		cmocka_unit_test(put_and_read_back),
		cmocka_unit_test(skip_moves_the_reader),
		cmocka_unit_test(same_key_other_tenant_is_separate),
		cmocka_unit_test(streaming_writer_commit_replaces),
		cmocka_unit_test(aborted_writer_leaves_nothing),
		cmocka_unit_test(crash_before_commit_is_invisible),
		cmocka_unit_test(import_file_moves_it),
		cmocka_unit_test(read_all_respects_maximum),
		cmocka_unit_test(delete_removes_object),
		cmocka_unit_test(invalid_names_are_rejected),
		cmocka_unit_test(relative_root_is_rejected),
		cmocka_unit_test(unsynced_commit_then_sync),
	};
	return cmocka_run_group_tests(tests, open_store, close_store);
}
