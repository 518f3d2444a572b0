/*
 * expresso-notifications: the daemon's shared state, its settings, and the
 * three parts that run beside the HTTP routes: the bus consumer (events to
 * Redis), the relay subscriber (Redis to this replica's streams) and the
 * hub of open streams.
 */
#ifndef EX_NOTIFY_SERVICE_H
#define EX_NOTIFY_SERVICE_H

#include <expresso/authclient.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "expresso/daemon.h"
#include "notify_hub.h"
#include "redis_url.h"

typedef struct {
	ex_notify_limits limits;
	uint64_t retry_ms;
	size_t history_max;
	uint64_t history_ttl_ms;
	uint64_t dedup_ttl_ms;
	uint64_t ticket_ttl_ms;
	char durable[64];
	ex_notify_redis_url redis_url;

	ex_auth_verifier *verifier;
	ex_redis *redis;
	ex_bus *bus;
	ex_metrics *metrics;
	ex_notify_hub *hub;

	atomic_bool stop;
	pthread_t consumer_thread, subscriber_thread;
	bool consumer_started, subscriber_started;
	atomic_bool subscribed; /* the relay subscriber is connected to Redis */
	ex_counter *events_consumed, *events_rejected, *notifications_stored;
} ex_notify_service;

extern const ex_setting ex_notify_settings[];

/* Reads the settings and opens the verifier and the hub. Returns 0 or -1 (logged). */
int ex_notify_service_open(ex_notify_service *service, ex_daemon *daemon);

/* Starts the consumer and subscriber threads. Returns 0 or -1 (logged). */
int ex_notify_service_start(ex_notify_service *service);

/* Stops the threads and frees everything open or started. */
void ex_notify_service_close(ex_notify_service *service);

/* Adds the /api/v1/notifications routes. Returns 0 or -1. */
int ex_notify_add_routes(ex_notify_service *service, ex_http_server *http);

/* The bus consumer and relay subscriber thread bodies. */
void *ex_notify_run_consumer(void *service);
void *ex_notify_run_subscriber(void *service);

/* Sleeps up to MS milliseconds, waking early once the service stops. */
void ex_notify_pause(ex_notify_service *service, uint64_t ms);

#endif
