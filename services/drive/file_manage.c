/*
 * Changes to files and folders under /api/v1/drive: rename and move, the
 * trash, the folder tree, and versions. A folder is never moved into
 * itself or a folder below it. The trash takes items, lists them, and
 * restores, purges or empties them. Versions are listed and restored as
 * current; downloads of a version are in file_routes.c.
 *
 * A trashed item keeps its row and versions, so it still counts against
 * the quota, until it is purged: then its rows go in one statement and
 * its objects are deleted from storage afterwards. Items below a trashed
 * folder are hidden with it and come back when it is restored.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drive_parse.h"
#include "drive_service.h"
#include "expresso/log.h"

enum { PATCH_MAX_BODY = 4096 };

#define TIMESTAMP(column) "to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

typedef void (*manage_command)(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller);

void ex_drive_delete_objects(ex_drive_service *service, const char *tenant_id, const PGresult *result, int column)
{
	char err[EX_STORAGE_ERROR_MAX];

	for (int row = 0; result != NULL && row < PQntuples(result); row++) {
		const char *key = PQgetvalue(result, row, column);
		ex_storage_status status = ex_storage_delete(service->storage, tenant_id, key, err, sizeof(err));
		if (status != EX_STORAGE_OK && status != EX_STORAGE_NOT_FOUND)
			ex_log(EX_LOG_ERROR, "object_delete_failed", "{s:s, s:s}", "key", key, "error", err);
	}
}

/* Sends 404 unless ID is a UUID; returns whether it is. */
static bool check_id(ex_http_request *request, const char *id, const char *code, const char *what)
{
	if (ex_drive_is_uuid(id))
		return true;
	ex_http_respond_error(request, 404, code, "no %s with this id exists", what);
	return false;
}

/*
 * Reads {"name": ..., "<parent field>": id or null} of a rename or move.
 * Either may be absent. *parent_given is true when the parent field was
 * sent, and *parent is "" for null (the root folder).
 */
static json_t *read_patch_body(ex_http_request *request, const char *parent_field, const char **name,
			       const char **parent, bool *parent_given)
{
	size_t length = 0;
	const char *body = ex_http_body(request, &length);
	json_error_t json_error;
	json_t *json = body ? json_loadb(body, length, JSON_REJECT_DUPLICATES, &json_error) : NULL;
	json_t *name_value = json_object_get(json, "name");
	json_t *parent_value = json_object_get(json, parent_field);

	*name = json_string_value(name_value);
	*parent = json_is_null(parent_value) ? "" : json_string_value(parent_value);
	*parent_given = parent_value != NULL;
	if (!json_is_object(json) || (name_value != NULL && *name == NULL) || (*parent_given && *parent == NULL) ||
	    (name_value == NULL && !*parent_given)) {
		ex_http_respond_error(request, 400, "invalid_request",
				      "send a JSON object with \"name\" and/or \"%s\" (a folder id, or null for the root)",
				      parent_field);
		json_decref(json);
		return NULL;
	}
	if (*name != NULL) {
		ex_drive_name_status status = ex_drive_name_check(*name, json_string_length(name_value));
		if (status != EX_DRIVE_NAME_OK) {
			ex_http_respond_error(request, 400, "invalid_name", "invalid name: %s",
					      ex_drive_name_status_message(status));
			json_decref(json);
			return NULL;
		}
	}
	if (*parent_given && (*parent)[0] != '\0' && !ex_drive_is_uuid(*parent)) {
		ex_http_respond_error(request, 404, "folder_not_found", "folder %s does not exist", *parent);
		json_decref(json);
		return NULL;
	}
	return json;
}

/* Runs an UPDATE of a rename or move and sends its result: 200 with the row, 404, 409 name_taken. */
static void respond_update(ex_http_request *request, PGresult *result, const ex_db_error *error, const char *what)
{
	if (result == NULL && strcmp(error->sqlstate, "23505") == 0) {
		ex_http_respond_error(request, 409, "name_taken", "an item of that name already exists in the folder");
		return;
	}
	if (result == NULL) {
		ex_drive_respond_database_error(request, "rename or move", error);
		return;
	}
	if (PQntuples(result) == 0) {
		ex_http_respond_error(request, 404, strcmp(what, "file") == 0 ? "file_not_found" : "folder_not_found",
				      "no %s with this id exists, or the target folder does not exist", what);
		PQclear(result);
		return;
	}
	ex_http_respond_json(request, 200,
			     json_pack("{s:s, s:s, s:s?}", "id", PQgetvalue(result, 0, 0), "name", PQgetvalue(result, 0, 1),
				       strcmp(what, "file") == 0 ? "folder_id" : "parent_id",
				       PQgetisnull(result, 0, 2) ? NULL : PQgetvalue(result, 0, 2)));
	PQclear(result);
}

static void patch_file(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	static const char sql[] =
		"UPDATE drive_files f SET name = COALESCE(NULLIF($3, ''), f.name), "
		"       folder_id = CASE WHEN $4 = 'yes' THEN NULLIF($5, '')::uuid ELSE f.folder_id END, "
		"       updated_at = now() "
		" WHERE f.id = $1 AND f.owner_id = $2 AND f.trashed_at IS NULL "
		"   AND ($4 = 'no' OR $5 = '' OR EXISTS (SELECT 1 FROM drive_folders d WHERE d.id = NULLIF($5, '')::uuid "
		"        AND d.owner_id = $2 AND d.trashed_at IS NULL)) "
		"RETURNING f.id::text, f.name, f.folder_id::text";
	const char *id = ex_http_param(request, "id");
	const char *name = NULL;
	const char *parent = NULL;
	bool parent_given = false;
	ex_db_error error;

	if (!check_id(request, id, "file_not_found", "file"))
		return;
	json_t *json = read_patch_body(request, "folder_id", &name, &parent, &parent_given);
	if (json == NULL)
		return;
	const char *params[] = { id, caller->user_id, name ? name : "", parent_given ? "yes" : "no",
				 parent ? parent : "" };
	PGresult *result = ex_drive_query(service, caller->tenant_id, sql, 5, params, &error);
	respond_update(request, result, &error, "file");
	json_decref(json);
}

static void patch_folder(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	/* The target parent may not be the folder or any folder below it, found by walking down from it. */
	static const char sql[] =
		"WITH RECURSIVE below(id) AS ("
		"  SELECT id FROM drive_folders WHERE id = $1 AND owner_id = $2 "
		"  UNION SELECT d.id FROM drive_folders d JOIN below b ON d.parent_id = b.id) "
		"UPDATE drive_folders f SET name = COALESCE(NULLIF($3, ''), f.name), "
		"       parent_id = CASE WHEN $4 = 'yes' THEN NULLIF($5, '')::uuid ELSE f.parent_id END "
		" WHERE f.id = $1 AND f.owner_id = $2 AND f.trashed_at IS NULL "
		"   AND ($4 = 'no' OR $5 = '' OR EXISTS (SELECT 1 FROM drive_folders d WHERE d.id = NULLIF($5, '')::uuid "
		"        AND d.owner_id = $2 AND d.trashed_at IS NULL)) "
		"RETURNING f.id::text, f.name, f.parent_id::text, "
		"          ($4 = 'yes' AND $5 <> '' AND NULLIF($5, '')::uuid IN (SELECT id FROM below)) AS cycle";
	const char *id = ex_http_param(request, "id");
	const char *name = NULL;
	const char *parent = NULL;
	bool parent_given = false;
	ex_db_error error;

	if (!check_id(request, id, "folder_not_found", "folder"))
		return;
	json_t *json = read_patch_body(request, "parent_id", &name, &parent, &parent_given);
	if (json == NULL)
		return;
	const char *check_params[] = { id, caller->user_id, parent ? parent : "" };
	PGresult *check = parent_given && parent[0] != '\0'
				  ? ex_drive_query(service, caller->tenant_id,
						   "WITH RECURSIVE below(id) AS ("
						   "  SELECT id FROM drive_folders WHERE id = $1 AND owner_id = $2 "
						   "  UNION SELECT d.id FROM drive_folders d JOIN below b ON d.parent_id = b.id) "
						   "SELECT 1 FROM below WHERE id = $3::uuid",
						   3, check_params, &error)
				  : NULL;
	if (parent_given && parent[0] != '\0' && check == NULL) {
		ex_drive_respond_database_error(request, "check the move", &error);
		goto done;
	}
	if (check != NULL && PQntuples(check) > 0) {
		PQclear(check);
		ex_http_respond_error(request, 409, "move_cycle",
				      "a folder cannot be moved into itself or into a folder below it");
		goto done;
	}
	PQclear(check);
	const char *params[] = { id, caller->user_id, name ? name : "", parent_given ? "yes" : "no",
				 parent ? parent : "" };
	PGresult *result = ex_drive_query(service, caller->tenant_id, sql, 5, params, &error);
	respond_update(request, result, &error, "folder");
done:
	json_decref(json);
}

/* ---- trash ---- */

/* Sets or clears trashed_at of the caller's file or folder named in the path. */
static void set_trashed(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller,
			const char *table, bool trash)
{
	char sql[256];
	const char *id = ex_http_param(request, "id");
	bool is_file = strcmp(table, "drive_files") == 0;
	ex_db_error error;

	if (!check_id(request, id, is_file ? "file_not_found" : "folder_not_found", is_file ? "file" : "folder"))
		return;
	snprintf(sql, sizeof(sql), "UPDATE %s SET trashed_at = %s WHERE id = $1 AND owner_id = $2 AND trashed_at IS %s "
		 "RETURNING id::text", table, trash ? "now()" : "NULL", trash ? "NULL" : "NOT NULL");
	const char *params[] = { id, caller->user_id };
	PGresult *result = ex_drive_query(service, caller->tenant_id, sql, 2, params, &error);
	if (result == NULL && strcmp(error.sqlstate, "23505") == 0) {
		ex_http_respond_error(request, 409, "name_taken",
				      "an item of the same name now exists in its folder; rename that one first");
		return;
	}
	if (result == NULL) {
		ex_drive_respond_database_error(request, trash ? "move to the trash" : "restore from the trash", &error);
		return;
	}
	int changed = PQntuples(result);
	PQclear(result);
	if (changed == 0) {
		ex_http_respond_error(request, 404, is_file ? "file_not_found" : "folder_not_found",
				      trash ? "no %s with this id exists outside the trash"
					    : "no %s with this id is in the trash",
				      is_file ? "file" : "folder");
		return;
	}
	ex_log(EX_LOG_INFO, trash ? "item_trashed" : "item_restored", "{s:s, s:s}", "type", is_file ? "file" : "folder",
	       "id", id);
	ex_http_respond_bytes(request, 204, NULL, "", 0);
}

static void trash_file(ex_drive_service *s, ex_http_request *r, const ex_drive_caller *c) { set_trashed(s, r, c, "drive_files", true); }
static void trash_folder(ex_drive_service *s, ex_http_request *r, const ex_drive_caller *c) { set_trashed(s, r, c, "drive_folders", true); }
static void restore_file(ex_drive_service *s, ex_http_request *r, const ex_drive_caller *c) { set_trashed(s, r, c, "drive_files", false); }
static void restore_folder(ex_drive_service *s, ex_http_request *r, const ex_drive_caller *c) { set_trashed(s, r, c, "drive_folders", false); }

static void list_trash(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	static const char sql[] =
		"SELECT 'folder', id::text, name, " TIMESTAMP("trashed_at") ", 0::bigint FROM drive_folders "
		" WHERE owner_id = $1 AND trashed_at IS NOT NULL "
		"UNION ALL SELECT 'file', id::text, name, " TIMESTAMP("trashed_at") ", size FROM drive_files "
		" WHERE owner_id = $1 AND trashed_at IS NOT NULL ORDER BY 4 DESC, 2 LIMIT 1000";
	const char *params[] = { caller->user_id };
	ex_db_error error;

	PGresult *result = ex_drive_query(service, caller->tenant_id, sql, 1, params, &error);
	if (result == NULL) {
		ex_drive_respond_database_error(request, "list the trash", &error);
		return;
	}
	json_t *entries = json_array();
	for (int row = 0; row < PQntuples(result); row++)
		json_array_append_new(entries, json_pack("{s:s, s:s, s:s, s:s, s:I}", "type", PQgetvalue(result, row, 0),
							 "id", PQgetvalue(result, row, 1), "name",
							 PQgetvalue(result, row, 2), "trashed_at",
							 PQgetvalue(result, row, 3), "size",
							 (json_int_t)strtoll(PQgetvalue(result, row, 4), NULL, 10)));
	PQclear(result);
	ex_http_respond_json(request, 200, json_pack("{s:o}", "entries", entries));
}

/*
 * Deletes trashed items and everything below them: the rows in one
 * statement (versions and subfolders go by ON DELETE CASCADE), then the
 * objects of every version removed. OWNER_FILTER is an SQL condition on
 * the trashed rows that uses PARAMS (fixed text from this file, never
 * request input). Returns the number of trashed items deleted, or -1 with
 * ERROR filled in.
 */
static int purge_trashed(ex_drive_service *service, const char *tenant_id, const char *owner_filter,
			 const char *const *params, int param_count, ex_db_error *error)
{
	char sql[2048];

	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE roots AS ("
		 "  SELECT id, 'folder' AS type FROM drive_folders WHERE trashed_at IS NOT NULL AND %s "
		 "  UNION ALL SELECT id, 'file' FROM drive_files WHERE trashed_at IS NOT NULL AND %s), "
		 "folders(id) AS (SELECT id FROM roots WHERE type = 'folder' "
		 "  UNION SELECT d.id FROM drive_folders d JOIN folders p ON d.parent_id = p.id), "
		 "files AS (SELECT id FROM roots WHERE type = 'file' "
		 "  UNION SELECT f.id FROM drive_files f JOIN folders p ON f.folder_id = p.id), "
		 "keys AS (SELECT v.storage_key FROM drive_file_versions v JOIN files ON v.file_id = files.id), "
		 "gone_files AS (DELETE FROM drive_files WHERE id IN (SELECT id FROM files)), "
		 "gone_folders AS (DELETE FROM drive_folders WHERE id IN (SELECT id FROM roots WHERE type = 'folder')) "
		 "SELECT storage_key, (SELECT count(*) FROM roots) FROM keys "
		 "UNION ALL SELECT NULL, (SELECT count(*) FROM roots)",
		 owner_filter, owner_filter);
	PGresult *result = ex_drive_query(service, tenant_id, sql, param_count, params, error);
	if (result == NULL)
		return -1;
	int rows = PQntuples(result);
	int purged = rows > 0 ? (int)strtol(PQgetvalue(result, rows - 1, 1), NULL, 10) : 0;
	/* The last row only carries the count. */
	for (int row = 0; row + 1 < rows; row++) {
		char err[EX_STORAGE_ERROR_MAX];
		const char *key = PQgetvalue(result, row, 0);
		ex_storage_status status = ex_storage_delete(service->storage, tenant_id, key, err, sizeof(err));
		if (status != EX_STORAGE_OK && status != EX_STORAGE_NOT_FOUND)
			ex_log(EX_LOG_ERROR, "object_delete_failed", "{s:s, s:s}", "key", key, "error", err);
	}
	PQclear(result);
	return purged;
}

static void purge_one(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	const char *id = ex_http_param(request, "id");
	ex_db_error error;

	if (!check_id(request, id, "not_in_trash", "item"))
		return;
	const char *params[] = { caller->user_id, id };
	int purged = purge_trashed(service, caller->tenant_id, "owner_id = $1 AND id = $2::uuid", params, 2, &error);
	if (purged < 0) {
		ex_drive_respond_database_error(request, "purge from the trash", &error);
		return;
	}
	if (purged == 0) {
		ex_http_respond_error(request, 404, "not_in_trash", "no item with this id is in the trash");
		return;
	}
	ex_log(EX_LOG_INFO, "trash_purged", "{s:s, s:i}", "id", id, "count", purged);
	ex_http_respond_bytes(request, 204, NULL, "", 0);
}

static void empty_trash(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	const char *params[] = { caller->user_id };
	ex_db_error error;

	int purged = purge_trashed(service, caller->tenant_id, "owner_id = $1", params, 1, &error);
	if (purged < 0) {
		ex_drive_respond_database_error(request, "empty the trash", &error);
		return;
	}
	ex_log(EX_LOG_INFO, "trash_emptied", "{s:i}", "count", purged);
	ex_http_respond_json(request, 200, json_pack("{s:i}", "purged", purged));
}

int ex_drive_trash_purge_expired(ex_drive_service *service)
{
	char retention[24];
	int total = 0;
	ex_db_error error;

	snprintf(retention, sizeof(retention), "%" PRIu64, service->trash_retention_s);
	DIR *dir = opendir(service->upload_dir);
	if (dir == NULL)
		return -1;
	struct dirent *entry;
	while ((entry = readdir(dir)) != NULL) {
		if (!ex_drive_is_uuid(entry->d_name))
			continue;
		const char *params[] = { retention };
		int purged = purge_trashed(service, entry->d_name,
					   "trashed_at <= now() - make_interval(secs => $1::double precision)", params, 1,
					   &error);
		if (purged < 0)
			ex_log(EX_LOG_ERROR, "trash_purge_failed", "{s:s, s:s}", "tenant", entry->d_name, "error",
			       error.message);
		else
			total += purged;
	}
	closedir(dir);
	if (total > 0)
		ex_log(EX_LOG_INFO, "trash_retention_purged", "{s:i}", "count", total);
	return total;
}

/* ---- tree and versions ---- */

static void folder_tree(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	/* Folders outside the trash whose ancestors are all outside it, parents before children. */
	static const char sql[] =
		"WITH RECURSIVE tree(id, name, parent_id, depth) AS ("
		"  SELECT id, name, parent_id, 0 FROM drive_folders "
		"   WHERE owner_id = $1 AND parent_id IS NULL AND trashed_at IS NULL "
		"  UNION ALL SELECT d.id, d.name, d.parent_id, t.depth + 1 FROM drive_folders d "
		"   JOIN tree t ON d.parent_id = t.id WHERE d.trashed_at IS NULL AND t.depth < 64) "
		"SELECT id::text, name, parent_id::text FROM tree ORDER BY depth, name COLLATE \"C\" LIMIT 10000";
	const char *params[] = { caller->user_id };
	ex_db_error error;

	PGresult *result = ex_drive_query(service, caller->tenant_id, sql, 1, params, &error);
	if (result == NULL) {
		ex_drive_respond_database_error(request, "read the folder tree", &error);
		return;
	}
	/* Each folder object is kept by id so that its children attach to it. */
	json_t *by_id = json_object();
	json_t *root = json_array();
	for (int row = 0; row < PQntuples(result); row++) {
		json_t *children = json_array();
		json_t *folder = json_pack("{s:s, s:s, s:o}", "id", PQgetvalue(result, row, 0), "name",
					   PQgetvalue(result, row, 1), "folders", children);
		json_object_set(by_id, PQgetvalue(result, row, 0), folder);
		json_t *parent = PQgetisnull(result, row, 2) ? NULL : json_object_get(by_id, PQgetvalue(result, row, 2));
		json_array_append_new(parent ? json_object_get(parent, "folders") : root, folder);
	}
	PQclear(result);
	json_decref(by_id);
	ex_http_respond_json(request, 200, json_pack("{s:s, s:o}", "id", "root", "folders", root));
}

static void list_versions(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	static const char sql[] =
		"SELECT v.version, v.id::text, v.size, v.content_type, " TIMESTAMP("v.created_at") ", "
		"       v.version = f.current_version "
		"  FROM drive_files f JOIN drive_file_versions v ON v.file_id = f.id "
		" WHERE f.id = $1 AND f.owner_id = $2 AND f.trashed_at IS NULL AND NOT drive_folder_in_trash(f.folder_id) "
		" ORDER BY v.version DESC";
	const char *id = ex_http_param(request, "id");
	ex_db_error error;

	if (!check_id(request, id, "file_not_found", "file"))
		return;
	const char *params[] = { id, caller->user_id };
	PGresult *result = ex_drive_query(service, caller->tenant_id, sql, 2, params, &error);
	if (result == NULL) {
		ex_drive_respond_database_error(request, "list the versions", &error);
		return;
	}
	if (PQntuples(result) == 0) {
		PQclear(result);
		ex_http_respond_error(request, 404, "file_not_found", "no file with this id exists");
		return;
	}
	json_t *versions = json_array();
	for (int row = 0; row < PQntuples(result); row++) {
		char etag[64];
		snprintf(etag, sizeof(etag), "\"%s\"", PQgetvalue(result, row, 1));
		json_array_append_new(versions,
				      json_pack("{s:i, s:s, s:I, s:s, s:s, s:b}", "version",
						(int)strtol(PQgetvalue(result, row, 0), NULL, 10), "etag", etag, "size",
						(json_int_t)strtoll(PQgetvalue(result, row, 2), NULL, 10), "content_type",
						PQgetvalue(result, row, 3), "created_at", PQgetvalue(result, row, 4),
						"current", PQgetvalue(result, row, 5)[0] == 't'));
	}
	PQclear(result);
	ex_http_respond_json(request, 200, json_pack("{s:s, s:o}", "file_id", id, "versions", versions));
}

/* Makes a stored version the current one; the versions after it stay and a new upload numbers past them all. */
static void restore_version(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	static const char sql[] =
		"UPDATE drive_files f SET current_version = v.version, size = v.size, content_type = v.content_type, "
		"       updated_at = now() "
		"  FROM drive_file_versions v "
		" WHERE f.id = $1 AND f.owner_id = $2 AND f.trashed_at IS NULL AND NOT drive_folder_in_trash(f.folder_id) "
		"   AND v.file_id = f.id "
		"   AND v.version = $3::integer "
		"RETURNING f.current_version";
	const char *id = ex_http_param(request, "id");
	const char *version = ex_http_param(request, "version");
	ex_db_error error;

	if (!check_id(request, id, "file_not_found", "file"))
		return;
	if (version == NULL || version[0] == '\0' || strlen(version) > 9 ||
	    strspn(version, "0123456789") != strlen(version)) {
		ex_http_respond_error(request, 404, "version_not_found", "no such version of this file exists");
		return;
	}
	const char *params[] = { id, caller->user_id, version };
	PGresult *result = ex_drive_query(service, caller->tenant_id, sql, 3, params, &error);
	if (result == NULL) {
		ex_drive_respond_database_error(request, "restore the version", &error);
		return;
	}
	int changed = PQntuples(result);
	PQclear(result);
	if (changed == 0) {
		ex_http_respond_error(request, 404, "version_not_found", "file %s has no version %s", id, version);
		return;
	}
	ex_log(EX_LOG_INFO, "version_restored", "{s:s, s:s}", "file", id, "version", version);
	ex_http_respond_json(request, 200,
			     json_pack("{s:s, s:i}", "file_id", id, "version", (int)strtol(version, NULL, 10)));
}

/* ---- routes ---- */

static void run_authenticated(ex_http_request *request, void *context, manage_command command)
{
	ex_drive_service *service = context;
	ex_drive_caller caller;

	if (!ex_drive_authenticate(service, request, &caller))
		return;
	command(service, request, &caller);
	ex_drive_caller_clear(&caller);
}

#define HANDLER(name, command) \
	static void name(ex_http_request *request, void *context) { run_authenticated(request, context, command); }
HANDLER(handle_patch_file, patch_file)
HANDLER(handle_patch_folder, patch_folder)
HANDLER(handle_trash_file, trash_file)
HANDLER(handle_trash_folder, trash_folder)
HANDLER(handle_restore_file, restore_file)
HANDLER(handle_restore_folder, restore_folder)
HANDLER(handle_list_trash, list_trash)
HANDLER(handle_purge_one, purge_one)
HANDLER(handle_empty_trash, empty_trash)
HANDLER(handle_tree, folder_tree)
HANDLER(handle_versions, list_versions)
HANDLER(handle_restore_version, restore_version)

int ex_drive_add_manage_routes(ex_drive_service *service, ex_http_server *http)
{
	if (ex_http_route_limited(http, "PATCH", "/api/v1/drive/files/{id}", handle_patch_file, service,
				  PATCH_MAX_BODY) != 0 ||
	    ex_http_route_limited(http, "PATCH", "/api/v1/drive/folders/{id}", handle_patch_folder, service,
				  PATCH_MAX_BODY) != 0 ||
	    ex_http_route(http, "DELETE", "/api/v1/drive/files/{id}", handle_trash_file, service) != 0 ||
	    ex_http_route(http, "DELETE", "/api/v1/drive/folders/{id}", handle_trash_folder, service) != 0 ||
	    ex_http_route(http, "POST", "/api/v1/drive/trash/files/{id}/restore", handle_restore_file, service) != 0 ||
	    ex_http_route(http, "POST", "/api/v1/drive/trash/folders/{id}/restore", handle_restore_folder, service) != 0 ||
	    ex_http_route(http, "GET", "/api/v1/drive/trash", handle_list_trash, service) != 0 ||
	    ex_http_route(http, "DELETE", "/api/v1/drive/trash/{id}", handle_purge_one, service) != 0 ||
	    ex_http_route(http, "DELETE", "/api/v1/drive/trash", handle_empty_trash, service) != 0 ||
	    ex_http_route(http, "GET", "/api/v1/drive/tree", handle_tree, service) != 0 ||
	    ex_http_route(http, "GET", "/api/v1/drive/files/{id}/versions", handle_versions, service) != 0 ||
	    ex_http_route(http, "POST", "/api/v1/drive/files/{id}/versions/{version}/restore", handle_restore_version,
			  service) != 0)
		return -1;
	return 0;
}
