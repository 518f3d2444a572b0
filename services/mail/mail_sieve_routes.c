/*
 * Sieve over HTTP, for web clients: the scripts under
 * /api/v1/mail/sieve/scripts and the vacation settings at
 * /api/v1/mail/vacation, which write and activate a managed script
 * named by EX_MAIL_VACATION_SCRIPT. Tenant and user come from the access
 * token only.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"
#include "expresso/sieve.h"
#include "mail_sieve_routes.h"
#include "mail_sieve_store.h"
#include "mail_vacation.h"

enum {
	VACATION_MAX_SUBJECT = 998,
	VACATION_MAX_BODY = 32768,
	BODY_OVERHEAD = 4096, /* JSON quoting and fields around a script of the maximum size */
};

typedef struct {
	ex_auth_claims claims;
	ex_mail_sieve_owner owner;
} caller;

static bool authenticate(ex_mail_service *service, ex_http_request *request, caller *who)
{
	memset(who, 0, sizeof(*who));
	ex_auth_status status =
		ex_auth_authenticate_connection(service->verifier, ex_http_connection(request), &who->claims);
	if (status == EX_AUTH_OK) {
		who->owner = (ex_mail_sieve_owner){ service, who->claims.tenant_id, who->claims.subject };
		ex_http_set_log_tenant(request, who->claims.tenant_id);
		return true;
	}
	if (status == EX_AUTH_ERR_KEYS_UNAVAILABLE)
		ex_http_respond_error(request, 503, "auth_unavailable",
				      "the identity provider's signing keys cannot be fetched; try again shortly");
	else if (status == EX_AUTH_ERR_NO_TOKEN)
		ex_http_respond_error(request, 401, "missing_token",
				      "send an access token as \"Authorization: Bearer <token>\"");
	else
		ex_http_respond_error(request, 401, "invalid_token", "%s", ex_auth_status_message(status));
	ex_auth_claims_clear(&who->claims);
	return false;
}

static void respond_store_failure(ex_http_request *request, ex_mail_sieve_store_status status, const char *name)
{
	switch (status) {
	case EX_MAIL_SIEVE_STORE_NOT_FOUND:
		ex_http_respond_error(request, 404, "script_not_found", "no Sieve script named \"%s\"", name);
		break;
	case EX_MAIL_SIEVE_STORE_ACTIVE:
		ex_http_respond_error(request, 409, "script_active",
				      "script \"%s\" is active; activate another script or deactivate it first", name);
		break;
	case EX_MAIL_SIEVE_STORE_EXISTS:
		ex_http_respond_error(request, 409, "script_exists", "a script named \"%s\" already exists", name);
		break;
	default:
		ex_http_respond_error(request, 500, "internal_error", "the Sieve scripts could not be read or written");
		break;
	}
}

/* Reads the {name} parameter; responds 400 and returns NULL when it is not a valid script name. */
static const char *script_name(ex_http_request *request)
{
	const char *name = ex_http_param(request, "name");
	if (name == NULL || !ex_mail_sieve_name_valid(name)) {
		ex_http_respond_error(request, 400, "invalid_name",
				      "a script name is 1 to 255 bytes of UTF-8 without control characters");
		return NULL;
	}
	return name;
}

/*
 * Validates SCRIPT with libsieve. Responds 413 script_too_large or 422
 * invalid_script (detail.errors: [{line, message}]) and returns false
 * when it is not acceptable.
 */
static bool validate_script(ex_mail_service *service, ex_http_request *request, const char *script, size_t length)
{
	ex_sieve_errors errors;
	ex_sieve_status status = ex_sieve_validate(script, length, service->sieve_max_script_size, &errors);
	if (status == EX_SIEVE_OK)
		return true;
	if (status == EX_SIEVE_TOO_LARGE) {
		ex_http_respond_error(request, 413, "script_too_large",
				      "script of %zu bytes exceeds the limit of %zu bytes (sieve_max_script_size)", length,
				      service->sieve_max_script_size);
		return false;
	}
	if (status != EX_SIEVE_INVALID) {
		ex_http_respond_error(request, 500, "internal_error", "the script could not be checked: %s",
				      errors.count > 0 ? errors.items[0].message : "unknown error");
		return false;
	}
	json_t *list = json_array();
	for (size_t i = 0; i < errors.count && i < EX_SIEVE_MAX_ERRORS; i++)
		json_array_append_new(list, json_pack("{s:i, s:s}", "line", errors.items[i].line, "message",
						      errors.items[i].message));
	char message[EX_SIEVE_MAX_ERROR_TEXT + 64];
	if (errors.count > 0 && errors.items[0].line > 0)
		snprintf(message, sizeof(message), "line %d: %s", errors.items[0].line, errors.items[0].message);
	else
		snprintf(message, sizeof(message), "%s", errors.count > 0 ? errors.items[0].message : "invalid script");
	ex_http_respond_error_detail(request, 422, "invalid_script", message,
				     json_pack("{s:o, s:I}", "errors", list, "error_count", (json_int_t)errors.count));
	return false;
}

/* Parses the JSON body; responds 400 and returns NULL when it is not an object. */
static json_t *json_body(ex_http_request *request)
{
	size_t length = 0;
	const char *body = ex_http_body(request, &length);
	json_error_t error;
	json_t *json = body ? json_loadb(body, length, JSON_REJECT_DUPLICATES, &error) : NULL;
	if (!json_is_object(json)) {
		json_decref(json);
		ex_http_respond_error(request, 400, "invalid_json", "the body must be a JSON object");
		return NULL;
	}
	return json;
}

static void handle_list(ex_http_request *request, void *context)
{
	caller who;
	if (!authenticate(context, request, &who))
		return;
	json_t *list = NULL;
	ex_mail_sieve_store_status status = ex_mail_sieve_store_list(&who.owner, &list);
	if (status == EX_MAIL_SIEVE_STORE_OK)
		ex_http_respond_json(request, 200, json_pack("{s:o, s:s}", "scripts", list, "extensions",
							     ex_sieve_extensions()));
	else
		respond_store_failure(request, status, "");
	ex_auth_claims_clear(&who.claims);
}

static void handle_get(ex_http_request *request, void *context)
{
	caller who;
	const char *name = script_name(request);
	if (name == NULL || !authenticate(context, request, &who))
		return;
	json_t *script = NULL;
	ex_mail_sieve_store_status status = ex_mail_sieve_store_get(&who.owner, name, &script);
	if (status == EX_MAIL_SIEVE_STORE_OK)
		ex_http_respond_json(request, 200, script);
	else
		respond_store_failure(request, status, name);
	ex_auth_claims_clear(&who.claims);
}

/* PUT {"content": "...", "active": false}: validates, then creates or replaces the script. */
static void handle_put(ex_http_request *request, void *context)
{
	ex_mail_service *service = context;
	caller who;
	const char *name = script_name(request);
	if (name == NULL || !authenticate(service, request, &who))
		return;
	json_t *body = json_body(request);
	json_t *content = body ? json_object_get(body, "content") : NULL;
	json_t *active = body ? json_object_get(body, "active") : NULL;
	if (body != NULL && (!json_is_string(content) || (active != NULL && !json_is_boolean(active)))) {
		ex_http_respond_error(request, 400, "invalid_request",
				      "send {\"content\": \"<script>\"} with an optional boolean \"active\"");
	} else if (body != NULL &&
		   validate_script(service, request, json_string_value(content), json_string_length(content))) {
		ex_mail_sieve_store_status status =
			ex_mail_sieve_store_put(&who.owner, name, json_string_value(content), json_string_length(content),
						json_is_true(active));
		if (status == EX_MAIL_SIEVE_STORE_OK) {
			json_t *script = NULL;
			status = ex_mail_sieve_store_get(&who.owner, name, &script);
			if (status == EX_MAIL_SIEVE_STORE_OK)
				ex_http_respond_json(request, 200, script);
		}
		if (status != EX_MAIL_SIEVE_STORE_OK)
			respond_store_failure(request, status, name);
	}
	json_decref(body);
	ex_auth_claims_clear(&who.claims);
}

static void handle_activate(ex_http_request *request, void *context)
{
	caller who;
	const char *name = script_name(request);
	if (name == NULL || !authenticate(context, request, &who))
		return;
	ex_mail_sieve_store_status status = ex_mail_sieve_store_activate(&who.owner, name);
	if (status == EX_MAIL_SIEVE_STORE_OK)
		ex_http_respond_json(request, 200, json_pack("{s:s, s:b}", "name", name, "active", 1));
	else
		respond_store_failure(request, status, name);
	ex_auth_claims_clear(&who.claims);
}

static void handle_deactivate(ex_http_request *request, void *context)
{
	caller who;
	if (!authenticate(context, request, &who))
		return;
	ex_mail_sieve_store_status status = ex_mail_sieve_store_activate(&who.owner, NULL);
	if (status == EX_MAIL_SIEVE_STORE_OK)
		ex_http_respond_json(request, 200, json_pack("{s:n}", "active"));
	else
		respond_store_failure(request, status, "");
	ex_auth_claims_clear(&who.claims);
}

static void handle_delete(ex_http_request *request, void *context)
{
	caller who;
	const char *name = script_name(request);
	if (name == NULL || !authenticate(context, request, &who))
		return;
	ex_mail_sieve_store_status status = ex_mail_sieve_store_delete(&who.owner, name);
	if (status == EX_MAIL_SIEVE_STORE_OK)
		ex_http_respond_bytes(request, 204, "text/plain", "", 0);
	else
		respond_store_failure(request, status, name);
	ex_auth_claims_clear(&who.claims);
}

/* Appends TEXT to OUT as a Sieve quoted string (RFC 5228 section 2.4.2). */
static void append_quoted(char *out, size_t size, size_t *used, const char *text)
{
	if (*used + 1 < size)
		out[(*used)++] = '"';
	for (const char *p = text; *p != '\0' && *used + 3 < size; p++) {
		if (*p == '"' || *p == '\\')
			out[(*used)++] = '\\';
		out[(*used)++] = *p;
	}
	if (*used + 1 < size)
		out[(*used)++] = '"';
	out[*used] = '\0';
}

typedef struct {
	const ex_mail_sieve_owner *owner;
	json_t *json;
	bool enabled;
	const char *subject;
	const char *body;
	int days;
	const char *start_date; /* YYYY-MM-DD or NULL */
	const char *end_date;
} vacation_call;

/* Returns the decimal value of COUNT digits at TEXT, or -1 when one is not a digit. */
static int digits_value(const char *text, int count)
{
	int value = 0;
	for (int i = 0; i < count; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		value = value * 10 + (text[i] - '0');
	}
	return value;
}

/* Returns true when TEXT is a calendar date written YYYY-MM-DD. */
static bool valid_date(const char *text)
{
	if (strlen(text) != 10 || text[4] != '-' || text[7] != '-')
		return false;
	int year = digits_value(text, 4);
	int month = digits_value(text + 5, 2);
	int day = digits_value(text + 8, 2);
	static const int month_days[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (year < 1970 || month < 1 || month > 12 || day < 1 || day > month_days[month - 1])
		return false;
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return month != 2 || day <= 28 || leap;
}

static int vacation_read(PGconn *connection, void *context, ex_db_error *error)
{
	vacation_call *call = context;
	const char *params[] = { call->owner->user_id };
	PGresult *result = ex_db_exec(connection,
				      "SELECT enabled, subject, body, days, start_date::text, end_date::text "
				      "FROM sieve_vacation_settings WHERE user_id = $1",
				      1, params, error);
	if (result == NULL)
		return -1;
	if (PQntuples(result) == 1)
		call->json = json_pack("{s:b, s:s, s:s, s:i, s:s?, s:s?}", "enabled",
				       strcmp(PQgetvalue(result, 0, 0), "t") == 0, "subject", PQgetvalue(result, 0, 1), "body",
				       PQgetvalue(result, 0, 2), "days", (int)strtol(PQgetvalue(result, 0, 3), NULL, 10),
				       "start_date", PQgetisnull(result, 0, 4) ? NULL : PQgetvalue(result, 0, 4), "end_date",
				       PQgetisnull(result, 0, 5) ? NULL : PQgetvalue(result, 0, 5));
	else
		call->json = json_pack("{s:b, s:s, s:s, s:i, s:n, s:n}", "enabled", 0, "subject", "", "body", "", "days",
				       EX_MAIL_VACATION_DEFAULT_DAYS, "start_date", "end_date");
	PQclear(result);
	return 0;
}

static int vacation_write(PGconn *connection, void *context, ex_db_error *error)
{
	vacation_call *call = context;
	char days[16];
	snprintf(days, sizeof(days), "%d", call->days);
	const char *params[] = { call->owner->tenant_id, call->owner->user_id, call->enabled ? "true" : "false",
				 call->subject, call->body, days, call->start_date, call->end_date };
	PGresult *result = ex_db_exec(
		connection,
		"INSERT INTO sieve_vacation_settings (tenant_id, user_id, enabled, subject, body, days, start_date, "
		"end_date) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (user_id) DO UPDATE SET "
		"enabled = EXCLUDED.enabled, subject = EXCLUDED.subject, body = EXCLUDED.body, days = EXCLUDED.days, "
		"start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date, updated_at = now()",
		8, params, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

static void handle_vacation_get(ex_http_request *request, void *context)
{
	ex_mail_service *service = context;
	caller who;
	if (!authenticate(service, request, &who))
		return;
	vacation_call call = { .owner = &who.owner };
	ex_db_error error = { 0 };
	if (ex_db_tenant_transaction(service->database, who.owner.tenant_id, EX_DB_READ_COMMITTED, vacation_read, &call,
				     &error) != 0) {
		ex_log(EX_LOG_ERROR, "database_failed", "{s:s, s:s}", "operation", "vacation_read", "error", error.message);
		ex_http_respond_error(request, 500, "internal_error", "the vacation settings could not be read");
	} else {
		ex_http_respond_json(request, 200, call.json);
	}
	ex_auth_claims_clear(&who.claims);
}

/*
 * PUT {"enabled", "subject", "body", "days", "start_date", "end_date"}:
 * stores the settings and writes the managed script. Delivery skips its
 * replies outside the dates (mail_sieve.c), because libsieve has no date
 * extension. Enabling activates it, replacing the active
 * script; disabling deactivates it when it is the active one.
 */
static void handle_vacation_put(ex_http_request *request, void *context)
{
	ex_mail_service *service = context;
	caller who;
	if (!authenticate(service, request, &who))
		return;
	json_t *body = json_body(request);
	if (body == NULL) {
		ex_auth_claims_clear(&who.claims);
		return;
	}
	json_t *enabled = json_object_get(body, "enabled");
	json_t *subject = json_object_get(body, "subject");
	json_t *text = json_object_get(body, "body");
	if (text == NULL)
		text = json_object_get(body, "text"); /* accepted as another name of body */
	json_t *days = json_object_get(body, "days");
	json_t *start = json_object_get(body, "start_date");
	json_t *end = json_object_get(body, "end_date");
	const char *start_date = json_is_string(start) ? json_string_value(start) : NULL;
	const char *end_date = json_is_string(end) ? json_string_value(end) : NULL;
	json_int_t day_count = days ? json_integer_value(days) : EX_MAIL_VACATION_DEFAULT_DAYS;
	if (!json_is_boolean(enabled) || (subject && !json_is_string(subject)) || (text && !json_is_string(text)) ||
	    (days && !json_is_integer(days))) {
		ex_http_respond_error(request, 400, "invalid_request",
				      "send {\"enabled\": true, \"subject\": \"...\", \"body\": \"...\", \"days\": 7}");
	} else if ((start != NULL && !json_is_null(start) && (start_date == NULL || !valid_date(start_date))) ||
		   (end != NULL && !json_is_null(end) && (end_date == NULL || !valid_date(end_date)))) {
		ex_http_respond_error(request, 400, "invalid_date",
				      "start_date and end_date must be dates written YYYY-MM-DD, or null");
	} else if (start_date != NULL && end_date != NULL && strcmp(start_date, end_date) > 0) {
		ex_http_respond_error(request, 400, "invalid_date", "start_date %s is after end_date %s", start_date,
				      end_date);
	} else if (day_count < 1 || day_count > EX_MAIL_VACATION_MAX_DAYS) {
		ex_http_respond_error(request, 400, "invalid_days", "days must be between 1 and %d, got %lld",
				      EX_MAIL_VACATION_MAX_DAYS, (long long)day_count);
	} else if ((subject && json_string_length(subject) > VACATION_MAX_SUBJECT) ||
		   (text && json_string_length(text) > VACATION_MAX_BODY)) {
		ex_http_respond_error(request, 400, "too_long", "the subject may have %d bytes and the body %d",
				      VACATION_MAX_SUBJECT, VACATION_MAX_BODY);
	} else {
		vacation_call call = { .owner = &who.owner, .enabled = json_is_true(enabled),
				       .subject = subject ? json_string_value(subject) : "",
				       .body = text ? json_string_value(text) : "", .days = (int)day_count,
				       .start_date = start_date, .end_date = end_date };
		size_t size = 2 * (strlen(call.subject) + strlen(call.body)) + 256;
		char *script = malloc(size);
		size_t used = 0;
		ex_db_error error = { 0 };
		int rc = script == NULL ? -1 : 0;
		if (rc == 0) {
			used = (size_t)snprintf(script, size, "require [\"vacation\"];\r\nvacation :days %d", call.days);
			if (call.subject[0] != '\0') {
				used += (size_t)snprintf(script + used, size - used, " :subject ");
				append_quoted(script, size, &used, call.subject);
			}
			used += (size_t)snprintf(script + used, size - used, " ");
			append_quoted(script, size, &used, call.body);
			used += (size_t)snprintf(script + used, size - used, ";\r\n");
			rc = ex_db_tenant_transaction(service->database, who.owner.tenant_id, EX_DB_READ_COMMITTED,
						      vacation_write, &call, &error);
		}
		if (rc == 0 && !validate_script(service, request, script, used)) {
			rc = 1; /* responded */
		} else if (rc == 0) {
			ex_mail_sieve_store_status status =
				ex_mail_sieve_store_put(&who.owner, EX_MAIL_VACATION_SCRIPT, script, used, call.enabled);
			if (status == EX_MAIL_SIEVE_STORE_OK && !call.enabled) {
				json_t *current = NULL;
				status = ex_mail_sieve_store_get(&who.owner, EX_MAIL_VACATION_SCRIPT, &current);
				if (status == EX_MAIL_SIEVE_STORE_OK && json_is_true(json_object_get(current, "active")))
					status = ex_mail_sieve_store_activate(&who.owner, NULL);
				json_decref(current);
			}
			rc = status == EX_MAIL_SIEVE_STORE_OK ? 0 : -1;
		}
		if (rc == 0)
			ex_http_respond_json(request, 200,
					     json_pack("{s:b, s:s, s:s, s:i, s:s?, s:s?, s:s}", "enabled", call.enabled,
						       "subject", call.subject, "body", call.body, "days", call.days,
						       "start_date", call.start_date, "end_date", call.end_date, "script",
						       EX_MAIL_VACATION_SCRIPT));
		else if (rc < 0)
			ex_http_respond_error(request, 500, "internal_error", "the vacation settings could not be saved");
		free(script);
	}
	json_decref(body);
	ex_auth_claims_clear(&who.claims);
}

int ex_mail_sieve_routes_add(ex_mail_service *service, ex_http_server *http)
{
	if (service->verifier == NULL) {
		ex_log(EX_LOG_INFO, "sieve_api_disabled", "{s:s}", "reason", "EXPRESSO_OIDC_ISSUER is not set");
		return 0;
	}
	size_t max_body = service->sieve_max_script_size * 6 + BODY_OVERHEAD; /* \uXXXX quoting is 6 bytes a byte */
	if (ex_http_route(http, "GET", "/api/v1/mail/sieve/scripts", handle_list, service) != 0 ||
	    ex_http_route(http, "GET", "/api/v1/mail/sieve/scripts/{name}", handle_get, service) != 0 ||
	    ex_http_route_limited(http, "PUT", "/api/v1/mail/sieve/scripts/{name}", handle_put, service, max_body) != 0 ||
	    ex_http_route(http, "DELETE", "/api/v1/mail/sieve/scripts/{name}", handle_delete, service) != 0 ||
	    ex_http_route(http, "POST", "/api/v1/mail/sieve/scripts/{name}/activate", handle_activate, service) != 0 ||
	    ex_http_route(http, "POST", "/api/v1/mail/sieve/deactivate", handle_deactivate, service) != 0 ||
	    ex_http_route(http, "GET", "/api/v1/mail/vacation", handle_vacation_get, service) != 0 ||
	    ex_http_route_limited(http, "PUT", "/api/v1/mail/vacation", handle_vacation_put, service,
				  2 * VACATION_MAX_BODY + BODY_OVERHEAD) != 0)
		return -1;
	return 0;
}
