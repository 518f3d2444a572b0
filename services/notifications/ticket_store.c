/*
 * Tickets live in Redis under the SHA-256 of their text with a TTL, and
 * GETDEL (Redis 6.2 and later) reads and removes them in one step, so two
 * replicas racing on one ticket cannot both accept it.
 */
#include "ticket_store.h"

#include <stdio.h>
#include <string.h>

int ex_notify_ticket_issue(ex_redis *redis, const char *tenant, const char *user, int64_t expires_at, uint64_t ttl_ms,
			   char ticket[EX_NOTIFY_TICKET_LENGTH + 1], char *err, size_t errlen)
{
	char key[EX_NOTIFY_TICKET_KEY_MAX], owner[2 * EX_NOTIFY_MAX_TOKEN + 32];

	if (ex_notify_ticket_generate(ticket) != 0 || ex_notify_ticket_key(ticket, key) != 0) {
		snprintf(err, errlen, "the random number generator failed");
		return -1;
	}
	snprintf(owner, sizeof(owner), "%s\n%s\n%lld", tenant, user, (long long)expires_at);
	redisReply *reply = ex_redis_command(redis, err, errlen, "SET %s %s NX PX %llu", key, owner,
					     (unsigned long long)ttl_ms);
	if (reply == NULL)
		return -1;
	int stored = reply->type == REDIS_REPLY_STATUS;
	freeReplyObject(reply);
	if (!stored)
		snprintf(err, errlen, "a ticket with the same digest exists");
	return stored ? 0 : -1;
}

ex_notify_ticket_status ex_notify_ticket_redeem(ex_redis *redis, const char *ticket,
						char tenant[EX_NOTIFY_MAX_TOKEN + 1], char user[EX_NOTIFY_MAX_TOKEN + 1],
						int64_t *expires_at)
{
	char key[EX_NOTIFY_TICKET_KEY_MAX], err[256];

	if (ex_notify_ticket_key(ticket, key) != 0)
		return EX_NOTIFY_TICKET_UNKNOWN;
	redisReply *reply = ex_redis_command(redis, err, sizeof(err), "GETDEL %s", key);
	if (reply == NULL)
		return EX_NOTIFY_TICKET_UNAVAILABLE;
	ex_notify_ticket_status status = EX_NOTIFY_TICKET_UNKNOWN;
	if (reply->type == REDIS_REPLY_STRING && ex_notify_ticket_owner_parse(reply->str, reply->len, tenant, user, expires_at) == 0)
		status = EX_NOTIFY_TICKET_REDEEMED;
	freeReplyObject(reply);
	return status;
}
