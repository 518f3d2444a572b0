/*
 * The operations each storage backend implements, and the first member of
 * its storage, writer and reader structs, through which storage.c
 * dispatches the public calls. storage.c checks tenant ids and keys
 * before it calls a backend, and builds ex_storage_put and
 * ex_storage_read_all on the streaming operations.
 */
#ifndef EXPRESSO_STORAGE_BACKEND_H
#define EXPRESSO_STORAGE_BACKEND_H

#include "expresso/storage.h"

typedef struct ex_storage_backend ex_storage_backend;

struct ex_storage {
	const ex_storage_backend *backend;
};

struct ex_storage_writer {
	const ex_storage_backend *backend;
	uint64_t size; /* bytes written so far */
};

struct ex_storage_reader {
	const ex_storage_backend *backend;
};

struct ex_storage_backend {
	void (*free)(ex_storage *storage);
	ex_storage_status (*writer_begin)(ex_storage *storage, const char *tenant_id, const char *key,
					  ex_storage_writer **out, char *err, size_t errlen);
	ex_storage_status (*writer_write)(ex_storage_writer *writer, const void *data, size_t length, char *err,
					  size_t errlen);
	ex_storage_status (*writer_commit)(ex_storage_writer *writer, char *err, size_t errlen);
	/* Commit whose directory entry ex_storage_sync_objects makes durable; NULL: writer_commit. */
	ex_storage_status (*writer_commit_unsynced)(ex_storage_writer *writer, char *err, size_t errlen);
	/* NULL in a backend whose commit is durable by itself (S3). */
	ex_storage_status (*sync_objects)(ex_storage *storage, const ex_storage_object_name *objects, size_t count,
					  char *err, size_t errlen);
	void (*writer_abort)(ex_storage_writer *writer);
	ex_storage_status (*import_file)(ex_storage *storage, const char *tenant_id, const char *key, const char *path,
					 char *err, size_t errlen);
	ex_storage_status (*open_read)(ex_storage *storage, const char *tenant_id, const char *key,
				       ex_storage_reader **out, uint64_t *size, char *err, size_t errlen);
	ssize_t (*read)(ex_storage_reader *reader, void *buffer, size_t length);
	int (*skip)(ex_storage_reader *reader, uint64_t count);
	void (*reader_close)(ex_storage_reader *reader);
	int (*reader_steal_fd)(ex_storage_reader *reader); /* NULL: the backend has no file descriptor */
	ex_storage_status (*delete_object)(ex_storage *storage, const char *tenant_id, const char *key, char *err,
					   size_t errlen);
	ex_storage_status (*stat)(ex_storage *storage, const char *tenant_id, const char *key, uint64_t *size,
				  char *err, size_t errlen);
	int (*sweep_temporary)(ex_storage *storage, unsigned max_age_seconds);
	/* Multipart objects; NULL in a backend without them. */
	ex_storage_status (*parts_begin)(ex_storage *storage, const char *tenant_id, const char *key,
					 char *upload_id, char *err, size_t errlen);
	ex_storage_status (*parts_put)(ex_storage *storage, const char *tenant_id, const char *key,
				       const char *upload_id, unsigned part_number, int fd, uint64_t offset,
				       uint64_t length, char *etag, char *err, size_t errlen);
	ex_storage_status (*parts_complete)(ex_storage *storage, const char *tenant_id, const char *key,
					    const char *upload_id, const char *const *etags, unsigned count, char *err,
					    size_t errlen);
	ex_storage_status (*parts_abort)(ex_storage *storage, const char *tenant_id, const char *key,
					 const char *upload_id, char *err, size_t errlen);
};

/* Formats the message into ERR and returns EX_STORAGE_IO_ERROR. */
__attribute__((format(printf, 3, 4)))
ex_storage_status ex_storage_fail(char *err, size_t errlen, const char *format, ...);

#endif
