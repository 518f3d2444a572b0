/* sync-tokens and the merge of changed and removed resources into a sync-collection report. */
#include "expresso/dav_sync.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_target.h"
#include "expresso/dav_xml.h"

enum { SYNC_TOKEN_SIZE = 256 };

void ex_dav_format_sync_token(char *out, size_t size, const char *collection_id, const char *sequence)
{
	snprintf(out, size, EX_DAV_SYNC_TOKEN_PREFIX "%s:%s", collection_id, sequence);
}

long long ex_dav_parse_sync_token(const char *token, const char *collection_id, long long current,
				  long long pruned)
{
	size_t prefix = strlen(EX_DAV_SYNC_TOKEN_PREFIX);
	size_t id_length = strlen(collection_id);

	if (token[0] == '\0')
		return EX_DAV_SYNC_INITIAL;
	if (strncmp(token, EX_DAV_SYNC_TOKEN_PREFIX, prefix) != 0 ||
	    strncmp(token + prefix, collection_id, id_length) != 0 || token[prefix + id_length] != ':')
		return EX_DAV_SYNC_INVALID;
	const char *digits = token + prefix + id_length + 1;
	char *end;
	long long sequence = strtoll(digits, &end, 10);

	/* Below PRUNED, deletions the client has not seen may have lost their tombstones. */
	if (digits[0] < '0' || digits[0] > '9' || *end != '\0' || sequence < pruned || sequence > current)
		return EX_DAV_SYNC_INVALID;
	return sequence;
}

PGresult *ex_dav_store_select_tombstones(PGconn *connection, const ex_dav_store *store, const char *collection_id,
					 const char *since, ex_db_error *error)
{
	char sql[256];

	int written = snprintf(sql, sizeof(sql),
			       "SELECT name, modseq::text FROM %s WHERE %s = $1 AND modseq > $2 AND $2 >= 0 "
			       "ORDER BY modseq",
			       store->tombstone_table, store->collection_column);
	if (written <= 0 || (size_t)written >= sizeof(sql)) {
		snprintf(error->message, sizeof(error->message), "the tombstone query is longer than %zu bytes",
			 sizeof(sql));
		return NULL;
	}
	return ex_dav_sql(connection, error, sql, 2, collection_id, since);
}

static void write_limit_reached(const ex_dav_sync_changes *changes)
{
	char href[EX_DAV_MAX_HREF];

	if (ex_dav_format_href(href, changes->home, changes->user_id, changes->collection, NULL) != 0)
		return;
	ex_dav_ms_begin_response(changes->ms, href);
	ex_dav_ms_status(changes->ms, 507);
	ex_dav_ms_begin_property(changes->ms, EX_DAV_NS, "error");
	ex_dav_ms_empty_element(changes->ms, EX_DAV_NS, "number-of-matches-within-limits");
	ex_dav_ms_end_property(changes->ms);
	ex_dav_ms_end_response(changes->ms);
}

void ex_dav_write_sync_changes(const ex_dav_sync_changes *changes)
{
	const PGresult *changed = changes->changed;
	const PGresult *removed = changes->removed;
	int changed_row = 0;
	int removed_row = 0;
	long reported = 0;
	const char *last_sequence = changes->sequence;
	bool truncated = false;
	char href[EX_DAV_MAX_HREF];

	/*
	 * Each change has its own modseq, so merging both lists by modseq gives
	 * the order of the changes. With DAV:limit the report stops after that
	 * many changes and its sync-token names the last one reported.
	 */
	while (changed_row < PQntuples(changed) || removed_row < PQntuples(removed)) {
		if (changes->limit > 0 && reported == changes->limit) {
			truncated = true;
			break;
		}
		bool take_changed = removed_row == PQntuples(removed) ||
				    (changed_row < PQntuples(changed) &&
				     strtoll(PQgetvalue(changed, changed_row, changes->modseq_column), NULL, 10) <
					     strtoll(PQgetvalue(removed, removed_row, 1), NULL, 10));
		if (take_changed) {
			if (changes->describe(changes->context, changed_row) != 0)
				break;
			last_sequence = PQgetvalue(changed, changed_row++, changes->modseq_column);
		} else {
			if (ex_dav_format_href(href, changes->home, changes->user_id, changes->collection,
					       PQgetvalue(removed, removed_row, 0)) == 0) {
				ex_dav_ms_begin_response(changes->ms, href);
				ex_dav_ms_status(changes->ms, 404);
				ex_dav_ms_end_response(changes->ms);
			}
			last_sequence = PQgetvalue(removed, removed_row++, 1);
		}
		reported++;
	}

	char token[SYNC_TOKEN_SIZE];
	if (truncated)
		write_limit_reached(changes);
	ex_dav_format_sync_token(token, sizeof(token), changes->collection_id,
				 truncated ? last_sequence : changes->sequence);
	ex_dav_ms_sync_token(changes->ms, token);
}
