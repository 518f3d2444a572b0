/*
 * The Redis script behind ex_notify_relay_store. Redis runs a script
 * atomically, so a crash between the steps cannot leave an event marked
 * seen but never stored, which would turn a redelivery into a loss.
 */
#include "relay_store.h"

#include <stdio.h>
#include <string.h>

#include "relay_message.h"

static const char store_script[] =
	"if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return false end "
	"local id = redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], '*', 'event', ARGV[4], 'data', ARGV[5]) "
	"if redis.call('EXISTS', KEYS[3]) == 0 then redis.call('SET', KEYS[3], id) end "
	"redis.call('PEXPIRE', KEYS[2], ARGV[3]) "
	"redis.call('PEXPIRE', KEYS[3], ARGV[3]) "
	"redis.call('PUBLISH', ARGV[6], id .. '\\n' .. ARGV[4] .. '\\n' .. ARGV[5]) "
	"return id";

ex_notify_store_status ex_notify_relay_store(ex_redis *redis, const ex_notify_store_options *options,
					     const ex_notify_event *event, const char *user, char *err, size_t errlen)
{
	char seen[EX_NOTIFY_MAX_KEY], events[EX_NOTIFY_MAX_KEY], origin[EX_NOTIFY_MAX_KEY], channel[EX_NOTIFY_MAX_KEY];

	if (ex_notify_seen_key(seen, sizeof(seen), event->tenant, user, event->event_id) != 0 ||
	    ex_notify_user_key(events, sizeof(events), event->tenant, user, EX_NOTIFY_KEY_EVENTS) != 0 ||
	    ex_notify_user_key(origin, sizeof(origin), event->tenant, user, EX_NOTIFY_KEY_ORIGIN) != 0 ||
	    ex_notify_channel_name(channel, sizeof(channel), event->tenant, user) != 0) {
		snprintf(err, errlen, "the tenant or user id does not form a valid key");
		return EX_NOTIFY_STORE_FAILED;
	}

	redisReply *reply = ex_redis_command(redis, err, errlen, "EVAL %s 3 %s %s %s %llu %llu %llu %s %s %s",
					     store_script, seen, events, origin,
					     (unsigned long long)options->dedup_ttl_ms, (unsigned long long)options->history_max,
					     (unsigned long long)options->history_ttl_ms, event->type, event->data,
					     channel);
	if (reply == NULL)
		return EX_NOTIFY_STORE_FAILED;
	ex_notify_store_status status = reply->type == REDIS_REPLY_STRING ? EX_NOTIFY_STORED : EX_NOTIFY_DUPLICATE;
	freeReplyObject(reply);
	return status;
}
