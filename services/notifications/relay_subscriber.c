/*
 * The relay subscriber thread: one blocking hiredis connection of its own
 * in PSUBSCRIBE mode on the per-user channels, read with poll() so that
 * the thread notices a stop within half a second. Each message goes to
 * the streams of its user on this replica.
 *
 * After every (re)connection it catches up from the users' capped streams,
 * because messages published while it was away are lost to pub/sub.
 * NOTE: the pattern subscription receives every user's messages; per-user
 * SUBSCRIBE would need the asynchronous hiredis API.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"
#include "notify_history.h"
#include "notify_service.h"

enum {
	CONNECT_TIMEOUT_MS = 2000,
	POLL_MS = 500,
	RETRY_MIN_MS = 100,
	RETRY_MAX_MS = 2000,
};

static redisContext *connect_subscriber(ex_notify_service *service, char *err, size_t errlen)
{
	const ex_notify_redis_url *url = &service->redis_url;
	struct timeval timeout = { CONNECT_TIMEOUT_MS / 1000, 0 };
	redisContext *context = redisConnectWithTimeout(url->host, url->port, timeout);

	if (context == NULL || context->err) {
		snprintf(err, errlen, "cannot connect to Redis at %s:%d: %s", url->host, url->port,
			 context ? context->errstr : "out of memory");
		redisFree(context);
		return NULL;
	}
	redisReply *reply = NULL;
	if (url->password[0] != '\0') {
		reply = redisCommand(context, "AUTH %s", url->password);
		if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "Redis rejected the password of EXPRESSO_REDIS_URL");
			goto failed;
		}
		freeReplyObject(reply);
	}
	reply = redisCommand(context, "PSUBSCRIBE %s", EX_NOTIFY_CHANNEL_PATTERN);
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		snprintf(err, errlen, "PSUBSCRIBE failed: %s", context->err ? context->errstr : "unexpected reply");
		goto failed;
	}
	freeReplyObject(reply);
	return context;

failed:
	if (reply != NULL)
		freeReplyObject(reply);
	redisFree(context);
	return NULL;
}

/* Returns the number of users whose history could not be read. */
static size_t catch_up(ex_notify_service *service)
{
	size_t count = 0;
	ex_notify_user_ref *users = ex_notify_hub_users(service->hub, &count);
	size_t failed = 0;

	for (size_t i = 0; users != NULL && i < count; i++) {
		if (ex_notify_history_catch_up(service->redis, service->hub, users[i].tenant, users[i].user,
					       service->history_max) != 0)
			failed++;
	}
	free(users);
	if (count > 0)
		ex_log(failed ? EX_LOG_WARN : EX_LOG_INFO, "relay_caught_up", "{s:i, s:i}", "users", (int)count,
		       "failed", (int)failed);
	return failed;
}

static void handle_message(ex_notify_service *service, const redisReply *reply)
{
	char tenant[EX_NOTIFY_MAX_TOKEN + 1], user[EX_NOTIFY_MAX_TOKEN + 1];
	ex_notify_relay relay;

	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4 || reply->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(reply->element[0]->str, "pmessage") != 0 || reply->element[2]->type != REDIS_REPLY_STRING ||
	    reply->element[3]->type != REDIS_REPLY_STRING)
		return;
	const redisReply *channel = reply->element[2], *payload = reply->element[3];
	if (ex_notify_channel_parse(channel->str, channel->len, tenant, user) != 0 ||
	    ex_notify_relay_parse(payload->str, payload->len, &relay) != 0) {
		ex_log(EX_LOG_WARN, "relay_message_invalid", "{s:s}", "channel", channel->str);
		return;
	}
	ex_notify_hub_deliver(service->hub, tenant, user, &relay);
}

/* Reads messages until the connection fails or the service stops. */
static void read_messages(ex_notify_service *service, redisContext *context)
{
	while (!atomic_load(&service->stop)) {
		void *reply = NULL;
		if (redisGetReplyFromReader(context, &reply) != REDIS_OK)
			return;
		if (reply != NULL) {
			handle_message(service, reply);
			freeReplyObject(reply);
			continue;
		}
		struct pollfd descriptor = { .fd = context->fd, .events = POLLIN };
		int ready = poll(&descriptor, 1, POLL_MS);
		if (ready < 0)
			return;
		if (ready > 0 && redisBufferRead(context) != REDIS_OK)
			return;
	}
}

void *ex_notify_run_subscriber(void *context)
{
	ex_notify_service *service = context;
	uint64_t backoff = RETRY_MIN_MS;
	unsigned failures = 0;
	char err[512];

	while (!atomic_load(&service->stop)) {
		redisContext *redis = connect_subscriber(service, err, sizeof(err));
		if (redis == NULL) {
			if (failures++ == 0)
				ex_log(EX_LOG_WARN, "relay_connect_failed", "{s:s}", "error", err);
			ex_notify_pause(service, backoff);
			backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
			continue;
		}
		/*
		 * The catch-up must succeed before messages count as relayed: the
		 * command connection may still be reconnecting after a Redis
		 * restart. Otherwise the next attempt subscribes and catches up again.
		 */
		if (catch_up(service) != 0) {
			redisFree(redis);
			ex_notify_pause(service, backoff);
			backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
			continue;
		}
		ex_log(EX_LOG_INFO, "relay_subscribed", "{s:s, s:i}", "pattern", EX_NOTIFY_CHANNEL_PATTERN,
		       "failed_attempts", (int)failures);
		atomic_store(&service->subscribed, true);
		failures = 0;
		backoff = RETRY_MIN_MS;

		read_messages(service, redis);
		atomic_store(&service->subscribed, false);
		if (!atomic_load(&service->stop))
			ex_log(EX_LOG_WARN, "relay_disconnected", "{s:s}", "error",
			       redis->err ? redis->errstr : "connection closed");
		redisFree(redis);
	}
	return NULL;
}
