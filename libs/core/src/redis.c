/*
 * Synchronous hiredis wrapper with reconnect and backoff. Commands are serialised through one connection, so a daemon that needs
 * more throughput opens several ex_redis handles.
 */
#include "expresso/redis.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expresso/log.h"

enum {
	BACKOFF_INITIAL_MS = 100,
	BACKOFF_MAX_MS = 5000,
	CONNECT_TIMEOUT_MS = 2000,
	COMMAND_TIMEOUT_MS = 5000,
	MAX_HOST = 256,
	MAX_PASSWORD = 256,
};

struct ex_redis {
	char host[MAX_HOST];
	int port;
	int database;
	char password[MAX_PASSWORD];
	redisContext *context;
	pthread_mutex_t mutex;
	unsigned backoff_ms;
	struct timespec next_attempt;
};

static int parse_url(ex_redis *redis, const char *url, char *err, size_t errlen)
{
	const char *prefix = "redis://";
	if (strncmp(url, prefix, strlen(prefix)) != 0) {
		snprintf(err, errlen, "invalid Redis URL: expected redis://[:password@]host[:port][/db]");
		return -1;
	}
	const char *rest = url + strlen(prefix);

	const char *at = strrchr(rest, '@');
	if (at != NULL) {
		const char *password = memchr(rest, ':', (size_t)(at - rest));
		password = password ? password + 1 : rest;
		size_t length = (size_t)(at - password);
		if (length >= sizeof(redis->password)) {
			snprintf(err, errlen, "invalid Redis URL: password longer than %d bytes", MAX_PASSWORD - 1);
			return -1;
		}
		memcpy(redis->password, password, length);
		redis->password[length] = '\0';
		rest = at + 1;
	}

	redis->port = 6379;
	redis->database = 0;
	size_t host_length = strcspn(rest, ":/");
	if (host_length == 0 || host_length >= sizeof(redis->host)) {
		snprintf(err, errlen, "invalid Redis URL: missing or overlong host");
		return -1;
	}
	memcpy(redis->host, rest, host_length);
	redis->host[host_length] = '\0';
	rest += host_length;

	if (*rest == ':') {
		char *end;
		long port = strtol(rest + 1, &end, 10);
		if (port <= 0 || port > 65535 || (*end != '\0' && *end != '/')) {
			snprintf(err, errlen, "invalid Redis URL: bad port");
			return -1;
		}
		redis->port = (int)port;
		rest = end;
	}
	if (*rest == '/' && rest[1] != '\0') {
		char *end;
		long database = strtol(rest + 1, &end, 10);
		if (database < 0 || *end != '\0') {
			snprintf(err, errlen, "invalid Redis URL: bad database number");
			return -1;
		}
		redis->database = (int)database;
	}
	return 0;
}

ex_redis *ex_redis_new(const char *url, char *err, size_t errlen)
{
	ex_redis *redis = calloc(1, sizeof(*redis));
	if (redis == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (parse_url(redis, url, err, errlen) != 0) {
		free(redis);
		return NULL;
	}
	pthread_mutex_init(&redis->mutex, NULL);
	redis->backoff_ms = BACKOFF_INITIAL_MS;
	return redis;
}

void ex_redis_free(ex_redis *redis)
{
	if (redis == NULL)
		return;
	if (redis->context != NULL)
		redisFree(redis->context);
	pthread_mutex_destroy(&redis->mutex);
	free(redis);
}

static int before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void schedule_retry(ex_redis *redis)
{
	clock_gettime(CLOCK_MONOTONIC, &redis->next_attempt);
	redis->next_attempt.tv_sec += redis->backoff_ms / 1000;
	redis->next_attempt.tv_nsec += (long)(redis->backoff_ms % 1000) * 1000000L;
	if (redis->next_attempt.tv_nsec >= 1000000000L) {
		redis->next_attempt.tv_sec++;
		redis->next_attempt.tv_nsec -= 1000000000L;
	}
	redis->backoff_ms = redis->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : redis->backoff_ms * 2;
}

/* Runs AUTH and SELECT on a fresh connection; returns 0 on success. */
static int prepare_connection(ex_redis *redis, char *err, size_t errlen)
{
	redisReply *reply;

	if (redis->password[0] != '\0') {
		reply = redisCommand(redis->context, "AUTH %s", redis->password);
		if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "Redis rejected the password from the URL");
			if (reply)
				freeReplyObject(reply);
			return -1;
		}
		freeReplyObject(reply);
	}
	if (redis->database != 0) {
		reply = redisCommand(redis->context, "SELECT %d", redis->database);
		if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "Redis rejected SELECT %d", redis->database);
			if (reply)
				freeReplyObject(reply);
			return -1;
		}
		freeReplyObject(reply);
	}
	return 0;
}

/* Ensures a live connection; called with the mutex held. */
static int ensure_connected(ex_redis *redis, char *err, size_t errlen)
{
	if (redis->context != NULL && redis->context->err == 0)
		return 0;
	if (redis->context != NULL) {
		redisFree(redis->context);
		redis->context = NULL;
	}

	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (before(&now, &redis->next_attempt)) {
		snprintf(err, errlen, "Redis at %s:%d is unreachable; next reconnect attempt in under %u ms",
			 redis->host, redis->port, redis->backoff_ms);
		return -1;
	}

	struct timeval timeout = { CONNECT_TIMEOUT_MS / 1000, (CONNECT_TIMEOUT_MS % 1000) * 1000 };
	redis->context = redisConnectWithTimeout(redis->host, redis->port, timeout);
	if (redis->context == NULL || redis->context->err != 0) {
		snprintf(err, errlen, "cannot connect to Redis at %s:%d: %s", redis->host, redis->port,
			 redis->context ? redis->context->errstr : "out of memory");
		if (redis->context != NULL) {
			redisFree(redis->context);
			redis->context = NULL;
		}
		schedule_retry(redis);
		return -1;
	}
	struct timeval command_timeout = { COMMAND_TIMEOUT_MS / 1000, 0 };
	redisSetTimeout(redis->context, command_timeout);
	if (prepare_connection(redis, err, errlen) != 0) {
		redisFree(redis->context);
		redis->context = NULL;
		schedule_retry(redis);
		return -1;
	}

	redis->backoff_ms = BACKOFF_INITIAL_MS;
	ex_log(EX_LOG_INFO, "redis_connected", "{s:s, s:i}", "host", redis->host, "port", redis->port);
	return 0;
}

redisReply *ex_redis_command(ex_redis *redis, char *err, size_t errlen, const char *format, ...)
{
	va_list args;
	redisReply *reply = NULL;

	pthread_mutex_lock(&redis->mutex);
	if (ensure_connected(redis, err, errlen) == 0) {
		va_start(args, format);
		reply = redisvCommand(redis->context, format, args);
		va_end(args);
		if (reply == NULL) {
			snprintf(err, errlen, "Redis command failed: %s", redis->context->errstr);
			ex_log(EX_LOG_WARN, "redis_command_failed", "{s:s}", "error", redis->context->errstr);
			redisFree(redis->context);
			redis->context = NULL;
		} else if (reply->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "Redis error: %s", reply->str);
			freeReplyObject(reply);
			reply = NULL;
		}
	}
	pthread_mutex_unlock(&redis->mutex);
	return reply;
}

int ex_redis_ping(ex_redis *redis, char *err, size_t errlen)
{
	redisReply *reply = ex_redis_command(redis, err, errlen, "PING");
	if (reply == NULL)
		return -1;
	int ok = reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0;
	freeReplyObject(reply);
	if (!ok)
		snprintf(err, errlen, "Redis answered PING with something other than PONG");
	return ok ? 0 : -1;
}
