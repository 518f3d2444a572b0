/*
 * Tests of the event to notification step: recipients, tenant and type
 * checks against the subject, and the allowlist that keeps bodies out of
 * the data sent to browsers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "notify_event.h"

#define TENANT "6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11"
#define ALICE "ffccd4df-4101-4d16-b091-0dd482c1fd32"
#define BOB "d8fc9315-27f9-43e0-bb4b-a4b2b91008dd"
#define SUBJECT "expresso." TENANT ".mail.delivered"

static int parse(const char *subject, const char *json, ex_notify_event *event)
{
	char err[256];
	return ex_notify_event_parse(subject, json, strlen(json), event, err, sizeof(err));
}

static json_t *data_of(const ex_notify_event *event)
{
	json_t *data = json_loads(event->data, 0, NULL);
	assert_non_null(data);
	return data;
}

static void mail_event_parsed(void **state)
{
	ex_notify_event event;
	(void)state;
	assert_int_equal(parse(SUBJECT,
			       "{\"id\":\"e1\",\"tenant\":\"" TENANT "\",\"user\":\"" ALICE "\",\"type\":\"mail.delivered\","
			       "\"time\":\"2026-04-18T10:00:00Z\",\"mailbox_id\":\"INBOX\",\"uid\":7,"
			       "\"summary\":{\"from\":\"bob@demo\",\"subject\":\"Hi\",\"body\":\"secret\"},"
			       "\"body\":\"secret\",\"headers\":{\"x\":\"y\"}}",
			       &event),
			 0);
	assert_string_equal(event.event_id, "e1");
	assert_string_equal(event.tenant, TENANT);
	assert_string_equal(event.type, "mail.delivered");
	assert_int_equal(event.recipient_count, 1);
	assert_string_equal(event.recipients[0], ALICE);
	assert_null(strchr(event.data, '\n'));

	json_t *data = data_of(&event);
	assert_string_equal(json_string_value(json_object_get(data, "event_id")), "e1");
	assert_string_equal(json_string_value(json_object_get(data, "mailbox_id")), "INBOX");
	assert_int_equal(json_integer_value(json_object_get(data, "uid")), 7);
	assert_string_equal(json_string_value(json_object_get(data, "time")), "2026-04-18T10:00:00Z");
	json_t *summary = json_object_get(data, "summary");
	assert_string_equal(json_string_value(json_object_get(summary, "subject")), "Hi");
	assert_null(json_object_get(summary, "body"));
	assert_null(json_object_get(data, "body"));
	assert_null(json_object_get(data, "headers"));
	assert_null(json_object_get(data, "tenant"));
	assert_null(json_object_get(data, "user"));
	json_decref(data);
	ex_notify_event_clear(&event);
}

static void recipients_merged_without_duplicates(void **state)
{
	ex_notify_event event;
	(void)state;
	assert_int_equal(parse(SUBJECT, "{\"id\":\"e2\",\"user\":\"" ALICE "\",\"users\":[\"" BOB "\",\"" ALICE "\"]}", &event),
			 0);
	assert_int_equal(event.recipient_count, 2);
	assert_string_equal(event.recipients[0], ALICE);
	assert_string_equal(event.recipients[1], BOB);
	ex_notify_event_clear(&event);
}

static void mail_delivery_user_id_is_recipient(void **state)
{
	/* The form expresso-mail publishes. */
	ex_notify_event event;
	(void)state;
	assert_int_equal(parse(SUBJECT, "{\"id\":\"e7\",\"user_id\":\"" ALICE "\",\"mailbox_id\":\"m\",\"uid\":3}", &event), 0);
	assert_int_equal(event.recipient_count, 1);
	assert_string_equal(event.recipients[0], ALICE);
	ex_notify_event_clear(&event);
}

static void event_without_user_reaches_nobody(void **state)
{
	ex_notify_event event;
	(void)state;
	assert_int_equal(parse(SUBJECT, "{\"id\":\"e3\",\"summary\":\"tenant-wide\"}", &event), 0);
	assert_int_equal(event.recipient_count, 0);
	ex_notify_event_clear(&event);
}

static void drive_share_reaches_shared_with(void **state)
{
	ex_notify_event event;
	(void)state;
	assert_int_equal(parse("expresso." TENANT ".drive.shared",
			       "{\"id\":\"e4\",\"user\":\"" ALICE "\",\"shared_with\":[\"" BOB "\"],\"file_id\":\"f1\"}",
			       &event),
			 0);
	assert_int_equal(event.recipient_count, 2);
	assert_string_equal(event.recipients[1], BOB);
	ex_notify_event_clear(&event);

	/* A drive upload reaches its owner, as expresso-drive publishes it. */
	assert_int_equal(parse("expresso." TENANT ".drive.uploaded",
			       "{\"id\":\"e6\",\"owner_id\":\"" BOB "\",\"file_id\":\"f1\",\"name\":\"a.pdf\"}", &event),
			 0);
	assert_int_equal(event.recipient_count, 1);
	assert_string_equal(event.recipients[0], BOB);
	ex_notify_event_clear(&event);

	/* Other types ignore shared_with. */
	assert_int_equal(parse("expresso." TENANT ".calendar.changed",
			       "{\"id\":\"e5\",\"user\":\"" ALICE "\",\"shared_with\":[\"" BOB "\"]}", &event),
			 0);
	assert_int_equal(event.recipient_count, 1);
	ex_notify_event_clear(&event);
}

static void share_and_calendar_reach_owner(void **state)
{
	ex_notify_event event;
	(void)state;
	assert_int_equal(parse("expresso." TENANT ".drive.shared",
			       "{\"id\":\"e8\",\"owner_id\":\"" ALICE "\",\"shared_with\":[\"" BOB "\"],\"file_id\":\"f1\"}",
			       &event),
			 0);
	assert_int_equal(event.recipient_count, 2);
	assert_string_equal(event.recipients[0], ALICE);
	assert_string_equal(event.recipients[1], BOB);
	ex_notify_event_clear(&event);

	assert_int_equal(parse("expresso." TENANT ".calendar.changed",
			       "{\"id\":\"e9\",\"owner_id\":\"" BOB "\",\"calendar_id\":\"c1\",\"resource\":\"x.ics\","
			       "\"change\":\"updated\"}",
			       &event),
			 0);
	assert_int_equal(event.recipient_count, 1);
	assert_string_equal(event.recipients[0], BOB);
	json_t *data = data_of(&event);
	assert_string_equal(json_string_value(json_object_get(data, "calendar_id")), "c1");
	assert_string_equal(json_string_value(json_object_get(data, "resource")), "x.ics");
	assert_string_equal(json_string_value(json_object_get(data, "change")), "updated");
	json_decref(data);
	ex_notify_event_clear(&event);

	/* owner_id of other types names no recipient. */
	assert_int_equal(parse("expresso." TENANT ".contacts.changed", "{\"id\":\"e10\",\"owner_id\":\"" BOB "\"}", &event),
			 0);
	assert_int_equal(event.recipient_count, 0);
	ex_notify_event_clear(&event);
}

static void mail_flag_lists_copied(void **state)
{
	ex_notify_event event;
	(void)state;
	assert_int_equal(parse("expresso." TENANT ".mail.flags_changed",
			       "{\"id\":\"e11\",\"user_id\":\"" ALICE "\",\"mailbox_id\":\"m\",\"uids\":[4,9],"
			       "\"flags\":[\"\\\\Seen\",\"$Junk\"],\"flags_removed\":[\"\\\\Flagged\"],\"modseq\":12,"
			       "\"from\":\"Bob <bob@demo>\",\"subject\":\"Hi\"}",
			       &event),
			 0);
	assert_string_equal(event.type, "mail.flags_changed");
	assert_int_equal(event.recipient_count, 1);

	json_t *data = data_of(&event);
	json_t *uids = json_object_get(data, "uids");
	assert_int_equal(json_array_size(uids), 2);
	assert_int_equal(json_integer_value(json_array_get(uids, 1)), 9);
	json_t *flags = json_object_get(data, "flags");
	assert_int_equal(json_array_size(flags), 2);
	assert_string_equal(json_string_value(json_array_get(flags, 0)), "\\Seen");
	assert_string_equal(json_string_value(json_array_get(json_object_get(data, "flags_removed"), 0)), "\\Flagged");
	assert_int_equal(json_integer_value(json_object_get(data, "modseq")), 12);
	assert_string_equal(json_string_value(json_object_get(data, "from")), "Bob <bob@demo>");
	assert_string_equal(json_string_value(json_object_get(data, "subject")), "Hi");
	json_decref(data);
	ex_notify_event_clear(&event);
}

static void long_lists_replaced_by_count(void **state)
{
	char json[4096];
	size_t used = (size_t)snprintf(json, sizeof(json), "{\"id\":\"e12\",\"user_id\":\"" ALICE "\",\"uids\":[");
	ex_notify_event event;
	(void)state;
	/* One item past the limit. */
	for (int i = 0; i <= EX_NOTIFY_MAX_LIST_ITEMS; i++)
		used += (size_t)snprintf(json + used, sizeof(json) - used, "%s%d", i ? "," : "", i + 1);
	snprintf(json + used, sizeof(json) - used,
		 "],\"flags\":[\"%0*d\"],\"flags_added\":[{\"x\":1}]}", EX_NOTIFY_MAX_LIST_TEXT + 1, 0);
	assert_int_equal(parse("expresso." TENANT ".mail.expunged", json, &event), 0);

	json_t *data = data_of(&event);
	assert_null(json_object_get(data, "uids"));
	assert_int_equal(json_integer_value(json_object_get(data, "uids_count")), EX_NOTIFY_MAX_LIST_ITEMS + 1);
	assert_null(json_object_get(data, "flags"));
	assert_int_equal(json_integer_value(json_object_get(data, "flags_count")), 1);
	assert_null(json_object_get(data, "flags_added"));
	assert_int_equal(json_integer_value(json_object_get(data, "flags_added_count")), 1);
	json_decref(data);
	ex_notify_event_clear(&event);

	/* At the limit the list is copied. */
	used = (size_t)snprintf(json, sizeof(json), "{\"id\":\"e13\",\"user_id\":\"" ALICE "\",\"uids\":[");
	for (int i = 0; i < EX_NOTIFY_MAX_LIST_ITEMS; i++)
		used += (size_t)snprintf(json + used, sizeof(json) - used, "%s%d", i ? "," : "", i + 1);
	snprintf(json + used, sizeof(json) - used, "],\"flags\":[\"%0*d\"]}", EX_NOTIFY_MAX_LIST_TEXT, 0);
	assert_int_equal(parse("expresso." TENANT ".mail.expunged", json, &event), 0);
	data = data_of(&event);
	assert_int_equal(json_array_size(json_object_get(data, "uids")), EX_NOTIFY_MAX_LIST_ITEMS);
	assert_int_equal(json_array_size(json_object_get(data, "flags")), 1);
	json_decref(data);
	ex_notify_event_clear(&event);
}

static void oversized_references_truncated(void **state)
{
	char json[16384];
	size_t used = (size_t)snprintf(json, sizeof(json), "{\"id\":\"e14\",\"user\":\"" ALICE "\",\"time\":\"t\"");
	ex_notify_event event;
	(void)state;
	/* Twenty ids of 250 bytes: too much for the data even without a summary. */
	for (int i = 0; i < 20; i++) {
		used += (size_t)snprintf(json + used, sizeof(json) - used, ",\"r%d_id\":\"", i);
		memset(json + used, 'x', 250);
		used += 250;
		used += (size_t)snprintf(json + used, sizeof(json) - used, "\"");
	}
	snprintf(json + used, sizeof(json) - used, "}");
	assert_int_equal(parse(SUBJECT, json, &event), 0);
	assert_true(strlen(event.data) <= EX_NOTIFY_MAX_DATA);

	json_t *data = data_of(&event);
	assert_string_equal(json_string_value(json_object_get(data, "event_id")), "e14");
	assert_string_equal(json_string_value(json_object_get(data, "type")), "mail.delivered");
	assert_string_equal(json_string_value(json_object_get(data, "time")), "t");
	assert_true(json_is_true(json_object_get(data, "truncated")));
	assert_null(json_object_get(data, "r0_id"));
	json_decref(data);
	ex_notify_event_clear(&event);
}

static void invalid_events_rejected(void **state)
{
	static const struct {
		const char *subject;
		const char *json;
	} cases[] = {
		{ SUBJECT, "{\"user\":\"" ALICE "\"}" },                                   /* no id */
		{ SUBJECT, "{\"id\":\"\",\"user\":\"" ALICE "\"}" },                       /* empty id */
		{ SUBJECT, "{\"id\":\"a b\",\"user\":\"" ALICE "\"}" },                    /* space in id */
		{ SUBJECT, "{\"id\":\"e\",\"tenant\":\"other\",\"user\":\"" ALICE "\"}" }, /* tenant mismatch */
		{ SUBJECT, "{\"id\":\"e\",\"type\":\"drive.shared\",\"user\":\"" ALICE "\"}" }, /* type mismatch */
		{ SUBJECT, "{\"id\":\"e\",\"user\":\"a:b\"}" },                           /* user with a colon */
		{ SUBJECT, "{\"id\":\"e\",\"user\":7}" },                                  /* user not a string */
		{ SUBJECT, "{\"id\":\"e\",\"users\":[\"" ALICE "\",null]}" },             /* null in users */
		{ SUBJECT, "{\"id\":\"e\",\"id\":\"f\"}" },                                /* duplicate key */
		{ SUBJECT, "[]" },
		{ SUBJECT, "not json" },
		{ "other." TENANT ".mail.delivered", "{\"id\":\"e\"}" },
		{ "expresso." TENANT ".mail", "{\"id\":\"e\"}" },
		{ "expresso." TENANT ".mail.delivered.extra", "{\"id\":\"e\"}" },
		{ "expresso.bad:tenant.mail.delivered", "{\"id\":\"e\"}" },
		{ "expresso." TENANT ".Mail.delivered", "{\"id\":\"e\"}" },
		{ "expresso." TENANT "..delivered", "{\"id\":\"e\"}" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ex_notify_event event;
		if (parse(cases[i].subject, cases[i].json, &event) == 0)
			fail_msg("accepted case %zu: %s %s", i, cases[i].subject, cases[i].json);
		assert_null(event.data);
	}
}

static void too_many_recipients_rejected(void **state)
{
	char json[8192];
	size_t used = (size_t)snprintf(json, sizeof(json), "{\"id\":\"e\",\"users\":[");
	ex_notify_event event;
	(void)state;
	for (int i = 0; i <= EX_NOTIFY_MAX_RECIPIENTS; i++)
		used += (size_t)snprintf(json + used, sizeof(json) - used, "%s\"user-%d\"", i ? "," : "", i);
	snprintf(json + used, sizeof(json) - used, "]}");
	assert_int_equal(parse(SUBJECT, json, &event), -1);
}

static void summary_text_cut_at_character_boundary(void **state)
{
	/* 255 ASCII bytes, then a two-byte character that would end past the 256-byte limit. */
	char json[1024];
	char text[300];
	ex_notify_event event;
	(void)state;
	memset(text, 'a', 255);
	strcpy(text + 255, "\xc3\xa9tail");
	snprintf(json, sizeof(json), "{\"id\":\"e\",\"user\":\"" ALICE "\",\"summary\":{\"subject\":\"%s\"}}", text);
	assert_int_equal(parse(SUBJECT, json, &event), 0);

	json_t *data = data_of(&event);
	const char *subject = json_string_value(json_object_get(json_object_get(data, "summary"), "subject"));
	assert_non_null(subject);
	assert_int_equal(strlen(subject), 255);
	json_decref(data);
	ex_notify_event_clear(&event);
}

static void oversized_summary_dropped(void **state)
{
	char json[16384];
	size_t used = (size_t)snprintf(json, sizeof(json), "{\"id\":\"e\",\"user\":\"" ALICE "\",\"message_id\":\"m\",\"summary\":{");
	ex_notify_event event;
	(void)state;
	for (int i = 0; i < EX_NOTIFY_MAX_SUMMARY_FIELDS; i++) {
		used += (size_t)snprintf(json + used, sizeof(json) - used, "%s\"f%d\":\"", i ? "," : "", i);
		memset(json + used, 'x', 250);
		used += 250;
		used += (size_t)snprintf(json + used, sizeof(json) - used, "\"");
	}
	snprintf(json + used, sizeof(json) - used, "}}");
	assert_int_equal(parse(SUBJECT, json, &event), 0);
	assert_true(strlen(event.data) <= EX_NOTIFY_MAX_DATA);

	json_t *data = data_of(&event);
	assert_null(json_object_get(data, "summary"));
	assert_string_equal(json_string_value(json_object_get(data, "message_id")), "m");
	json_decref(data);
	ex_notify_event_clear(&event);
}

static void token_validation(void **state)
{
	char long_token[EX_NOTIFY_MAX_TOKEN + 2];
	(void)state;
	assert_true(ex_notify_token_valid(ALICE));
	assert_true(ex_notify_token_valid("a_b-C9"));
	assert_false(ex_notify_token_valid(""));
	assert_false(ex_notify_token_valid(NULL));
	assert_false(ex_notify_token_valid("a:b"));
	assert_false(ex_notify_token_valid("a{b}"));
	memset(long_token, 'a', sizeof(long_token) - 1);
	long_token[sizeof(long_token) - 1] = '\0';
	assert_false(ex_notify_token_valid(long_token));
	long_token[EX_NOTIFY_MAX_TOKEN] = '\0';
	assert_true(ex_notify_token_valid(long_token));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mail_event_parsed),
		cmocka_unit_test(recipients_merged_without_duplicates),
		cmocka_unit_test(mail_delivery_user_id_is_recipient),
		cmocka_unit_test(event_without_user_reaches_nobody),
		cmocka_unit_test(drive_share_reaches_shared_with),
		cmocka_unit_test(share_and_calendar_reach_owner),
		cmocka_unit_test(mail_flag_lists_copied),
		cmocka_unit_test(long_lists_replaced_by_count),
		cmocka_unit_test(oversized_references_truncated),
		cmocka_unit_test(invalid_events_rejected),
		cmocka_unit_test(too_many_recipients_rejected),
		cmocka_unit_test(summary_text_cut_at_character_boundary),
		cmocka_unit_test(oversized_summary_dropped),
		cmocka_unit_test(token_validation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
