/*
 * Folders of the JSON API: GET /api/v1/mail/folders lists the caller's
 * mailboxes with their counters (mailbox_stats) and special-use role,
 * creating the standard mailboxes first. POST creates a mailbox, PATCH
 * renames one with its children, and DELETE removes a mailbox that has
 * no children and no special use, with its messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "expresso/log.h"
#include "mail_api.h"
#include "mail_api_cursor.h"

enum {
	FOLDER_NAME_MAX = 1024, /* bytes, as the mailboxes_name_format constraint allows */
	FOLDER_BODY_MAX = 8 * 1024,
};

typedef enum { FOLDER_OK = 0, FOLDER_NOT_FOUND, FOLDER_EXISTS, FOLDER_PROTECTED, FOLDER_HAS_CHILDREN } folder_outcome;

typedef struct {
	ex_mail_api_caller *caller;
	const char *folder_id;
	const char *name;
	json_t *result;
	folder_outcome outcome;
	char old_name[FOLDER_NAME_MAX + 1];
} folder_work;

/* Maps the special_use column (RFC 6154) to the role the API names. */
static const char *role_of(const char *name, const char *special_use)
{
	if (strcmp(name, "INBOX") == 0)
		return "inbox";
	if (special_use == NULL || special_use[0] != '\\')
		return NULL;
	static char roles[][9] = { "all", "archive", "drafts", "flagged", "junk", "sent", "trash" };
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		if (g_ascii_strcasecmp(special_use + 1, roles[i]) == 0)
			return roles[i];
	}
	return NULL;
}

/*
 * Returns NULL when NAME is a valid new mailbox name, else the reason:
 * UTF-8, 1..1024 bytes, '/' only between non-empty segments, no control
 * characters, no IMAP LIST wildcards, no "." or ".." segment, not INBOX.
 */
static const char *invalid_name_reason(const char *name)
{
	size_t length = strlen(name);
	if (length == 0 || length > FOLDER_NAME_MAX)
		return "the name must have 1 to 1024 bytes";
	if (!g_utf8_validate(name, (gssize)length, NULL))
		return "the name must be UTF-8";
	if (name[0] == '/' || name[length - 1] == '/' || strstr(name, "//") != NULL)
		return "'/' separates levels and may not start, end or repeat in a name";
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return "the name may not contain control characters";
		if (*p == '*' || *p == '%')
			return "the name may not contain * or % (IMAP LIST wildcards)";
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strncmp(name, "./", 2) == 0 ||
	    strncmp(name, "../", 3) == 0 || strstr(name, "/./") != NULL || strstr(name, "/../") != NULL ||
	    g_str_has_suffix(name, "/.") || g_str_has_suffix(name, "/.."))
		return "the name may not have a . or .. level";
	if (g_ascii_strcasecmp(name, "INBOX") == 0)
		return "INBOX exists already and cannot be created";
	return NULL;
}

/* Columns: id, name, special_use, messages, unseen, bytes, uidvalidity, highestmodseq, subscribed. */
static json_t *folder_json(PGresult *result, int row)
{
	const char *name = PQgetvalue(result, row, 1);
	const char *special_use = PQgetisnull(result, row, 2) ? NULL : PQgetvalue(result, row, 2);
	const char *slash = strrchr(name, '/');
	json_t *folder = json_pack("{s:s, s:s, s:s, s:s?, s:I, s:I, s:I, s:I, s:I, s:b}", "id", PQgetvalue(result, row, 0),
				   "name", name, "display_name", slash != NULL ? slash + 1 : name, "role",
				   role_of(name, special_use), "total", (json_int_t)strtoll(PQgetvalue(result, row, 3), NULL, 10),
				   "unseen", (json_int_t)strtoll(PQgetvalue(result, row, 4), NULL, 10), "size",
				   (json_int_t)strtoll(PQgetvalue(result, row, 5), NULL, 10), "uidvalidity",
				   (json_int_t)strtoll(PQgetvalue(result, row, 6), NULL, 10), "highestmodseq",
				   (json_int_t)strtoll(PQgetvalue(result, row, 7), NULL, 10), "subscribed",
				   strcmp(PQgetvalue(result, row, 8), "true") == 0);
	if (slash != NULL)
		json_object_set_new(folder, "parent", json_stringn(name, (size_t)(slash - name)));
	return folder;
}

static const char folder_columns[] =
	"m.id::text, m.name, m.special_use, coalesce(s.messages, 0)::text, coalesce(s.unseen, 0)::text, "
	"coalesce(s.bytes, 0)::text, m.uidvalidity::text, m.highestmodseq::text, m.subscribed::text "
	"FROM mailboxes AS m LEFT JOIN mailbox_stats AS s ON s.mailbox_id = m.id ";

static int list_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	folder_work *work = opaque;
	char sql[512];

	json_decref(work->result);
	work->result = NULL;
	if (ex_mail_api_create_standard_mailboxes(connection, work->caller->tenant_id, work->caller->user_id, error) != 0)
		return -1;
	snprintf(sql, sizeof(sql), "SELECT %s WHERE m.user_id = $1 ORDER BY m.name <> 'INBOX', m.name", folder_columns);
	PGresult *result = ex_mail_api_sql(connection, error, sql, 1, work->caller->user_id);
	if (result == NULL)
		return -1;
	json_t *folders = json_array();
	for (int row = 0; row < PQntuples(result); row++)
		json_array_append_new(folders, folder_json(result, row));
	PQclear(result);
	work->result = json_pack("{s:o}", "folders", folders);
	return 0;
}

static void handle_list(ex_http_request *request, void *context)
{
	ex_mail_api *api = context;
	ex_mail_api_caller caller;
	ex_db_error error = { 0 };

	if (!ex_mail_api_authenticate(api, request, &caller))
		return;
	folder_work work = { .caller = &caller };
	if (ex_db_tenant_transaction(api->service->database, caller.tenant_id, EX_DB_READ_COMMITTED, list_work, &work,
				     &error) != 0) {
		ex_mail_api_respond_database_error(request, "list the folders", &error);
	} else {
		ex_http_respond_json(request, 200, work.result);
		work.result = NULL;
	}
	json_decref(work.result);
	ex_mail_api_caller_clear(&caller);
}

static int create_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	folder_work *work = opaque;
	char sql[512];

	json_decref(work->result);
	work->result = NULL;
	work->outcome = FOLDER_OK;
	if (ex_mail_api_create_standard_mailboxes(connection, work->caller->tenant_id, work->caller->user_id, error) != 0)
		return -1;
	PGresult *inserted = ex_mail_api_sql(connection, error,
					     "INSERT INTO mailboxes (tenant_id, user_id, name) VALUES ($1, $2, $3) "
					     "ON CONFLICT (user_id, name) DO NOTHING RETURNING id::text",
					     3, work->caller->tenant_id, work->caller->user_id, work->name);
	if (inserted == NULL)
		return -1;
	if (PQntuples(inserted) == 0) {
		PQclear(inserted);
		work->outcome = FOLDER_EXISTS;
		return 0;
	}
	snprintf(sql, sizeof(sql), "SELECT %s WHERE m.id = $1", folder_columns);
	PGresult *result = ex_mail_api_sql(connection, error, sql, 1, PQgetvalue(inserted, 0, 0));
	PQclear(inserted);
	if (result == NULL)
		return -1;
	work->result = PQntuples(result) == 1 ? folder_json(result, 0) : NULL;
	PQclear(result);
	return work->result != NULL ? 0 : -1;
}

/* Reads {"name": ...} from the body, or sends 400 and returns NULL. The caller frees the returned object. */
static json_t *read_name(ex_http_request *request, const char **name)
{
	json_t *body = ex_mail_api_read_object(request);
	if (body == NULL)
		return NULL;
	*name = json_string_value(json_object_get(body, "name"));
	const char *reason = *name != NULL ? invalid_name_reason(*name) : "send {\"name\": \"Projects/2026\"}";
	if (reason != NULL) {
		ex_http_respond_error(request, 400, "invalid_request", "invalid folder name: %s", reason);
		json_decref(body);
		return NULL;
	}
	return body;
}

static void publish_folder_change(ex_mail_api *api, const ex_mail_api_caller *caller, const char *folder_id,
				  const char *change)
{
	ex_mail_api_publish(api, caller, "mailbox_changed",
			    json_pack("{s:s, s:s}", "mailbox_id", folder_id, "change", change));
}

static void handle_create(ex_http_request *request, void *context)
{
	ex_mail_api *api = context;
	ex_mail_api_caller caller;
	ex_db_error error = { 0 };
	const char *name = NULL;

	if (!ex_mail_api_authenticate(api, request, &caller))
		return;
	json_t *body = read_name(request, &name);
	if (body != NULL) {
		folder_work work = { .caller = &caller, .name = name };
		if (ex_db_tenant_transaction(api->service->database, caller.tenant_id, EX_DB_READ_COMMITTED, create_work,
					     &work, &error) != 0) {
			ex_mail_api_respond_database_error(request, "create the folder", &error);
		} else if (work.outcome == FOLDER_EXISTS) {
			ex_http_respond_error(request, 409, "folder_exists", "a folder named %s exists already", name);
		} else {
			publish_folder_change(api, &caller, json_string_value(json_object_get(work.result, "id")), "created");
			ex_http_respond_json(request, 201, work.result);
			work.result = NULL;
		}
		json_decref(work.result);
		json_decref(body);
	}
	ex_mail_api_caller_clear(&caller);
}

/* Locks the caller's folder FOLDER_ID and copies its name; sets FOLDER_NOT_FOUND when there is none. */
static int lock_folder(PGconn *connection, folder_work *work, char *special_use, size_t size, ex_db_error *error)
{
	PGresult *result = ex_mail_api_sql(connection, error,
					   "SELECT name, coalesce(special_use, '') FROM mailboxes "
					   "WHERE id = $1 AND user_id = $2 FOR UPDATE",
					   2, work->folder_id, work->caller->user_id);
	if (result == NULL)
		return -1;
	if (PQntuples(result) == 0)
		work->outcome = FOLDER_NOT_FOUND;
	else {
		snprintf(work->old_name, sizeof(work->old_name), "%s", PQgetvalue(result, 0, 0));
		snprintf(special_use, size, "%s", PQgetvalue(result, 0, 1));
	}
	PQclear(result);
	return 0;
}

static int rename_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	folder_work *work = opaque;
	char special_use[32];
	char sql[512];

	json_decref(work->result);
	work->result = NULL;
	work->outcome = FOLDER_OK;
	if (lock_folder(connection, work, special_use, sizeof(special_use), error) != 0)
		return -1;
	if (work->outcome != FOLDER_OK)
		return 0;
	size_t old_length = strlen(work->old_name);
	if (strcmp(work->old_name, "INBOX") == 0 ||
	    (strncmp(work->name, work->old_name, old_length) == 0 && work->name[old_length] == '/')) {
		work->outcome = FOLDER_PROTECTED;
		return 0;
	}

	/* The folder and every folder below it; a name that is taken raises 23505, turned into FOLDER_EXISTS. */
	PGresult *result = ex_mail_api_sql(connection, error,
					   "UPDATE mailboxes SET name = $3 || substr(name, length($2) + 1) "
					   "WHERE user_id = $1 AND (name = $2 OR left(name, length($2) + 1) = $2 || '/')",
					   3, work->caller->user_id, work->old_name, work->name);
	if (result == NULL) {
		if (strcmp(error->sqlstate, "23505") == 0) {
			work->outcome = FOLDER_EXISTS;
			return -1;
		}
		return -1;
	}
	PQclear(result);
	snprintf(sql, sizeof(sql), "SELECT %s WHERE m.id = $1", folder_columns);
	result = ex_mail_api_sql(connection, error, sql, 1, work->folder_id);
	if (result == NULL)
		return -1;
	work->result = PQntuples(result) == 1 ? folder_json(result, 0) : NULL;
	PQclear(result);
	return work->result != NULL ? 0 : -1;
}

static void handle_rename(ex_http_request *request, void *context)
{
	ex_mail_api *api = context;
	ex_mail_api_caller caller;
	ex_db_error error = { 0 };
	const char *name = NULL;
	const char *id = ex_http_param(request, "id");

	if (!ex_mail_api_authenticate(api, request, &caller))
		return;
	json_t *body = ex_mail_is_uuid(id) ? read_name(request, &name) : NULL;
	if (!ex_mail_is_uuid(id))
		ex_http_respond_error(request, 404, "folder_not_found", "folder %s does not exist", id);
	if (body != NULL) {
		folder_work work = { .caller = &caller, .name = name, .folder_id = id };
		int status = ex_db_tenant_transaction(api->service->database, caller.tenant_id, EX_DB_READ_COMMITTED,
						      rename_work, &work, &error);
		if (work.outcome == FOLDER_EXISTS)
			ex_http_respond_error(request, 409, "folder_exists", "a folder named %s exists already", name);
		else if (status != 0)
			ex_mail_api_respond_database_error(request, "rename the folder", &error);
		else if (work.outcome == FOLDER_NOT_FOUND)
			ex_http_respond_error(request, 404, "folder_not_found", "folder %s does not exist", id);
		else if (work.outcome == FOLDER_PROTECTED)
			ex_http_respond_error(request, 400, "invalid_request",
					      "INBOX cannot be renamed, and a folder cannot move below itself");
		else {
			publish_folder_change(api, &caller, id, "renamed");
			ex_http_respond_json(request, 200, work.result);
			work.result = NULL;
		}
		json_decref(work.result);
		json_decref(body);
	}
	ex_mail_api_caller_clear(&caller);
}

static int delete_work(PGconn *connection, void *opaque, ex_db_error *error)
{
	folder_work *work = opaque;
	char special_use[32];

	work->outcome = FOLDER_OK;
	if (lock_folder(connection, work, special_use, sizeof(special_use), error) != 0)
		return -1;
	if (work->outcome != FOLDER_OK)
		return 0;
	if (strcmp(work->old_name, "INBOX") == 0 || special_use[0] != '\0') {
		work->outcome = FOLDER_PROTECTED;
		return 0;
	}
	PGresult *result = ex_mail_api_sql(connection, error,
					   "SELECT 1 FROM mailboxes WHERE user_id = $1 AND left(name, length($2) + 1) = $2 || '/' "
					   "LIMIT 1",
					   2, work->caller->user_id, work->old_name);
	if (result == NULL)
		return -1;
	bool has_children = PQntuples(result) > 0;
	PQclear(result);
	if (has_children) {
		work->outcome = FOLDER_HAS_CHILDREN;
		return 0;
	}
	/* The messages go by ON DELETE CASCADE; their trigger queues the objects in mail_object_garbage. */
	result = ex_mail_api_sql(connection, error, "DELETE FROM mailboxes WHERE id = $1", 1, work->folder_id);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

static void handle_delete(ex_http_request *request, void *context)
{
	ex_mail_api *api = context;
	ex_mail_api_caller caller;
	ex_db_error error = { 0 };
	const char *id = ex_http_param(request, "id");

	if (!ex_mail_api_authenticate(api, request, &caller))
		return;
	folder_work work = { .caller = &caller, .folder_id = id, .outcome = FOLDER_NOT_FOUND };
	if (ex_mail_is_uuid(id) && ex_db_tenant_transaction(api->service->database, caller.tenant_id,
							    EX_DB_READ_COMMITTED, delete_work, &work, &error) != 0)
		ex_mail_api_respond_database_error(request, "delete the folder", &error);
	else if (work.outcome == FOLDER_NOT_FOUND)
		ex_http_respond_error(request, 404, "folder_not_found", "folder %s does not exist", id);
	else if (work.outcome == FOLDER_PROTECTED)
		ex_http_respond_error(request, 400, "invalid_request",
				      "%s is INBOX or a special-use folder and cannot be deleted", work.old_name);
	else if (work.outcome == FOLDER_HAS_CHILDREN)
		ex_http_respond_error(request, 409, "folder_has_children",
				      "%s has folders below it; delete or move them first", work.old_name);
	else {
		publish_folder_change(api, &caller, id, "deleted");
		ex_http_respond_json(request, 200, json_pack("{s:s, s:b}", "id", id, "deleted", 1));
	}
	ex_mail_api_caller_clear(&caller);
}

int ex_mail_api_add_folder_routes(ex_mail_api *api, ex_http_server *http)
{
	int status = 0;
	status |= ex_http_route(http, "GET", "/api/v1/mail/folders", handle_list, api);
	status |= ex_http_route_limited(http, "POST", "/api/v1/mail/folders", handle_create, api, FOLDER_BODY_MAX);
	status |= ex_http_route_limited(http, "PATCH", "/api/v1/mail/folders/{id}", handle_rename, api, FOLDER_BODY_MAX);
	status |= ex_http_route(http, "DELETE", "/api/v1/mail/folders/{id}", handle_delete, api);
	return status == 0 ? 0 : -1;
}
