/*
 * Counter of failed SMTP AUTH attempts per key (a client address or an
 * account) in fixed time windows. A key with max_failures failures in the
 * current window is blocked until the window ends. The table has a fixed
 * number of slots; when it is full, the slot whose window started first
 * is reused. Counts live in memory, so each daemon process limits on its
 * own and a restart clears them.
 */
#ifndef EXPRESSO_MAIL_AUTH_LIMITER_H
#define EXPRESSO_MAIL_AUTH_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ex_auth_limiter ex_auth_limiter;

enum { EX_AUTH_LIMITER_MAX_KEY = 300 };

ex_auth_limiter *ex_auth_limiter_new(unsigned slots, unsigned max_failures, uint64_t window_ms);
void ex_auth_limiter_free(ex_auth_limiter *limiter);

/* Returns true when KEY has reached the maximum of failures in its current window. */
bool ex_auth_limiter_blocked(ex_auth_limiter *limiter, const char *key, uint64_t now_ms);

/* Counts one failure for KEY. */
void ex_auth_limiter_fail(ex_auth_limiter *limiter, const char *key, uint64_t now_ms);

/* Forgets the failures of KEY (after a successful login). */
void ex_auth_limiter_reset(ex_auth_limiter *limiter, const char *key);

#endif
