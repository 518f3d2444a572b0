/*
 * Redis client and NATS JetStream bus against the real servers that
 * scripts/test.sh starts (EXPRESSO_REDIS_URL, EXPRESSO_NATS_URL). Each
 * test is skipped when its variable is not set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "expresso/bus.h"
#include "expresso/log.h"
#include "expresso/redis.h"

static const char *require_env(const char *name)
{
	const char *value = getenv(name);
	if (value == NULL || value[0] == '\0') {
		print_message("%s not set\n", name);
		skip();
	}
	return value;
}

static void redis_round_trip(void **state)
{
	char err[256];
	(void)state;
	ex_redis *redis = ex_redis_new(require_env("EXPRESSO_REDIS_URL"), err, sizeof(err));
	assert_non_null(redis);

	assert_int_equal(ex_redis_ping(redis, err, sizeof(err)), 0);
	redisReply *reply = ex_redis_command(redis, err, sizeof(err), "SET %s %s EX 60", "expresso:test:key", "valor");
	assert_non_null(reply);
	freeReplyObject(reply);
	reply = ex_redis_command(redis, err, sizeof(err), "GET %s", "expresso:test:key");
	assert_non_null(reply);
	assert_string_equal(reply->str, "valor");
	freeReplyObject(reply);

	reply = ex_redis_command(redis, err, sizeof(err), "INCR %s", "expresso:test:key");
	assert_null(reply);
	assert_non_null(strstr(err, "Redis error"));
	ex_redis_free(redis);
}

static void redis_invalid_urls_are_refused(void **state)
{
	static const char *const urls[] = {
		"http://127.0.0.1:6379", "redis://", "redis://host:99999", "redis://host:6379/x",
	};
	char err[256];
	(void)state;

	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		ex_redis *redis = ex_redis_new(urls[i], err, sizeof(err));
		if (redis != NULL)
			fail_msg("%s was accepted", urls[i]);
	}
}

static void redis_unreachable_backs_off(void **state)
{
	char err[256];
	(void)state;

	ex_redis *redis = ex_redis_new("redis://127.0.0.1:1", err, sizeof(err));
	assert_non_null(redis);
	assert_int_equal(ex_redis_ping(redis, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot connect"));
	/* The second call inside the backoff window does not even try. */
	assert_int_equal(ex_redis_ping(redis, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "next reconnect attempt"));
	ex_redis_free(redis);
}

static void subject_tokens_are_checked(void **state)
{
	char subject[EX_BUS_MAX_SUBJECT];
	(void)state;

	assert_int_equal(ex_bus_subject(subject, sizeof(subject), "6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11", "mail", "delivered"), 0);
	assert_string_equal(subject, "expresso.6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11.mail.delivered");
	assert_int_equal(ex_bus_subject(subject, sizeof(subject), "a.b", "mail", "delivered"), -1);
	assert_int_equal(ex_bus_subject(subject, sizeof(subject), "a", "mail", "*"), -1);
	assert_int_equal(ex_bus_subject(subject, sizeof(subject), "a", "", "x"), -1);
	assert_int_equal(ex_bus_subject(subject, sizeof(subject), "a", "mail", ">"), -1);
}

typedef struct {
	char expected_id[96];
	int seen;
	int attempts;
	int nak_first;
} consumer_probe;

static ex_bus_verdict on_event(const char *subject, const char *data, size_t length, void *context)
{
	consumer_probe *probe = context;
	json_t *event = json_loadb(data, length, 0, NULL);
	assert_non_null(event);
	assert_non_null(strstr(subject, ".test.created"));
	const char *id = json_string_value(json_object_get(event, "id"));
	int match = id != NULL && strcmp(id, probe->expected_id) == 0;
	json_decref(event);
	if (!match)
		return EX_BUS_ACK; /* an event of an earlier run */
	probe->attempts++;
	if (probe->nak_first && probe->attempts == 1)
		return EX_BUS_NAK;
	probe->seen++;
	return EX_BUS_ACK;
}

static void jetstream_publish_and_durable_consume(void **state)
{
	char err[512];
	char durable[64];
	(void)state;
	const char *url = require_env("EXPRESSO_NATS_URL");

	ex_bus *bus = ex_bus_connect(url, "expresso-test", err, sizeof(err));
	assert_non_null(bus);
	assert_int_equal(ex_bus_ensure_stream(bus, err, sizeof(err)), 0);
	assert_int_equal(ex_bus_ping(bus, err, sizeof(err)), 0);

	snprintf(durable, sizeof(durable), "test-%ld-%ld", (long)time(NULL), (long)getpid());
	ex_bus_consumer *consumer = ex_bus_consumer_new(bus, durable, "expresso.*.test.created", err, sizeof(err));
	if (consumer == NULL)
		fail_msg("%s", err);

	consumer_probe probe = { .nak_first = 1 };
	snprintf(probe.expected_id, sizeof(probe.expected_id), "%s-event", durable);
	json_t *event = json_pack("{s:s, s:s}", "id", probe.expected_id, "resource", "folder/1");
	assert_int_equal(ex_bus_publish(bus, "6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11", "test", "created", event, err, sizeof(err)), 0);
	/* The same id again is deduplicated by the stream. */
	assert_int_equal(ex_bus_publish(bus, "6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11", "test", "created", event, err, sizeof(err)), 0);
	json_decref(event);

	/* First delivery is refused (NAK), so the event comes back; then acked once. */
	for (int round = 0; round < 20 && probe.seen == 0; round++)
		assert_true(ex_bus_consumer_fetch(consumer, 10, 500, on_event, &probe, err, sizeof(err)) >= 0);
	assert_int_equal(probe.seen, 1);
	assert_int_equal(probe.attempts, 2);
	/* Nothing more: the duplicate publish was not stored. */
	assert_true(ex_bus_consumer_fetch(consumer, 10, 300, on_event, &probe, err, sizeof(err)) >= 0);
	assert_int_equal(probe.seen, 1);

	/* Releasing the subscription keeps the durable consumer on the server. */
	ex_bus_consumer_free(consumer);
	consumer = ex_bus_consumer_new(bus, durable, "expresso.*.test.created", err, sizeof(err));
	assert_non_null(consumer);
	ex_bus_consumer_free(consumer);
	ex_bus_free(bus);
}

int main(void)
{
	ex_log_init("test-redis-bus", EX_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(redis_round_trip),
		cmocka_unit_test(redis_invalid_urls_are_refused),
		cmocka_unit_test(redis_unreachable_backs_off),
		cmocka_unit_test(subject_tokens_are_checked),
		cmocka_unit_test(jetstream_publish_and_durable_consume),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
