/*
 * The files API under /api/v1/drive: list a folder, create a folder,
 * read a file's metadata, download a file (Range with one or several
 * ranges, strong ETag, If-None-Match, RFC 6266 Content-Disposition) and
 * read the quota.
 * Every query is bound to the tenant of the caller's token and limited to
 * the caller's own folders and files.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "download_send.h"
#include "drive_parse.h"
#include "drive_service.h"
#include "expresso/log.h"
#include "upload_store.h"

enum {
	LIST_DEFAULT_LIMIT = 100,
	LIST_MAX_LIMIT = 1000,
	LIST_MAX_OFFSET = 1000000,
	MKDIR_MAX_BODY = 4096,
};

#define ROOT_ID "root"

/* Reads ?NAME= as a number in [0, max]; DEFAULT_VALUE when absent. */
static bool query_number(ex_http_request *request, const char *name, long default_value, long max, long *out)
{
	char text[24];
	int found = ex_http_query(request, name, text, sizeof(text));

	*out = default_value;
	if (found == 1)
		return true;
	char *end = NULL;
	long value = found == 0 ? strtol(text, &end, 10) : -1;
	if (found != 0 || end == text || *end != '\0' || value < 0 || value > max) {
		ex_http_respond_error(request, 400, "invalid_query", "%s must be a number from 0 to %ld", name, max);
		return false;
	}
	*out = value;
	return true;
}

/* Columns: id, name, parent_id, created_at. */
static json_t *folder_json(PGresult *result, int row)
{
	return json_pack("{s:s, s:s, s:s, s:s?, s:s}", "type", "folder", "id", PQgetvalue(result, row, 0), "name",
			 PQgetvalue(result, row, 1), "parent_id",
			 PQgetisnull(result, row, 2) ? NULL : PQgetvalue(result, row, 2), "created_at",
			 PQgetvalue(result, row, 3));
}

/* Columns: id, name, folder_id, created_at, size, content_type, version, updated_at. */
static json_t *file_json(PGresult *result, int row)
{
	return json_pack("{s:s, s:s, s:s, s:s?, s:s, s:I, s:s, s:i, s:s}", "type", "file", "id",
			 PQgetvalue(result, row, 0), "name", PQgetvalue(result, row, 1), "folder_id",
			 PQgetisnull(result, row, 2) ? NULL : PQgetvalue(result, row, 2), "created_at",
			 PQgetvalue(result, row, 3), "size", (json_int_t)strtoll(PQgetvalue(result, row, 4), NULL, 10),
			 "content_type", PQgetvalue(result, row, 5), "version",
			 (int)strtol(PQgetvalue(result, row, 6), NULL, 10), "updated_at", PQgetvalue(result, row, 7));
}

static void list_folder(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	static const char sql[] =
		"SELECT kind, id::text, name, parent::text, to_char(created_at AT TIME ZONE 'UTC', "
		"       'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), size, content_type, version, "
		"       to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM ("
		"  SELECT 0 AS kind, id, name, parent_id AS parent, created_at, 0::bigint AS size, "
		"         ''::text AS content_type, 0 AS version, created_at AS updated_at "
		"    FROM drive_folders WHERE owner_id = $1 AND parent_id IS NOT DISTINCT FROM NULLIF($2, '')::uuid "
		"     AND trashed_at IS NULL "
		"  UNION ALL "
		"  SELECT 1, id, name, folder_id, created_at, size, content_type, current_version, updated_at "
		"    FROM drive_files WHERE owner_id = $1 AND folder_id IS NOT DISTINCT FROM NULLIF($2, '')::uuid "
		"     AND trashed_at IS NULL"
		") entries ORDER BY kind, name COLLATE \"C\" LIMIT $3::integer OFFSET $4::integer";
	const char *id = ex_http_param(request, "id");
	const char *folder = strcmp(id, ROOT_ID) == 0 ? "" : id;
	long limit;
	long offset;
	char limit_text[24];
	char offset_text[24];
	ex_db_error error;

	if (!query_number(request, "limit", LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, &limit) ||
	    !query_number(request, "offset", 0, LIST_MAX_OFFSET, &offset))
		return;
	if (folder[0] != '\0') {
		int exists = ex_drive_is_uuid(folder)
				     ? ex_drive_folder_exists(service, caller->tenant_id, caller->user_id, folder, &error)
				     : 0;
		if (exists < 0) {
			ex_drive_respond_database_error(request, "look up the folder", &error);
			return;
		}
		if (exists == 0) {
			ex_http_respond_error(request, 404, "folder_not_found", "folder %s does not exist", folder);
			return;
		}
	}
	snprintf(limit_text, sizeof(limit_text), "%ld", limit);
	snprintf(offset_text, sizeof(offset_text), "%ld", offset);
	const char *params[] = { caller->user_id, folder, limit_text, offset_text };
	PGresult *result = ex_drive_query(service, caller->tenant_id, sql, 4, params, &error);
	if (result == NULL) {
		ex_drive_respond_database_error(request, "list the folder", &error);
		return;
	}

	json_t *entries = json_array();
	for (int row = 0; row < PQntuples(result); row++) {
		json_t *entry = NULL;
		if (PQgetvalue(result, row, 0)[0] == '0') {
			entry = json_pack("{s:s, s:s, s:s, s:s?, s:s}", "type", "folder", "id", PQgetvalue(result, row, 1),
					  "name", PQgetvalue(result, row, 2), "parent_id",
					  PQgetisnull(result, row, 3) ? NULL : PQgetvalue(result, row, 3), "created_at",
					  PQgetvalue(result, row, 4));
		} else {
			entry = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:I, s:s, s:i, s:s}", "type", "file", "id",
					  PQgetvalue(result, row, 1), "name", PQgetvalue(result, row, 2), "folder_id",
					  PQgetisnull(result, row, 3) ? NULL : PQgetvalue(result, row, 3), "created_at",
					  PQgetvalue(result, row, 4), "size",
					  (json_int_t)strtoll(PQgetvalue(result, row, 5), NULL, 10), "content_type",
					  PQgetvalue(result, row, 6), "version",
					  (int)strtol(PQgetvalue(result, row, 7), NULL, 10), "updated_at",
					  PQgetvalue(result, row, 8));
		}
		json_array_append_new(entries, entry);
	}
	PQclear(result);
	ex_http_respond_json(request, 200,
			     json_pack("{s:s, s:o, s:i, s:i}", "folder_id", folder[0] ? folder : ROOT_ID, "entries",
				       entries, "limit", (int)limit, "offset", (int)offset));
}

static void make_folder(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	static const char sql[] =
		"INSERT INTO drive_folders (tenant_id, owner_id, parent_id, name) "
		"VALUES ($1, $2, NULLIF($3, '')::uuid, $4) "
		"RETURNING id::text, name, parent_id::text, "
		"          to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";
	size_t length = 0;
	const char *body = ex_http_body(request, &length);
	json_error_t json_error;
	ex_db_error error;

	json_t *json = body ? json_loadb(body, length, JSON_REJECT_DUPLICATES, &json_error) : NULL;
	const char *name = json_string_value(json_object_get(json, "name"));
	json_t *parent_value = json_object_get(json, "parent_id");
	const char *parent = json_string_value(parent_value);
	if (name == NULL || (parent_value != NULL && !json_is_null(parent_value) && parent == NULL)) {
		ex_http_respond_error(request, 400, "invalid_request",
				      "send a JSON object {\"name\": \"...\", \"parent_id\": \"<folder id>\" or null}");
		goto done;
	}
	ex_drive_name_status status = ex_drive_name_check(name, json_string_length(json_object_get(json, "name")));
	if (status != EX_DRIVE_NAME_OK) {
		ex_http_respond_error(request, 400, "invalid_name", "invalid folder name: %s",
				      ex_drive_name_status_message(status));
		goto done;
	}
	if (parent != NULL) {
		int exists = ex_drive_is_uuid(parent)
				     ? ex_drive_folder_exists(service, caller->tenant_id, caller->user_id, parent, &error)
				     : 0;
		if (exists < 0) {
			ex_drive_respond_database_error(request, "look up the parent folder", &error);
			goto done;
		}
		if (exists == 0) {
			ex_http_respond_error(request, 404, "folder_not_found", "parent folder %s does not exist", parent);
			goto done;
		}
	}

	const char *params[] = { caller->tenant_id, caller->user_id, parent ? parent : "", name };
	PGresult *result = ex_drive_query(service, caller->tenant_id, sql, 4, params, &error);
	if (result == NULL && strcmp(error.sqlstate, "23505") == 0) {
		ex_http_respond_error(request, 409, "name_taken", "a folder named \"%s\" already exists there", name);
		goto done;
	}
	if (result == NULL) {
		ex_drive_respond_database_error(request, "create the folder", &error);
		goto done;
	}
	json_t *folder = folder_json(result, 0);
	PQclear(result);
	ex_http_respond_json(request, 201, folder);
done:
	json_decref(json);
}

/*
 * Columns of a file with its current version (or version $3 when not
 * empty), as file_json reads them, plus the storage key and version id.
 * A file in the trash, or in a folder in the trash, is not found.
 */
static const char file_sql[] =
	"SELECT f.id::text, f.name, f.folder_id::text, "
	"       to_char(f.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), v.size, v.content_type, "
	"       v.version, to_char(f.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
	"       v.storage_key, v.id::text "
	"  FROM drive_files f JOIN drive_file_versions v ON v.file_id = f.id "
	"   AND v.version = COALESCE(NULLIF($3, '')::integer, f.current_version) "
	" WHERE f.id = $1 AND f.owner_id = $2 AND f.trashed_at IS NULL AND NOT drive_folder_in_trash(f.folder_id)";

/* Loads the caller's file named by the path, or sends 404 and returns NULL when there is none. */
static PGresult *load_file(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	const char *id = ex_http_param(request, "id");
	const char *version = ex_http_param(request, "version");
	ex_db_error error;

	if (!ex_drive_is_uuid(id)) {
		ex_http_respond_error(request, 404, "file_not_found", "no file with this id exists");
		return NULL;
	}
	if (version != NULL && (version[0] == '\0' || strspn(version, "0123456789") != strlen(version) ||
				strlen(version) > 9)) {
		ex_http_respond_error(request, 404, "version_not_found", "no version %s of this file exists", version);
		return NULL;
	}
	const char *params[] = { id, caller->user_id, version ? version : "" };
	PGresult *result = ex_drive_query(service, caller->tenant_id, file_sql, 3, params, &error);
	if (result == NULL) {
		ex_drive_respond_database_error(request, "read the file", &error);
		return NULL;
	}
	if (PQntuples(result) == 0) {
		PQclear(result);
		ex_http_respond_error(request, 404, "file_not_found", "no file with this id exists");
		return NULL;
	}
	return result;
}

/* The strong ETag of a version: its id, since a version's bytes never change. */
static void version_etag(char *out, size_t size, const char *version_id)
{
	snprintf(out, size, "\"%s\"", version_id);
}

static void file_metadata(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	char etag[64];
	PGresult *result = load_file(service, request, caller);

	if (result == NULL)
		return;
	version_etag(etag, sizeof(etag), PQgetvalue(result, 0, 9));
	json_t *file = file_json(result, 0);
	json_object_set_new(file, "etag", json_string(etag));
	PQclear(result);
	ex_http_respond_json(request, 200, file);
	ex_http_add_header(request, MHD_HTTP_HEADER_ETAG, etag);
}

static void download_file(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	PGresult *result = load_file(service, request, caller);

	if (result == NULL)
		return;
	const ex_drive_download download = {
		.tenant_id = caller->tenant_id,
		.storage_key = PQgetvalue(result, 0, 8),
		.size = strtoull(PQgetvalue(result, 0, 4), NULL, 10),
		.content_type = PQgetvalue(result, 0, 5),
		.filename = PQgetvalue(result, 0, 1),
		.version_id = PQgetvalue(result, 0, 9),
		.cache_control = "private, no-cache",
	};
	ex_drive_send_download(service, request, &download);
	PQclear(result);
}

static void read_quota(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	ex_drive_usage usage;
	ex_db_error error;

	if (ex_drive_usage_read(service, caller->tenant_id, caller->user_id, &usage, &error) != 0) {
		ex_drive_respond_database_error(request, "read the quota", &error);
		return;
	}
	json_t *quota = usage.quota_bytes ? json_integer((json_int_t)usage.quota_bytes) : json_null();
	ex_http_respond_json(request, 200,
			     json_pack("{s:o, s:I, s:I}", "quota_bytes", quota, "used_bytes",
				       (json_int_t)usage.used_bytes, "reserved_bytes", (json_int_t)usage.reserved_bytes));
}

typedef void (*file_command)(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller);

static void run_authenticated(ex_http_request *request, void *context, file_command command)
{
	ex_drive_service *service = context;
	ex_drive_caller caller;

	if (!ex_drive_authenticate(service, request, &caller))
		return;
	command(service, request, &caller);
	ex_drive_caller_clear(&caller);
}

static void handle_list(ex_http_request *request, void *context) { run_authenticated(request, context, list_folder); }
static void handle_mkdir(ex_http_request *request, void *context) { run_authenticated(request, context, make_folder); }
static void handle_metadata(ex_http_request *request, void *context) { run_authenticated(request, context, file_metadata); }
static void handle_download(ex_http_request *request, void *context) { run_authenticated(request, context, download_file); }
static void handle_quota(ex_http_request *request, void *context) { run_authenticated(request, context, read_quota); }

int ex_drive_add_file_routes(ex_drive_service *service, ex_http_server *http)
{
	if (ex_http_route(http, "GET", "/api/v1/drive/folders/{id}", handle_list, service) != 0 ||
	    ex_http_route_limited(http, "POST", "/api/v1/drive/folders", handle_mkdir, service, MKDIR_MAX_BODY) != 0 ||
	    ex_http_route(http, "GET", "/api/v1/drive/files/{id}", handle_metadata, service) != 0 ||
	    ex_http_route(http, "GET", "/api/v1/drive/files/{id}/content", handle_download, service) != 0 ||
	    ex_http_route(http, "GET", "/api/v1/drive/files/{id}/versions/{version}/content", handle_download,
			  service) != 0 ||
	    ex_http_route(http, "GET", "/api/v1/drive/quota", handle_quota, service) != 0)
		return -1;
	return 0;
}
