/*
 * expresso-imip-dispatch: applies incoming iMIP messages (RFC 6047) to
 * calendars. A durable JetStream consumer reads expresso.*.mail.delivered.
 * For each delivered message with a text/calendar part, the daemon reads
 * the message from the object storage that expresso-mail writes. Then it
 * applies the iTIP message (imip_apply.h) to the recipient's calendars. It serves
 * only /health, /ready and /metrics over HTTP.
 */
#ifndef EXPRESSO_IMIP_SERVICE_H
#define EXPRESSO_IMIP_SERVICE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "expresso/daemon.h"
#include "expresso/storage.h"
#include "imip_apply.h"

#define IMIP_DURABLE "imip-dispatch"

extern const ex_setting imip_settings[];

typedef struct {
	ex_db_pool *database;
	ex_bus *bus;
	ex_storage *storage;
	size_t max_part_size;    /* bytes of a decoded text/calendar part */
	size_t max_message_size; /* bytes of a message read to look for the part */
	long long quota_bytes;   /* bytes of calendar objects one user may store */
	ex_bus_consumer *consumer;
	pthread_t thread;
	bool running;
	atomic_bool stopping;
	atomic_bool consuming; /* the durable consumer exists: /ready */
	ex_counter *outcomes[IMIP_OUTCOME_COUNT]; /* messages with a text/calendar part, by outcome */
	ex_counter *without_calendar; /* delivered messages without a text/calendar part */
	ex_counter *too_large;        /* messages or parts above their size setting */
	ex_counter *unreadable;       /* messages GMime or the storage could not read */
	ex_counter *failures;         /* events delivered again after a database or storage failure */
} imip_service;

int imip_service_open(imip_service *service, ex_daemon *daemon);

/* Starts the consumer thread. Returns 0 or -1. */
int imip_service_start(imip_service *service);

/* Stops the consumer thread and frees the service. */
void imip_service_close(imip_service *service);

/* Handles one mail.delivered event: the consumer's handler, public for tests. */
ex_bus_verdict imip_handle_delivered(const char *subject, const char *data, size_t length, void *context);

#endif
