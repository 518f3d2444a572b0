/*
 * The session after login: POST /auth/refresh rotates the tokens with the
 * refresh cookie, GET /auth/logout ends the session here and at the
 * provider (RP-initiated logout), GET /auth/me describes the signed-in
 * user from a Bearer token or the session cookie.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth_service.h"
#include "expresso/log.h"
#include "id_token.h"
#include "url_text.h"

/* Validates the tokens of a refresh. Returns false after responding. */
static bool validate_refreshed(ex_rp_service *service, ex_http_request *request, const ex_rp_tokens *tokens,
			       ex_auth_claims *access)
{
	ex_auth_status status = ex_auth_verify(service->access_verifier, tokens->access_token,
					       strlen(tokens->access_token), access);
	if (status != EX_AUTH_OK) {
		ex_log(EX_LOG_ERROR, "refresh_failed", "{s:s}", "reason", ex_auth_status_code(status));
		ex_http_respond_error(request, 502, "provider_invalid_token",
				      "the identity provider returned an access token that does not verify (%s)",
				      ex_auth_status_code(status));
		return false;
	}
	if (tokens->id_token == NULL)
		return true;

	/* A refreshed ID token carries no nonce (OpenID Connect Core 1.0, section 12.2). */
	ex_rp_id_token_expectations expected = { .issuer = service->issuer, .client_id = service->client_id };
	ex_auth_claims identity;
	char reason[256];
	bool valid = ex_rp_id_token_validate(service->id_verifier, tokens->id_token, &expected, &identity, reason,
					     sizeof(reason));
	if (valid && strcmp(identity.subject, access->subject) != 0) {
		valid = false;
		snprintf(reason, sizeof(reason), "the ID token and the access token name different subjects");
	}
	ex_auth_claims_clear(&identity);
	if (!valid) {
		ex_log(EX_LOG_ERROR, "refresh_failed", "{s:s}", "reason", reason);
		ex_http_respond_error(request, 502, "provider_invalid_token",
				      "the identity provider returned an invalid ID token");
	}
	return valid;
}

/* Responds to a refresh that the provider did not complete. */
static void respond_refresh_failure(ex_rp_service *service, ex_http_request *request, ex_rp_token_result result,
				    const char *err)
{
	ex_log(result == EX_RP_TOKEN_REJECTED ? EX_LOG_INFO : EX_LOG_ERROR, "refresh_failed", "{s:s}", "reason", err);
	if (result == EX_RP_TOKEN_REJECTED) {
		ex_http_respond_error(request, 401, "session_expired",
				      "the session has ended at the identity provider; sign in again at /auth/login");
		ex_rp_clear_session_cookies(service, request);
	} else if (result == EX_RP_TOKEN_UNREACHABLE) {
		ex_http_respond_error(request, 502, "provider_unreachable",
				      "the identity provider cannot be reached; try again shortly");
	} else {
		ex_http_respond_error(request, 502, "provider_invalid_response",
				      "the identity provider's token response is invalid");
	}
}

static void handle_refresh(ex_http_request *request, void *context)
{
	ex_rp_service *service = context;
	ex_rp_tokens tokens = { .expires_in = -1 };
	ex_auth_claims access = { 0 };
	ex_rp_session_cookies cookies;
	char err[512];

	if (!ex_rp_check_origin(service, request))
		return;
	const char *refresh_token = ex_rp_request_cookie(request, EX_RP_COOKIE_REFRESH);
	if (refresh_token == NULL) {
		ex_http_respond_error(request, 401, "no_refresh_token",
				      "the request has no %s cookie; sign in at /auth/login", EX_RP_COOKIE_REFRESH);
		return;
	}

	ex_rp_token_result result = ex_rp_provider_refresh(service->provider, refresh_token, &tokens, err, sizeof(err));
	if (result != EX_RP_TOKEN_OK) {
		respond_refresh_failure(service, request, result, err);
	} else if (validate_refreshed(service, request, &tokens, &access)) {
		ex_http_set_log_tenant(request, access.tenant_id);
		if (!ex_rp_prepare_session_cookies(service, &tokens, &access, &cookies)) {
			ex_http_respond_error(request, 502, "token_too_large",
					      "the new access token is too large for a browser cookie");
		} else {
			long expires_in = (long)(access.expires_at - (int64_t)time(NULL));
			ex_http_respond_json(request, 200,
					     json_pack("{s:I, s:I}", "expires_at", (json_int_t)access.expires_at,
						       "expires_in", (json_int_t)(expires_in > 0 ? expires_in : 0)));
			ex_http_add_header(request, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
			ex_rp_add_session_cookies(request, &cookies);
			ex_counter_add(service->refreshes, 1);
			ex_log(EX_LOG_INFO, "session_refreshed", "{s:s}", "user", access.subject);
		}
	}
	ex_auth_claims_clear(&access);
	ex_rp_tokens_clear(&tokens);
}

/* Returns true when TOKEN looks like a compact JWS (three base64url segments). */
static bool looks_like_jwt(const char *token)
{
	int dots = 0;
	for (const char *p = token; *p; p++) {
		char c = *p;
		if (c == '.')
			dots++;
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			   c == '_'))
			return false;
	}
	return dots == 2;
}

/* Builds the provider's end-session URL, or NULL when it has none. */
static char *end_session_url(ex_rp_service *service, const char *id_token)
{
	char err[512];
	ex_rp_url_text url;

	const ex_rp_discovery *discovery = ex_rp_provider_discovery(service->provider, err, sizeof(err));
	if (discovery == NULL || discovery->end_session_endpoint == NULL) {
		if (discovery == NULL)
			ex_log(EX_LOG_WARN, "logout_provider_skipped", "{s:s}", "reason", err);
		return NULL;
	}
	ex_rp_url_text_init(&url, 0);
	ex_rp_url_text_append(&url, discovery->end_session_endpoint);
	ex_rp_url_text_append_parameter(&url, strchr(discovery->end_session_endpoint, '?') ? '&' : '?', "client_id",
					service->client_id);
	ex_rp_url_text_append_parameter(&url, '&', "post_logout_redirect_uri", service->post_logout_redirect);
	if (id_token != NULL && looks_like_jwt(id_token))
		ex_rp_url_text_append_parameter(&url, '&', "id_token_hint", id_token);
	return ex_rp_url_text_steal(&url);
}

static void handle_logout(ex_http_request *request, void *context)
{
	ex_rp_service *service = context;
	char err[512];

	const char *refresh_token = ex_rp_request_cookie(request, EX_RP_COOKIE_REFRESH);
	if (refresh_token != NULL &&
	    ex_rp_provider_revoke(service->provider, refresh_token, "refresh_token", err, sizeof(err)) < 0)
		ex_log(EX_LOG_WARN, "refresh_token_not_revoked", "{s:s}", "reason", err);

	char *location = end_session_url(service, ex_rp_request_cookie(request, EX_RP_COOKIE_ID_TOKEN));
	ex_rp_respond_redirect(request, location ? location : service->post_logout_redirect);
	ex_rp_clear_session_cookies(service, request);
	ex_log(EX_LOG_INFO, "logout", "{s:b}", "provider_logout", location != NULL);
	free(location);
}

static json_t *optional_json_string(const char *value)
{
	return value ? json_string(value) : json_null();
}

static void handle_me(ex_http_request *request, void *context)
{
	ex_rp_service *service = context;
	ex_auth_claims claims = { 0 };

	if (ex_rp_authenticate(service, request, &claims)) {
		json_t *roles = json_array();
		for (size_t i = 0; i < claims.role_count; i++)
			json_array_append_new(roles, json_string(claims.roles[i]));
		json_t *me = json_pack("{s:s, s:o, s:o, s:o, s:s, s:o}", "id", claims.subject, "email",
				       optional_json_string(claims.email), "name", optional_json_string(claims.name),
				       "username", optional_json_string(claims.preferred_username), "tenant_id",
				       claims.tenant_id, "roles", roles);
		ex_http_respond_json(request, 200, me);
		ex_http_add_header(request, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	}
	ex_auth_claims_clear(&claims);
}

int ex_rp_add_session_routes(ex_rp_service *service, ex_http_server *http)
{
	/* Refresh has no body; the small limit refuses anything large early. */
	if (ex_http_route_limited(http, "POST", "/auth/refresh", handle_refresh, service, 1024) != 0 ||
	    ex_http_route(http, "GET", "/auth/logout", handle_logout, service) != 0 ||
	    ex_http_route(http, "GET", "/auth/me", handle_me, service) != 0)
		return -1;
	return 0;
}
