/*
 * Local-disk backend: ROOT/<tenant>/<key>. A write goes to a temporary
 * file ROOT/<tenant>/.tmp/<random> which is fsynced, renamed over the
 * final name, and followed by an fsync of the final directory (and of any
 * directory this write created), so a committed object survives a crash
 * and an uncommitted one never appears under its key. The unsynced commit
 * leaves the directory fsync to local_sync_objects, which does it once per
 * directory for a group of objects.
 */
#include "backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { COPY_BUFFER = 256 * 1024 };

typedef struct {
	ex_storage base;
	char root[PATH_MAX];
} local_storage;

typedef struct {
	ex_storage_writer base;
	local_storage *storage;
	int fd;
	char temporary_path[PATH_MAX];
	char final_path[PATH_MAX];
} local_writer;

typedef struct {
	ex_storage_reader base;
	int fd;
} local_reader;

static const ex_storage_backend local_backend;

#define fail ex_storage_fail

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
	local_storage *storage = calloc(1, sizeof(*storage));
	if (storage == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	storage->base.backend = &local_backend;
	if (snprintf(storage->root, sizeof(storage->root), "%s", root) >= (int)sizeof(storage->root)) {
		snprintf(err, errlen, "storage root path is too long");
		free(storage);
		return NULL;
	}
	return &storage->base;
}

static void local_free(ex_storage *storage)
{
	free(storage);
}

static ex_storage_status object_path(const local_storage *storage, const char *tenant_id, const char *key,
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

static ex_storage_status local_writer_begin(ex_storage *base, const char *tenant_id, const char *key,
					    ex_storage_writer **out, char *err, size_t errlen)
{
	local_storage *storage = (local_storage *)base;
	*out = NULL;
	local_writer *writer = calloc(1, sizeof(*writer));
	if (writer == NULL)
		return fail(err, errlen, "out of memory");
	writer->base.backend = &local_backend;
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
	*out = &writer->base;
	return EX_STORAGE_OK;
}

static ex_storage_status local_writer_write(ex_storage_writer *base, const void *data, size_t length, char *err,
					    size_t errlen)
{
	local_writer *writer = (local_writer *)base;
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
		writer->base.size += (uint64_t)written;
	}
	return EX_STORAGE_OK;
}

static void local_writer_abort(ex_storage_writer *base)
{
	local_writer *writer = (local_writer *)base;

	if (writer->fd >= 0)
		close(writer->fd);
	unlink(writer->temporary_path);
	free(writer);
}

/* Renames FROM over TO and, when SYNC_DIRECTORY is set, makes the new entry durable. */
static ex_storage_status publish_file(const char *from, const char *to, bool sync_directory, char *err,
				      size_t errlen)
{
	if (make_parent_directories(to) != 0)
		return fail(err, errlen, "cannot create the directory of %s: %s", to, strerror(errno));
	if (rename(from, to) != 0)
		return fail(err, errlen, "rename %s to %s failed: %s", from, to, strerror(errno));
	if (!sync_directory)
		return EX_STORAGE_OK;

	char directory[PATH_MAX];
	snprintf(directory, sizeof(directory), "%s", to);
	char *slash = strrchr(directory, '/');
	if (slash != NULL)
		*slash = '\0';
	if (fsync_path(directory) != 0)
		return fail(err, errlen, "fsync of directory %s failed: %s", directory, strerror(errno));
	return EX_STORAGE_OK;
}

/* Fsyncs the file and renames it over its key; SYNC_DIRECTORY also fsyncs the directory entry. */
static ex_storage_status commit_writer(ex_storage_writer *base, bool sync_directory, char *err, size_t errlen)
{
	local_writer *writer = (local_writer *)base;
	ex_storage_status status = EX_STORAGE_OK;

	if (fsync(writer->fd) != 0)
		status = fail(err, errlen, "fsync of %s failed: %s", writer->temporary_path, strerror(errno));
	if (close(writer->fd) != 0 && status == EX_STORAGE_OK)
		status = fail(err, errlen, "close of %s failed: %s", writer->temporary_path, strerror(errno));
	writer->fd = -1;
	if (status == EX_STORAGE_OK)
		status = publish_file(writer->temporary_path, writer->final_path, sync_directory, err, errlen);

	if (status != EX_STORAGE_OK)
		unlink(writer->temporary_path);
	free(writer);
	return status;
}

static ex_storage_status local_writer_commit(ex_storage_writer *base, char *err, size_t errlen)
{
	return commit_writer(base, true, err, errlen);
}

static ex_storage_status local_writer_commit_unsynced(ex_storage_writer *base, char *err, size_t errlen)
{
	return commit_writer(base, false, err, errlen);
}

/* Fsyncs the directory of each object once, however many of the objects share it. */
static ex_storage_status local_sync_objects(ex_storage *base, const ex_storage_object_name *objects, size_t count,
					    char *err, size_t errlen)
{
	local_storage *storage = (local_storage *)base;
	char (*directories)[PATH_MAX] = calloc(count > 0 ? count : 1, sizeof(*directories));
	if (directories == NULL)
		return fail(err, errlen, "out of memory");

	ex_storage_status status = EX_STORAGE_OK;
	size_t distinct = 0;
	for (size_t i = 0; i < count && status == EX_STORAGE_OK; i++) {
		char path[PATH_MAX];
		status = object_path(storage, objects[i].tenant_id, objects[i].key, path, sizeof(path), err, errlen);
		if (status != EX_STORAGE_OK)
			break;
		char *slash = strrchr(path, '/');
		if (slash != NULL)
			*slash = '\0';
		bool seen = false;
		for (size_t j = 0; j < distinct && !seen; j++)
			seen = strcmp(directories[j], path) == 0;
		if (seen)
			continue;
		snprintf(directories[distinct], PATH_MAX, "%s", path);
		distinct++;
		if (fsync_path(path) != 0)
			status = fail(err, errlen, "fsync of directory %s failed: %s", path, strerror(errno));
	}
	free(directories);
	return status;
}

/* Copies PATH into a writer when it cannot be renamed (another filesystem). */
static ex_storage_status copy_into_store(ex_storage *storage, const char *tenant_id, const char *key,
					 const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, "cannot open %s: %s", path, strerror(errno));

	ex_storage_writer *writer = NULL;
	ex_storage_status status = local_writer_begin(storage, tenant_id, key, &writer, err, errlen);
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
		status = local_writer_write(writer, buffer, (size_t)got, err, errlen);
	}
	close(fd);
	free(buffer);

	if (status != EX_STORAGE_OK) {
		local_writer_abort(writer);
		return status;
	}
	status = local_writer_commit(writer, err, errlen);
	if (status == EX_STORAGE_OK)
		unlink(path);
	return status;
}

static ex_storage_status local_import_file(ex_storage *storage, const char *tenant_id, const char *key,
					   const char *path, char *err, size_t errlen)
{
	char final_path[PATH_MAX];
	ex_storage_status status = object_path((local_storage *)storage, tenant_id, key, final_path, sizeof(final_path), err, errlen);
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

static ex_storage_status local_open_read(ex_storage *storage, const char *tenant_id, const char *key,
					 ex_storage_reader **out, uint64_t *size, char *err, size_t errlen)
{
	char path[PATH_MAX];
	*out = NULL;
	ex_storage_status status = object_path((local_storage *)storage, tenant_id, key, path, sizeof(path), err, errlen);
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
	local_reader *reader = malloc(sizeof(*reader));
	if (reader == NULL) {
		close(fd);
		return fail(err, errlen, "out of memory");
	}
	reader->base.backend = &local_backend;
	reader->fd = fd;
	if (size != NULL)
		*size = (uint64_t)info.st_size;
	*out = &reader->base;
	return EX_STORAGE_OK;
}

static ssize_t local_read(ex_storage_reader *base, void *buffer, size_t length)
{
	const local_reader *reader = (const local_reader *)base;

	for (;;) {
		ssize_t got = read(reader->fd, buffer, length);
		if (got >= 0 || errno != EINTR)
			return got;
	}
}

static int local_skip(ex_storage_reader *base, uint64_t count)
{
	const local_reader *reader = (const local_reader *)base;
	struct stat info;
	off_t position = lseek(reader->fd, 0, SEEK_CUR);

	if (count > (uint64_t)INT64_MAX || position < 0 || fstat(reader->fd, &info) != 0 ||
	    count > (uint64_t)(info.st_size - position))
		return -1;
	return lseek(reader->fd, (off_t)count, SEEK_CUR) < 0 ? -1 : 0;
}

static void local_reader_close(ex_storage_reader *base)
{
	local_reader *reader = (local_reader *)base;

	if (reader->fd >= 0)
		close(reader->fd);
	free(reader);
}

static int local_reader_steal_fd(ex_storage_reader *base)
{
	local_reader *reader = (local_reader *)base;
	int fd = reader->fd;

	reader->fd = -1;
	return fd;
}

static ex_storage_status local_delete(ex_storage *storage, const char *tenant_id, const char *key, char *err,
				      size_t errlen)
{
	char path[PATH_MAX];
	ex_storage_status status = object_path((local_storage *)storage, tenant_id, key, path, sizeof(path), err, errlen);
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

static ex_storage_status local_stat(ex_storage *storage, const char *tenant_id, const char *key, uint64_t *size,
				    char *err, size_t errlen)
{
	char path[PATH_MAX];
	ex_storage_status status = object_path((local_storage *)storage, tenant_id, key, path, sizeof(path), err, errlen);
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

static int local_sweep_temporary(ex_storage *base, unsigned max_age_seconds)
{
	const local_storage *storage = (const local_storage *)base;

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

static const ex_storage_backend local_backend = {
	.free = local_free,
	.writer_begin = local_writer_begin,
	.writer_write = local_writer_write,
	.writer_commit = local_writer_commit,
	.writer_commit_unsynced = local_writer_commit_unsynced,
	.sync_objects = local_sync_objects,
	.writer_abort = local_writer_abort,
	.import_file = local_import_file,
	.open_read = local_open_read,
	.read = local_read,
	.skip = local_skip,
	.reader_close = local_reader_close,
	.reader_steal_fd = local_reader_steal_fd,
	.delete_object = local_delete,
	.stat = local_stat,
	.sweep_temporary = local_sweep_temporary,
};
