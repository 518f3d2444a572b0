/*
 * Per-upload locks: at most one request writes to an upload at a time.
 */
#ifndef EXPRESSO_DRIVE_UPLOAD_LOCKS_H
#define EXPRESSO_DRIVE_UPLOAD_LOCKS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

enum {
	EX_DRIVE_UUID_TEXT = 36,
	EX_DRIVE_UPLOAD_LOCKS_MAX = 256, /* uploads receiving a chunk at the same time */
};

typedef struct {
	pthread_mutex_t mutex; /* initialised by the owner with pthread_mutex_init */
	size_t count;
	char ids[EX_DRIVE_UPLOAD_LOCKS_MAX][EX_DRIVE_UUID_TEXT + 1];
} ex_drive_upload_locks;

/* Marks upload ID busy; returns false when another request has it or the table is full. */
bool ex_drive_upload_lock(ex_drive_upload_locks *locks, const char *id);
void ex_drive_upload_unlock(ex_drive_upload_locks *locks, const char *id);

#endif
