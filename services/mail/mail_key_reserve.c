/*
 * Storage keys reserved for a user's next local deliveries. The delivery
 * that commits a user's rows also lists a fresh key of that user in
 * mail_object_garbage, in the same statement, and puts it here. The
 * user's next delivery takes it, so its object is covered by a garbage
 * record before it is written, and the delivery waits for one commit
 * instead of two. A key that is never taken leaves a record without an
 * object, which the sweep deletes after its grace period.
 *
 * The reserve is a small table in process memory, guarded by one mutex:
 * each replica reserves its own keys, and a restart forgets them.
 */
#include "mail_key_reserve.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtp_session.h"

typedef struct {
	char tenant_id[EX_SMTP_UUID_TEXT];
	char user_id[EX_SMTP_UUID_TEXT];
	uint64_t used_at_ms; /* last take or put, for eviction; 0: free entry */
	size_t count;
	char keys[EX_MAIL_KEY_RESERVE_KEYS_PER_USER][EX_MAIL_KEY_RESERVE_KEY_SIZE];
	uint64_t reserved_at_ms[EX_MAIL_KEY_RESERVE_KEYS_PER_USER];
} user_keys;

struct ex_mail_key_reserve {
	uint64_t max_age_ms;
	pthread_mutex_t lock;
	user_keys users[EX_MAIL_KEY_RESERVE_USERS];
};

uint64_t ex_mail_key_reserve_now(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

ex_mail_key_reserve *ex_mail_key_reserve_new(uint64_t max_age_ms)
{
	ex_mail_key_reserve *reserve = calloc(1, sizeof(*reserve));
	if (reserve == NULL)
		return NULL;
	reserve->max_age_ms = max_age_ms;
	pthread_mutex_init(&reserve->lock, NULL);
	return reserve;
}

void ex_mail_key_reserve_free(ex_mail_key_reserve *reserve)
{
	if (reserve == NULL)
		return;
	pthread_mutex_destroy(&reserve->lock);
	free(reserve);
}

bool ex_mail_key_reserve_enabled(const ex_mail_key_reserve *reserve)
{
	return reserve != NULL && reserve->max_age_ms > 0;
}

/* Finds the entry of the user, or NULL. Called with the lock held. */
static user_keys *find_user(ex_mail_key_reserve *reserve, const char *tenant_id, const char *user_id)
{
	for (size_t i = 0; i < EX_MAIL_KEY_RESERVE_USERS; i++) {
		user_keys *user = &reserve->users[i];
		if (user->used_at_ms != 0 && strcmp(user->user_id, user_id) == 0 && strcmp(user->tenant_id, tenant_id) == 0)
			return user;
	}
	return NULL;
}

bool ex_mail_key_reserve_take(ex_mail_key_reserve *reserve, const char *tenant_id, const char *user_id,
			      char key[EX_MAIL_KEY_RESERVE_KEY_SIZE])
{
	if (!ex_mail_key_reserve_enabled(reserve))
		return false;
	uint64_t now = ex_mail_key_reserve_now();
	bool taken = false;

	pthread_mutex_lock(&reserve->lock);
	user_keys *user = find_user(reserve, tenant_id, user_id);
	/* The newest key is last; keys older than the maximum age are dropped on the way. */
	while (user != NULL && user->count > 0 && !taken) {
		user->count--;
		if (now - user->reserved_at_ms[user->count] < reserve->max_age_ms) {
			memcpy(key, user->keys[user->count], EX_MAIL_KEY_RESERVE_KEY_SIZE);
			user->used_at_ms = now;
			taken = true;
		}
	}
	pthread_mutex_unlock(&reserve->lock);
	return taken;
}

/* Returns the entry to reuse for a user not in the table: a free one, else the least recently used. */
static user_keys *evict_user(ex_mail_key_reserve *reserve)
{
	user_keys *oldest = &reserve->users[0];
	for (size_t i = 0; i < EX_MAIL_KEY_RESERVE_USERS; i++) {
		if (reserve->users[i].used_at_ms < oldest->used_at_ms)
			oldest = &reserve->users[i];
	}
	oldest->count = 0;
	return oldest;
}

void ex_mail_key_reserve_put(ex_mail_key_reserve *reserve, const char *tenant_id, const char *user_id,
			     const char *key, uint64_t reserved_at_ms)
{
	if (!ex_mail_key_reserve_enabled(reserve) || strlen(key) >= EX_MAIL_KEY_RESERVE_KEY_SIZE)
		return;

	pthread_mutex_lock(&reserve->lock);
	user_keys *user = find_user(reserve, tenant_id, user_id);
	if (user == NULL) {
		user = evict_user(reserve);
		snprintf(user->tenant_id, sizeof(user->tenant_id), "%s", tenant_id);
		snprintf(user->user_id, sizeof(user->user_id), "%s", user_id);
	}
	user->used_at_ms = ex_mail_key_reserve_now();
	if (user->count < EX_MAIL_KEY_RESERVE_KEYS_PER_USER) {
		snprintf(user->keys[user->count], EX_MAIL_KEY_RESERVE_KEY_SIZE, "%s", key);
		user->reserved_at_ms[user->count] = reserved_at_ms;
		user->count++;
	}
	pthread_mutex_unlock(&reserve->lock);
}
