/*
 * Local-disk backend: ROOT/<tenant>/<key>. A write goes to a temporary
 * file ROOT/<tenant>/.tmp/<random> which is fsynced, renamed over the
 * final name, and followed by an fsync of the final directory (and of any
 * directory this write created), so a committed object survives a crash
 * and an uncommitted one never appears under its key.
 */
#include "expresso/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { COPY_BUFFER = 256 * 1024, MAX_SEGMENT = 255 };

struct ex_storage {
	char root[PATH_MAX];
};

struct ex_storage_writer {
	ex_storage *storage;
	int fd;
	uint64_t size;
	char temporary_path[PATH_MAX];
	char final_path[PATH_MAX];
};

struct ex_storage_reader {
	int fd;
};

__attribute__((format(printf, 3, 4)))
static ex_storage_status fail(char *err, size_t errlen, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	vsnprintf(err, errlen, format, args);
	va_end(args);
	return EX_STORAGE_IO_ERROR;
}

int ex_storage_tenant_is_valid(const char *tenant_id)
{
	static const char pattern[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (tenant_id == NULL || strlen(tenant_id) != sizeof(pattern) - 1)
		return 0;
	for (size_t i = 0; pattern[i] != '\0'; i++) {
		char c = tenant_id[i];
		if (pattern[i] == '-') {
			if (c != '-')
				return 0;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
			return 0;
		}
	}
	return 1;
}

int ex_storage_key_is_valid(const char *key)
{
	if (key == NULL)
		return 0;
	size_t length = strnlen(key, EX_STORAGE_MAX_KEY + 1);
	if (length == 0 || length > EX_STORAGE_MAX_KEY)
		return 0;

	size_t segment_length = 0;
	for (size_t i = 0; i <= length; i++) {
		char c = key[i];
		if (c == '/' || c == '\0') {
			if (segment_length == 0 || segment_length > MAX_SEGMENT)
				return 0;
			segment_length = 0;
			continue;
		}
		int allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			      c == '.' || c == '_' || c == '-';
		if (!allowed)
			return 0;
		/* A segment may not start with '.', which also excludes "." and "..". */
		if (segment_length == 0 && c == '.')
			return 0;
		segment_length++;
	}
	return 1;
}

ex_storage *ex_storage_open_local(const char *root, char *err, size_t errlen)
{
	if (root == NULL || root[0] != '/') {
		snprintf(err, errlen, "storage root must be an absolute path, got %s", root ? root : "(unset)");
		return NULL;
	}
	if (mkdir(root, 0750) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create storage root %s: %s", root, strerror(errno));
		return NULL;
	}
	ex_storage *storage = calloc(1, sizeof(*storage));
	if (storage == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (snprintf(storage->root, sizeof(storage->root), "%s", root) >= (int)sizeof(storage->root)) {
		snprintf(err, errlen, "storage root path is too long");
		free(storage);
		return NULL;
	}
	return storage;
}

void ex_storage_free(ex_storage *storage)
{
	free(storage);
}

static ex_storage_status object_path(const ex_storage *storage, const char *tenant_id, const char *key,
				     char *out, size_t size, char *err, size_t errlen)
{
	if (!ex_storage_tenant_is_valid(tenant_id) || !ex_storage_key_is_valid(key)) {
		snprintf(err, errlen, "invalid object name: tenant must be a UUID and the key segments "
			 "of letters, digits, '.', '_' or '-'");
		return EX_STORAGE_INVALID_NAME;
	}
	if (snprintf(out, size, "%s/%s/%s", storage->root, tenant_id, key) >= (int)size) {
		snprintf(err, errlen, "object path is too long");
		return EX_STORAGE_INVALID_NAME;
	}
	return EX_STORAGE_OK;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * Creates every missing directory of PATH's parent (below the storage
 * root) and fsyncs the parent of each one created, so the new entries are
 * durable before an object is renamed into them.
 */
static int make_parent_directories(const char *path)
{
	char buffer[PATH_MAX];
	snprintf(buffer, sizeof(buffer), "%s", path);
	char *slash = strrchr(buffer, '/');
	if (slash == NULL)
		return 0;
	*slash = '\0';

	struct stat info;
	if (stat(buffer, &info) == 0)
		return S_ISDIR(info.st_mode) ? 0 : -1;
	if (make_parent_directories(buffer) != 0)
		return -1;
	if (mkdir(buffer, 0750) != 0 && errno != EEXIST)
		return -1;

	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", buffer);
	char *parent_slash = strrchr(parent, '/');
	if (parent_slash != NULL) {
		*parent_slash = '\0';
		if (fsync_path(parent) != 0)
			return -1;
	}
	return 0;
}

static void random_name(char *out, size_t size)
{
	unsigned char bytes[12];
	static const char hex[] = "0123456789abcdef";

	if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes)) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		memcpy(bytes, &now, sizeof(bytes) < sizeof(now) ? sizeof(bytes) : sizeof(now));
	}
	size_t used = 0;
	for (size_t i = 0; i < sizeof(bytes) && used + 2 < size; i++) {
		out[used++] = hex[bytes[i] >> 4];
		out[used++] = hex[bytes[i] & 0xf];
	}
	out[used] = '\0';
}

ex_storage_status ex_storage_writer_begin(ex_storage *storage, const char *tenant_id, const char *key,
					  ex_storage_writer **out, char *err, size_t errlen)
{
	*out = NULL;
	ex_storage_writer *writer = calloc(1, sizeof(*writer));
	if (writer == NULL)
		return fail(err, errlen, "out of memory");
	writer->storage = storage;
	writer->fd = -1;

	ex_storage_status status = object_path(storage, tenant_id, key, writer->final_path,
					       sizeof(writer->final_path), err, errlen);
	if (status != EX_STORAGE_OK) {
		free(writer);
		return status;
	}

	char name[32];
	random_name(name, sizeof(name));
	if (snprintf(writer->temporary_path, sizeof(writer->temporary_path), "%s/%s/.tmp/%s",
		     storage->root, tenant_id, name) >= (int)sizeof(writer->temporary_path)) {
		free(writer);
		snprintf(err, errlen, "temporary path is too long");
		return EX_STORAGE_INVALID_NAME;
	}
	if (make_parent_directories(writer->temporary_path) != 0) {
		status = fail(err, errlen, "cannot create %s: %s", writer->temporary_path, strerror(errno));
		free(writer);
		return status;
	}
	writer->fd = open(writer->temporary_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (writer->fd < 0) {
		status = fail(err, errlen, "cannot create %s: %s", writer->temporary_path, strerror(errno));
		free(writer);
		return status;
	}
	*out = writer;
	return EX_STORAGE_OK;
}

ex_storage_status ex_storage_writer_write(ex_storage_writer *writer, const void *data, size_t length,
					  char *err, size_t errlen)
{
	const char *cursor = data;

	while (length > 0) {
		ssize_t written = write(writer->fd, cursor, length);
		if (written < 0) {
			if (errno == EINTR)
				continue;
			return fail(err, errlen, "write to %s failed: %s", writer->temporary_path, strerror(errno));
		}
		cursor += written;
		length -= (size_t)written;
		writer->size += (uint64_t)written;
	}
	return EX_STORAGE_OK;
}

uint64_t ex_storage_writer_size(const ex_storage_writer *writer)
{
	return writer->size;
}

void ex_storage_writer_abort(ex_storage_writer *writer)
{
	if (writer == NULL)
		return;
	if (writer->fd >= 0)
		close(writer->fd);
	unlink(writer->temporary_path);
	free(writer);
}

/* Renames FROM over TO and makes both the file and the new entry durable. */
static ex_storage_status publish_file(const char *from, const char *to, char *err, size_t errlen)
{
	if (make_parent_directories(to) != 0)
		return fail(err, errlen, "cannot create the directory of %s: %s", to, strerror(errno));
	if (rename(from, to) != 0)
		return fail(err, errlen, "rename %s to %s failed: %s", from, to, strerror(errno));

	char directory[PATH_MAX];
	snprintf(directory, sizeof(directory), "%s", to);
	char *slash = strrchr(directory, '/');
	if (slash != NULL)
		*slash = '\0';
	if (fsync_path(directory) != 0)
		return fail(err, errlen, "fsync of directory %s failed: %s", directory, strerror(errno));
	return EX_STORAGE_OK;
}

ex_storage_status ex_storage_writer_commit(ex_storage_writer *writer, char *err, size_t errlen)
{
	ex_storage_status status = EX_STORAGE_OK;

	if (fsync(writer->fd) != 0)
		status = fail(err, errlen, "fsync of %s failed: %s", writer->temporary_path, strerror(errno));
	if (close(writer->fd) != 0 && status == EX_STORAGE_OK)
		status = fail(err, errlen, "close of %s failed: %s", writer->temporary_path, strerror(errno));
	writer->fd = -1;
	if (status == EX_STORAGE_OK)
		status = publish_file(writer->temporary_path, writer->final_path, err, errlen);

	if (status != EX_STORAGE_OK)
		unlink(writer->temporary_path);
	free(writer);
	return status;
}

ex_storage_status ex_storage_put(ex_storage *storage, const char *tenant_id, const char *key,
				 const void *data, size_t length, char *err, size_t errlen)
{
	ex_storage_writer *writer = NULL;
	ex_storage_status status = ex_storage_writer_begin(storage, tenant_id, key, &writer, err, errlen);
	if (status != EX_STORAGE_OK || writer == NULL)
		return status;
	status = ex_storage_writer_write(writer, data, length, err, errlen);
	if (status != EX_STORAGE_OK) {
		ex_storage_writer_abort(writer);
		return status;
	}
	return ex_storage_writer_commit(writer, err, errlen);
}

/* Copies PATH into a writer when it cannot be renamed (another filesystem). */
static ex_storage_status copy_into_store(ex_storage *storage, const char *tenant_id, const char *key,
					 const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, "cannot open %s: %s", path, strerror(errno));

	ex_storage_writer *writer = NULL;
	ex_storage_status status = ex_storage_writer_begin(storage, tenant_id, key, &writer, err, errlen);
	if (status != EX_STORAGE_OK || writer == NULL) {
		close(fd);
		return status;
	}
	char *buffer = malloc(COPY_BUFFER);
	if (buffer == NULL)
		status = fail(err, errlen, "out of memory");

	while (status == EX_STORAGE_OK) {
		ssize_t got = read(fd, buffer, COPY_BUFFER);
		if (got == 0)
			break;
		if (got < 0) {
			if (errno == EINTR)
				continue;
			status = fail(err, errlen, "read of %s failed: %s", path, strerror(errno));
			break;
		}
		status = ex_storage_writer_write(writer, buffer, (size_t)got, err, errlen);
	}
	close(fd);
	free(buffer);

	if (status != EX_STORAGE_OK) {
		ex_storage_writer_abort(writer);
		return status;
	}
	status = ex_storage_writer_commit(writer, err, errlen);
	if (status == EX_STORAGE_OK)
		unlink(path);
	return status;
}

ex_storage_status ex_storage_import_file(ex_storage *storage, const char *tenant_id, const char *key,
					 const char *path, char *err, size_t errlen)
{
	char final_path[PATH_MAX];
	ex_storage_status status = object_path(storage, tenant_id, key, final_path, sizeof(final_path), err, errlen);
	if (status != EX_STORAGE_OK)
		return status;

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, "cannot open %s: %s", path, strerror(errno));
	int synced = fsync(fd);
	close(fd);
	if (synced != 0)
		return fail(err, errlen, "fsync of %s failed: %s", path, strerror(errno));

	if (make_parent_directories(final_path) != 0)
		return fail(err, errlen, "cannot create the directory of %s: %s", final_path, strerror(errno));
	if (rename(path, final_path) != 0) {
		if (errno == EXDEV)
			return copy_into_store(storage, tenant_id, key, path, err, errlen);
		return fail(err, errlen, "rename %s to %s failed: %s", path, final_path, strerror(errno));
	}
	char directory[PATH_MAX];
	snprintf(directory, sizeof(directory), "%s", final_path);
	*strrchr(directory, '/') = '\0';
	if (fsync_path(directory) != 0)
		return fail(err, errlen, "fsync of directory %s failed: %s", directory, strerror(errno));
	return EX_STORAGE_OK;
}

ex_storage_status ex_storage_open_read(ex_storage *storage, const char *tenant_id, const char *key,
				       ex_storage_reader **out, uint64_t *size, char *err, size_t errlen)
{
	char path[PATH_MAX];
	*out = NULL;
	ex_storage_status status = object_path(storage, tenant_id, key, path, sizeof(path), err, errlen);
	if (status != EX_STORAGE_OK)
		return status;

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			snprintf(err, errlen, "object %s not found", key);
			return EX_STORAGE_NOT_FOUND;
		}
		return fail(err, errlen, "cannot open %s: %s", path, strerror(errno));
	}
	struct stat info;
	if (fstat(fd, &info) != 0) {
		close(fd);
		return fail(err, errlen, "stat of %s failed: %s", path, strerror(errno));
	}
	ex_storage_reader *reader = malloc(sizeof(*reader));
	if (reader == NULL) {
		close(fd);
		return fail(err, errlen, "out of memory");
	}
	reader->fd = fd;
	if (size != NULL)
		*size = (uint64_t)info.st_size;
	*out = reader;
	return EX_STORAGE_OK;
}

ssize_t ex_storage_read(ex_storage_reader *reader, void *buffer, size_t length)
{
	for (;;) {
		ssize_t got = read(reader->fd, buffer, length);
		if (got >= 0 || errno != EINTR)
			return got;
	}
}

void ex_storage_reader_close(ex_storage_reader *reader)
{
	if (reader == NULL)
		return;
	close(reader->fd);
	free(reader);
}

ex_storage_status ex_storage_read_all(ex_storage *storage, const char *tenant_id, const char *key,
				      size_t max_size, char **data, size_t *length, char *err, size_t errlen)
{
	ex_storage_reader *reader;
	uint64_t size = 0;
	*data = NULL;
	*length = 0;

	ex_storage_status status = ex_storage_open_read(storage, tenant_id, key, &reader, &size, err, errlen);
	if (status != EX_STORAGE_OK)
		return status;
	if (size > max_size) {
		ex_storage_reader_close(reader);
		snprintf(err, errlen, "object %s has %llu bytes, more than the maximum of %zu",
			 key, (unsigned long long)size, max_size);
		return EX_STORAGE_TOO_LARGE;
	}

	char *buffer = malloc((size_t)size + 1);
	if (buffer == NULL) {
		ex_storage_reader_close(reader);
		return fail(err, errlen, "out of memory");
	}
	size_t filled = 0;
	while (filled < size) {
		ssize_t got = ex_storage_read(reader, buffer + filled, (size_t)size - filled);
		if (got <= 0) {
			free(buffer);
			ex_storage_reader_close(reader);
			return fail(err, errlen, "object %s was shorter than its size", key);
		}
		filled += (size_t)got;
	}
	ex_storage_reader_close(reader);
	buffer[filled] = '\0';
	*data = buffer;
	*length = filled;
	return EX_STORAGE_OK;
}

ex_storage_status ex_storage_delete(ex_storage *storage, const char *tenant_id, const char *key,
				    char *err, size_t errlen)
{
	char path[PATH_MAX];
	ex_storage_status status = object_path(storage, tenant_id, key, path, sizeof(path), err, errlen);
	if (status != EX_STORAGE_OK)
		return status;
	if (unlink(path) != 0) {
		if (errno == ENOENT) {
			snprintf(err, errlen, "object %s not found", key);
			return EX_STORAGE_NOT_FOUND;
		}
		return fail(err, errlen, "unlink of %s failed: %s", path, strerror(errno));
	}
	char directory[PATH_MAX];
	snprintf(directory, sizeof(directory), "%s", path);
	*strrchr(directory, '/') = '\0';
	if (fsync_path(directory) != 0)
		return fail(err, errlen, "fsync of directory %s failed: %s", directory, strerror(errno));
	return EX_STORAGE_OK;
}

ex_storage_status ex_storage_stat(ex_storage *storage, const char *tenant_id, const char *key,
				  uint64_t *size, char *err, size_t errlen)
{
	char path[PATH_MAX];
	ex_storage_status status = object_path(storage, tenant_id, key, path, sizeof(path), err, errlen);
	if (status != EX_STORAGE_OK)
		return status;
	struct stat info;
	if (stat(path, &info) != 0 || !S_ISREG(info.st_mode)) {
		snprintf(err, errlen, "object %s not found", key);
		return EX_STORAGE_NOT_FOUND;
	}
	*size = (uint64_t)info.st_size;
	return EX_STORAGE_OK;
}

int ex_storage_sweep_temporary(ex_storage *storage, unsigned max_age_seconds)
{
	DIR *tenants = opendir(storage->root);
	if (tenants == NULL)
		return -1;

	int removed = 0;
	time_t now = time(NULL);
	struct dirent *tenant;
	while ((tenant = readdir(tenants)) != NULL) {
		if (!ex_storage_tenant_is_valid(tenant->d_name))
			continue;
		char temporary_dir[PATH_MAX];
		if (snprintf(temporary_dir, sizeof(temporary_dir), "%s/%s/.tmp", storage->root,
			     tenant->d_name) >= (int)sizeof(temporary_dir))
			continue;
		DIR *files = opendir(temporary_dir);
		if (files == NULL)
			continue;
		struct dirent *file;
		while ((file = readdir(files)) != NULL) {
			if (file->d_name[0] == '.')
				continue;
			char path[PATH_MAX];
			struct stat info;
			if (snprintf(path, sizeof(path), "%s/%s", temporary_dir, file->d_name) >= (int)sizeof(path))
				continue;
			if (stat(path, &info) == 0 && now - info.st_mtime >= (time_t)max_age_seconds &&
			    unlink(path) == 0)
				removed++;
		}
		closedir(files);
	}
	closedir(tenants);
	return removed;
}
