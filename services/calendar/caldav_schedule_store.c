/*
 * Writes the server makes into a user's calendar while scheduling
 * (caldav_schedule_store.h). Each store takes the next sync_seq of the
 * calendar and keeps its octets and tombstones as a PUT does, so
 * sync-collection reports it like any other change.
 *
 * This file is built into the static library expresso_calendar_store,
 * which expresso-calendar and expresso-imip-dispatch link, so it uses only
 * libexpresso-core, libexpresso-dav and the iCalendar checks, not the
 * CalDAV handlers.
 */
#include "caldav_schedule_store.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "expresso/dav_http.h"
#include "expresso/log.h"
#include "ical_object.h"

/* The name of a user's default calendar: CALENDAR_DEFAULT_CALENDAR of calendar_service.h. */
#define SCHEDULE_DEFAULT_CALENDAR "default"

/* Returns 1 when SIZE more bytes take the calendars of USER_ID past QUOTA_BYTES, 0 when not, -1 on error. */
static int over_quota(PGconn *connection, const char *user_id, size_t size, long long quota_bytes, ex_db_error *error)
{
	char length[32];
	char quota[32];
	snprintf(length, sizeof(length), "%zu", size);
	snprintf(quota, sizeof(quota), "%lld", quota_bytes);
	const char *params[] = { user_id, length, quota };
	PGresult *result = ex_db_exec(connection,
				      "SELECT (coalesce(sum(octets), 0) + $2::bigint > $3::bigint)::text FROM calendars "
				      "WHERE user_id = $1",
				      3, params, error);
	if (result == NULL)
		return -1;
	int exceeded = PQntuples(result) == 1 && strcmp(PQgetvalue(result, 0, 0), "true") == 0;
	PQclear(result);
	return exceeded;
}

/* The caller publishes calendar.changed for WRITTEN after its commit. */
int calendar_schedule_store(PGconn *connection, const char *tenant_id, const char *calendar_id, const char *name,
			    const char *text, bool keep_schedule_tag, calendar_schedule_written *written,
			    ex_db_error *error)
{
	ex_ical_object object;
	char err[256];
	char etag[EX_DAV_ETAG_SIZE];
	char length[32];
	char first_start[32] = "";
	char last_end[32] = "";

	memset(written, 0, sizeof(*written));
	size_t size = strlen(text);
	if (ex_ical_object_parse(text, size, EX_ICAL_COMPONENT_ALL, &object, err, sizeof(err)) != EX_ICAL_OK) {
		ex_log(EX_LOG_WARN, "caldav_schedule_invalid_copy", "{s:s, s:s, s:s}", "calendar", calendar_id, "name", name,
		       "error", err);
		written->skipped = "invalid_copy";
		return 0;
	}
	if (object.first_start != EX_ICAL_TIME_MIN)
		snprintf(first_start, sizeof(first_start), "%lld", (long long)object.first_start);
	if (object.last_end != EX_ICAL_TIME_MAX)
		snprintf(last_end, sizeof(last_end), "%lld", (long long)object.last_end);
	ex_dav_compute_etag(text, size, etag);
	snprintf(length, sizeof(length), "%zu", size);

	/* One statement takes the next sync_seq and counts the octets before the object row changes. */
	const char *sequence_params[] = { calendar_id, name, length };
	PGresult *sequence = ex_db_exec(connection,
					"UPDATE calendars SET sync_seq = sync_seq + 1, octets = octets + $3::bigint - "
					"coalesce((SELECT octet_length(ical) FROM calendar_objects WHERE calendar_id = $1 "
					"AND name = $2), 0) WHERE id = $1 RETURNING sync_seq::text, name, "
					"EXISTS (SELECT 1 FROM calendar_objects WHERE calendar_id = $1 AND name = $2)",
					3, sequence_params, error);
	if (sequence != NULL && PQntuples(sequence) == 0) {
		/* The calendar was deleted in the meantime: nothing to store. */
		PQclear(sequence);
		ex_ical_object_free(&object);
		written->skipped = "no_calendar";
		return 0;
	}
	PGresult *stored = NULL;
	if (sequence != NULL) {
		const char *params[] = { tenant_id, calendar_id, name, object.uid != NULL ? object.uid : name, etag, text,
					 PQgetvalue(sequence, 0, 0), ex_ical_component_name(object.component),
					 first_start, last_end, keep_schedule_tag ? "keep" : "new" };
		stored = ex_db_exec(
			connection,
			"INSERT INTO calendar_objects (tenant_id, calendar_id, name, uid, etag, ical, modseq, component, "
			"first_start, last_end, schedule_tag) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
			"to_timestamp(nullif($9, '')::double precision), to_timestamp(nullif($10, '')::double precision), $5) "
			"ON CONFLICT (calendar_id, name) DO UPDATE SET uid = excluded.uid, etag = excluded.etag, "
			"ical = excluded.ical, modseq = excluded.modseq, component = excluded.component, "
			"first_start = excluded.first_start, last_end = excluded.last_end, modified_at = now(), "
			"schedule_tag = CASE WHEN $11 = 'keep' THEN calendar_objects.schedule_tag ELSE excluded.schedule_tag END",
			11, params, error);
	}
	const char *object_params[] = { calendar_id, name };
	PGresult *cleared = stored != NULL ? ex_db_exec(connection,
							"DELETE FROM calendar_tombstones WHERE calendar_id = $1 AND name = $2",
							2, object_params, error)
					   : NULL;
	int status = cleared != NULL ? 0 : -1;
	if (status == 0) {
		snprintf(written->calendar, sizeof(written->calendar), "%s", PQgetvalue(sequence, 0, 1));
		snprintf(written->object, sizeof(written->object), "%s", name);
		written->change = strcmp(PQgetvalue(sequence, 0, 2), "t") == 0 ? "updated" : "created";
	}
	PQclear(sequence);
	PQclear(stored);
	PQclear(cleared);
	ex_ical_object_free(&object);
	return status;
}

int calendar_schedule_store_new(PGconn *connection, const char *tenant_id, const char *user_id, const char *uid,
				const char *text, long long quota_bytes, calendar_schedule_written *written,
				ex_db_error *error)
{
	/* Components: 1 is VEVENT and 2 is VTODO (ical_object.h), as calendar_ensure_defaults creates them. */
	const char *default_params[] = { tenant_id, user_id };
	PGresult *defaults = ex_db_exec(
		connection,
		"INSERT INTO calendars (tenant_id, user_id, name, displayname, components) "
		"SELECT $1, $2, d.name, d.displayname, d.components FROM (VALUES "
		"('" SCHEDULE_DEFAULT_CALENDAR "', 'Calendar', 1), ('tasks', 'Tasks', 2)) "
		"AS d (name, displayname, components) WHERE NOT EXISTS (SELECT 1 FROM calendars WHERE user_id = $2) "
		"ON CONFLICT (user_id, name) DO NOTHING",
		2, default_params, error);
	const char *user_params[] = { user_id };
	PGresult *target = defaults == NULL ? NULL
			   : ex_db_exec(connection,
					"SELECT id::text, gen_random_uuid()::text || '.ics' FROM calendars WHERE user_id = $1 "
					"AND components & 1 = 1 ORDER BY name = '" SCHEDULE_DEFAULT_CALENDAR "' DESC, created_at LIMIT 1",
					1, user_params, error);
	int status = 0;
	int exceeded = 0;
	memset(written, 0, sizeof(*written));
	if (target != NULL && quota_bytes > 0)
		exceeded = over_quota(connection, user_id, strlen(text), quota_bytes, error);
	if (target == NULL || exceeded < 0) {
		status = -1;
	} else if (exceeded) {
		ex_log(EX_LOG_WARN, "caldav_schedule_over_quota", "{s:s, s:s, s:I}", "user", user_id, "uid", uid, "quota",
		       (json_int_t)quota_bytes);
		written->skipped = "over_quota";
	} else if (PQntuples(target) == 1) {
		status = calendar_schedule_store(connection, tenant_id, PQgetvalue(target, 0, 0), PQgetvalue(target, 0, 1),
						 text, false, written, error);
	} else {
		ex_log(EX_LOG_WARN, "caldav_schedule_no_calendar", "{s:s, s:s}", "user", user_id, "uid", uid);
		written->skipped = "no_calendar";
	}
	PQclear(defaults);
	PQclear(target);
	return status;
}

PGresult *calendar_schedule_find_copy(PGconn *connection, const char *user_id, const char *uid, ex_db_error *error,
				      bool *failed)
{
	const char *params[] = { user_id, uid };
	PGresult *result = ex_db_exec(connection,
				      "SELECT o.calendar_id::text, o.name, o.ical FROM calendar_objects o "
				      "JOIN calendars c ON c.id = o.calendar_id WHERE c.user_id = $1 AND o.uid = $2 "
				      "ORDER BY c.name = '" SCHEDULE_DEFAULT_CALENDAR "' DESC, c.created_at LIMIT 1 FOR UPDATE OF o",
				      2, params, error);
	*failed = result == NULL;
	if (result != NULL && PQntuples(result) == 0) {
		PQclear(result);
		return NULL;
	}
	return result;
}

int calendar_schedule_insert_inbox(PGconn *connection, const char *tenant_id, const char *user_id, const char *uid,
				   const char *method, const char *message, ex_db_error *error)
{
	char etag[EX_DAV_ETAG_SIZE];
	ex_dav_compute_etag(message, strlen(message), etag);
	const char *params[] = { tenant_id, user_id, uid, method, etag, message };
	PGresult *result = ex_db_exec(connection,
				      "INSERT INTO calendar_schedule_inbox (tenant_id, user_id, name, uid, method, etag, ical) "
				      "VALUES ($1, $2, gen_random_uuid()::text || '.ics', $3, $4, $5, $6)",
				      6, params, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}
