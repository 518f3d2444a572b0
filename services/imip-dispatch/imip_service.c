/*
 * Settings, metrics and the consumer thread of expresso-imip-dispatch
 * (imip_service.h).
 */
#include "imip_service.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "expresso/log.h"

enum {
	FETCH_BATCH = 16,
	FETCH_TIMEOUT_MS = 1000,
	MIN_PART_SIZE = 1024,
};

const ex_setting imip_settings[] = {
	{ "storage_dir", "EXPRESSO_STORAGE_DIR", EX_SETTING_STRING, NULL, NULL,
	  "Directory of the local-disk object storage that holds message bodies: the one expresso-mail writes.", false },
	{ "imip_max_part_size", "EXPRESSO_IMIP_MAX_PART_SIZE", EX_SETTING_SIZE, "1M", "bytes",
	  "Largest decoded text/calendar part applied; a larger one is ignored, logged and counted.", false },
	{ "calendar_quota", "EXPRESSO_CALENDAR_QUOTA", EX_SETTING_SIZE, "100M", "bytes",
	  "Total size of the calendar objects one user may store, as expresso-calendar reads it; an invitation that "
	  "would exceed it is not stored, and is logged and counted.", false },
	{ "imip_max_message_size", "EXPRESSO_IMIP_MAX_MESSAGE_SIZE", EX_SETTING_SIZE, "50M", "bytes",
	  "Largest message read to look for a text/calendar part; a larger one is ignored, logged and counted.", false },
	{ 0 },
};

static int invalid_setting(const char *variable, const char *problem)
{
	ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting", variable, "error", problem);
	return -1;
}

static int register_counters(imip_service *service, ex_metrics *metrics)
{
	for (int i = 0; i < IMIP_OUTCOME_COUNT; i++) {
		char name[96];
		snprintf(name, sizeof(name), "imip_%s_total", imip_outcome_name((imip_outcome)i));
		service->outcomes[i] = ex_metrics_counter(metrics, name,
							  i == IMIP_APPLIED ? "iMIP messages applied to a calendar"
									    : "iMIP messages ignored for this reason");
		if (service->outcomes[i] == NULL)
			return -1;
	}
	service->without_calendar = ex_metrics_counter(metrics, "imip_without_calendar_total",
						       "Delivered messages without a text/calendar part");
	service->too_large = ex_metrics_counter(metrics, "imip_ignored_too_large_total",
						"Messages or text/calendar parts ignored for their size");
	service->unreadable = ex_metrics_counter(metrics, "imip_ignored_unreadable_total",
						 "Messages ignored because they could not be read or parsed");
	service->failures = ex_metrics_counter(metrics, "imip_failures_total",
					       "Events delivered again after a database or storage failure");
	return service->without_calendar && service->too_large && service->unreadable && service->failures ? 0 : -1;
}

int imip_service_open(imip_service *service, ex_daemon *daemon)
{
	const ex_config *config = ex_daemon_config(daemon);
	char err[EX_STORAGE_ERROR_MAX] = "";

	service->database = ex_daemon_database(daemon);
	service->bus = ex_daemon_bus(daemon);
	service->max_part_size = (size_t)ex_config_size(config, "imip_max_part_size");
	service->max_message_size = (size_t)ex_config_size(config, "imip_max_message_size");
	service->quota_bytes = (long long)ex_config_size(config, "calendar_quota");
	if (service->max_part_size < MIN_PART_SIZE)
		return invalid_setting("EXPRESSO_IMIP_MAX_PART_SIZE", "expected at least 1K");
	if (service->max_message_size < service->max_part_size)
		return invalid_setting("EXPRESSO_IMIP_MAX_MESSAGE_SIZE", "expected at least EXPRESSO_IMIP_MAX_PART_SIZE");

	const char *directory = ex_config_string(config, "storage_dir");
	if (directory == NULL)
		return invalid_setting("EXPRESSO_STORAGE_DIR", "is required: the directory where expresso-mail stores message bodies");
	service->storage = ex_storage_open_local(directory, err, sizeof(err));
	if (service->storage == NULL) {
		ex_log(EX_LOG_ERROR, "storage_open_failed", "{s:s, s:s}", "directory", directory, "error", err);
		return -1;
	}
	imip_part_init();
	return register_counters(service, ex_daemon_metrics(daemon));
}

static void *consume(void *opaque)
{
	imip_service *service = opaque;
	char err[256];

	while (!atomic_load(&service->stopping)) {
		if (ex_bus_consumer_fetch(service->consumer, FETCH_BATCH, FETCH_TIMEOUT_MS, imip_handle_delivered, service, err,
					  sizeof(err)) < 0) {
			ex_log(EX_LOG_WARN, "imip_fetch_failed", "{s:s}", "error", err);
			struct timespec pause = { .tv_sec = 1 };
			nanosleep(&pause, NULL);
		}
	}
	return NULL;
}

int imip_service_start(imip_service *service)
{
	char err[256];
	const char *filter = "expresso.*.mail.delivered";

	atomic_store(&service->stopping, false);
	service->consumer = ex_bus_consumer_new(service->bus, IMIP_DURABLE, filter, err, sizeof(err));
	if (service->consumer == NULL) {
		ex_log(EX_LOG_ERROR, "imip_consumer_failed", "{s:s}", "error", err);
		return -1;
	}
	if (pthread_create(&service->thread, NULL, consume, service) != 0) {
		ex_log(EX_LOG_ERROR, "imip_consumer_failed", "{s:s}", "error", "pthread_create failed");
		ex_bus_consumer_free(service->consumer);
		service->consumer = NULL;
		return -1;
	}
	service->running = true;
	atomic_store(&service->consuming, true);
	ex_log(EX_LOG_INFO, "imip_consumer_started", "{s:s, s:s}", "durable", IMIP_DURABLE, "subject", filter);
	return 0;
}

void imip_service_close(imip_service *service)
{
	if (service->running) {
		atomic_store(&service->stopping, true);
		pthread_join(service->thread, NULL);
		service->running = false;
		atomic_store(&service->consuming, false);
		ex_log(EX_LOG_INFO, "imip_consumer_stopped", "{}");
	}
	ex_bus_consumer_free(service->consumer);
	service->consumer = NULL;
	ex_storage_free(service->storage);
	service->storage = NULL;
}
