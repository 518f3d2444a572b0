/*
 * iTIP messages and scheduling edits (calendar_itip.c): calendar user
 * addresses, the roles read from an object, REQUEST, CANCEL and REPLY
 * texts, PARTSTAT edits, replies merged per instance and the fingerprint that decides whether an
 * organizer's save needs a new REQUEST.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar_itip.h"
#include "ical_object.h"

#define INVITATION                                                                                                     \
	"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:u1\r\n"                             \
	"DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nSUMMARY:Reunião\r\n"                                     \
	"ORGANIZER;CN=Alice:mailto:Alice@Example.org\r\n"                                                                 \
	"ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org\r\n"                                                         \
	"ATTENDEE;PARTSTAT=tentative;SCHEDULE-STATUS=1.2:MAILTO:bob@example.org\r\n"                                       \
	"ATTENDEE;SCHEDULE-AGENT=CLIENT:mailto:carol@example.org\r\n"                                                     \
	"ATTENDEE:urn:uuid:00000000-0000-0000-0000-000000000001\r\n"                                                      \
	"BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nDESCRIPTION:x\r\nEND:VALARM\r\n"                               \
	"END:VEVENT\r\nEND:VCALENDAR\r\n"

static icalcomponent *parse(const char *text)
{
	icalcomponent *calendar = ex_ical_parse_stored(text);
	assert_non_null(calendar);
	return calendar;
}

static void test_address(void **unused)
{
	(void)unused;
	char out[EX_ITIP_MAX_ADDRESS];
	static const struct {
		const char *input;
		const char *expected; /* NULL: rejected */
	} cases[] = {
		{ "mailto:a@b.org", "a@b.org" },
		{ "MAILTO:Bob@Example.ORG", "bob@example.org" },
		{ "urn:uuid:1234", NULL },
		{ "mailto:", NULL },
		{ "mailto:no-at-sign", NULL },
		{ "mailto:a b@c.org", NULL },
		{ "mailto:<a@b.org>", NULL },
		{ NULL, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status = ex_itip_address(cases[i].input, out, sizeof(out));
		if (cases[i].expected == NULL) {
			assert_int_equal(status, -1);
		} else {
			assert_int_equal(status, 0);
			assert_string_equal(out, cases[i].expected);
		}
	}
	char tiny[8];
	assert_int_equal(ex_itip_address("mailto:long@example.org", tiny, sizeof(tiny)), -1);
}

static void test_roles(void **unused)
{
	(void)unused;
	icalcomponent *calendar = parse(INVITATION);
	ex_itip_roles *roles = malloc(sizeof(*roles));
	assert_non_null(roles);
	ex_itip_read_roles(calendar, roles);

	assert_string_equal(roles->organizer, "alice@example.org");
	assert_false(roles->organizer_client_agent);
	assert_string_equal(roles->summary, "Reunião");
	assert_int_equal(roles->attendee_count, 3);
	const ex_itip_attendee *bob = ex_itip_find_attendee(roles, "bob@example.org");
	assert_non_null(bob);
	assert_string_equal(bob->partstat, "TENTATIVE");
	assert_false(bob->client_agent);
	const ex_itip_attendee *carol = ex_itip_find_attendee(roles, "carol@example.org");
	assert_non_null(carol);
	assert_true(carol->client_agent);
	assert_string_equal(carol->partstat, "NEEDS-ACTION");
	assert_null(ex_itip_find_attendee(roles, "nobody@example.org"));
	free(roles);
	icalcomponent_free(calendar);
}

static void test_build_request_and_cancel(void **unused)
{
	(void)unused;
	icalcomponent *calendar = parse(INVITATION);

	char *request = ex_itip_build(calendar, ICAL_METHOD_REQUEST, NULL);
	assert_non_null(request);
	assert_non_null(strstr(request, "METHOD:REQUEST"));
	assert_null(strstr(request, "SCHEDULE-AGENT"));
	assert_null(strstr(request, "SCHEDULE-STATUS"));
	assert_null(strstr(request, "VALARM"));
	assert_non_null(strstr(request, "mailto:carol@example.org"));
	free(request);

	char *cancel = ex_itip_build(calendar, ICAL_METHOD_CANCEL, NULL);
	assert_non_null(cancel);
	assert_non_null(strstr(cancel, "METHOD:CANCEL"));
	assert_non_null(strstr(cancel, "STATUS:CANCELLED"));
	free(cancel);

	/* The source object is not changed. */
	char *source = icalcomponent_as_ical_string_r(calendar);
	assert_null(strstr(source, "METHOD"));
	assert_non_null(strstr(source, "VALARM"));
	free(source);
	icalcomponent_free(calendar);
}

static void test_build_reply(void **unused)
{
	(void)unused;
	icalcomponent *calendar = parse(INVITATION);
	char *reply = ex_itip_build(calendar, ICAL_METHOD_REPLY, "bob@example.org");
	assert_non_null(reply);
	assert_non_null(strstr(reply, "METHOD:REPLY"));
	assert_non_null(strstr(reply, "bob@example.org"));
	assert_null(strstr(reply, "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice"));
	assert_null(strstr(reply, "carol@example.org"));
	assert_non_null(strstr(reply, "ORGANIZER"));
	free(reply);
	icalcomponent_free(calendar);
}

static void test_set_partstat(void **unused)
{
	(void)unused;
	icalcomponent *calendar = parse(INVITATION);
	assert_int_equal(ex_itip_set_partstat(calendar, "bob@example.org", "DECLINED", "2.0"), 1);
	assert_int_equal(ex_itip_set_partstat(calendar, "nobody@example.org", "DECLINED", NULL), 0);
	ex_itip_roles *roles = malloc(sizeof(*roles));
	assert_non_null(roles);
	ex_itip_read_roles(calendar, roles);
	assert_string_equal(ex_itip_find_attendee(roles, "bob@example.org")->partstat, "DECLINED");
	char *text = icalcomponent_as_ical_string_r(calendar);
	assert_non_null(strstr(text, "SCHEDULE-STATUS=2.0"));
	free(text);
	free(roles);
	icalcomponent_free(calendar);
}

#define WEEKLY_HEAD                                                                                                    \
	"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"                                                           \
	"BEGIN:VTIMEZONE\r\nTZID:America/Sao_Paulo\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"                       \
	"TZOFFSETFROM:-0300\r\nTZOFFSETTO:-0300\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"

/* The organizer's copy of a weekly meeting, with one instance moved. */
#define WEEKLY                                                                                                         \
	WEEKLY_HEAD                                                                                                    \
	"BEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20260101T000000Z\r\nSEQUENCE:0\r\n"                                              \
	"DTSTART;TZID=America/Sao_Paulo:20260105T100000\r\nDTEND;TZID=America/Sao_Paulo:20260105T110000\r\n"               \
	"RRULE:FREQ=WEEKLY;COUNT=10\r\nORGANIZER:mailto:alice@example.org\r\n"                                            \
	"ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bob@example.org\r\nEND:VEVENT\r\n"                                         \
	"BEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20260101T000000Z\r\n"                                                             \
	"RECURRENCE-ID;TZID=America/Sao_Paulo:20260112T100000\r\n"                                                          \
	"DTSTART;TZID=America/Sao_Paulo:20260112T150000\r\nDTEND;TZID=America/Sao_Paulo:20260112T160000\r\n"               \
	"ORGANIZER:mailto:alice@example.org\r\nATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bob@example.org\r\n"                   \
	"END:VEVENT\r\nEND:VCALENDAR\r\n"

/* Returns the PARTSTAT of ADDRESS in the component of CALENDAR whose RECURRENCE-ID is ID ("" for the master). */
static const char *partstat_of(icalcomponent *calendar, const char *id, const char *address)
{
	for (icalcomponent *c = icalcomponent_get_first_component(calendar, ICAL_VEVENT_COMPONENT); c != NULL;
	     c = icalcomponent_get_next_component(calendar, ICAL_VEVENT_COMPONENT)) {
		icalproperty *recurrence = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
		const char *text = recurrence != NULL ? icaltime_as_ical_string(icalproperty_get_recurrenceid(recurrence)) : "";
		if (strcmp(text, id) != 0)
			continue;
		for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_ATTENDEE_PROPERTY); p != NULL;
		     p = icalcomponent_get_next_property(c, ICAL_ATTENDEE_PROPERTY))
			if (strstr(icalproperty_get_attendee(p), address) != NULL)
				return icalproperty_get_parameter_as_string(p, "PARTSTAT");
	}
	return NULL;
}

static int count_events(icalcomponent *calendar)
{
	return icalcomponent_count_components(calendar, ICAL_VEVENT_COMPONENT);
}

static void test_merge_reply_series(void **unused)
{
	(void)unused;
	icalcomponent *calendar = parse(WEEKLY);
	icalcomponent *reply = parse(WEEKLY_HEAD "METHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20260102T000000Z\r\n"
					       "DTSTART;TZID=America/Sao_Paulo:20260105T100000\r\n"
					       "ORGANIZER:mailto:alice@example.org\r\n"
					       "ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
	assert_int_equal(ex_itip_merge_reply(calendar, reply, "bob@example.org", "2.0"), 2);
	assert_string_equal(partstat_of(calendar, "", "bob@"), "ACCEPTED");
	assert_string_equal(partstat_of(calendar, "20260112T100000", "bob@"), "ACCEPTED");
	assert_int_equal(count_events(calendar), 2);
	icalcomponent_free(reply);
	icalcomponent_free(calendar);
}

static void test_merge_reply_instances(void **unused)
{
	(void)unused;
	icalcomponent *calendar = parse(WEEKLY);
	/* Accepts the series, declines the moved instance and the one of 19 January (not overridden yet). */
	icalcomponent *reply = parse(
		WEEKLY_HEAD "METHOD:REPLY\r\n"
		"BEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20260102T000000Z\r\nORGANIZER:mailto:alice@example.org\r\n"
		"RECURRENCE-ID;TZID=America/Sao_Paulo:20260119T100000\r\n"
		"ATTENDEE;PARTSTAT=DECLINED:mailto:bob@example.org\r\nEND:VEVENT\r\n"
		"BEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20260102T000000Z\r\nORGANIZER:mailto:alice@example.org\r\n"
		"RECURRENCE-ID:20260112T130000Z\r\n"
		"ATTENDEE;PARTSTAT=TENTATIVE:mailto:bob@example.org\r\nEND:VEVENT\r\n"
		"BEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20260102T000000Z\r\nORGANIZER:mailto:alice@example.org\r\n"
		"ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
	assert_int_equal(ex_itip_merge_reply(calendar, reply, "bob@example.org", "2.0"), 4);
	assert_string_equal(partstat_of(calendar, "", "bob@"), "ACCEPTED");
	/* 13:00 UTC is 10:00 in Sao Paulo: the same instance as the stored override. */
	assert_string_equal(partstat_of(calendar, "20260112T100000", "bob@"), "TENTATIVE");
	assert_string_equal(partstat_of(calendar, "20260119T100000", "bob@"), "DECLINED");
	assert_int_equal(count_events(calendar), 3);

	char *text = icalcomponent_as_ical_string_r(calendar);
	assert_non_null(strstr(text, "RECURRENCE-ID;TZID=America/Sao_Paulo:20260119T100000"));
	assert_non_null(strstr(text, "DTSTART;TZID=America/Sao_Paulo:20260119T100000"));
	assert_non_null(strstr(text, "DTEND;TZID=America/Sao_Paulo:20260119T110000"));
	/* Only the master keeps the rule. */
	const char *rule = strstr(text, "RRULE");
	assert_non_null(rule);
	assert_null(strstr(rule + 1, "RRULE"));
	free(text);
	icalcomponent_free(reply);
	icalcomponent_free(calendar);
}

static void test_merge_reply_ignored(void **unused)
{
	(void)unused;
	icalcomponent *calendar = parse(WEEKLY);
	/* A reply from another attendee, and an invalid PARTSTAT, change nothing. */
	icalcomponent *reply = parse(WEEKLY_HEAD "METHOD:REPLY\r\n"
					       "BEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20260102T000000Z\r\n"
					       "RECURRENCE-ID;TZID=America/Sao_Paulo:20260119T100000\r\n"
					       "ATTENDEE;PARTSTAT=DECLINED:mailto:carol@example.org\r\nEND:VEVENT\r\n"
					       "BEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20260102T000000Z\r\n"
					       "ATTENDEE;PARTSTAT=MAYBE:mailto:bob@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
	assert_int_equal(ex_itip_merge_reply(calendar, reply, "bob@example.org", "2.0"), 0);
	assert_int_equal(ex_itip_merge_reply(calendar, reply, "carol@example.org", "2.0"), 0);
	assert_int_equal(count_events(calendar), 2);
	icalcomponent_free(reply);
	icalcomponent_free(calendar);
}

static void test_partstat_changed(void **unused)
{
	(void)unused;
	icalcomponent *before = parse(WEEKLY);
	icalcomponent *after = parse(WEEKLY);
	assert_false(ex_itip_partstat_changed(before, after, "bob@example.org"));
	assert_false(ex_itip_partstat_changed(NULL, after, "bob@example.org"));

	/* Declining the moved instance only is a change. */
	assert_non_null(icalcomponent_get_first_component(after, ICAL_VEVENT_COMPONENT));
	icalcomponent *moved = icalcomponent_get_next_component(after, ICAL_VEVENT_COMPONENT);
	assert_non_null(moved);
	icalproperty_set_parameter_from_string(icalcomponent_get_first_property(moved, ICAL_ATTENDEE_PROPERTY), "PARTSTAT",
					       "DECLINED");
	assert_true(ex_itip_partstat_changed(before, after, "bob@example.org"));
	assert_true(ex_itip_partstat_changed(NULL, after, "bob@example.org"));
	assert_false(ex_itip_partstat_changed(before, after, "alice@example.org"));
	icalcomponent_free(after);
	icalcomponent_free(before);
}

static void test_fingerprint(void **unused)
{
	(void)unused;
	icalcomponent *first = parse(INVITATION);
	icalcomponent *replied = parse(INVITATION);
	ex_itip_set_partstat(replied, "bob@example.org", "ACCEPTED", "2.0");
	icalcomponent_set_dtstamp(icalcomponent_get_first_real_component(replied),
				  icaltime_from_string("20260301T000000Z"));
	icalcomponent *moved = parse(INVITATION);
	icalcomponent_set_dtstart(icalcomponent_get_first_real_component(moved), icaltime_from_string("20260106T100000Z"));

	char *a = ex_itip_fingerprint(first);
	char *b = ex_itip_fingerprint(replied);
	char *c = ex_itip_fingerprint(moved);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	free(a);
	free(b);
	free(c);
	icalcomponent_free(first);
	icalcomponent_free(replied);
	icalcomponent_free(moved);
}

static void test_attendees_per_component(void **unused)
{
	(void)unused;
	icalcomponent *calendar = parse(INVITATION);
	assert_int_equal(ex_itip_max_attendees_per_component(calendar), 4);
	icalcomponent_free(calendar);

	icalcomponent *overrides = parse("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
					 "BEGIN:VEVENT\r\nUID:u\r\nDTSTART:20260105T100000Z\r\nRRULE:FREQ=DAILY\r\n"
					 "ATTENDEE:mailto:a@x.org\r\nEND:VEVENT\r\n"
					 "BEGIN:VEVENT\r\nUID:u\r\nRECURRENCE-ID:20260106T100000Z\r\nDTSTART:20260106T100000Z\r\n"
					 "ATTENDEE:mailto:a@x.org\r\nATTENDEE:mailto:b@x.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
	assert_int_equal(ex_itip_max_attendees_per_component(overrides), 2);
	icalcomponent_free(overrides);
}

static void test_partstat_valid(void **unused)
{
	(void)unused;
	assert_true(ex_itip_partstat_is_valid("accepted"));
	assert_true(ex_itip_partstat_is_valid("DECLINED"));
	assert_true(ex_itip_partstat_is_valid("Tentative"));
	assert_true(ex_itip_partstat_is_valid("needs-action"));
	assert_false(ex_itip_partstat_is_valid("DELEGATED"));
	assert_false(ex_itip_partstat_is_valid(""));
	assert_false(ex_itip_partstat_is_valid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_build_request_and_cancel),
		cmocka_unit_test(test_build_reply),
		cmocka_unit_test(test_set_partstat),
		cmocka_unit_test(test_merge_reply_series),
		cmocka_unit_test(test_merge_reply_instances),
		cmocka_unit_test(test_merge_reply_ignored),
		cmocka_unit_test(test_partstat_changed),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_attendees_per_component),
		cmocka_unit_test(test_partstat_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
