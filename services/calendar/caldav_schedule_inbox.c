/*
 * The schedule inbox and outbox collections (RFC 6638 sections 2.1 and
 * 2.2). The inbox lists the iTIP messages delivered to the user (rows of
 * calendar_schedule_inbox): PROPFIND with Depth 0 or 1, GET and DELETE of
 * a message. The outbox serves PROPFIND with Depth 0, and POST of
 * free-busy requests (caldav_schedule_outbox.c).
 */
#include "caldav_schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expresso/log.h"

enum { MAX_LISTED_MESSAGES = 1000 };

typedef struct {
	calendar_context *context;
	ex_dav_propfind request;
	ex_dav_multistatus *ms;
} inbox_propfind;

static void describe(inbox_propfind *state, calendar_resource *resource, const char *href)
{
	resource->context = state->context;
	ex_dav_ms_begin_response(state->ms, href);
	calendar_write_properties(state->ms, &state->request, resource);
	ex_dav_ms_end_response(state->ms);
}

static int collection_href(char *out, const calendar_context *context, const char *collection)
{
	return calendar_href_calendar(out, context->principal.user_id, collection);
}

static int propfind_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	inbox_propfind *state = opaque;
	calendar_context *context = state->context;
	bool inbox = context->target.kind != TARGET_SCHEDULE_OUTBOX;
	char href[CALENDAR_MAX_HREF];

	calendar_reply_reset(&context->reply);
	ex_dav_multistatus_free(state->ms);
	state->ms = ex_dav_multistatus_new();
	if (state->ms == NULL)
		return -1;
	if (context->target.kind != TARGET_SCHEDULE_MESSAGE) {
		calendar_resource collection = { .kind = context->target.kind };
		if (collection_href(href, context, inbox ? CALENDAR_SCHEDULE_INBOX : CALENDAR_SCHEDULE_OUTBOX) == 0)
			describe(state, &collection, href);
		if (!inbox || context->depth != EX_DAV_DEPTH_1)
			return 0;
	}
	const char *name = context->target.kind == TARGET_SCHEDULE_MESSAGE ? context->target.object : "";
	PGresult *messages = calendar_sql(connection, error,
					  "SELECT name, etag, octet_length(ical)::text, "
					  "to_char(created_at AT TIME ZONE 'UTC', 'Dy, DD Mon YYYY HH24:MI:SS') || ' GMT' "
					  "FROM calendar_schedule_inbox WHERE user_id = $1 AND ($2 = '' OR name = $2) "
					  "ORDER BY created_at, name LIMIT 1000",
					  2, context->principal.user_id, name);
	if (messages == NULL)
		return -1;
	if (context->target.kind == TARGET_SCHEDULE_MESSAGE && PQntuples(messages) == 0)
		calendar_reply_error(&context->reply, 404, NULL, NULL, "the scheduling message %s does not exist", name);
	for (int row = 0; row < PQntuples(messages) && row < MAX_LISTED_MESSAGES; row++) {
		calendar_resource message = {
			.kind = TARGET_OBJECT,
			.object_etag = PQgetvalue(messages, row, 1),
			.object_length = PQgetvalue(messages, row, 2),
			.object_lastmod = PQgetvalue(messages, row, 3),
		};
		if (calendar_href_object(href, context->principal.user_id, CALENDAR_SCHEDULE_INBOX,
					 PQgetvalue(messages, row, 0)) == 0)
			describe(state, &message, href);
	}
	PQclear(messages);
	return 0;
}

static void handle_propfind(calendar_context *context)
{
	inbox_propfind state = { .context = context };
	char err[256];

	if (context->depth == EX_DAV_DEPTH_INFINITY) {
		calendar_reply_error(&context->reply, 403, EX_DAV_NS, "propfind-finite-depth",
				     "PROPFIND with Depth: infinity (or no Depth header) is not served; send Depth: 0 or 1");
		return;
	}
	if (context->depth == EX_DAV_DEPTH_INVALID || ex_dav_parse_propfind(context->document, &state.request, err, sizeof(err)) != 0) {
		calendar_reply_error(&context->reply, 400, NULL, NULL, "%s",
				     context->depth == EX_DAV_DEPTH_INVALID ? "the Depth header must be 0, 1 or infinity" : err);
		return;
	}
	calendar_run(context, EX_DB_REPEATABLE_READ, propfind_work, &state);
	if (context->reply.dav.status == 0)
		calendar_reply_multistatus(&context->reply, state.ms);
	else
		ex_dav_multistatus_free(state.ms);
}

static int get_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	calendar_context *context = opaque;

	calendar_reply_reset(&context->reply);
	PGresult *message = calendar_sql(connection, error,
					 "SELECT etag, ical FROM calendar_schedule_inbox WHERE user_id = $1 AND name = $2", 2,
					 context->principal.user_id, context->target.object);
	if (message == NULL)
		return -1;
	if (PQntuples(message) == 0) {
		calendar_reply_error(&context->reply, 404, NULL, NULL, "the scheduling message %s does not exist",
				     context->target.object);
	} else {
		size_t length = (size_t)PQgetlength(message, 0, 1);
		context->reply.dav.body = malloc(length + 1);
		if (context->reply.dav.body == NULL) {
			PQclear(message);
			return -1;
		}
		memcpy(context->reply.dav.body, PQgetvalue(message, 0, 1), length);
		context->reply.dav.length = length;
		context->reply.dav.status = 200;
		context->reply.dav.content_type = "text/calendar; charset=utf-8";
		snprintf(context->reply.dav.etag, sizeof(context->reply.dav.etag), "%s", PQgetvalue(message, 0, 0));
	}
	PQclear(message);
	return 0;
}

static int delete_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	calendar_context *context = opaque;

	calendar_reply_reset(&context->reply);
	PGresult *deleted = calendar_sql(connection, error,
					 "DELETE FROM calendar_schedule_inbox WHERE user_id = $1 AND name = $2 RETURNING 1", 2,
					 context->principal.user_id, context->target.object);
	if (deleted == NULL)
		return -1;
	if (PQntuples(deleted) == 0)
		calendar_reply_error(&context->reply, 404, NULL, NULL, "the scheduling message %s does not exist",
				     context->target.object);
	else
		context->reply.dav.status = 204;
	PQclear(deleted);
	return 0;
}

void calendar_schedule_handle_dav(calendar_context *context, const char *method)
{
	bool message = context->target.kind == TARGET_SCHEDULE_MESSAGE;

	if (strcmp(method, "PROPFIND") == 0) {
		handle_propfind(context);
	} else if (message && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)) {
		calendar_run(context, EX_DB_READ_COMMITTED, get_work, context);
	} else if (message && strcmp(method, "DELETE") == 0) {
		calendar_run(context, EX_DB_READ_COMMITTED, delete_work, context);
	} else if (context->target.kind == TARGET_SCHEDULE_OUTBOX && strcmp(method, "POST") == 0) {
		calendar_schedule_handle_post(context);
	} else {
		const char *collection = "inbox";
		const char *accepted = "PROPFIND only";
		const char *allow = "OPTIONS, PROPFIND";
		if (message) {
			accepted = "GET and DELETE";
			allow = "OPTIONS, GET, HEAD, DELETE, PROPFIND";
		} else if (context->target.kind == TARGET_SCHEDULE_OUTBOX) {
			collection = "outbox";
			accepted = "PROPFIND and free-busy POSTs only";
			allow = "OPTIONS, PROPFIND, POST";
		}
		calendar_reply_error(&context->reply, 405, NULL, NULL,
				     "the schedule %s takes %s; the server delivers scheduling messages itself", collection,
				     accepted);
		snprintf(context->reply.dav.allow, sizeof(context->reply.dav.allow), "%s", allow);
	}
}

/*
 * Copies the space-separated ALIASES into OUT, whole addresses only.
 * NOTE: aliases past the size of OUT (2 KiB, some 60 addresses of 30
 * bytes) are left out of calendar-user-address-set and of the free-busy
 * ORGANIZER check. Scheduling itself reads every alias from the database.
 */
static void copy_whole_aliases(char *out, size_t size, const char *aliases)
{
	size_t length = strlen(aliases);

	if (length >= size) {
		length = size - 1;
		while (length > 0 && aliases[length] != ' ')
			length--;
	}
	memcpy(out, aliases, length);
	out[length] = '\0';
}

static int address_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	calendar_context *context = opaque;
	PGresult *result = calendar_sql(connection, error,
					"SELECT email, coalesce((SELECT string_agg(address, ' ' ORDER BY address) "
					"  FROM mail_aliases WHERE user_id = $1 AND left(address, 1) <> '@'), '') "
					"FROM users WHERE id = $1",
					1, context->principal.user_id);
	if (result == NULL)
		return -1;
	if (PQntuples(result) == 1) {
		snprintf(context->user_email, sizeof(context->user_email), "%s", PQgetvalue(result, 0, 0));
		copy_whole_aliases(context->user_aliases, sizeof(context->user_aliases), PQgetvalue(result, 0, 1));
	}
	PQclear(result);
	return 0;
}

void calendar_schedule_load_address(calendar_context *context)
{
	ex_db_error error;

	memset(&error, 0, sizeof(error));
	context->user_email[0] = '\0';
	context->user_aliases[0] = '\0';
	if (ex_db_tenant_transaction(context->service->dav.database, context->principal.tenant_id, EX_DB_READ_COMMITTED,
				     address_work, context, &error) != 0)
		ex_log(EX_LOG_WARN, "caldav_address_unavailable", "{s:s, s:s}", "user", context->principal.user_id, "error",
		       error.message);
}

bool calendar_schedule_is_own_address(const calendar_context *context, const char *address)
{
	size_t length = strlen(address);

	if (length == 0)
		return false;
	if (strcasecmp(address, context->user_email) == 0)
		return true;
	for (const char *alias = context->user_aliases; *alias != '\0';) {
		size_t alias_length = strcspn(alias, " ");
		if (alias_length == length && strncasecmp(alias, address, length) == 0)
			return true;
		alias += alias_length;
		alias += strspn(alias, " ");
	}
	return false;
}
