/*
 * Redis client on hiredis: one synchronous connection guarded by a mutex,
 * reopened on failure with exponential backoff (100 ms doubling up to 5 s),
 * so a Redis restart costs failed calls for a moment, not a daemon restart.
 */
#ifndef EXPRESSO_REDIS_H
#define EXPRESSO_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

typedef struct ex_redis ex_redis;

/* URL form: redis://[:password@]host[:port][/db]. Returns NULL if it is invalid. */
ex_redis *ex_redis_new(const char *url, char *err, size_t errlen);
void ex_redis_free(ex_redis *redis);

/*
 * Runs one command (hiredis format string). Returns the reply, which the
 * caller frees with freeReplyObject(), or NULL when Redis is unreachable or
 * returned an error (message in err).
 */
redisReply *ex_redis_command(ex_redis *redis, char *err, size_t errlen, const char *format, ...);

/* Sends PING and returns 0 when the reply is PONG. */
int ex_redis_ping(ex_redis *redis, char *err, size_t errlen);

#endif
