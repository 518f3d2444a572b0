/*
 * Settings, start and stop of expresso-notifications. The threads start
 * after the routes exist and stop before the hub is freed. By then the
 * HTTP server has stopped, so no stream is left.
 */
#include "notify_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"
#include "expresso/oidc_settings.h"

enum {
	HISTORY_MAX_LIMIT = 10000,
	PER_USER_LIMIT = 1000,
	STREAMS_LIMIT = 1000000,
	MIN_SEND_BUFFER = 4096,
};

const ex_setting ex_notify_settings[] = {
	EX_OIDC_SETTINGS,
	{ "notifications_heartbeat", "EXPRESSO_NOTIFICATIONS_HEARTBEAT", EX_SETTING_DURATION, "25s", "duration",
	  "Idle time after which a stream receives a comment line, keeping proxies from closing it.", false },
	{ "notifications_retry", "EXPRESSO_NOTIFICATIONS_RETRY", EX_SETTING_DURATION, "3s", "duration",
	  "Reconnection delay sent to clients in the retry: field.", false },
	{ "notifications_max_streams", "EXPRESSO_NOTIFICATIONS_MAX_STREAMS", EX_SETTING_INT, "900", "streams",
	  "Open streams on this replica; more are answered 503. Keep it below EXPRESSO_HTTP_MAX_CONNECTIONS.", false },
	{ "notifications_max_streams_per_user", "EXPRESSO_NOTIFICATIONS_MAX_STREAMS_PER_USER", EX_SETTING_INT, "8",
	  "streams", "Open streams of one user on this replica; more are answered 429.", false },
	{ "notifications_send_buffer", "EXPRESSO_NOTIFICATIONS_SEND_BUFFER", EX_SETTING_SIZE, "64K", "bytes",
	  "Output queued for one stream; a client that lets more pile up is disconnected.", false },
	{ "notifications_history", "EXPRESSO_NOTIFICATIONS_HISTORY", EX_SETTING_INT, "100", "events",
	  "Events kept per user in Redis for Last-Event-ID resumption.", false },
	{ "notifications_history_ttl", "EXPRESSO_NOTIFICATIONS_HISTORY_TTL", EX_SETTING_DURATION, "1h", "duration",
	  "How long a user's kept events live after the newest one.", false },
	{ "notifications_dedup_ttl", "EXPRESSO_NOTIFICATIONS_DEDUP_TTL", EX_SETTING_DURATION, "1h", "duration",
	  "How long an event id is remembered to drop redelivered copies.", false },
	{ "notifications_ticket_ttl", "EXPRESSO_NOTIFICATIONS_TICKET_TTL", EX_SETTING_DURATION, "30s", "duration",
	  "Validity of a one-time stream ticket.", false },
	{ "notifications_consumer", "EXPRESSO_NOTIFICATIONS_CONSUMER", EX_SETTING_STRING, "expresso-notifications",
	  NULL, "Durable JetStream consumer shared by every replica.", false },
	{ 0 },
};

static int invalid_setting(const char *variable, const char *hint)
{
	ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "variable", variable, "hint", hint);
	return -1;
}

static int in_range(int64_t value, int64_t low, int64_t high)
{
	return value >= low && value <= high;
}

static int read_settings(ex_notify_service *service, const ex_config *config)
{
	int64_t max_streams = ex_config_int(config, "notifications_max_streams");
	int64_t per_user = ex_config_int(config, "notifications_max_streams_per_user");
	int64_t history = ex_config_int(config, "notifications_history");
	uint64_t send_buffer = ex_config_size(config, "notifications_send_buffer");
	const char *durable = ex_config_string(config, "notifications_consumer");

	if (!in_range(max_streams, 1, STREAMS_LIMIT))
		return invalid_setting("EXPRESSO_NOTIFICATIONS_MAX_STREAMS", "expected 1 to 1000000 streams");
	if (!in_range(per_user, 1, PER_USER_LIMIT))
		return invalid_setting("EXPRESSO_NOTIFICATIONS_MAX_STREAMS_PER_USER", "expected 1 to 1000 streams");
	if (!in_range(history, 1, HISTORY_MAX_LIMIT))
		return invalid_setting("EXPRESSO_NOTIFICATIONS_HISTORY", "expected 1 to 10000 events");
	if (send_buffer < MIN_SEND_BUFFER || send_buffer > 64u * 1024 * 1024)
		return invalid_setting("EXPRESSO_NOTIFICATIONS_SEND_BUFFER", "expected 4K to 64M");
	if (!ex_notify_token_valid(durable) || strlen(durable) >= sizeof(service->durable))
		return invalid_setting("EXPRESSO_NOTIFICATIONS_CONSUMER", "expected a name of [A-Za-z0-9_-]");

	service->limits.max_streams = (size_t)max_streams;
	service->limits.max_per_user = (size_t)per_user;
	service->limits.send_buffer = (size_t)send_buffer;
	service->limits.heartbeat_ms = ex_config_duration_ms(config, "notifications_heartbeat");
	service->retry_ms = ex_config_duration_ms(config, "notifications_retry");
	service->history_max = (size_t)history;
	service->history_ttl_ms = ex_config_duration_ms(config, "notifications_history_ttl");
	service->dedup_ttl_ms = ex_config_duration_ms(config, "notifications_dedup_ttl");
	service->ticket_ttl_ms = ex_config_duration_ms(config, "notifications_ticket_ttl");
	snprintf(service->durable, sizeof(service->durable), "%s", durable);

	if (service->limits.heartbeat_ms < 100)
		return invalid_setting("EXPRESSO_NOTIFICATIONS_HEARTBEAT", "expected at least 100ms");
	if (service->history_ttl_ms < 1000 || service->dedup_ttl_ms < 1000)
		return invalid_setting("EXPRESSO_NOTIFICATIONS_HISTORY_TTL",
				       "expected at least 1s for the history and dedup TTLs");
	if (service->ticket_ttl_ms < 1000 || service->ticket_ttl_ms > 600000)
		return invalid_setting("EXPRESSO_NOTIFICATIONS_TICKET_TTL", "expected 1s to 10m");
	return 0;
}

static int open_verifier(ex_notify_service *service, const ex_config *config)
{
	if (ex_oidc_verifier_open(config, EX_OIDC_ISSUER_REQUIRED, "expresso_session", &service->verifier) != 0)
		return -1;
	ex_oidc_verifier_prefetch(service->verifier);
	return 0;
}

int ex_notify_service_open(ex_notify_service *service, ex_daemon *daemon)
{
	const ex_config *config = ex_daemon_config(daemon);
	char err[512];

	service->redis = ex_daemon_redis(daemon);
	service->bus = ex_daemon_bus(daemon);
	service->metrics = ex_daemon_metrics(daemon);
	if (read_settings(service, config) != 0 || open_verifier(service, config) != 0)
		return -1;
	if (ex_notify_redis_url_parse(ex_config_string(config, "redis_url"), &service->redis_url, err, sizeof(err)) != 0)
		return invalid_setting("EXPRESSO_REDIS_URL", err);

	service->events_consumed = ex_metrics_counter(service->metrics, "notifications_events_consumed_total",
						      "Events taken from the EXPRESSO stream.");
	service->events_rejected = ex_metrics_counter(service->metrics, "notifications_events_rejected_total",
						      "Malformed events terminated without retry.");
	service->notifications_stored = ex_metrics_counter(service->metrics, "notifications_stored_total",
							   "Notifications stored and published, one per recipient.");
	service->hub = ex_notify_hub_new(&service->limits, service->metrics);
	if (service->hub == NULL || ex_notify_hub_start(service->hub, err, sizeof(err)) != 0) {
		ex_log(EX_LOG_ERROR, "hub_start_failed", "{s:s}", "error", service->hub ? err : "out of memory");
		return -1;
	}
	return 0;
}

int ex_notify_service_start(ex_notify_service *service)
{
	int status = pthread_create(&service->subscriber_thread, NULL, ex_notify_run_subscriber, service);
	if (status == 0) {
		service->subscriber_started = true;
		status = pthread_create(&service->consumer_thread, NULL, ex_notify_run_consumer, service);
		service->consumer_started = status == 0;
	}
	if (status != 0) {
		ex_log(EX_LOG_ERROR, "thread_start_failed", "{s:s}", "error", strerror(status));
		return -1;
	}
	return 0;
}

void ex_notify_service_close(ex_notify_service *service)
{
	atomic_store(&service->stop, true);
	if (service->consumer_started)
		pthread_join(service->consumer_thread, NULL);
	if (service->subscriber_started)
		pthread_join(service->subscriber_thread, NULL);
	service->consumer_started = service->subscriber_started = false;
	ex_notify_hub_free(service->hub);
	service->hub = NULL;
	ex_auth_verifier_free(service->verifier);
	service->verifier = NULL;
}
