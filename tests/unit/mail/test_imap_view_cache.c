/*
 * Tests of the per-process mailbox cache (services/mail/imap_view_cache.c):
 * a full load, and the deltas of a flag change, an expunge and an append.
 * A change made by another session of this process and one made on another
 * replica both reach the cache as such a delta, read from the database.
 * Also a delta that starts from another modseq than the entry's, tenants
 * kept apart, the size limit at the limit and one past it, and eviction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "imap_view_cache.h"

static const char TENANT[] = "00000000-0000-0000-0000-000000000001";
static const char OTHER_TENANT[] = "00000000-0000-0000-0000-000000000002";
static const char MAILBOX[] = "10000000-0000-0000-0000-000000000001";
static const char OTHER_MAILBOX[] = "10000000-0000-0000-0000-000000000002";

static imap_view_change change(uint32_t uid, uint64_t modseq, const char *flags)
{
	return (imap_view_change){ .uid = uid, .modseq = modseq, .flags = flags, .flags_length = strlen(flags) };
}

/* Returns the flags of UID in SNAPSHOT as a string in BUFFER, or NULL when the UID is absent. */
static const char *flags_of(const imap_view_snapshot *snapshot, uint32_t uid, char *buffer, size_t size)
{
	long index = imap_view_snapshot_find(snapshot, uid);
	if (index < 0)
		return NULL;
	const imap_view_cached_message *message = &snapshot->messages[index];
	snprintf(buffer, size, "%.*s", (int)message->flags_length, snapshot->flag_text + message->flags_offset);
	return buffer;
}

/* Loads messages 1, 2 and 3 at modseq 3 into MAILBOX. */
static void load_three(imap_view_cache *cache)
{
	imap_view_change rows[] = { change(1, 1, "\\Seen"), change(2, 2, "\\Seen"), change(3, 3, "") };
	imap_view_delta full = { .since = 0, .highest_modseq = 3, .uidnext = 4, .changed = rows, .changed_count = 3 };
	imap_view_snapshot snapshot;
	assert_int_equal(imap_view_cache_apply(cache, TENANT, MAILBOX, &full, &snapshot), IMAP_VIEW_CACHE_APPLIED);
	imap_view_cache_release(cache);
}

static void full_load_lists_messages(void **state)
{
	(void)state;
	imap_view_cache *cache = imap_view_cache_new(100);
	imap_view_snapshot snapshot;
	char flags[64];
	assert_int_equal(imap_view_cache_modseq(cache, TENANT, MAILBOX), 0);
	load_three(cache);
	assert_int_equal(imap_view_cache_modseq(cache, TENANT, MAILBOX), 3);

	imap_view_delta nothing = { .since = 3, .highest_modseq = 3 };
	assert_int_equal(imap_view_cache_apply(cache, TENANT, MAILBOX, &nothing, &snapshot), IMAP_VIEW_CACHE_APPLIED);
	assert_int_equal(snapshot.count, 3);
	assert_int_equal(snapshot.highest_modseq, 3);
	assert_int_equal(snapshot.uidnext, 4);
	assert_string_equal(flags_of(&snapshot, 1, flags, sizeof(flags)), "\\Seen");
	assert_string_equal(flags_of(&snapshot, 3, flags, sizeof(flags)), "");
	assert_true(snapshot.messages[0].seen);
	assert_false(snapshot.messages[2].seen);
	assert_null(flags_of(&snapshot, 4, flags, sizeof(flags)));
	imap_view_cache_release(cache);
	imap_view_cache_free(cache);
}

static void flag_change_updates_entry(void **state)
{
	(void)state;
	imap_view_cache *cache = imap_view_cache_new(100);
	imap_view_snapshot snapshot;
	char flags[64];
	load_three(cache);

	/* A STORE elsewhere: message 2 loses \Seen and gains a keyword at modseq 4. */
	imap_view_change rows[] = { change(2, 4, "$Label1 \\Flagged") };
	imap_view_delta delta = { .since = 3, .highest_modseq = 4, .uidnext = 4, .changed = rows, .changed_count = 1 };
	assert_int_equal(imap_view_cache_apply(cache, TENANT, MAILBOX, &delta, &snapshot), IMAP_VIEW_CACHE_APPLIED);
	assert_int_equal(snapshot.count, 3);
	assert_int_equal(snapshot.highest_modseq, 4);
	assert_string_equal(flags_of(&snapshot, 2, flags, sizeof(flags)), "$Label1 \\Flagged");
	assert_false(snapshot.messages[1].seen);
	assert_int_equal(snapshot.messages[1].modseq, 4);
	assert_string_equal(flags_of(&snapshot, 1, flags, sizeof(flags)), "\\Seen");
	imap_view_cache_release(cache);
	imap_view_cache_free(cache);
}

static void expunge_removes_message(void **state)
{
	(void)state;
	imap_view_cache *cache = imap_view_cache_new(100);
	imap_view_snapshot snapshot;
	char flags[64];
	load_three(cache);

	uint32_t expunged[] = { 1, 3 };
	imap_view_delta delta = { .since = 3, .highest_modseq = 5, .uidnext = 4, .expunged = expunged, .expunged_count = 2 };
	assert_int_equal(imap_view_cache_apply(cache, TENANT, MAILBOX, &delta, &snapshot), IMAP_VIEW_CACHE_APPLIED);
	assert_int_equal(snapshot.count, 1);
	assert_int_equal(snapshot.messages[0].uid, 2);
	assert_null(flags_of(&snapshot, 1, flags, sizeof(flags)));
	assert_null(flags_of(&snapshot, 3, flags, sizeof(flags)));
	imap_view_cache_release(cache);
	assert_int_equal(imap_view_cache_message_count(cache), 1);
	imap_view_cache_free(cache);
}

static void append_adds_message(void **state)
{
	(void)state;
	imap_view_cache *cache = imap_view_cache_new(100);
	imap_view_snapshot snapshot;
	char flags[64];
	load_three(cache);

	/* An APPEND, or a delivery on another replica: UID 4 at modseq 4, uidnext 5. */
	imap_view_change rows[] = { change(4, 4, "$Forwarded \\Draft") };
	imap_view_delta delta = { .since = 3, .highest_modseq = 4, .uidnext = 5, .changed = rows, .changed_count = 1 };
	assert_int_equal(imap_view_cache_apply(cache, TENANT, MAILBOX, &delta, &snapshot), IMAP_VIEW_CACHE_APPLIED);
	assert_int_equal(snapshot.count, 4);
	assert_int_equal(snapshot.uidnext, 5);
	assert_int_equal(snapshot.messages[3].uid, 4);
	assert_string_equal(flags_of(&snapshot, 4, flags, sizeof(flags)), "$Forwarded \\Draft");
	imap_view_cache_release(cache);
	imap_view_cache_free(cache);
}

static void stale_delta_is_rejected(void **state)
{
	(void)state;
	imap_view_cache *cache = imap_view_cache_new(100);
	imap_view_snapshot snapshot;
	load_three(cache);

	/* Another session moved the entry to modseq 6 after this one read its delta from modseq 3 to 5. */
	imap_view_change newer[] = { change(3, 6, "\\Deleted") };
	imap_view_delta moved = { .since = 3, .highest_modseq = 6, .uidnext = 4, .changed = newer, .changed_count = 1 };
	assert_int_equal(imap_view_cache_apply(cache, TENANT, MAILBOX, &moved, &snapshot), IMAP_VIEW_CACHE_APPLIED);
	imap_view_cache_release(cache);

	imap_view_change older[] = { change(3, 5, "\\Seen") };
	imap_view_delta stale = { .since = 3, .highest_modseq = 5, .uidnext = 4, .changed = older, .changed_count = 1 };
	assert_int_equal(imap_view_cache_apply(cache, TENANT, MAILBOX, &stale, &snapshot), IMAP_VIEW_CACHE_STALE);
	/* A delta that ends where the entry is already needs nothing applied. */
	imap_view_delta same = { .since = 0, .highest_modseq = 6 };
	assert_int_equal(imap_view_cache_apply(cache, TENANT, MAILBOX, &same, &snapshot), IMAP_VIEW_CACHE_APPLIED);
	assert_false(snapshot.messages[2].seen);
	imap_view_cache_release(cache);
	assert_int_equal(imap_view_cache_modseq(cache, TENANT, MAILBOX), 6);
	imap_view_cache_free(cache);
}

static void modseq_going_back_drops_entry(void **state)
{
	(void)state;
	imap_view_cache *cache = imap_view_cache_new(100);
	imap_view_snapshot snapshot;
	load_three(cache);
	/* A database restored from a backup reports a lower highestmodseq than the entry's. */
	imap_view_delta restored = { .since = 3, .highest_modseq = 2, .uidnext = 3 };
	assert_int_equal(imap_view_cache_apply(cache, TENANT, MAILBOX, &restored, &snapshot), IMAP_VIEW_CACHE_STALE);
	assert_int_equal(imap_view_cache_modseq(cache, TENANT, MAILBOX), 0);
	assert_int_equal(imap_view_cache_message_count(cache), 0);
	imap_view_cache_free(cache);
}

static void tenants_are_kept_apart(void **state)
{
	(void)state;
	imap_view_cache *cache = imap_view_cache_new(100);
	imap_view_snapshot snapshot;
	load_three(cache);
	assert_int_equal(imap_view_cache_modseq(cache, OTHER_TENANT, MAILBOX), 0);
	imap_view_delta nothing = { .since = 3, .highest_modseq = 3 };
	assert_int_equal(imap_view_cache_apply(cache, OTHER_TENANT, MAILBOX, &nothing, &snapshot), IMAP_VIEW_CACHE_STALE);
	imap_view_cache_free(cache);
}

/* Applies a full load of COUNT messages to MAILBOX_ID. */
static imap_view_cache_status load_count(imap_view_cache *cache, const char *mailbox_id, uint32_t count)
{
	imap_view_change rows[16];
	assert_true(count <= 16);
	for (uint32_t i = 0; i < count; i++)
		rows[i] = change(i + 1, i + 1, "\\Seen");
	imap_view_delta full = { .since = 0, .highest_modseq = count + 1, .uidnext = count + 1, .changed = rows,
				 .changed_count = count };
	imap_view_snapshot snapshot;
	imap_view_cache_status status = imap_view_cache_apply(cache, TENANT, mailbox_id, &full, &snapshot);
	if (status == IMAP_VIEW_CACHE_APPLIED)
		imap_view_cache_release(cache);
	return status;
}

static void limit_at_and_past(void **state)
{
	(void)state;
	/* A limit of 10 units fits a mailbox of 9 messages (plus one for the mailbox), not one of 10. */
	imap_view_cache *cache = imap_view_cache_new(10);
	assert_int_equal(load_count(cache, MAILBOX, 9), IMAP_VIEW_CACHE_APPLIED);
	assert_int_equal(imap_view_cache_message_count(cache), 9);
	assert_int_equal(load_count(cache, OTHER_MAILBOX, 10), IMAP_VIEW_CACHE_REJECTED);
	assert_int_equal(imap_view_cache_modseq(cache, TENANT, OTHER_MAILBOX), 0);
	assert_int_equal(imap_view_cache_modseq(cache, TENANT, MAILBOX), 10);
	imap_view_cache_free(cache);

	imap_view_cache *off = imap_view_cache_new(0);
	assert_int_equal(load_count(off, MAILBOX, 0), IMAP_VIEW_CACHE_REJECTED);
	imap_view_cache_free(off);
}

static void least_recent_is_evicted(void **state)
{
	(void)state;
	imap_view_cache *cache = imap_view_cache_new(12);
	imap_view_snapshot snapshot;
	assert_int_equal(load_count(cache, MAILBOX, 5), IMAP_VIEW_CACHE_APPLIED);
	/* 6 + 6 units fit; a third mailbox pushes out the one used least recently. */
	assert_int_equal(load_count(cache, OTHER_MAILBOX, 5), IMAP_VIEW_CACHE_APPLIED);
	imap_view_delta nothing = { .since = 6, .highest_modseq = 6 };
	assert_int_equal(imap_view_cache_apply(cache, TENANT, MAILBOX, &nothing, &snapshot), IMAP_VIEW_CACHE_APPLIED);
	imap_view_cache_release(cache);
	assert_int_equal(load_count(cache, "10000000-0000-0000-0000-000000000003", 3), IMAP_VIEW_CACHE_APPLIED);
	assert_int_equal(imap_view_cache_modseq(cache, TENANT, OTHER_MAILBOX), 0);
	assert_int_equal(imap_view_cache_modseq(cache, TENANT, MAILBOX), 6);
	assert_int_equal(imap_view_cache_message_count(cache), 8);
	imap_view_cache_free(cache);
}

static void repeated_changes_keep_flags(void **state)
{
	(void)state;
	imap_view_cache *cache = imap_view_cache_new(100);
	imap_view_snapshot snapshot;
	char flags[64];
	load_three(cache);
	/* Many flag changes leave unused flag text behind, which is compacted without losing any message's flags. */
	for (uint64_t modseq = 4; modseq < 3000; modseq++) {
		imap_view_change rows[] = { change(2, modseq, modseq % 2 == 0 ? "\\Answered \\Seen" : "\\Flagged") };
		imap_view_delta delta = { .since = modseq - 1, .highest_modseq = modseq, .uidnext = 4, .changed = rows,
					  .changed_count = 1 };
		assert_int_equal(imap_view_cache_apply(cache, TENANT, MAILBOX, &delta, &snapshot), IMAP_VIEW_CACHE_APPLIED);
		imap_view_cache_release(cache);
	}
	imap_view_delta nothing = { .since = 2999, .highest_modseq = 2999 };
	assert_int_equal(imap_view_cache_apply(cache, TENANT, MAILBOX, &nothing, &snapshot), IMAP_VIEW_CACHE_APPLIED);
	assert_string_equal(flags_of(&snapshot, 1, flags, sizeof(flags)), "\\Seen");
	assert_string_equal(flags_of(&snapshot, 2, flags, sizeof(flags)), "\\Flagged");
	assert_string_equal(flags_of(&snapshot, 3, flags, sizeof(flags)), "");
	imap_view_cache_release(cache);
	imap_view_cache_free(cache);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_load_lists_messages),
		cmocka_unit_test(flag_change_updates_entry),
		cmocka_unit_test(expunge_removes_message),
		cmocka_unit_test(append_adds_message),
		cmocka_unit_test(stale_delta_is_rejected),
		cmocka_unit_test(modseq_going_back_drops_entry),
		cmocka_unit_test(tenants_are_kept_apart),
		cmocka_unit_test(limit_at_and_past),
		cmocka_unit_test(least_recent_is_evicted),
		cmocka_unit_test(repeated_changes_keep_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
