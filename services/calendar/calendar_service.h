/*
 * expresso-calendar: the CalDAV server (RFC 4791, RFC 6578) of Expresso.
 * This header carries the daemon's resources, the parsed form of a DAV
 * request path, and the per-request state the CalDAV handlers share.
 *
 * URL layout below the DAV root /dav/:
 *   principals/<user id>/                  the user's principal
 *   calendars/<user id>/                   the calendar home (a container of calendars)
 *   calendars/<user id>/<calendar>/        a calendar collection
 *   calendars/<user id>/<calendar>/<name>  one calendar object resource
 *   calendars/<user id>/inbox/, outbox/    the schedule inbox and outbox (caldav_schedule.h)
 * A path naming another user answers 404, whatever its tenant.
 */
#ifndef EXPRESSO_CALENDAR_SERVICE_H
#define EXPRESSO_CALENDAR_SERVICE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "expresso/authclient.h"
#include "expresso/bus.h"
#include "expresso/daemon.h"
#include "expresso/dav_auth.h"
#include "expresso/dav_multistatus.h"
#include "expresso/dav_reply.h"
#include "expresso/dav_request.h"
#include "expresso/dav_service.h"
#include "expresso/dav_store.h"
#include "expresso/dav_sync.h"
#include "expresso/dav_target.h"
#include "expresso/dav_xml.h"
#include "expresso/db.h"

#define CALENDAR_DAV_ROOT EX_DAV_ROOT
/* Path segment of the calendar homes below the DAV root. */
#define CALENDAR_HOME "calendars"
#define CALENDAR_DEFAULT_CALENDAR "default"
#define CALENDAR_DEFAULT_TASKS "tasks"
#define CALENDAR_SYNC_TOKEN_PREFIX EX_DAV_SYNC_TOKEN_PREFIX
/* Namespace of Apple iCal properties such as calendar-color. */
#define CALENDAR_APPLE_NS "http://apple.com/ns/ical/"

/* The columns of an object row that PROPFIND and REPORT read: name, etag, length, last modification. */
#define CALENDAR_OBJECT_COLUMNS \
	"name, etag, octet_length(ical)::text, " \
	"to_char(modified_at AT TIME ZONE 'UTC', 'Dy, DD Mon YYYY HH24:MI:SS') || ' GMT'"

enum {
	CALENDAR_MAX_CALENDAR_NAME = EX_DAV_MAX_COLLECTION_NAME,
	CALENDAR_MAX_OBJECT_NAME = EX_DAV_MAX_RESOURCE_NAME,
	CALENDAR_MAX_HREF = EX_DAV_MAX_HREF,
	CALENDAR_MAX_DEAD_PROPERTY = 65536, /* bytes of one stored dead property */
	CALENDAR_MAX_CALENDARS = 1000,      /* calendars listed per home */
	CALENDAR_MAX_MULTIGET = 1000,       /* hrefs in one calendar-multiget */
};

extern const ex_setting calendar_settings[];

typedef struct {
	ex_dav_service dav; /* verifier, authenticator, database, bus, XML limits, counters */
	size_t max_resource_size; /* bytes of one calendar object (CALDAV:max-resource-size) */
	long long quota_bytes;    /* bytes of calendar objects one user may store (RFC 4331) */
	size_t max_import_size;   /* bytes of one .ics file sent to the import API */
	size_t max_expanded_instances; /* instances of one object a CALDAV:expand returns */
	int tombstone_days;       /* days a deletion stays reported to sync-collection */
	int itip_retention_days;  /* days a queued calendar_itip_outbox row is kept */
	size_t max_attendees;     /* ATTENDEE properties per component (CALDAV:max-attendees-per-instance) */
	size_t max_freebusy_users; /* addresses in one GET /api/v1/calendars/freebusy */
} calendar_service;

int calendar_service_open(calendar_service *service, ex_daemon *daemon);
void calendar_service_close(calendar_service *service);
int calendar_add_routes(calendar_service *service, ex_http_server *http);

/* Adds the JSON API routes under /api/v1/calendars (calendar_api.c). */
int calendar_add_api_routes(calendar_service *service, ex_http_server *http);


typedef enum {
	TARGET_NOT_FOUND,
	TARGET_SERVER_ROOT, /* "/" */
	TARGET_DAV_ROOT,    /* /dav/ */
	TARGET_PRINCIPALS,  /* /dav/principals/ */
	TARGET_PRINCIPAL,
	TARGET_HOME,
	TARGET_CALENDAR,
	TARGET_OBJECT,
	/* The schedule kinds come last: caldav_routes.c sends every kind from TARGET_SCHEDULE_INBOX on to caldav_schedule_inbox.c. */
	TARGET_SCHEDULE_INBOX,   /* calendars/<user id>/inbox/ (RFC 6638 section 2.2) */
	TARGET_SCHEDULE_MESSAGE, /* calendars/<user id>/inbox/<name>: one iTIP message */
	TARGET_SCHEDULE_OUTBOX,  /* calendars/<user id>/outbox/ (RFC 6638 section 2.1) */
} target_kind;

typedef struct {
	target_kind kind;
	char calendar[CALENDAR_MAX_CALENDAR_NAME + 1];
	char object[CALENDAR_MAX_OBJECT_NAME + 1];
} calendar_target;

/* Parses PATH (percent-decoded, below /dav/) for USER_ID. */
void calendar_parse_target(const char *path, const char *user_id, calendar_target *target);

/* Returns true when NAME may name a calendar (letters, digits, '.', '_', '-'). */
bool calendar_name_is_valid(const char *name);

/* What a handler's transaction decided; sent after the commit. */
typedef struct {
	ex_dav_reply dav;         /* status, body, headers and the calendar.changed event */
	bool itip_queued;         /* outbox rows were written: publish calendar.itip */
	struct calendar_schedule_changes *schedule_changes; /* copies scheduling wrote for other users (caldav_schedule.c) */
} calendar_reply;

/* The state of one DAV request, shared by the handlers and their transactions. */
typedef struct {
	calendar_service *service;
	ex_http_request *request;
	ex_dav_principal principal;
	calendar_target target;
	const char *body;
	size_t body_length;
	xmlDoc *document; /* parsed XML body, or NULL */
	ex_dav_depth depth;
	long long quota_used; /* bytes of the user's calendar objects, -1 until a handler reads it */
	char user_email[256]; /* users.email, read for the scheduling properties; "" until then */
	char user_aliases[2048]; /* the user's aliases (catch-alls aside), space-separated, read with user_email */
	const char *body_type; /* media type of BODY when it is not the request's (an RSVP's iCalendar), else NULL */
	bool no_scheduling;    /* store without implicit scheduling (imports of existing events) */
	const char *if_match;  /* If-Match of a PUT the server makes itself (an RSVP), else NULL for the request's */
	calendar_reply reply;
} calendar_context;

/* Resets the reply at the start of a transaction attempt. */
void calendar_reply_reset(calendar_reply *reply);

/* Sets an error reply (ex_dav_reply_error). */
#define calendar_reply_error(reply, ...) ex_dav_reply_error(&(reply)->dav, __VA_ARGS__)

/* Takes the finished multistatus MS into a 207 reply (ex_dav_reply_multistatus). */
#define calendar_reply_multistatus(reply, ms) ex_dav_reply_multistatus(&(reply)->dav, (ms))

/* Href helpers; each writes into OUT (CALENDAR_MAX_HREF bytes) and returns 0, or -1 when it does not fit. */
int calendar_href_principal(char *out, const char *user_id);
int calendar_href_home(char *out, const char *user_id);
int calendar_href_calendar(char *out, const char *user_id, const char *calendar);
int calendar_href_object(char *out, const char *user_id, const char *calendar, const char *object);

/* The key under which dead properties of the target are stored. */
int calendar_property_path(char *out, size_t size, const char *user_id, const calendar_target *target);

/* Writes the strong ETag (quoted, hex of SHA-256) of DATA into OUT (at least 70 bytes). */
void calendar_compute_etag(const char *data, size_t length, char *out);

/* Runs the SQL with bound text parameters; returns NULL and fills ERROR on failure. */
#define calendar_sql ex_dav_sql

/* The tables and names of the daemon's DAV store. */
extern const ex_dav_store calendar_dav_store;

/* Creates the default calendar and task list of the user when the home has no calendar. */
int calendar_ensure_defaults(PGconn *connection, const calendar_context *context, ex_db_error *error);

/* The columns of a calendars row that calendar_find reads. */
#define CALENDAR_COLLECTION_COLUMNS \
	"id::text, displayname, description, sync_seq::text, components::text, timezone, color, tombstones_pruned_seq::text"

/*
 * Looks up the calendar NAME of the user: returns its row
 * (CALENDAR_COLLECTION_COLUMNS) or NULL, with *FAILED set on a database error.
 */
PGresult *calendar_find(PGconn *connection, const calendar_context *context, const char *name, bool for_update,
			ex_db_error *error, bool *failed);

/* Writes the sync-token of a calendar into OUT. */
void calendar_sync_token(char *out, size_t size, const char *calendar_id, const char *sequence);

/* Handlers of the methods (caldav_*.c). */
void calendar_handle_propfind(calendar_context *context);
void calendar_handle_proppatch(calendar_context *context);
void calendar_handle_report(calendar_context *context);
void calendar_handle_get(calendar_context *context);
void calendar_handle_put(calendar_context *context);
void calendar_handle_delete(calendar_context *context);
/* MKCOL and MKCALENDAR (RFC 4791 section 5.3.1); MKCALENDAR takes CALDAV:mkcalendar bodies. */
void calendar_handle_mkcol(calendar_context *context);

/* Runs WORK(ARGUMENT) in the tenant transaction of CONTEXT; on a database failure sets a 503 reply. */
void calendar_run(calendar_context *context, ex_db_isolation isolation, ex_db_work work, void *argument);

/* One resource being described by PROPFIND or REPORT, for the property resolvers. */
typedef struct {
	calendar_context *context;
	target_kind kind;
	const char *calendar_id;
	const char *sync_seq;
	const char *displayname;
	const char *description;
	const char *components; /* EX_ICAL_COMPONENT_* bits as decimal text */
	const char *timezone;   /* CALDAV:calendar-timezone, "" when unset */
	const char *color;      /* Apple calendar-color, "" when unset */
	const char *object_etag;
	const char *object_length;
	const char *object_lastmod;
	const char *object_data; /* NULL unless the request wants calendar-data */
	const char *schedule_tag; /* CALDAV:schedule-tag of an object, or NULL */
	const char *property_path;
	PGresult *dead_properties; /* rows: path, namespace, name, value */
} calendar_resource;

bool calendar_resolve_property(void *resource, ex_dav_multistatus *ms, const char *ns, const char *name);

/* Writes the propstats of RESOURCE for REQUEST; allprop and propname list its live and dead properties. */
void calendar_write_properties(ex_dav_multistatus *ms, const ex_dav_propfind *request, calendar_resource *resource);

/* Loads every dead property of the user (path, namespace, name, value). */
PGresult *calendar_load_dead_properties(PGconn *connection, const calendar_context *context, ex_db_error *error);

/*
 * Selects the objects of CALENDAR_ID as CALENDAR_OBJECT_COLUMNS, ical,
 * then the schedule-tag (the ETag for objects stored before scheduling).
 * NAME NULL selects all of them, ordered by name, else only the one named NAME.
 */
PGresult *calendar_select_objects(PGconn *connection, const char *calendar_id, const char *name, ex_db_error *error);

/* Returns the bytes of every calendar object of the user, or -1 on a database error. */
long long calendar_quota_used(PGconn *connection, const calendar_context *context, ex_db_error *error);

/* Publishes calendar.changed for a committed change. */
void calendar_publish_change(const calendar_context *context);

#endif
