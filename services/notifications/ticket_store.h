/*
 * Issuing and redeeming one-time stream tickets in Redis, so that a ticket
 * issued by one replica is accepted by any other. GETDEL makes the
 * redemption single-use even when two replicas race on one ticket.
 */
#ifndef EX_NOTIFY_TICKET_STORE_H
#define EX_NOTIFY_TICKET_STORE_H

#include <stdint.h>

#include "expresso/redis.h"
#include "ticket_text.h"

/*
 * Creates a ticket for TENANT/USER valid for TTL_MS, for a token that
 * expires at EXPIRES_AT (seconds since the epoch). Returns 0, or -1 with
 * the reason in err.
 */
int ex_notify_ticket_issue(ex_redis *redis, const char *tenant, const char *user, int64_t expires_at, uint64_t ttl_ms,
			   char ticket[EX_NOTIFY_TICKET_LENGTH + 1], char *err, size_t errlen);

typedef enum {
	EX_NOTIFY_TICKET_REDEEMED,
	EX_NOTIFY_TICKET_UNKNOWN, /* malformed, expired or already used */
	EX_NOTIFY_TICKET_UNAVAILABLE,
} ex_notify_ticket_status;

/* Consumes TICKET (GETDEL) and writes its owner and the expiry of the token behind it. */
ex_notify_ticket_status ex_notify_ticket_redeem(ex_redis *redis, const char *ticket,
						char tenant[EX_NOTIFY_MAX_TOKEN + 1], char user[EX_NOTIFY_MAX_TOKEN + 1],
						int64_t *expires_at);

#endif
