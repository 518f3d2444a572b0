/*
 * The public storage calls: checks of tenant ids and keys, dispatch to
 * the backend the storage was opened with (local.c, s3.c), and whole-object
 * helpers built on the streaming calls.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

enum { MAX_SEGMENT = 255 };

ex_storage_status ex_storage_fail(char *err, size_t errlen, const char *format, ...)
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


/* Checks the tenant and key of a call, filling ERR when either is invalid. */
static ex_storage_status check_name(const char *tenant_id, const char *key, char *err, size_t errlen)
{
	if (ex_storage_tenant_is_valid(tenant_id) && ex_storage_key_is_valid(key))
		return EX_STORAGE_OK;
	snprintf(err, errlen, "invalid object name: tenant must be a UUID and the key segments "
		 "of letters, digits, '.', '_' or '-'");
	return EX_STORAGE_INVALID_NAME;
}

void ex_storage_free(ex_storage *storage)
{
	if (storage != NULL)
		storage->backend->free(storage);
}

ex_storage_status ex_storage_writer_begin(ex_storage *storage, const char *tenant_id, const char *key,
					  ex_storage_writer **out, char *err, size_t errlen)
{
	*out = NULL;
	ex_storage_status status = check_name(tenant_id, key, err, errlen);
	if (status != EX_STORAGE_OK)
		return status;
	return storage->backend->writer_begin(storage, tenant_id, key, out, err, errlen);
}

ex_storage_status ex_storage_writer_write(ex_storage_writer *writer, const void *data, size_t length,
					  char *err, size_t errlen)
{
	return writer->backend->writer_write(writer, data, length, err, errlen);
}

uint64_t ex_storage_writer_size(const ex_storage_writer *writer)
{
	return writer->size;
}

ex_storage_status ex_storage_writer_commit(ex_storage_writer *writer, char *err, size_t errlen)
{
	return writer->backend->writer_commit(writer, err, errlen);
}

ex_storage_status ex_storage_writer_commit_unsynced(ex_storage_writer *writer, char *err, size_t errlen)
{
	if (writer->backend->writer_commit_unsynced == NULL)
		return writer->backend->writer_commit(writer, err, errlen);
	return writer->backend->writer_commit_unsynced(writer, err, errlen);
}

ex_storage_status ex_storage_sync_objects(ex_storage *storage, const ex_storage_object_name *objects, size_t count,
					  char *err, size_t errlen)
{
	for (size_t i = 0; i < count; i++) {
		ex_storage_status status = check_name(objects[i].tenant_id, objects[i].key, err, errlen);
		if (status != EX_STORAGE_OK)
			return status;
	}
	if (storage->backend->sync_objects == NULL)
		return EX_STORAGE_OK;
	return storage->backend->sync_objects(storage, objects, count, err, errlen);
}

void ex_storage_writer_abort(ex_storage_writer *writer)
{
	if (writer != NULL)
		writer->backend->writer_abort(writer);
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

ex_storage_status ex_storage_import_file(ex_storage *storage, const char *tenant_id, const char *key,
					 const char *path, char *err, size_t errlen)
{
	ex_storage_status status = check_name(tenant_id, key, err, errlen);
	if (status != EX_STORAGE_OK)
		return status;
	return storage->backend->import_file(storage, tenant_id, key, path, err, errlen);
}

int ex_storage_has_parts(const ex_storage *storage)
{
	return storage->backend->parts_begin != NULL;
}

/* Checks the name of a multipart call and that the backend has multipart objects. */
static ex_storage_status check_parts_call(const ex_storage *storage, const char *tenant_id, const char *key,
					  char *err, size_t errlen)
{
	if (!ex_storage_has_parts(storage))
		return ex_storage_fail(err, errlen, "this storage backend has no multipart objects");
	return check_name(tenant_id, key, err, errlen);
}

ex_storage_status ex_storage_parts_begin(ex_storage *storage, const char *tenant_id, const char *key,
					 char upload_id[EX_STORAGE_UPLOAD_ID_MAX], char *err, size_t errlen)
{
	ex_storage_status status = check_parts_call(storage, tenant_id, key, err, errlen);
	if (status != EX_STORAGE_OK)
		return status;
	return storage->backend->parts_begin(storage, tenant_id, key, upload_id, err, errlen);
}

ex_storage_status ex_storage_parts_put(ex_storage *storage, const char *tenant_id, const char *key,
				       const char *upload_id, unsigned part_number, int fd, uint64_t offset,
				       uint64_t length, char etag[EX_STORAGE_ETAG_MAX], char *err, size_t errlen)
{
	ex_storage_status status = check_parts_call(storage, tenant_id, key, err, errlen);
	if (status != EX_STORAGE_OK)
		return status;
	if (part_number < 1 || part_number > EX_STORAGE_MAX_PARTS)
		return ex_storage_fail(err, errlen, "part number %u is outside 1..%d", part_number, EX_STORAGE_MAX_PARTS);
	return storage->backend->parts_put(storage, tenant_id, key, upload_id, part_number, fd, offset, length, etag,
					   err, errlen);
}

ex_storage_status ex_storage_parts_complete(ex_storage *storage, const char *tenant_id, const char *key,
					    const char *upload_id, const char *const *etags, unsigned count,
					    char *err, size_t errlen)
{
	ex_storage_status status = check_parts_call(storage, tenant_id, key, err, errlen);
	if (status != EX_STORAGE_OK)
		return status;
	if (count < 1 || count > EX_STORAGE_MAX_PARTS)
		return ex_storage_fail(err, errlen, "a multipart object needs 1 to %d parts, not %u", EX_STORAGE_MAX_PARTS,
				       count);
	return storage->backend->parts_complete(storage, tenant_id, key, upload_id, etags, count, err, errlen);
}

ex_storage_status ex_storage_parts_abort(ex_storage *storage, const char *tenant_id, const char *key,
					 const char *upload_id, char *err, size_t errlen)
{
	ex_storage_status status = check_parts_call(storage, tenant_id, key, err, errlen);
	if (status != EX_STORAGE_OK)
		return status;
	return storage->backend->parts_abort(storage, tenant_id, key, upload_id, err, errlen);
}

ex_storage_status ex_storage_open_read(ex_storage *storage, const char *tenant_id, const char *key,
				       ex_storage_reader **out, uint64_t *size, char *err, size_t errlen)
{
	*out = NULL;
	ex_storage_status status = check_name(tenant_id, key, err, errlen);
	if (status != EX_STORAGE_OK)
		return status;
	return storage->backend->open_read(storage, tenant_id, key, out, size, err, errlen);
}

ssize_t ex_storage_read(ex_storage_reader *reader, void *buffer, size_t length)
{
	return reader->backend->read(reader, buffer, length);
}

int ex_storage_skip(ex_storage_reader *reader, uint64_t count)
{
	return count == 0 ? 0 : reader->backend->skip(reader, count);
}

int ex_storage_reader_steal_fd(ex_storage_reader *reader)
{
	if (reader->backend->reader_steal_fd == NULL)
		return -1;
	return reader->backend->reader_steal_fd(reader);
}

void ex_storage_reader_close(ex_storage_reader *reader)
{
	if (reader != NULL)
		reader->backend->reader_close(reader);
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
		return ex_storage_fail(err, errlen, "out of memory");
	}
	size_t filled = 0;
	while (filled < size) {
		ssize_t got = ex_storage_read(reader, buffer + filled, (size_t)size - filled);
		if (got <= 0) {
			free(buffer);
			ex_storage_reader_close(reader);
			return ex_storage_fail(err, errlen, "object %s was shorter than its size", key);
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
	ex_storage_status status = check_name(tenant_id, key, err, errlen);
	if (status != EX_STORAGE_OK)
		return status;
	return storage->backend->delete_object(storage, tenant_id, key, err, errlen);
}

ex_storage_status ex_storage_stat(ex_storage *storage, const char *tenant_id, const char *key,
				  uint64_t *size, char *err, size_t errlen)
{
	ex_storage_status status = check_name(tenant_id, key, err, errlen);
	if (status != EX_STORAGE_OK)
		return status;
	return storage->backend->stat(storage, tenant_id, key, size, err, errlen);
}

int ex_storage_sweep_temporary(ex_storage *storage, unsigned max_age_seconds)
{
	return storage->backend->sweep_temporary(storage, max_age_seconds);
}
