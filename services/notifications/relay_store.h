/*
 * Stores one notification for one user and announces it to every replica,
 * in one Redis script so that the three steps happen together or not at
 * all: the seen marker (duplicate suppression by event id), the entry in
 * the user's capped stream (with its TTL) and the PUBLISH on the user's
 * channel.
 */
#ifndef EX_NOTIFY_RELAY_STORE_H
#define EX_NOTIFY_RELAY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "expresso/redis.h"
#include "notify_event.h"

typedef enum {
	EX_NOTIFY_STORED,
	EX_NOTIFY_DUPLICATE,
	EX_NOTIFY_STORE_FAILED,
} ex_notify_store_status;

typedef struct {
	size_t history_max;      /* entries kept per user */
	uint64_t history_ttl_ms; /* the stream expires this long after its last entry */
	uint64_t dedup_ttl_ms;   /* how long an event id is remembered */
} ex_notify_store_options;

ex_notify_store_status ex_notify_relay_store(ex_redis *redis, const ex_notify_store_options *options,
					     const ex_notify_event *event, const char *user, char *err, size_t errlen);

#endif
