/*
 * Writes the server makes into a user's calendar while scheduling: an
 * invitation placed in an attendee's calendar, a reply merged into the
 * organizer's copy, a cancellation. Each takes the next sync_seq of the
 * calendar and keeps its octets and tombstones as a PUT does, so
 * sync-collection and quotas see it like any other change.
 */
#include "caldav_schedule.h"

#include <stdio.h>
#include <string.h>

#include "expresso/log.h"
#include "ical_object.h"

/* NOTE: the owner's calendar quota is not checked here, and no calendar.changed event is published for the owner. */
int calendar_schedule_store(PGconn *connection, const char *tenant_id, const char *calendar_id, const char *name,
			    const char *text, bool keep_schedule_tag, ex_db_error *error)
{
	ex_ical_object object;
	char err[256];
	char etag[80];
	char length[32];
	char first_start[32] = "";
	char last_end[32] = "";

	size_t size = strlen(text);
	if (ex_ical_object_parse(text, size, EX_ICAL_COMPONENT_ALL, &object, err, sizeof(err)) != EX_ICAL_OK) {
		ex_log(EX_LOG_WARN, "caldav_schedule_invalid_copy", "{s:s, s:s, s:s}", "calendar", calendar_id, "name", name,
		       "error", err);
		return 0;
	}
	if (object.first_start != EX_ICAL_TIME_MIN)
		snprintf(first_start, sizeof(first_start), "%lld", (long long)object.first_start);
	if (object.last_end != EX_ICAL_TIME_MAX)
		snprintf(last_end, sizeof(last_end), "%lld", (long long)object.last_end);
	calendar_compute_etag(text, size, etag);
	snprintf(length, sizeof(length), "%zu", size);

	/* One statement takes the next sync_seq and counts the octets before the object row changes. */
	PGresult *sequence = calendar_sql(connection, error,
					  "UPDATE calendars SET sync_seq = sync_seq + 1, octets = octets + $3::bigint - "
					  "coalesce((SELECT octet_length(ical) FROM calendar_objects WHERE calendar_id = $1 "
					  "AND name = $2), 0) WHERE id = $1 RETURNING sync_seq::text",
					  3, calendar_id, name, length);
	if (sequence != NULL && PQntuples(sequence) == 0) {
		/* The calendar was deleted in the meantime: nothing to store. */
		PQclear(sequence);
		ex_ical_object_free(&object);
		return 0;
	}
	PGresult *stored = NULL;
	if (sequence != NULL)
		stored = calendar_sql(
			connection, error,
			"INSERT INTO calendar_objects (tenant_id, calendar_id, name, uid, etag, ical, modseq, component, "
			"first_start, last_end, schedule_tag) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
			"to_timestamp(nullif($9, '')::double precision), to_timestamp(nullif($10, '')::double precision), $5) "
			"ON CONFLICT (calendar_id, name) DO UPDATE SET uid = excluded.uid, etag = excluded.etag, "
			"ical = excluded.ical, modseq = excluded.modseq, component = excluded.component, "
			"first_start = excluded.first_start, last_end = excluded.last_end, modified_at = now(), "
			"schedule_tag = CASE WHEN $11 = 'keep' THEN calendar_objects.schedule_tag ELSE excluded.schedule_tag END",
			11, tenant_id, calendar_id, name, object.uid != NULL ? object.uid : name, etag, text,
			PQgetvalue(sequence, 0, 0), ex_ical_component_name(object.component), first_start, last_end,
			keep_schedule_tag ? "keep" : "new");
	PGresult *cleared = stored != NULL ? calendar_sql(connection, error,
							  "DELETE FROM calendar_tombstones WHERE calendar_id = $1 AND name = $2",
							  2, calendar_id, name)
					   : NULL;
	int status = cleared != NULL ? 0 : -1;
	PQclear(sequence);
	PQclear(stored);
	PQclear(cleared);
	ex_ical_object_free(&object);
	return status;
}
