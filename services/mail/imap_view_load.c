/*
 * Reads from PostgreSQL what changed in a mailbox since the modseq its
 * entry in the shared cache (imap_view_cache.h) is at, and applies it,
 * so that SELECT and FETCH of flags read the message list from memory.
 * One statement returns the mailbox's highestmodseq and uidnext, the
 * messages whose modseq is higher than the entry's and the UIDs expunged
 * since, so all three come from one snapshot. The results are binary, so
 * no number goes through text.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"
#include "imap_internal.h"
#include "imap_view_cache.h"

enum {
	/* Reads of a new delta when another session moved the entry between our read and our apply. */
	SYNC_ATTEMPTS = 3,
	ROW_MAILBOX = 0,
	ROW_MESSAGE = 1,
	ROW_EXPUNGE = 2,
};

typedef struct {
	const char *mailbox_id;
	uint64_t since;
	PGresult *result;
} delta_query;

static int run_delta_query(PGconn *connection, void *context, ex_db_error *error)
{
	delta_query *query = context;
	char since[IMAP_NUMBER_TEXT];
	imap_format_number(since, sizeof(since), query->since);
	const char *params[] = { query->mailbox_id, since };
	/* The expunges are only needed to update an entry; a full load (since 0) lists every message. */
	PGresult *result = PQexecParams(
		connection,
		"SELECT 0, m.highestmodseq::bigint, m.uidnext::bigint, NULL::text FROM mailboxes AS m WHERE m.id = $1 "
		"UNION ALL SELECT 1, x.uid, x.modseq, array_to_string(x.flags, ' ') FROM messages AS x "
		" WHERE x.mailbox_id = $1 AND x.modseq > $2::bigint "
		"UNION ALL SELECT 2, e.uid, e.modseq, NULL FROM message_expunges AS e "
		" WHERE e.mailbox_id = $1 AND e.modseq > $2::bigint AND $2::bigint > 0",
		2, NULL, params, NULL, NULL, 1);
	if (PQresultStatus(result) != PGRES_TUPLES_OK) {
		ex_db_error_from_result(connection, result, error);
		PQclear(result);
		return -1;
	}
	query->result = result;
	return 0;
}

static uint64_t binary_int8(const PGresult *result, int row, int column)
{
	const unsigned char *bytes = (const unsigned char *)PQgetvalue(result, row, column);
	if (PQgetlength(result, row, column) != 8)
		return 0;
	uint64_t value = 0;
	for (int i = 0; i < 8; i++)
		value = value << 8 | bytes[i];
	return value;
}

static int binary_int4(const PGresult *result, int row, int column)
{
	uint32_t value = 0;
	if (PQgetlength(result, row, column) != 4)
		return -1;
	memcpy(&value, PQgetvalue(result, row, column), sizeof(value));
	return (int)ntohl(value);
}

static int compare_changes(const void *a, const void *b)
{
	uint32_t left = ((const imap_view_change *)a)->uid;
	uint32_t right = ((const imap_view_change *)b)->uid;
	return left < right ? -1 : left > right;
}

static int compare_uids(const void *a, const void *b)
{
	uint32_t left = *(const uint32_t *)a;
	uint32_t right = *(const uint32_t *)b;
	return left < right ? -1 : left > right;
}

/* Reads the delta of MAILBOX_ID after SINCE and applies it; -1 when the query failed or the mailbox is gone. */
static int load_and_apply(imap_session *session, imap_view_cache *cache, const char *mailbox_id, uint64_t since,
			  imap_view_snapshot *snapshot)
{
	delta_query query = { .mailbox_id = mailbox_id, .since = since };
	if (imap_transaction(session, run_delta_query, &query) != 0)
		return -1;
	PGresult *result = query.result;
	int rows = PQntuples(result);
	imap_view_change *changed = malloc((size_t)(rows + 1) * sizeof(*changed));
	uint32_t *expunged = malloc((size_t)(rows + 1) * sizeof(*expunged));
	imap_view_delta delta = { .since = since, .changed = changed, .expunged = expunged };
	bool mailbox_found = false;
	bool changed_sorted = true;
	bool expunged_sorted = true;
	int status = -1;
	if (changed == NULL || expunged == NULL)
		goto done;

	for (int row = 0; row < rows; row++) {
		int kind = binary_int4(result, row, 0);
		uint64_t first = binary_int8(result, row, 1);
		uint64_t second = binary_int8(result, row, 2);
		if (kind == ROW_MAILBOX) {
			mailbox_found = true;
			delta.highest_modseq = first;
			delta.uidnext = (uint32_t)second;
		} else if (kind == ROW_MESSAGE) {
			imap_view_change *change = &changed[delta.changed_count];
			*change = (imap_view_change){ .uid = (uint32_t)first, .modseq = second,
						      .flags = PQgetvalue(result, row, 3),
						      .flags_length = (size_t)PQgetlength(result, row, 3) };
			if (delta.changed_count > 0 && changed[delta.changed_count - 1].uid > change->uid)
				changed_sorted = false;
			delta.changed_count++;
		} else if (kind == ROW_EXPUNGE) {
			expunged[delta.expunged_count] = (uint32_t)first;
			if (delta.expunged_count > 0 && expunged[delta.expunged_count - 1] > expunged[delta.expunged_count])
				expunged_sorted = false;
			delta.expunged_count++;
		}
	}
	if (!mailbox_found) {
		ex_log(EX_LOG_WARN, "imap_view_mailbox_missing", "{s:s, s:s}", "session", session->options.session_id,
		       "mailbox", mailbox_id);
		goto done;
	}
	/* Sorting here rather than in SQL keeps the planner free to read messages by either index. */
	if (!changed_sorted)
		qsort(changed, delta.changed_count, sizeof(*changed), compare_changes);
	if (!expunged_sorted)
		qsort(expunged, delta.expunged_count, sizeof(*expunged), compare_uids);
	status = (int)imap_view_cache_apply(cache, session->tenant_id, mailbox_id, &delta, snapshot);

done:
	free(changed);
	free(expunged);
	PQclear(result);
	return status;
}

bool imap_view_cache_sync(imap_session *session, const char *mailbox_id, uint64_t known_modseq,
			  imap_view_snapshot *snapshot)
{
	imap_view_cache *cache = imap_view_cache_shared();
	if (cache == NULL)
		return false;
	for (int attempt = 0; attempt < SYNC_ATTEMPTS; attempt++) {
		uint64_t since = imap_view_cache_modseq(cache, session->tenant_id, mailbox_id);
		if (known_modseq != 0 && since == known_modseq) {
			/* The caller read this highestmodseq just now, so the entry is current without a query. */
			imap_view_delta current = { .since = since, .highest_modseq = known_modseq };
			if (imap_view_cache_apply(cache, session->tenant_id, mailbox_id, &current, snapshot) ==
			    IMAP_VIEW_CACHE_APPLIED)
				return true;
		}
		known_modseq = 0;
		int status = load_and_apply(session, cache, mailbox_id, since, snapshot);
		if (status != IMAP_VIEW_CACHE_STALE)
			return status == IMAP_VIEW_CACHE_APPLIED;
	}
	ex_log(EX_LOG_INFO, "imap_view_cache_busy", "{s:s, s:s}", "session", session->options.session_id, "mailbox",
	       mailbox_id);
	return false;
}
