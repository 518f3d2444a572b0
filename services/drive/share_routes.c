/*
 * Public links to a file or folder. The owner creates a share (with an
 * optional password and expiry), lists and revokes them under
 * /api/v1/drive/shares. Anyone with the link reads the file, or the
 * folder's listing and its direct files, at /api/v1/drive/share/{token}
 * without an account; nothing can be changed through a link.
 *
 * The token is 32 random bytes in base64url. The database keeps only its
 * SHA-256. A SECURITY DEFINER lookup on that hash returns the tenant, and
 * the request is then bound to that tenant like any other. A password is sent
 * with HTTP Basic authentication (any user name), so a browser asks for
 * it, and checked against an argon2id hash. Revocation takes effect at
 * the next request, because every request reads the share row. Every
 * access, refused ones included, writes an audit row, and each creation
 * publishes drive.shared.
 */
#include <argon2.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../auth/accept_language.h"
#include "download_send.h"
#include "drive_parse.h"
#include "drive_service.h"
#include "expresso/audit.h"
#include "expresso/log.h"

enum {
	TOKEN_BYTES = 32,
	TOKEN_TEXT = 43, /* base64url of 32 bytes without padding */
	SHARE_MAX_BODY = 4096,
	PASSWORD_MAX = 256,  /* bytes */
	ARGON2_TIME_COST = 2, /* argon2id parameters: OWASP's minimum of 19 MiB, 2 passes, 1 lane */
	ARGON2_MEMORY_KIB = 19 * 1024,
	ARGON2_LANES = 1,
	ARGON2_SALT_BYTES = 16,
	ARGON2_HASH_BYTES = 32,
	ARGON2_ENCODED_MAX = 160,
	MAX_EXPIRY_S = 366 * 24 * 3600,
	SHARE_LIST_MAX = 1000,
};

#define SHARE_PATH "/api/v1/drive/share/"
#define TIMESTAMP(column) "to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static void sha256_hex(const char *text, char out[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char digest[32];
	unsigned int length = 0;

	EVP_Digest(text, strlen(text), digest, &length, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = digits[digest[i] >> 4];
		out[2 * i + 1] = digits[digest[i] & 0xf];
	}
	out[64] = '\0';
}

static int new_token(char out[TOKEN_TEXT + 1])
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char bytes[TOKEN_BYTES + 1] = { 0 };
	size_t used = 0;

	if (RAND_bytes(bytes, TOKEN_BYTES) != 1)
		return -1;
	for (size_t i = 0; i < TOKEN_BYTES; i += 3) {
		uint32_t group = (uint32_t)bytes[i] << 16 | (uint32_t)bytes[i + 1] << 8 | (i + 2 < TOKEN_BYTES ? bytes[i + 2] : 0);
		size_t chars = i + 2 < TOKEN_BYTES ? 4 : 3; /* the last group has 2 bytes: 3 characters */
		for (size_t j = 0; j < chars; j++)
			out[used++] = alphabet[(group >> (18 - 6 * j)) & 63];
	}
	out[used] = '\0';
	return used == TOKEN_TEXT ? 0 : -1;
}

static bool token_is_well_formed(const char *token)
{
	return token != NULL && strlen(token) == TOKEN_TEXT &&
	       strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == TOKEN_TEXT;
}

static int hash_password(const char *password, char out[ARGON2_ENCODED_MAX])
{
	unsigned char salt[ARGON2_SALT_BYTES];

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return -1;
	return argon2id_hash_encoded(ARGON2_TIME_COST, ARGON2_MEMORY_KIB, ARGON2_LANES, password, strlen(password), salt,
				     sizeof(salt), ARGON2_HASH_BYTES, out, ARGON2_ENCODED_MAX) == ARGON2_OK
		       ? 0
		       : -1;
}

static void audit(ex_drive_service *service, ex_http_request *request, const char *tenant_id, const char *actor,
		  const char *action, const char *share_id, json_t *detail)
{
	ex_audit_entry entry = { .tenant_id = tenant_id, .actor = actor, .action = action, .resource = share_id,
				 .address = ex_http_client_address(request), .request_id = ex_http_request_id(request),
				 .detail = detail };
	ex_db_error error;

	if (ex_audit_record(service->database, &entry, &error) != 0)
		ex_log(EX_LOG_ERROR, "audit_failed", "{s:s, s:s, s:s}", "action", action, "share", share_id, "error",
		       error.message);
	json_decref(detail);
}

/* ---- owner routes ---- */

static void create_share(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	static const char sql[] =
		"INSERT INTO drive_shares (tenant_id, owner_id, file_id, folder_id, token_sha256, password_hash, expires_at) "
		"SELECT $1, $2, NULLIF($3, '')::uuid, NULLIF($4, '')::uuid, $5, NULLIF($6, ''), "
		"       CASE WHEN $7 = '' THEN NULL ELSE now() + make_interval(secs => $7::double precision) END "
		" WHERE ($3 = '' OR EXISTS (SELECT 1 FROM drive_files WHERE id = NULLIF($3, '')::uuid AND owner_id = $2 "
		"                           AND trashed_at IS NULL AND NOT drive_folder_in_trash(folder_id))) "
		"   AND ($4 = '' OR EXISTS (SELECT 1 FROM drive_folders WHERE id = NULLIF($4, '')::uuid AND owner_id = $2 "
		"                           AND trashed_at IS NULL AND NOT drive_folder_in_trash(parent_id))) "
		"RETURNING id::text, " TIMESTAMP("expires_at");
	size_t length = 0;
	const char *body = ex_http_body(request, &length);
	json_error_t json_error;
	char token[TOKEN_TEXT + 1];
	char token_hash[65];
	char password_hash[ARGON2_ENCODED_MAX] = "";
	char expiry[24] = "";
	char url[128];
	ex_db_error error;

	json_t *json = body ? json_loadb(body, length, JSON_REJECT_DUPLICATES, &json_error) : NULL;
	const char *file_id = json_string_value(json_object_get(json, "file_id"));
	const char *folder_id = json_string_value(json_object_get(json, "folder_id"));
	json_t *password_value = json_object_get(json, "password");
	const char *password = json_string_value(password_value);
	json_t *expires_value = json_object_get(json, "expires_in");
	if (!json_is_object(json) || (file_id == NULL) == (folder_id == NULL) ||
	    !ex_drive_is_uuid(file_id ? file_id : folder_id) || (password_value != NULL && password == NULL) ||
	    (expires_value != NULL && !json_is_integer(expires_value))) {
		ex_http_respond_error(request, 400, "invalid_request",
				      "send {\"file_id\" or \"folder_id\": \"<id>\", \"password\": optional string, "
				      "\"expires_in\": optional seconds}");
		goto done;
	}
	if (password != NULL && (password[0] == '\0' || strlen(password) > PASSWORD_MAX)) {
		ex_http_respond_error(request, 400, "invalid_password", "the password must have 1 to %d bytes",
				      PASSWORD_MAX);
		goto done;
	}
	if (expires_value != NULL) {
		json_int_t seconds = json_integer_value(expires_value);
		if (seconds < 1 || seconds > MAX_EXPIRY_S) {
			ex_http_respond_error(request, 400, "invalid_expiry",
					      "expires_in must be 1 to %d seconds (366 days)", MAX_EXPIRY_S);
			goto done;
		}
		snprintf(expiry, sizeof(expiry), "%" JSON_INTEGER_FORMAT, seconds);
	}
	if (new_token(token) != 0 || (password != NULL && hash_password(password, password_hash) != 0)) {
		ex_http_respond_error(request, 500, "internal_error", "the share could not be created; try again");
		goto done;
	}
	sha256_hex(token, token_hash);

	const char *params[] = { caller->tenant_id, caller->user_id, file_id ? file_id : "", folder_id ? folder_id : "",
				 token_hash, password_hash, expiry };
	PGresult *result = ex_drive_query(service, caller->tenant_id, sql, 7, params, &error);
	if (result == NULL) {
		ex_drive_respond_database_error(request, "create the share", &error);
		goto done;
	}
	if (PQntuples(result) == 0) {
		PQclear(result);
		ex_http_respond_error(request, 404, file_id ? "file_not_found" : "folder_not_found",
				      "no %s with this id exists outside the trash", file_id ? "file" : "folder");
		goto done;
	}
	char share_id[EX_DRIVE_UUID_TEXT + 1];
	snprintf(share_id, sizeof(share_id), "%s", PQgetvalue(result, 0, 0));
	json_t *expires_at = PQgetisnull(result, 0, 1) ? json_null() : json_string(PQgetvalue(result, 0, 1));
	PQclear(result);

	json_t *event = json_pack("{s:s, s:s, s:s?, s:s?, s:O, s:b}", "share_id", share_id, "owner_id", caller->user_id,
				  "file_id", file_id, "folder_id", folder_id, "expires_at", expires_at, "has_password",
				  password != NULL);
	char err[256];
	if (service->bus != NULL && ex_bus_publish(service->bus, caller->tenant_id, "drive", "shared", event, err,
						   sizeof(err)) != 0)
		ex_log(EX_LOG_ERROR, "event_publish_failed", "{s:s, s:s, s:s}", "event", "drive.shared", "share",
		       share_id, "error", err);
	json_decref(event);
	/* The audit writer rejects keys that look like secrets, such as "has_password". */
	audit(service, request, caller->tenant_id, caller->user_id, "drive.share_created", share_id,
	      json_pack("{s:s?, s:s?, s:O, s:b}", "file_id", file_id, "folder_id", folder_id, "expires_at", expires_at,
			"protected", password != NULL));
	ex_log(EX_LOG_INFO, "share_created", "{s:s}", "share", share_id);

	snprintf(url, sizeof(url), SHARE_PATH "%s", token);
	ex_http_respond_json(request, 201,
			     json_pack("{s:s, s:s, s:s, s:o, s:b}", "id", share_id, "token", token, "url", url,
				       "expires_at", expires_at, "has_password", password != NULL));
done:
	if (password != NULL)
		explicit_bzero((char *)password, strlen(password));
	json_decref(json);
}

static void list_shares(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	static const char sql[] =
		"SELECT id::text, file_id::text, folder_id::text, " TIMESTAMP("expires_at") ", revoked_at IS NOT NULL, "
		"       password_hash IS NOT NULL, " TIMESTAMP("created_at") " "
		"  FROM drive_shares WHERE owner_id = $1 ORDER BY created_at DESC LIMIT 1000";
	const char *params[] = { caller->user_id };
	ex_db_error error;

	PGresult *result = ex_drive_query(service, caller->tenant_id, sql, 1, params, &error);
	if (result == NULL) {
		ex_drive_respond_database_error(request, "list the shares", &error);
		return;
	}
	json_t *shares = json_array();
	for (int row = 0; row < PQntuples(result); row++)
		json_array_append_new(
			shares, json_pack("{s:s, s:s?, s:s?, s:s?, s:b, s:b, s:s}", "id", PQgetvalue(result, row, 0),
					  "file_id", PQgetisnull(result, row, 1) ? NULL : PQgetvalue(result, row, 1),
					  "folder_id", PQgetisnull(result, row, 2) ? NULL : PQgetvalue(result, row, 2),
					  "expires_at", PQgetisnull(result, row, 3) ? NULL : PQgetvalue(result, row, 3),
					  "revoked", PQgetvalue(result, row, 4)[0] == 't', "has_password",
					  PQgetvalue(result, row, 5)[0] == 't', "created_at", PQgetvalue(result, row, 6)));
	PQclear(result);
	ex_http_respond_json(request, 200, json_pack("{s:o}", "shares", shares));
}

static void revoke_share(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	const char *id = ex_http_param(request, "id");
	ex_db_error error;

	if (!ex_drive_is_uuid(id)) {
		ex_http_respond_error(request, 404, "share_not_found", "no active share with this id exists");
		return;
	}
	const char *params[] = { id, caller->user_id };
	PGresult *result = ex_drive_query(service, caller->tenant_id,
					  "UPDATE drive_shares SET revoked_at = now() WHERE id = $1 AND owner_id = $2 "
					  "AND revoked_at IS NULL RETURNING id",
					  2, params, &error);
	if (result == NULL) {
		ex_drive_respond_database_error(request, "revoke the share", &error);
		return;
	}
	int changed = PQntuples(result);
	PQclear(result);
	if (changed == 0) {
		ex_http_respond_error(request, 404, "share_not_found", "no active share with this id exists");
		return;
	}
	audit(service, request, caller->tenant_id, caller->user_id, "drive.share_revoked", id, NULL);
	ex_log(EX_LOG_INFO, "share_revoked", "{s:s}", "share", id);
	ex_http_respond_bytes(request, 204, NULL, "", 0);
}

/* ---- public access ---- */

/* The share row a public request reads. */
typedef struct {
	char tenant_id[EX_DRIVE_UUID_TEXT + 1];
	char id[EX_DRIVE_UUID_TEXT + 1];
	char file_id[EX_DRIVE_UUID_TEXT + 1];   /* empty for a folder share */
	char folder_id[EX_DRIVE_UUID_TEXT + 1]; /* empty for a file share */
	char owner_id[EX_DRIVE_UUID_TEXT + 1];
	char password_hash[ARGON2_ENCODED_MAX];
	char folder_name[EX_DRIVE_NAME_MAX + 1];
	bool expired;
	bool revoked;
	bool target_trashed;
} public_share;

/* Looks up the share of TOKEN_HASH. Returns 1 when found, 0 when not, -1 on error. */
static int load_public_share(ex_drive_service *service, const char *token_hash, public_share *share)
{
	static const char sql[] =
		"SELECT s.id::text, COALESCE(s.file_id::text, ''), COALESCE(s.folder_id::text, ''), s.owner_id::text, "
		"       COALESCE(s.password_hash, ''), COALESCE(s.expires_at <= now(), false), s.revoked_at IS NOT NULL, "
		"       CASE WHEN s.file_id IS NOT NULL THEN f.trashed_at IS NOT NULL OR drive_folder_in_trash(f.folder_id) "
		"            ELSE d.trashed_at IS NOT NULL OR drive_folder_in_trash(d.parent_id) END, "
		"       COALESCE(d.name, '') "
		"  FROM drive_shares s LEFT JOIN drive_files f ON f.id = s.file_id "
		"  LEFT JOIN drive_folders d ON d.id = s.folder_id WHERE s.token_sha256 = $1";
	const char *params[] = { token_hash };
	ex_db_error error;

	PGconn *connection = ex_db_acquire(service->database, 5000, &error);
	if (connection == NULL)
		return -1;
	PGresult *tenant = ex_db_exec(connection, "SELECT ex_tenant_for_drive_share($1)::text", 1, params, &error);
	ex_db_release(service->database, connection);
	if (tenant == NULL)
		return -1;
	bool found = PQntuples(tenant) == 1 && !PQgetisnull(tenant, 0, 0);
	if (found)
		snprintf(share->tenant_id, sizeof(share->tenant_id), "%s", PQgetvalue(tenant, 0, 0));
	PQclear(tenant);
	if (!found)
		return 0;

	PGresult *result = ex_drive_query(service, share->tenant_id, sql, 1, params, &error);
	if (result == NULL)
		return -1;
	if (PQntuples(result) == 0) {
		PQclear(result);
		return 0;
	}
	snprintf(share->id, sizeof(share->id), "%s", PQgetvalue(result, 0, 0));
	snprintf(share->file_id, sizeof(share->file_id), "%s", PQgetvalue(result, 0, 1));
	snprintf(share->folder_id, sizeof(share->folder_id), "%s", PQgetvalue(result, 0, 2));
	snprintf(share->owner_id, sizeof(share->owner_id), "%s", PQgetvalue(result, 0, 3));
	snprintf(share->password_hash, sizeof(share->password_hash), "%s", PQgetvalue(result, 0, 4));
	share->expired = PQgetvalue(result, 0, 5)[0] == 't';
	share->revoked = PQgetvalue(result, 0, 6)[0] == 't';
	share->target_trashed = PQgetvalue(result, 0, 7)[0] == 't';
	snprintf(share->folder_name, sizeof(share->folder_name), "%s", PQgetvalue(result, 0, 8));
	PQclear(result);
	return 1;
}

/* Returns true when the request's Basic credentials carry the share's password. */
static bool password_matches(ex_http_request *request, const char *password_hash)
{
	const char *header = ex_http_header(request, MHD_HTTP_HEADER_AUTHORIZATION);
	unsigned char decoded[512];

	if (header == NULL || strncasecmp(header, "Basic ", 6) != 0 || strlen(header + 6) > 680)
		return false;
	long length = ex_drive_base64_decode(header + 6, strlen(header + 6), decoded, sizeof(decoded) - 1);
	if (length < 0)
		return false;
	decoded[length] = '\0';
	const char *colon = memchr(decoded, ':', (size_t)length);
	if (colon == NULL)
		return false;
	bool matches = argon2id_verify(password_hash, colon + 1, (size_t)length - (size_t)(colon + 1 - (char *)decoded)) ==
		       ARGON2_OK;
	explicit_bzero(decoded, sizeof(decoded));
	return matches;
}

/* Streams the current version of FILE_ID (owned by OWNER_ID, in FOLDER_ID when not NULL). */
static void send_shared_file(ex_drive_service *service, ex_http_request *request, const public_share *share,
			     const char *file_id, const char *folder_id)
{
	static const char sql[] =
		"SELECT f.name, v.size, v.content_type, v.storage_key, v.id::text "
		"  FROM drive_files f JOIN drive_file_versions v ON v.file_id = f.id AND v.version = f.current_version "
		" WHERE f.id = $1 AND f.owner_id = $2 AND f.trashed_at IS NULL AND NOT drive_folder_in_trash(f.folder_id) "
		"   AND ($3 = '' OR f.folder_id = NULLIF($3, '')::uuid)";
	const char *params[] = { file_id, share->owner_id, folder_id ? folder_id : "" };
	ex_db_error error;

	PGresult *result = ex_drive_query(service, share->tenant_id, sql, 3, params, &error);
	if (result == NULL) {
		ex_drive_respond_database_error(request, "read the shared file", &error);
		return;
	}
	if (PQntuples(result) == 0) {
		PQclear(result);
		ex_http_respond_error(request, 404, "file_not_found", "this share has no such file");
		return;
	}
	const ex_drive_download download = {
		.tenant_id = share->tenant_id,
		.storage_key = PQgetvalue(result, 0, 3),
		.size = strtoull(PQgetvalue(result, 0, 1), NULL, 10),
		.content_type = PQgetvalue(result, 0, 2),
		.filename = PQgetvalue(result, 0, 0),
		.version_id = PQgetvalue(result, 0, 4),
		.cache_control = "private, no-store",
	};
	ex_drive_send_download(service, request, &download);
	PQclear(result);
}

/* A growing text buffer for the HTML page; a failed allocation marks it failed and stops it growing. */
typedef struct {
	char *text;
	size_t length;
	size_t capacity;
	bool failed;
} page_buffer;

static void append_raw(page_buffer *page, const char *text, size_t length)
{
	if (page->failed)
		return;
	if (page->length + length + 1 > page->capacity) {
		size_t capacity = (page->capacity + length + 1) * 2;
		char *grown = realloc(page->text, capacity);
		if (grown == NULL) {
			page->failed = true;
			return;
		}
		page->text = grown;
		page->capacity = capacity;
	}
	memcpy(page->text + page->length, text, length);
	page->length += length;
	page->text[page->length] = '\0';
}

static void append_markup(page_buffer *page, const char *markup)
{
	append_raw(page, markup, strlen(markup));
}

/* Appends TEXT with &, <, >, " and ' escaped, so a file name can never become markup. */
static void append_text(page_buffer *page, const char *text)
{
	for (const char *p = text; *p; p++) {
		switch (*p) {
		case '&': append_markup(page, "&amp;"); break;
		case '<': append_markup(page, "&lt;"); break;
		case '>': append_markup(page, "&gt;"); break;
		case '"': append_markup(page, "&quot;"); break;
		case '\'': append_markup(page, "&#39;"); break;
		default: append_raw(page, p, 1); break;
		}
	}
}

/* Sends the folder's files as an HTML page (pt-BR unless Accept-Language prefers English) or as JSON. */
static void send_folder_listing(ex_drive_service *service, ex_http_request *request, const public_share *share)
{
	static const char sql[] =
		"SELECT id::text, name, size FROM drive_files "
		" WHERE folder_id = $1 AND owner_id = $2 AND trashed_at IS NULL ORDER BY name COLLATE \"C\" LIMIT 1000";
	const char *params[] = { share->folder_id, share->owner_id };
	const char *accept = ex_http_header(request, MHD_HTTP_HEADER_ACCEPT);
	ex_db_error error;

	PGresult *result = ex_drive_query(service, share->tenant_id, sql, 2, params, &error);
	if (result == NULL) {
		ex_drive_respond_database_error(request, "list the shared folder", &error);
		return;
	}
	if (accept == NULL || strstr(accept, "text/html") == NULL) {
		json_t *entries = json_array();
		for (int row = 0; row < PQntuples(result); row++)
			json_array_append_new(entries, json_pack("{s:s, s:s, s:s, s:I}", "type", "file", "id",
								 PQgetvalue(result, row, 0), "name",
								 PQgetvalue(result, row, 1), "size",
								 (json_int_t)strtoll(PQgetvalue(result, row, 2), NULL, 10)));
		PQclear(result);
		ex_http_respond_json(request, 200, json_pack("{s:s, s:o}", "name", share->folder_name, "entries", entries));
		return;
	}

	bool english = ex_rp_language_choose(ex_http_header(request, MHD_HTTP_HEADER_ACCEPT_LANGUAGE)) == EX_RP_LANGUAGE_EN;
	const char *title = english ? "Shared folder" : "Pasta compartilhada";
	page_buffer page = { 0 };
	char number[32];

	append_markup(&page, english ? "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
				     : "<!DOCTYPE html>\n<html lang=\"pt-BR\"><head><meta charset=\"utf-8\"><title>");
	append_text(&page, title);
	append_markup(&page, ": ");
	append_text(&page, share->folder_name);
	append_markup(&page, "</title></head>\n<body><h1>");
	append_text(&page, share->folder_name);
	append_markup(&page, "</h1>\n<p>");
	append_text(&page, english ? "Read-only link. Choose a file to download it."
				   : "Link somente para leitura. Escolha um arquivo para baixá-lo.");
	append_markup(&page, "</p>\n<ul>\n");
	for (int row = 0; row < PQntuples(result); row++) {
		append_markup(&page, "<li><a href=\"?file=");
		append_text(&page, PQgetvalue(result, row, 0));
		append_markup(&page, "\">");
		append_text(&page, PQgetvalue(result, row, 1));
		append_markup(&page, "</a> (");
		snprintf(number, sizeof(number), "%s %s", PQgetvalue(result, row, 2), "bytes");
		append_text(&page, number);
		append_markup(&page, ")</li>\n");
	}
	if (PQntuples(result) == 0) {
		append_markup(&page, "<li>");
		append_text(&page, english ? "This folder is empty." : "Esta pasta está vazia.");
		append_markup(&page, "</li>\n");
	}
	append_markup(&page, "</ul></body></html>\n");
	PQclear(result);
	if (page.failed) {
		free(page.text);
		ex_http_respond_error(request, 500, "internal_error", "out of memory");
		return;
	}
	ex_http_respond_bytes(request, 200, "text/html; charset=utf-8", page.text, page.length);
	ex_http_add_header(request, "Content-Language", english ? "en" : "pt-BR");
	ex_http_add_header(request, "Vary", "Accept, Accept-Language");
	ex_http_add_header(request, "X-Content-Type-Options", "nosniff");
	ex_http_add_header(request, "Content-Security-Policy", "default-src 'none'");
	free(page.text);
}

static void public_share_access(ex_http_request *request, void *context)
{
	ex_drive_service *service = context;
	const char *token = ex_http_param(request, "token");
	public_share share;
	char token_hash[65];
	char file_param[64];

	memset(&share, 0, sizeof(share));
	if (!token_is_well_formed(token)) {
		ex_http_respond_error(request, 404, "share_not_found", "this link does not exist or was revoked");
		return;
	}
	sha256_hex(token, token_hash);
	int found = load_public_share(service, token_hash, &share);
	if (found < 0) {
		ex_http_respond_error(request, 503, "database_unavailable", "the share could not be read; try again");
		return;
	}
	if (found == 0 || share.revoked || share.target_trashed) {
		if (found == 1)
			audit(service, request, share.tenant_id, NULL, "drive.share_refused", share.id,
			      json_pack("{s:s}", "reason", share.revoked ? "revoked" : "target_trashed"));
		ex_http_respond_error(request, 404, "share_not_found", "this link does not exist or was revoked");
		return;
	}
	if (share.expired) {
		audit(service, request, share.tenant_id, NULL, "drive.share_refused", share.id,
		      json_pack("{s:s}", "reason", "expired"));
		ex_http_respond_error(request, 410, "share_expired", "this link has expired; ask its owner for a new one");
		return;
	}
	if (share.password_hash[0] != '\0' && !password_matches(request, share.password_hash)) {
		audit(service, request, share.tenant_id, NULL, "drive.share_refused", share.id,
		      json_pack("{s:s}", "reason", "password"));
		ex_http_respond_error(request, 401, "password_required",
				      "this link needs its password, sent with HTTP Basic authentication");
		ex_http_add_header(request, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"Expresso share\", charset=\"UTF-8\"");
		return;
	}

	int has_file = ex_http_query(request, "file", file_param, sizeof(file_param));
	const char *file_id = NULL;
	if (share.file_id[0] != '\0')
		file_id = share.file_id;
	else if (has_file == 0)
		file_id = file_param;
	audit(service, request, share.tenant_id, NULL, "drive.share_accessed", share.id,
	      json_pack("{s:s?, s:s?}", "file_id", file_id, "folder_id", share.folder_id[0] ? share.folder_id : NULL));
	if (file_id != NULL && !ex_drive_is_uuid(file_id)) {
		ex_http_respond_error(request, 404, "file_not_found", "this share has no such file");
		return;
	}
	if (file_id != NULL)
		send_shared_file(service, request, &share, file_id, share.file_id[0] ? NULL : share.folder_id);
	else
		send_folder_listing(service, request, &share);
}

typedef void (*share_command)(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller);

static void run_authenticated(ex_http_request *request, void *context, share_command command)
{
	ex_drive_service *service = context;
	ex_drive_caller caller;

	if (!ex_drive_authenticate(service, request, &caller))
		return;
	command(service, request, &caller);
	ex_drive_caller_clear(&caller);
}

static void handle_create(ex_http_request *request, void *context) { run_authenticated(request, context, create_share); }
static void handle_list(ex_http_request *request, void *context) { run_authenticated(request, context, list_shares); }
static void handle_revoke(ex_http_request *request, void *context) { run_authenticated(request, context, revoke_share); }

int ex_drive_add_share_routes(ex_drive_service *service, ex_http_server *http)
{
	if (ex_http_route_limited(http, "POST", "/api/v1/drive/shares", handle_create, service, SHARE_MAX_BODY) != 0 ||
	    ex_http_route(http, "GET", "/api/v1/drive/shares", handle_list, service) != 0 ||
	    ex_http_route(http, "DELETE", "/api/v1/drive/shares/{id}", handle_revoke, service) != 0 ||
	    ex_http_route(http, "GET", SHARE_PATH "{token}", public_share_access, service) != 0)
		return -1;
	return 0;
}
