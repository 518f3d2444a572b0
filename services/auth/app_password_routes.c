/*
 * App password endpoints, for IMAP, SMTP and DAV clients that cannot do
 * OIDC:
 *   POST   /auth/app-passwords       {"name": "..."} -> the password, once
 *   GET    /auth/app-passwords       the caller's active app passwords
 *   DELETE /auth/app-passwords/{id}  revoke one
 * Tenant and user come only from the validated token. Each request runs
 * in one transaction bound to the token's tenant (row-level security),
 * and the statements also filter on the token's user, so another user's
 * id gets 404 like a missing one. Creation and revocation write their
 * audit row in the same transaction.
 */
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app_password.h"
#include "auth_service.h"
#include "expresso/audit.h"
#include "expresso/log.h"
#include "user_provisioning.h"

enum {
	/* Largest creation request body, in bytes. */
	CREATE_BODY_MAX = 4096,
};

#define TIMESTAMP_SQL(column) "to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

static const char count_active_sql[] =
	"SELECT count(*) FROM app_passwords WHERE user_id = $1::uuid AND revoked_at IS NULL";

static const char insert_sql[] =
	"INSERT INTO app_passwords (tenant_id, user_id, name, hash) VALUES ($1::uuid, $2::uuid, $3, $4) "
	"RETURNING id, " TIMESTAMP_SQL("created_at");

static const char list_sql[] =
	"SELECT id, name, " TIMESTAMP_SQL("created_at") ", " TIMESTAMP_SQL("last_used_at")
	" FROM app_passwords WHERE user_id = $1::uuid AND revoked_at IS NULL ORDER BY created_at, id";

static const char revoke_sql[] =
	"UPDATE app_passwords SET revoked_at = now() "
	"WHERE id = $1::uuid AND user_id = $2::uuid AND revoked_at IS NULL RETURNING name";

/* Outcomes of the transactions below other than a database failure. */
typedef enum {
	OUTCOME_DONE = 0,
	OUTCOME_USER_REFUSED, /* see user_status */
	OUTCOME_TOO_MANY,
	OUTCOME_NAME_IN_USE,
	OUTCOME_NOT_FOUND,
} outcome;

typedef struct {
	ex_rp_service *service;
	ex_http_request *request;
	const ex_auth_claims *claims;
	const char *name;
	const char *hash;
	const char *id; /* revoke: the path's id */
	outcome result;
	ex_rp_user_status user_status;
	char created_id[40];
	char created_at[40];
	json_t *list; /* list: filled by the work */
} app_password_work;

static void write_audit(PGconn *connection, app_password_work *work, const char *action, const char *resource,
			const char *name, ex_db_error *error, int *rc)
{
	json_t *detail = json_pack("{s:s}", "name", name);
	ex_audit_entry entry = {
		.tenant_id = work->claims->tenant_id,
		.actor = work->claims->subject,
		.action = action,
		.resource = resource,
		.address = ex_http_client_address(work->request),
		.request_id = ex_http_request_id(work->request),
		.detail = detail,
	};
	*rc = ex_audit_write(connection, &entry, error);
	json_decref(detail);
}

/* Sets RESULT and returns -1 to roll back. ERROR gets no SQLSTATE, so the transaction is not retried. */
static int reject_work(app_password_work *work, outcome result, ex_db_error *error)
{
	work->result = result;
	error->sqlstate[0] = '\0';
	snprintf(error->message, sizeof(error->message), "request refused");
	return -1;
}

static int create_work(PGconn *connection, void *context, ex_db_error *error)
{
	app_password_work *work = context;
	const ex_auth_claims *claims = work->claims;

	work->result = OUTCOME_DONE;
	if (ex_rp_user_provision(connection, claims, &work->user_status, error) != 0) {
		if (work->user_status != EX_RP_USER_READY)
			work->result = OUTCOME_USER_REFUSED;
		return -1;
	}
	if (work->user_status != EX_RP_USER_READY)
		return reject_work(work, OUTCOME_USER_REFUSED, error);

	const char *count_params[] = { claims->subject };
	PGresult *result = ex_db_exec(connection, count_active_sql, 1, count_params, error);
	if (result == NULL)
		return -1;
	long active = strtol(PQgetvalue(result, 0, 0), NULL, 10);
	PQclear(result);
	if (active >= work->service->app_passwords_max)
		return reject_work(work, OUTCOME_TOO_MANY, error);

	const char *insert_params[] = { claims->tenant_id, claims->subject, work->name, work->hash };
	result = ex_db_exec(connection, insert_sql, 4, insert_params, error);
	if (result == NULL) {
		if (strcmp(error->sqlstate, "23505") == 0)
			return reject_work(work, OUTCOME_NAME_IN_USE, error);
		return -1;
	}
	snprintf(work->created_id, sizeof(work->created_id), "%s", PQgetvalue(result, 0, 0));
	snprintf(work->created_at, sizeof(work->created_at), "%s", PQgetvalue(result, 0, 1));
	PQclear(result);

	int rc;
	write_audit(connection, work, "auth.app_password.created", work->created_id, work->name, error, &rc);
	return rc;
}

/*
 * Reads the request body as {"name": "..."} into a jansson object that
 * the caller frees. Responds 400 or 415 and returns NULL when it is not.
 */
static json_t *read_create_body(ex_http_request *request, const char **name)
{
	const char *content_type = ex_http_header(request, MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t length;
	json_error_t json_error;

	if (content_type == NULL || strncasecmp(content_type, "application/json", 16) != 0 ||
	    (content_type[16] != '\0' && content_type[16] != ';' && content_type[16] != ' ')) {
		ex_http_respond_error(request, 415, "unsupported_media_type",
				      "send the request body as application/json: {\"name\": \"...\"}");
		return NULL;
	}
	const void *body = ex_http_body(request, &length);
	json_t *document = json_loadb(body ? body : "", length, JSON_REJECT_DUPLICATES, &json_error);
	if (!json_is_object(document)) {
		ex_http_respond_error(request, 400, "invalid_json", "the body must be a JSON object: %s",
				      document ? "it is another JSON value" : json_error.text);
		json_decref(document);
		return NULL;
	}
	*name = json_string_value(json_object_get(document, "name"));
	if (!ex_rp_app_password_name_is_valid(*name)) {
		ex_http_respond_error(request, 400, "invalid_name",
				      "name must be a string of %d to %d characters without control characters, "
				      "for example \"Thunderbird no notebook\"",
				      EX_RP_APP_PASSWORD_NAME_MIN, EX_RP_APP_PASSWORD_NAME_MAX);
		json_decref(document);
		return NULL;
	}
	return document;
}

/* Responds to a request whose transaction did not commit. */
static void respond_work_failure(ex_http_request *request, const app_password_work *work, const ex_db_error *error,
				 const char *event)
{
	switch (work->result) {
	case OUTCOME_USER_REFUSED:
		ex_log(EX_LOG_WARN, "user_not_provisioned", "{s:s, s:s}", "user", work->claims->subject, "reason",
		       ex_rp_user_status_message(work->user_status));
		ex_http_respond_error(request, work->user_status == EX_RP_USER_CONFLICT ? 409 : 403,
				      work->user_status == EX_RP_USER_DISABLED ? "user_disabled" : "user_not_provisioned",
				      "%s", ex_rp_user_status_message(work->user_status));
		return;
	case OUTCOME_TOO_MANY:
		ex_http_respond_error(request, 409, "too_many_app_passwords",
				      "this user already has %ld active app passwords, the maximum; revoke one first",
				      work->service->app_passwords_max);
		return;
	case OUTCOME_NAME_IN_USE:
		ex_http_respond_error(request, 409, "name_in_use",
				      "an active app password named \"%s\" exists; choose another name or revoke it",
				      work->name);
		return;
	case OUTCOME_NOT_FOUND:
		ex_http_respond_error(request, 404, "not_found", "no active app password with id %s", work->id);
		return;
	case OUTCOME_DONE:
		break;
	}
	ex_log(EX_LOG_ERROR, event, "{s:s, s:s}", "sqlstate", error->sqlstate, "error", error->message);
	ex_http_respond_error(request, 503, "database_unavailable",
			      "the app password could not be stored or read; try again shortly");
}

static void handle_create(ex_http_request *request, void *context)
{
	ex_rp_service *service = context;
	ex_auth_claims claims = { 0 };
	char password[EX_RP_APP_PASSWORD_LENGTH + 1];
	char hash[EX_RP_ARGON2_ENCODED_MAX];
	char err[256];
	const char *name = NULL;
	json_t *body = NULL;
	ex_db_error error = { 0 };

	if (!ex_rp_authenticate(service, request, &claims) || !ex_rp_check_origin(service, request) ||
	    (body = read_create_body(request, &name)) == NULL) {
		ex_auth_claims_clear(&claims);
		return;
	}
	/* Hashing takes a while and 64 MiB, so it runs before a database connection is taken. */
	if (ex_rp_app_password_generate(password, sizeof(password)) != 0 ||
	    ex_rp_app_password_hash(password, hash, sizeof(hash), err, sizeof(err)) != 0) {
		ex_log(EX_LOG_ERROR, "app_password_hash_failed", "{s:s}", "error", err);
		ex_http_respond_error(request, 500, "internal_error", "the app password could not be generated");
	} else {
		app_password_work work = {
			.service = service, .request = request, .claims = &claims, .name = name, .hash = hash,
		};
		if (ex_db_tenant_transaction(service->database, claims.tenant_id, EX_DB_READ_COMMITTED, create_work,
					     &work, &error) != 0) {
			respond_work_failure(request, &work, &error, "app_password_create_failed");
		} else {
			ex_counter_add(service->app_passwords_created, 1);
			ex_log(EX_LOG_INFO, "app_password_created", "{s:s, s:s}", "user", claims.subject,
			       "id", work.created_id);
			ex_http_respond_json(request, 201,
					     json_pack("{s:s, s:s, s:s, s:s}", "id", work.created_id, "name", name,
						       "created_at", work.created_at, "password", password));
			ex_http_add_header(request, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
		}
	}
	OPENSSL_cleanse(password, sizeof(password));
	OPENSSL_cleanse(hash, sizeof(hash));
	json_decref(body);
	ex_auth_claims_clear(&claims);
}

static int list_work(PGconn *connection, void *context, ex_db_error *error)
{
	app_password_work *work = context;
	const char *params[] = { work->claims->subject };

	PGresult *result = ex_db_exec(connection, list_sql, 1, params, error);
	if (result == NULL)
		return -1;
	json_decref(work->list);
	work->list = json_array();
	for (int row = 0; row < PQntuples(result); row++) {
		json_array_append_new(work->list,
				      json_pack("{s:s, s:s, s:s, s:o}", "id", PQgetvalue(result, row, 0), "name",
						PQgetvalue(result, row, 1), "created_at", PQgetvalue(result, row, 2),
						"last_used_at",
						PQgetisnull(result, row, 3) ? json_null()
									    : json_string(PQgetvalue(result, row, 3))));
	}
	PQclear(result);
	return 0;
}

static void handle_list(ex_http_request *request, void *context)
{
	ex_rp_service *service = context;
	ex_auth_claims claims = { 0 };
	ex_db_error error = { 0 };

	if (ex_rp_authenticate(service, request, &claims)) {
		app_password_work work = { .service = service, .request = request, .claims = &claims };
		if (!ex_rp_is_uuid(claims.subject)) {
			work.result = OUTCOME_USER_REFUSED;
			work.user_status = EX_RP_USER_BAD_CLAIMS;
			respond_work_failure(request, &work, &error, "app_password_list_failed");
		} else if (ex_db_tenant_transaction(service->database, claims.tenant_id, EX_DB_READ_COMMITTED, list_work,
						    &work, &error) != 0) {
			respond_work_failure(request, &work, &error, "app_password_list_failed");
		} else {
			ex_http_respond_json(request, 200, json_pack("{s:O}", "app_passwords", work.list));
			ex_http_add_header(request, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
		}
		json_decref(work.list);
	}
	ex_auth_claims_clear(&claims);
}

static int revoke_work(PGconn *connection, void *context, ex_db_error *error)
{
	app_password_work *work = context;
	const char *params[] = { work->id, work->claims->subject };

	work->result = OUTCOME_DONE;
	PGresult *result = ex_db_exec(connection, revoke_sql, 2, params, error);
	if (result == NULL)
		return -1;
	if (PQntuples(result) == 0) {
		PQclear(result);
		return reject_work(work, OUTCOME_NOT_FOUND, error);
	}
	int rc;
	write_audit(connection, work, "auth.app_password.revoked", work->id, PQgetvalue(result, 0, 0), error, &rc);
	PQclear(result);
	return rc;
}

static void handle_revoke(ex_http_request *request, void *context)
{
	ex_rp_service *service = context;
	ex_auth_claims claims = { 0 };
	ex_db_error error = { 0 };
	const char *id = ex_http_param(request, "id");

	if (ex_rp_authenticate(service, request, &claims) && ex_rp_check_origin(service, request)) {
		app_password_work work = { .service = service, .request = request, .claims = &claims, .id = id };
		if (!ex_rp_is_uuid(id) || !ex_rp_is_uuid(claims.subject)) {
			/* Neither can name a row: answer as for a row of someone else. */
			work.result = OUTCOME_NOT_FOUND;
			respond_work_failure(request, &work, &error, "app_password_revoke_failed");
		} else if (ex_db_tenant_transaction(service->database, claims.tenant_id, EX_DB_READ_COMMITTED,
						    revoke_work, &work, &error) != 0) {
			respond_work_failure(request, &work, &error, "app_password_revoke_failed");
		} else {
			ex_counter_add(service->app_passwords_revoked, 1);
			ex_log(EX_LOG_INFO, "app_password_revoked", "{s:s, s:s}", "user", claims.subject,
			       "id", id);
			ex_http_respond_bytes(request, 204, NULL, "", 0);
		}
	}
	ex_auth_claims_clear(&claims);
}

int ex_rp_add_app_password_routes(ex_rp_service *service, ex_http_server *http)
{
	if (ex_http_route_limited(http, "POST", "/auth/app-passwords", handle_create, service, CREATE_BODY_MAX) != 0 ||
	    ex_http_route(http, "GET", "/auth/app-passwords", handle_list, service) != 0 ||
	    ex_http_route(http, "DELETE", "/auth/app-passwords/{id}", handle_revoke, service) != 0)
		return -1;
	return 0;
}
