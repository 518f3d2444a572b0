/*
 * Tests of the one-time ticket formats: generated tickets, their Redis
 * keys (digests, never the ticket) and the stored owner value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ticket_text.h"

static void generated_tickets_valid_and_distinct(void **state)
{
	char first[EX_NOTIFY_TICKET_LENGTH + 1], second[EX_NOTIFY_TICKET_LENGTH + 1];
	(void)state;
	assert_int_equal(ex_notify_ticket_generate(first), 0);
	assert_int_equal(ex_notify_ticket_generate(second), 0);
	assert_int_equal(strlen(first), EX_NOTIFY_TICKET_LENGTH);
	assert_true(ex_notify_ticket_valid(first));
	assert_true(ex_notify_ticket_valid(second));
	assert_string_not_equal(first, second);
}

static void ticket_validation(void **state)
{
	char text[EX_NOTIFY_TICKET_LENGTH + 2];
	(void)state;
	memset(text, 'A', EX_NOTIFY_TICKET_LENGTH);
	text[EX_NOTIFY_TICKET_LENGTH] = '\0';
	assert_true(ex_notify_ticket_valid(text));
	text[5] = '+';
	assert_false(ex_notify_ticket_valid(text));
	text[5] = '_';
	assert_true(ex_notify_ticket_valid(text));
	text[EX_NOTIFY_TICKET_LENGTH] = 'A';
	text[EX_NOTIFY_TICKET_LENGTH + 1] = '\0';
	assert_false(ex_notify_ticket_valid(text));
	assert_false(ex_notify_ticket_valid(""));
	assert_false(ex_notify_ticket_valid(NULL));
}

static void key_is_digest_of_ticket(void **state)
{
	char ticket[EX_NOTIFY_TICKET_LENGTH + 1];
	char key[EX_NOTIFY_TICKET_KEY_MAX], again[EX_NOTIFY_TICKET_KEY_MAX];
	(void)state;
	assert_int_equal(ex_notify_ticket_generate(ticket), 0);
	assert_int_equal(ex_notify_ticket_key(ticket, key), 0);
	assert_int_equal(ex_notify_ticket_key(ticket, again), 0);
	assert_string_equal(key, again);
	assert_int_equal(strncmp(key, "expresso:notify:ticket:", 23), 0);
	assert_int_equal(strlen(key), 23 + 64);
	assert_null(strstr(key, ticket));
	assert_int_equal(ex_notify_ticket_key("short", key), -1);
}

static void owner_parse(void **state)
{
	char tenant[EX_NOTIFY_MAX_TOKEN + 1], user[EX_NOTIFY_MAX_TOKEN + 1];
	int64_t expires_at = 0;
	(void)state;
	assert_int_equal(ex_notify_ticket_owner_parse("t-1\nu_2\n1796422479", 18, tenant, user, &expires_at), 0);
	assert_string_equal(tenant, "t-1");
	assert_string_equal(user, "u_2");
	assert_true(expires_at == 1796422479);
}

static void owner_parse_rejects_malformed(void **state)
{
	static const char *const cases[] = {
		"t-1u_2", "t\nu", "\nu\n1", "t\n\n1", "t\nu\n", "t\nu\nx", "t\nu\n1\n", "t:x\nu\n1", "t\nu\n-1",
		"t\nu\n1234567890123456789",
	};
	char tenant[EX_NOTIFY_MAX_TOKEN + 1], user[EX_NOTIFY_MAX_TOKEN + 1];
	int64_t expires_at;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (ex_notify_ticket_owner_parse(cases[i], strlen(cases[i]), tenant, user, &expires_at) == 0)
			fail_msg("accepted owner case %zu", i);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(generated_tickets_valid_and_distinct),
		cmocka_unit_test(ticket_validation),
		cmocka_unit_test(key_is_digest_of_ticket),
		cmocka_unit_test(owner_parse),
		cmocka_unit_test(owner_parse_rejects_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
