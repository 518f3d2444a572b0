/*
 * Logins in progress: what /auth/login remembers for /auth/callback (the
 * OAuth `state`, the OIDC `nonce`, the PKCE code verifier and the path to
 * return to), kept in memory for a limited time and taken at most once.
 *
 * The store keeps at most `capacity` logins. Every login lives for the
 * same TTL, so insertion order is expiry order. An expired login is kept
 * for one more TTL, so that a late callback learns that its login expired
 * rather than that it is unknown, and is then dropped from the oldest end.
 * When the store is full the oldest login is evicted to make room (its
 * callback then finds an unknown state and the person starts again). All functions are thread-safe. Times are
 * milliseconds of a monotonic clock, passed in by the caller.
 */
#ifndef EXPRESSO_AUTH_LOGIN_STATE_H
#define EXPRESSO_AUTH_LOGIN_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "safe_redirect.h"

enum {
	/* Room for state, nonce and code verifier: 43 base64url characters
	 * for 32 random bytes; RFC 7636 allows verifiers up to 128. */
	EX_RP_LOGIN_TOKEN_MAX = 128,
	EX_RP_DEFAULT_LOGIN_STATE_MAX = 10000,
	EX_RP_DEFAULT_LOGIN_STATE_TTL_MS = 10 * 60 * 1000,
	/* Upper bound of the capacity setting. */
	EX_RP_LOGIN_STATE_MAX_LIMIT = 1000000,
};

typedef struct {
	char state[EX_RP_LOGIN_TOKEN_MAX + 1];
	char nonce[EX_RP_LOGIN_TOKEN_MAX + 1];
	char code_verifier[EX_RP_LOGIN_TOKEN_MAX + 1];
	char redirect[EX_RP_REDIRECT_MAX + 1]; /* a safe local path */
} ex_rp_login;

typedef enum {
	EX_RP_LOGIN_FOUND = 0,
	EX_RP_LOGIN_UNKNOWN, /* never issued, already taken, or evicted */
	EX_RP_LOGIN_EXPIRED, /* issued, but older than the TTL */
} ex_rp_login_lookup;

typedef struct ex_rp_login_store ex_rp_login_store;

/* Returns NULL when capacity or ttl_ms is 0 or the capacity is over the limit. */
ex_rp_login_store *ex_rp_login_store_new(size_t capacity, uint64_t ttl_ms);
void ex_rp_login_store_free(ex_rp_login_store *store);

/*
 * Stores LOGIN, created at NOW_MS. Drops logins older than two TTLs first; when the
 * store is still full, evicts the oldest and sets *evicted (may be NULL).
 * Returns 0, or -1 when LOGIN's state is empty or already stored, or
 * memory runs out.
 */
int ex_rp_login_store_put(ex_rp_login_store *store, const ex_rp_login *login, uint64_t now_ms, bool *evicted);

/*
 * Removes the login of STATE and copies it to *OUT when it is found and
 * not expired. A login is returned at most once.
 */
ex_rp_login_lookup ex_rp_login_store_take(ex_rp_login_store *store, const char *state, uint64_t now_ms,
					  ex_rp_login *out);

/* Returns the number of logins held, expired ones included until dropped. */
size_t ex_rp_login_store_count(ex_rp_login_store *store);

/* Returns the current time of the monotonic clock in milliseconds. */
uint64_t ex_rp_monotonic_ms(void);

#endif
