/*
 * Tests of the Redis names and relay payloads shared by the replicas:
 * names keep tenants apart, and the payload parser rejects anything that
 * could break an SSE frame.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "relay_message.h"

static void names_are_namespaced_by_tenant(void **state)
{
	char name[EX_NOTIFY_MAX_KEY];
	(void)state;
	assert_int_equal(ex_notify_channel_name(name, sizeof(name), "t1", "u1"), 0);
	assert_string_equal(name, "expresso:notify:t1:u1");
	assert_int_equal(ex_notify_user_key(name, sizeof(name), "t1", "u1", EX_NOTIFY_KEY_EVENTS), 0);
	assert_string_equal(name, "expresso:notify:{t1:u1}:events");
	assert_int_equal(ex_notify_user_key(name, sizeof(name), "t1", "u1", EX_NOTIFY_KEY_ORIGIN), 0);
	assert_string_equal(name, "expresso:notify:{t1:u1}:origin");
	assert_int_equal(ex_notify_seen_key(name, sizeof(name), "t1", "u1", "e.1:2"), 0);
	assert_string_equal(name, "expresso:notify:{t1:u1}:seen:e.1:2");
}

static void names_reject_invalid_tokens(void **state)
{
	char name[EX_NOTIFY_MAX_KEY];
	char tiny[8];
	(void)state;
	/* A colon in a tenant would let "a:b" + "c" collide with "a" + "b:c". */
	assert_int_equal(ex_notify_channel_name(name, sizeof(name), "a:b", "c"), -1);
	assert_int_equal(ex_notify_channel_name(name, sizeof(name), "a", "b:c"), -1);
	assert_int_equal(ex_notify_user_key(name, sizeof(name), "", "u", EX_NOTIFY_KEY_EVENTS), -1);
	assert_int_equal(ex_notify_seen_key(name, sizeof(name), "t", "u", NULL), -1);
	assert_int_equal(ex_notify_channel_name(tiny, sizeof(tiny), "tenant", "user"), -1);
}

static void channel_parse_round_trips(void **state)
{
	char name[EX_NOTIFY_MAX_KEY], tenant[EX_NOTIFY_MAX_TOKEN + 1], user[EX_NOTIFY_MAX_TOKEN + 1];
	(void)state;
	assert_int_equal(ex_notify_channel_name(name, sizeof(name), "tenant-1", "user_2"), 0);
	assert_int_equal(ex_notify_channel_parse(name, strlen(name), tenant, user), 0);
	assert_string_equal(tenant, "tenant-1");
	assert_string_equal(user, "user_2");
}

static void channel_parse_rejects_malformed(void **state)
{
	static const char *const cases[] = {
		"", "expresso:notify:", "expresso:notify:t", "expresso:notify::u", "expresso:notify:t:",
		"expresso:notify:t:u:v", "other:notify:t:u", "expresso:notify:{t:u}:events",
	};
	char tenant[EX_NOTIFY_MAX_TOKEN + 1], user[EX_NOTIFY_MAX_TOKEN + 1];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (ex_notify_channel_parse(cases[i], strlen(cases[i]), tenant, user) == 0)
			fail_msg("accepted channel \"%s\"", cases[i]);
	}
}

static void relay_parse_accepts_payload(void **state)
{
	static const char payload[] = "1796422479430-3\nmail.delivered\n{\"event_id\":\"e\"}";
	ex_notify_relay relay;
	(void)state;
	assert_int_equal(ex_notify_relay_parse(payload, strlen(payload), &relay), 0);
	assert_string_equal(relay.id_text, "1796422479430-3");
	assert_true(relay.id.ms == 1796422479430u && relay.id.seq == 3);
	assert_string_equal(relay.event, "mail.delivered");
	assert_int_equal(relay.data_length, strlen("{\"event_id\":\"e\"}"));
	assert_memory_equal(relay.data, "{\"event_id\":\"e\"}", relay.data_length);
}

static void relay_parse_rejects_malformed(void **state)
{
	static const char *const cases[] = {
		"", "1-1", "1-1\nmail.delivered", "1-1\nmail.delivered\n", "x-1\nmail.delivered\n{}",
		"1-1\n\n{}", "1-1\nmail\r.delivered\n{}", "1-1\nmail.delivered\n{}\n", "1-1\nmail.delivered\n{\r}",
	};
	ex_notify_relay relay;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (ex_notify_relay_parse(cases[i], strlen(cases[i]), &relay) == 0)
			fail_msg("accepted payload %zu", i);
	}
	/* A NUL inside the data would cut the frame short. */
	static const char with_nul[] = "1-1\nmail.delivered\n{\0}";
	assert_int_equal(ex_notify_relay_parse(with_nul, sizeof(with_nul) - 1, &relay), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_are_namespaced_by_tenant),
		cmocka_unit_test(names_reject_invalid_tokens),
		cmocka_unit_test(channel_parse_round_trips),
		cmocka_unit_test(channel_parse_rejects_malformed),
		cmocka_unit_test(relay_parse_accepts_payload),
		cmocka_unit_test(relay_parse_rejects_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
