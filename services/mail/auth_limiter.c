/*
 * Failed-AUTH counter: a small table searched linearly under one mutex.
 * The table is sized by the caller (a few thousand slots), so a search
 * costs far less than the argon2id check it guards.
 */
#include "auth_limiter.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	char key[EX_AUTH_LIMITER_MAX_KEY];
	unsigned failures;
	uint64_t window_start_ms;
	bool used;
} slot;

struct ex_auth_limiter {
	pthread_mutex_t lock;
	slot *slots;
	unsigned slot_count;
	unsigned max_failures;
	uint64_t window_ms;
};

ex_auth_limiter *ex_auth_limiter_new(unsigned slots, unsigned max_failures, uint64_t window_ms)
{
	ex_auth_limiter *limiter = calloc(1, sizeof(*limiter));
	if (limiter == NULL)
		return NULL;
	limiter->slots = calloc(slots == 0 ? 1 : slots, sizeof(*limiter->slots));
	if (limiter->slots == NULL) {
		free(limiter);
		return NULL;
	}
	pthread_mutex_init(&limiter->lock, NULL);
	limiter->slot_count = slots == 0 ? 1 : slots;
	limiter->max_failures = max_failures;
	limiter->window_ms = window_ms;
	return limiter;
}

void ex_auth_limiter_free(ex_auth_limiter *limiter)
{
	if (limiter == NULL)
		return;
	pthread_mutex_destroy(&limiter->lock);
	free(limiter->slots);
	free(limiter);
}

/* Returns the slot of KEY, or NULL. The caller holds the lock. */
static slot *find(ex_auth_limiter *limiter, const char *key)
{
	for (unsigned i = 0; i < limiter->slot_count; i++) {
		if (limiter->slots[i].used && strcmp(limiter->slots[i].key, key) == 0)
			return &limiter->slots[i];
	}
	return NULL;
}

static bool window_expired(const ex_auth_limiter *limiter, const slot *entry, uint64_t now_ms)
{
	return now_ms >= entry->window_start_ms + limiter->window_ms;
}

bool ex_auth_limiter_blocked(ex_auth_limiter *limiter, const char *key, uint64_t now_ms)
{
	pthread_mutex_lock(&limiter->lock);
	slot *entry = find(limiter, key);
	bool blocked = entry != NULL && !window_expired(limiter, entry, now_ms) &&
		       entry->failures >= limiter->max_failures;
	pthread_mutex_unlock(&limiter->lock);
	return blocked;
}

void ex_auth_limiter_fail(ex_auth_limiter *limiter, const char *key, uint64_t now_ms)
{
	if (strlen(key) >= EX_AUTH_LIMITER_MAX_KEY)
		return;
	pthread_mutex_lock(&limiter->lock);
	slot *entry = find(limiter, key);
	if (entry == NULL) {
		/* Reuse a free slot, an expired one, or else the one whose window started first. */
		entry = &limiter->slots[0];
		for (unsigned i = 0; i < limiter->slot_count; i++) {
			slot *candidate = &limiter->slots[i];
			if (!candidate->used || window_expired(limiter, candidate, now_ms)) {
				entry = candidate;
				break;
			}
			if (candidate->window_start_ms < entry->window_start_ms)
				entry = candidate;
		}
		*entry = (slot){ .used = true, .window_start_ms = now_ms };
		strcpy(entry->key, key);
	} else if (window_expired(limiter, entry, now_ms)) {
		entry->failures = 0;
		entry->window_start_ms = now_ms;
	}
	entry->failures++;
	pthread_mutex_unlock(&limiter->lock);
}

void ex_auth_limiter_reset(ex_auth_limiter *limiter, const char *key)
{
	pthread_mutex_lock(&limiter->lock);
	slot *entry = find(limiter, key);
	if (entry != NULL)
		entry->used = false;
	pthread_mutex_unlock(&limiter->lock);
}
