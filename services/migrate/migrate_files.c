/*
 * Migration files on disk: naming rule, directory loading, checksums and
 * error positions. Nothing here talks to the database, so all of it is
 * covered by unit tests.
 */
#include "migrate_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { TIMESTAMP_DIGITS = 14 };

static const char naming_rule[] = "expected YYYYMMDDHHMMSS_description.sql with a description "
				  "of lower-case letters, digits and underscores";

static int digits_value(const char *text, int count)
{
	int value = 0;

	for (int i = 0; i < count; i++)
		value = value * 10 + (text[i] - '0');
	return value;
}

static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	if (month == 2 && leap)
		return 29;
	return days[month - 1];
}

/* Checks that the 14 leading digits form a real date and time. */
static int timestamp_valid(const char *name, char *reason, size_t reason_size)
{
	int year = digits_value(name, 4);
	int month = digits_value(name + 4, 2);
	int day = digits_value(name + 6, 2);
	int hour = digits_value(name + 8, 2);
	int minute = digits_value(name + 10, 2);
	int second = digits_value(name + 12, 2);

	if (year < 1970) {
		snprintf(reason, reason_size, "year %04d is before 1970", year);
		return 0;
	}
	if (month < 1 || month > 12) {
		snprintf(reason, reason_size, "month %02d is not between 01 and 12", month);
		return 0;
	}
	if (day < 1 || day > days_in_month(year, month)) {
		snprintf(reason, reason_size, "day %02d does not exist in %04d-%02d", day, year, month);
		return 0;
	}
	if (hour > 23 || minute > 59 || second > 59) {
		snprintf(reason, reason_size, "time %02d:%02d:%02d is not a valid time of day", hour, minute,
			 second);
		return 0;
	}
	return 1;
}

int ex_migrate_name_valid(const char *name, char *reason, size_t reason_size)
{
	size_t length = strlen(name);
	const char *suffix = ".sql";
	size_t suffix_length = strlen(suffix);

	if (length > EX_MIGRATE_NAME_MAX) {
		snprintf(reason, reason_size, "name is %zu bytes long, the maximum is %d", length,
			 EX_MIGRATE_NAME_MAX);
		return 0;
	}
	if (length < TIMESTAMP_DIGITS + 2 + suffix_length
	    || strcmp(name + length - suffix_length, suffix) != 0) {
		snprintf(reason, reason_size, "%s", naming_rule);
		return 0;
	}
	for (int i = 0; i < TIMESTAMP_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9') {
			snprintf(reason, reason_size, "%s", naming_rule);
			return 0;
		}
	}
	if (name[TIMESTAMP_DIGITS] != '_') {
		snprintf(reason, reason_size, "%s", naming_rule);
		return 0;
	}
	for (size_t i = TIMESTAMP_DIGITS + 1; i < length - suffix_length; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
			snprintf(reason, reason_size, "%s", naming_rule);
			return 0;
		}
	}
	return timestamp_valid(name, reason, reason_size);
}

int ex_migrate_checksum_hex(const void *data, size_t length, char out[EX_MIGRATE_CHECKSUM_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_length = 0;

	out[0] = '\0';
	if (EVP_Digest(data, length, digest, &digest_length, EVP_sha256(), NULL) != 1
	    || digest_length * 2 != EX_MIGRATE_CHECKSUM_HEX_LEN)
		return -1;
	for (unsigned int i = 0; i < digest_length; i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 0x0f];
	}
	out[EX_MIGRATE_CHECKSUM_HEX_LEN] = '\0';
	return 0;
}

static int compare_files(const void *left, const void *right)
{
	const ex_migration_file *a = left;
	const ex_migration_file *b = right;

	return strcmp(a->name, b->name);
}

void ex_migrate_list_sort(ex_migration_list *list)
{
	if (list->count > 1)
		qsort(list->items, list->count, sizeof(list->items[0]), compare_files);
}

void ex_migrate_list_free(ex_migration_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->items[i].sql);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

static int name_is_candidate(const char *name)
{
	size_t length = strlen(name);

	if (name[0] == '.')
		return 0;
	return length >= 4 && strcmp(name + length - 4, ".sql") == 0;
}

/* Reads a whole regular file of at most EX_MIGRATE_FILE_BYTES_MAX bytes. */
static int read_file(const char *path, char **contents, size_t *length, char *error, size_t error_size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(error, error_size, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}

	struct stat info;
	if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
		snprintf(error, error_size, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	if (info.st_size > EX_MIGRATE_FILE_BYTES_MAX) {
		snprintf(error, error_size, "%s is %lld bytes, the maximum is %d bytes", path,
			 (long long)info.st_size, EX_MIGRATE_FILE_BYTES_MAX);
		close(fd);
		return -1;
	}

	size_t size = (size_t)info.st_size;
	char *buffer = malloc(size + 1);
	if (buffer == NULL) {
		snprintf(error, error_size, "out of memory reading %s", path);
		close(fd);
		return -1;
	}

	size_t used = 0;
	while (used < size) {
		ssize_t got = read(fd, buffer + used, size - used);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			snprintf(error, error_size, "cannot read %s: %s", path,
				 got < 0 ? strerror(errno) : "file shrank while reading");
			free(buffer);
			close(fd);
			return -1;
		}
		used += (size_t)got;
	}
	close(fd);
	buffer[size] = '\0';

	if (memchr(buffer, '\0', size) != NULL) {
		snprintf(error, error_size, "%s contains a NUL byte; migration files must be text", path);
		free(buffer);
		return -1;
	}
	*contents = buffer;
	*length = size;
	return 0;
}

/* Appends one validated file to list, growing the array as needed. */
static int list_add(ex_migration_list *list, size_t *capacity, const char *dir, const char *name, char *error,
		    size_t error_size)
{
	char reason[160];
	if (!ex_migrate_name_valid(name, reason, sizeof(reason))) {
		snprintf(error, error_size, "invalid migration file name %s/%s: %s", dir, name, reason);
		return -1;
	}
	if (list->count >= EX_MIGRATE_FILES_MAX) {
		snprintf(error, error_size, "%s holds more than %d migration files", dir, EX_MIGRATE_FILES_MAX);
		return -1;
	}
	if (list->count == *capacity) {
		size_t grown = *capacity ? *capacity * 2 : 16;
		ex_migration_file *items = realloc(list->items, grown * sizeof(items[0]));
		if (items == NULL) {
			snprintf(error, error_size, "out of memory listing %s", dir);
			return -1;
		}
		list->items = items;
		*capacity = grown;
	}

	char path[4096];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
		snprintf(error, error_size, "path of %s in %s is too long", name, dir);
		return -1;
	}

	ex_migration_file *file = &list->items[list->count];
	memset(file, 0, sizeof(*file));
	snprintf(file->name, sizeof(file->name), "%s", name);
	if (read_file(path, &file->sql, &file->sql_length, error, error_size) != 0)
		return -1;
	/* Counted before the checksum so that ex_migrate_list_free() frees sql on failure. */
	list->count++;
	if (ex_migrate_checksum_hex(file->sql, file->sql_length, file->checksum) != 0) {
		snprintf(error, error_size, "cannot compute the SHA-256 of %s: OpenSSL failed", path);
		return -1;
	}
	return 0;
}

int ex_migrate_list_load(const char *dir, ex_migration_list *list, char *error, size_t error_size)
{
	size_t capacity = 0;

	list->items = NULL;
	list->count = 0;

	DIR *handle = opendir(dir);
	if (handle == NULL) {
		snprintf(error, error_size, "cannot open migrations directory %s: %s; pass --dir or set "
			 "EXPRESSO_MIGRATIONS_DIR", dir, strerror(errno));
		return -1;
	}

	struct dirent *entry;
	while ((entry = readdir(handle)) != NULL) {
		if (!name_is_candidate(entry->d_name))
			continue;
		if (list_add(list, &capacity, dir, entry->d_name, error, error_size) != 0) {
			closedir(handle);
			ex_migrate_list_free(list);
			return -1;
		}
	}
	closedir(handle);

	ex_migrate_list_sort(list);
	return 0;
}

long ex_migrate_line_at(const char *text, size_t length, long position)
{
	long characters = 0;
	long line = 1;

	if (position < 1)
		return 0;
	for (size_t i = 0; i < length; i++) {
		unsigned char byte = (unsigned char)text[i];

		/* Continuation bytes (10xxxxxx) do not start a character. */
		if ((byte & 0xc0) == 0x80)
			continue;
		characters++;
		if (characters == position)
			return line;
		if (byte == '\n')
			line++;
	}
	return 0;
}
