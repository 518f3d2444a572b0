/*
 * GET /auth/login and GET /auth/callback: the authorization code flow
 * with PKCE S256, state and nonce (OpenID Connect Core 1.0, section 3.1;
 * RFC 7636).
 *
 * /auth/login remembers a new login (state, nonce, code verifier, the
 * checked return path) and sends the browser to the provider.
 * /auth/callback takes that login back exactly once, exchanges the code,
 * validates the ID token and the access token, sets the session cookies
 * and sends the browser to the saved path. Every failure a person can
 * meet ends on an error page in their language; the log line says why.
 */
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_service.h"
#include "expresso/audit.h"
#include "expresso/log.h"
#include "id_token.h"
#include "pkce.h"
#include "safe_redirect.h"
#include "session_cookie.h"
#include "url_text.h"
#include "user_provisioning.h"

#define LOGIN_SCOPE "openid email profile"

enum {
	/* Maximum length of an authorization code or provider error code read from the callback. */
	CALLBACK_VALUE_MAX = 2048,
	PROVIDER_ERROR_CODE_MAX = 64,
	/* Eviction warnings are logged at most once per this interval. */
	EVICTION_LOG_INTERVAL_MS = 60 * 1000,
};

static _Atomic uint64_t last_eviction_log_ms;

/* Fills LOGIN with fresh random values and the checked return path. */
static int prepare_login(ex_http_request *request, ex_rp_login *login)
{
	char candidate[EX_RP_REDIRECT_MAX + 1];

	memset(login, 0, sizeof(*login));
	if (ex_rp_random_token(login->state, sizeof(login->state)) != 0 ||
	    ex_rp_random_token(login->nonce, sizeof(login->nonce)) != 0 ||
	    ex_rp_random_token(login->code_verifier, sizeof(login->code_verifier)) != 0)
		return -1;

	int found = ex_http_query(request, "redirect", candidate, sizeof(candidate));
	if (found == 0 && ex_rp_redirect_is_safe(candidate, strlen(candidate))) {
		snprintf(login->redirect, sizeof(login->redirect), "%s", candidate);
	} else {
		if (found != 1)
			ex_log(EX_LOG_INFO, "login_redirect_replaced", "{s:s}", "reason",
			       found < 0 ? "invalid encoding or too long" : "not a safe local path");
		snprintf(login->redirect, sizeof(login->redirect), "/");
	}
	return 0;
}

/* Builds the authorization request URL for LOGIN. */
static char *authorization_url(ex_rp_service *service, const ex_rp_discovery *discovery, const ex_rp_login *login,
			       ex_rp_language language)
{
	char challenge[EX_RP_CODE_CHALLENGE_SIZE];
	ex_rp_url_text url;

	if (ex_rp_pkce_challenge(login->code_verifier, challenge, sizeof(challenge)) != 0)
		return NULL;
	ex_rp_url_text_init(&url, 0);
	ex_rp_url_text_append(&url, discovery->authorization_endpoint);
	ex_rp_url_text_append_parameter(&url, strchr(discovery->authorization_endpoint, '?') ? '&' : '?',
					"response_type", "code");
	ex_rp_url_text_append_parameter(&url, '&', "client_id", service->client_id);
	ex_rp_url_text_append_parameter(&url, '&', "redirect_uri", service->redirect_uri);
	ex_rp_url_text_append_parameter(&url, '&', "scope", LOGIN_SCOPE);
	ex_rp_url_text_append_parameter(&url, '&', "state", login->state);
	ex_rp_url_text_append_parameter(&url, '&', "nonce", login->nonce);
	ex_rp_url_text_append_parameter(&url, '&', "code_challenge", challenge);
	ex_rp_url_text_append_parameter(&url, '&', "code_challenge_method", "S256");
	ex_rp_url_text_append_parameter(&url, '&', "ui_locales", ex_rp_language_tag(language));
	return ex_rp_url_text_steal(&url);
}

static void note_eviction(ex_rp_service *service)
{
	ex_counter_add(service->login_states_evicted, 1);
	uint64_t now = ex_rp_monotonic_ms();
	uint64_t last = atomic_load(&last_eviction_log_ms);
	if (now - last >= EVICTION_LOG_INTERVAL_MS && atomic_compare_exchange_strong(&last_eviction_log_ms, &last, now))
		ex_log(EX_LOG_WARN, "login_state_evicted", "{s:i, s:I}", "capacity", (int)service->login_max,
		       "evicted_total", (json_int_t)ex_counter_value(service->login_states_evicted));
}

static void handle_login(ex_http_request *request, void *context)
{
	ex_rp_service *service = context;
	ex_rp_login login;
	char err[512];
	bool evicted;

	const ex_rp_discovery *discovery = ex_rp_provider_discovery(service->provider, err, sizeof(err));
	if (discovery == NULL) {
		ex_log(EX_LOG_ERROR, "provider_discovery_failed", "{s:s}", "error", err);
		ex_rp_respond_page(request, EX_RP_PAGE_PROVIDER_UNREACHABLE);
		return;
	}
	if (prepare_login(request, &login) != 0) {
		ex_log(EX_LOG_ERROR, "login_random_failed", "{s:s}", "error", "OpenSSL RAND_bytes failed");
		ex_rp_respond_page(request, EX_RP_PAGE_INTERNAL);
		return;
	}
	char *location = authorization_url(service, discovery, &login, ex_rp_request_language(request));
	if (location == NULL || ex_rp_login_store_put(service->logins, &login, ex_rp_monotonic_ms(), &evicted) != 0) {
		ex_log(EX_LOG_ERROR, "login_start_failed", "{s:s}", "error", "the authorization URL or the login could not be stored");
		ex_rp_respond_page(request, EX_RP_PAGE_INTERNAL);
	} else {
		if (evicted)
			note_eviction(service);
		ex_counter_add(service->logins_started, 1);
		ex_rp_respond_redirect(request, location);
	}
	free(location);
	OPENSSL_cleanse(&login, sizeof(login));
}

/* Ends a callback with PAGE and logs EVENT with REASON. */
static void fail_callback(ex_rp_service *service, ex_http_request *request, ex_rp_page page, const char *event,
			  const char *reason)
{
	ex_counter_add(service->logins_failed, 1);
	ex_log(page == EX_RP_PAGE_INTERNAL || page == EX_RP_PAGE_PROVIDER_UNREACHABLE ? EX_LOG_ERROR : EX_LOG_WARN,
	       event, "{s:s, s:s}", "page", ex_rp_page_code(page), "reason", reason);
	ex_rp_respond_page(request, page);
}

/* Copies an OAuth error code with anything but [A-Za-z0-9_.-] replaced, for logs. */
static void sanitize_error_code(const char *in, char *out, size_t out_size)
{
	size_t used = 0;
	for (const char *p = in; *p && used + 1 < out_size; p++) {
		char c = *p;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
			     c == '.' || c == '-';
		out[used++] = plain ? c : '?';
	}
	out[used] = '\0';
}

/*
 * Checks the callback's parameters other than state: the RFC 9207 `iss`
 * (against mix-up), a provider error, and the code. Returns true with the
 * code in CODE, or false after responding.
 */
static bool read_callback_code(ex_rp_service *service, ex_http_request *request, char *code, size_t code_size)
{
	char value[CALLBACK_VALUE_MAX];
	char error_code[PROVIDER_ERROR_CODE_MAX];

	int found = ex_http_query(request, "iss", value, sizeof(value));
	if (found == 0 && strcmp(value, service->issuer) != 0) {
		fail_callback(service, request, EX_RP_PAGE_LOGIN_FAILED, "login_failed",
			      "the callback's iss parameter is not the configured issuer");
		return false;
	}
	if (ex_http_query(request, "error", value, sizeof(value)) == 0) {
		sanitize_error_code(value, error_code, sizeof(error_code));
		ex_counter_add(service->logins_failed, 1);
		ex_log(EX_LOG_WARN, "login_provider_error", "{s:s}", "provider_error", error_code);
		ex_rp_respond_page(request, strcmp(value, "access_denied") == 0 ? EX_RP_PAGE_ACCESS_DENIED
										: EX_RP_PAGE_PROVIDER_ERROR);
		return false;
	}
	if (ex_http_query(request, "code", code, code_size) != 0 || code[0] == '\0') {
		fail_callback(service, request, EX_RP_PAGE_LOGIN_FAILED, "login_failed",
			      "the callback has no valid code parameter");
		return false;
	}
	return true;
}

/* Takes the login of the callback's state. Returns false after responding. */
static bool take_login(ex_rp_service *service, ex_http_request *request, ex_rp_login *login)
{
	char state[EX_RP_LOGIN_TOKEN_MAX + 1];
	ex_rp_login_lookup lookup = EX_RP_LOGIN_UNKNOWN;

	if (ex_http_query(request, "state", state, sizeof(state)) == 0)
		lookup = ex_rp_login_store_take(service->logins, state, ex_rp_monotonic_ms(), login);
	if (lookup == EX_RP_LOGIN_FOUND)
		return true;
	if (lookup == EX_RP_LOGIN_EXPIRED)
		fail_callback(service, request, EX_RP_PAGE_LOGIN_EXPIRED, "login_state_rejected",
			      "the login is older than the login state TTL");
	else
		fail_callback(service, request, EX_RP_PAGE_LOGIN_UNKNOWN, "login_state_rejected",
			      "the state is missing, unknown, already used or evicted");
	return false;
}

/*
 * Validates the ID token and the access token of TOKENS for LOGIN.
 * Returns true with the access token's claims in *ACCESS, or false after
 * responding.
 */
static bool validate_tokens(ex_rp_service *service, ex_http_request *request, const ex_rp_login *login,
			    const ex_rp_tokens *tokens, ex_auth_claims *access)
{
	ex_rp_id_token_expectations expected = {
		.issuer = service->issuer, .client_id = service->client_id, .nonce = login->nonce,
	};
	ex_auth_claims identity;
	char reason[256];

	if (tokens->id_token == NULL) {
		fail_callback(service, request, EX_RP_PAGE_LOGIN_FAILED, "login_failed",
			      "the token response has no id_token; the client must be allowed the openid scope");
		return false;
	}
	bool valid = ex_rp_id_token_validate(service->id_verifier, tokens->id_token, &expected, &identity, reason,
					     sizeof(reason));
	if (!valid) {
		ex_auth_claims_clear(&identity);
		fail_callback(service, request, EX_RP_PAGE_LOGIN_FAILED, "login_failed", reason);
		return false;
	}

	ex_auth_status status = ex_auth_verify(service->access_verifier, tokens->access_token,
					       strlen(tokens->access_token), access);
	if (status != EX_AUTH_OK) {
		snprintf(reason, sizeof(reason), "the access token was rejected: %s", ex_auth_status_code(status));
		ex_auth_claims_clear(&identity);
		fail_callback(service, request,
			      status == EX_AUTH_ERR_KEYS_UNAVAILABLE ? EX_RP_PAGE_PROVIDER_UNREACHABLE
								     : EX_RP_PAGE_LOGIN_FAILED,
			      "login_failed", reason);
		return false;
	}
	valid = strcmp(identity.subject, access->subject) == 0;
	ex_auth_claims_clear(&identity);
	if (!valid)
		fail_callback(service, request, EX_RP_PAGE_LOGIN_FAILED, "login_failed",
			      "the ID token and the access token name different subjects");
	return valid;
}

typedef struct {
	const ex_auth_claims *claims;
	ex_http_request *request;
	ex_rp_user_status user_status;
} login_record;

static int record_login_work(PGconn *connection, void *context, ex_db_error *error)
{
	login_record *record = context;
	if (ex_rp_user_provision(connection, record->claims, &record->user_status, error) != 0)
		return -1;
	ex_audit_entry entry = {
		.tenant_id = record->claims->tenant_id,
		.actor = record->claims->subject,
		.action = "auth.login",
		.resource = record->claims->subject,
		.address = ex_http_client_address(record->request),
		.request_id = ex_http_request_id(record->request),
	};
	return ex_audit_write(connection, &entry, error);
}

/*
 * Provisions the user and writes the login's audit row. A failure is
 * logged and does not stop the login: the token is valid, and the
 * daemons that need the row report its absence themselves.
 */
static void record_login(ex_rp_service *service, ex_http_request *request, const ex_auth_claims *claims)
{
	login_record record = { .claims = claims, .request = request };
	ex_db_error error;

	if (ex_db_tenant_transaction(service->database, claims->tenant_id, EX_DB_READ_COMMITTED, record_login_work,
				     &record, &error) != 0)
		ex_log(EX_LOG_ERROR, "login_record_failed", "{s:s, s:s, s:s}", "user", claims->subject, "sqlstate",
		       error.sqlstate, "error", error.message);
}

/* Exchanges the code and validates the tokens. Returns false after responding on failure. */
static bool redeem_code(ex_rp_service *service, ex_http_request *request, const ex_rp_login *login,
			const char *code, ex_rp_tokens *tokens, ex_auth_claims *access)
{
	char err[512];

	ex_rp_token_result result = ex_rp_provider_exchange_code(service->provider, code, service->redirect_uri,
								 login->code_verifier, tokens, err, sizeof(err));
	if (result == EX_RP_TOKEN_UNREACHABLE) {
		fail_callback(service, request, EX_RP_PAGE_PROVIDER_UNREACHABLE, "login_failed", err);
		return false;
	}
	if (result == EX_RP_TOKEN_INVALID_RESPONSE) {
		fail_callback(service, request, EX_RP_PAGE_PROVIDER_ERROR, "login_failed", err);
		return false;
	}
	if (result == EX_RP_TOKEN_REJECTED) {
		char error_code[PROVIDER_ERROR_CODE_MAX];
		sanitize_error_code(tokens->error, error_code, sizeof(error_code));
		snprintf(err, sizeof(err), "the token endpoint rejected the code with %s (HTTP %ld)", error_code,
			 tokens->http_status);
		fail_callback(service, request, EX_RP_PAGE_LOGIN_FAILED, "login_failed", err);
		return false;
	}
	return validate_tokens(service, request, login, tokens, access);
}

static void handle_callback(ex_http_request *request, void *context)
{
	ex_rp_service *service = context;
	ex_rp_login login;
	ex_rp_tokens tokens = { .expires_in = -1 };
	ex_auth_claims access = { 0 };
	char code[CALLBACK_VALUE_MAX];
	char location[EX_RP_REDIRECT_LOCATION_MAX];
	ex_rp_session_cookies cookies;

	if (!take_login(service, request, &login))
		return;
	if (read_callback_code(service, request, code, sizeof(code)) &&
	    redeem_code(service, request, &login, code, &tokens, &access)) {
		ex_http_set_log_tenant(request, access.tenant_id);
		if (!ex_rp_prepare_session_cookies(service, &tokens, &access, &cookies)) {
			fail_callback(service, request, EX_RP_PAGE_LOGIN_FAILED, "login_failed",
				      "the access token is too large for a browser cookie");
		} else {
			record_login(service, request, &access);
			ex_rp_redirect_location(login.redirect, strlen(login.redirect), location, sizeof(location));
			ex_rp_respond_redirect(request, location);
			ex_rp_add_session_cookies(request, &cookies);
			ex_counter_add(service->logins_completed, 1);
			ex_log(EX_LOG_INFO, "login_completed", "{s:s}", "user", access.subject);
		}
	}
	ex_auth_claims_clear(&access);
	ex_rp_tokens_clear(&tokens);
	OPENSSL_cleanse(&cookies, sizeof(cookies));
	OPENSSL_cleanse(code, sizeof(code));
	OPENSSL_cleanse(&login, sizeof(login));
}

int ex_rp_add_login_routes(ex_rp_service *service, ex_http_server *http)
{
	if (ex_http_route(http, "GET", "/auth/login", handle_login, service) != 0 ||
	    ex_http_route(http, "GET", "/auth/callback", handle_callback, service) != 0)
		return -1;
	return 0;
}
