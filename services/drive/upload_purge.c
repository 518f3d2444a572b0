/*
 * The background thread that removes expired uploads and the trashed items
 * past EXPRESSO_DRIVE_TRASH_RETENTION: once at start, then every
 * EXPRESSO_DRIVE_PURGE_INTERVAL until the daemon stops.
 */
#include <errno.h>
#include <time.h>

#include "expresso/log.h"
#include "upload_store.h"

static void *purge_loop(void *context)
{
	ex_drive_service *service = context;

	pthread_mutex_lock(&service->purge_mutex);
	while (!service->stopping) {
		pthread_mutex_unlock(&service->purge_mutex);
		ex_drive_upload_purge_expired(service);
		ex_drive_trash_purge_expired(service);
		pthread_mutex_lock(&service->purge_mutex);

		struct timespec deadline;
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += (time_t)(service->purge_interval_ms / 1000);
		deadline.tv_nsec += (long)(service->purge_interval_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		while (!service->stopping &&
		       pthread_cond_timedwait(&service->purge_wake, &service->purge_mutex, &deadline) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&service->purge_mutex);
	return NULL;
}

int ex_drive_purge_start(ex_drive_service *service)
{
	service->stopping = false;
	if (pthread_create(&service->purge_thread, NULL, purge_loop, service) != 0) {
		ex_log(EX_LOG_ERROR, "purge_thread_failed", "{s:s}", "error", "pthread_create failed");
		return -1;
	}
	service->purge_running = true;
	return 0;
}

void ex_drive_purge_stop(ex_drive_service *service)
{
	if (!service->purge_running)
		return;
	pthread_mutex_lock(&service->purge_mutex);
	service->stopping = true;
	pthread_cond_broadcast(&service->purge_wake);
	pthread_mutex_unlock(&service->purge_mutex);
	pthread_join(service->purge_thread, NULL);
	service->purge_running = false;
}
