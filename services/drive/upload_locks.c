/*
 * The per-upload locks that keep two requests from writing to one upload
 * at the same time. A request that finds its upload locked gets 423
 * instead of waiting for the lock. The locks live in this process only, so
 * two daemons sharing one upload directory rely on the offset check in the
 * database instead.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "upload_locks.h"

bool ex_drive_upload_lock(ex_drive_upload_locks *locks, const char *id)
{
	bool locked = false;

	pthread_mutex_lock(&locks->mutex);
	bool busy = false;
	for (size_t i = 0; i < locks->count; i++) {
		if (strcasecmp(locks->ids[i], id) == 0)
			busy = true;
	}
	if (!busy && locks->count < EX_DRIVE_UPLOAD_LOCKS_MAX) {
		snprintf(locks->ids[locks->count++], EX_DRIVE_UUID_TEXT + 1, "%s", id);
		locked = true;
	}
	pthread_mutex_unlock(&locks->mutex);
	return locked;
}

void ex_drive_upload_unlock(ex_drive_upload_locks *locks, const char *id)
{
	pthread_mutex_lock(&locks->mutex);
	for (size_t i = 0; i < locks->count; i++) {
		if (strcasecmp(locks->ids[i], id) == 0) {
			locks->count--;
			if (i != locks->count)
				memcpy(locks->ids[i], locks->ids[locks->count], sizeof(locks->ids[i]));
			break;
		}
	}
	pthread_mutex_unlock(&locks->mutex);
}
