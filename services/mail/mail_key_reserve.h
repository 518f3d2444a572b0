/*
 * Storage keys reserved for a user's next local deliveries
 * (mail_key_reserve.c). Each key is already listed in
 * mail_object_garbage, so a delivery that takes one writes its object
 * without first committing a garbage record of its own.
 */
#ifndef EXPRESSO_MAIL_KEY_RESERVE_H
#define EXPRESSO_MAIL_KEY_RESERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ex_mail_key_reserve ex_mail_key_reserve;

enum {
	EX_MAIL_KEY_RESERVE_USERS = 256,       /* users with reserved keys; the least recently used goes first */
	EX_MAIL_KEY_RESERVE_KEYS_PER_USER = 32, /* about the parallel deliveries to one user that skip the record */
	EX_MAIL_KEY_RESERVE_KEY_SIZE = 128,
};

/*
 * Creates an empty reserve whose keys may be taken up to MAX_AGE_MS
 * after their garbage records commit. MAX_AGE_MS must leave the
 * delivery that takes a key time to commit its row before the sweep's
 * grace period ends, or the sweep could delete its object.
 * MAX_AGE_MS 0 turns reservations off. Returns NULL when out of memory.
 */
ex_mail_key_reserve *ex_mail_key_reserve_new(uint64_t max_age_ms);
void ex_mail_key_reserve_free(ex_mail_key_reserve *reserve);

/* Returns true when reservations are on. */
bool ex_mail_key_reserve_enabled(const ex_mail_key_reserve *reserve);

/*
 * Takes a key of USER_ID in TENANT_ID, reserved less than the maximum age
 * ago, into KEY. Returns false when there is none.
 */
bool ex_mail_key_reserve_take(ex_mail_key_reserve *reserve, const char *tenant_id, const char *user_id,
			      char key[EX_MAIL_KEY_RESERVE_KEY_SIZE]);

/*
 * Adds KEY of USER_ID in TENANT_ID, whose garbage record committed in a
 * transaction that began after RESERVED_AT_MS (ex_mail_key_reserve_now).
 * A key that does not fit is dropped, and the sweep deletes its record.
 */
void ex_mail_key_reserve_put(ex_mail_key_reserve *reserve, const char *tenant_id, const char *user_id,
			     const char *key, uint64_t reserved_at_ms);

/* Returns the monotonic clock in milliseconds. */
uint64_t ex_mail_key_reserve_now(void);

#endif
