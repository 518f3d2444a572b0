/*
 * HTTP helpers shared by the route files: pages, redirects, cookies,
 * bearer authentication and the Origin check.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth_service.h"
#include "expresso/log.h"
#include "session_cookie.h"

/* Pages load nothing and run no script. */
#define PAGE_SECURITY_POLICY "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

ex_rp_language ex_rp_request_language(const ex_http_request *request)
{
	return ex_rp_language_choose(ex_http_header(request, MHD_HTTP_HEADER_ACCEPT_LANGUAGE));
}

static void add_no_store(ex_http_request *request)
{
	ex_http_add_header(request, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ex_http_add_header(request, "Referrer-Policy", "no-referrer");
}

void ex_rp_respond_page(ex_http_request *request, ex_rp_page page)
{
	ex_rp_language language = ex_rp_request_language(request);
	char *html = ex_rp_page_render(page, language, ex_http_request_id(request));

	if (html == NULL) {
		ex_http_respond_error(request, 500, "internal_error", "the error page could not be rendered");
		return;
	}
	ex_http_respond_text(request, ex_rp_page_status(page), "text/html; charset=utf-8", html);
	free(html);
	add_no_store(request);
	ex_http_add_header(request, "Content-Language", ex_rp_language_tag(language));
	ex_http_add_header(request, "Content-Security-Policy", PAGE_SECURITY_POLICY);
	ex_http_add_header(request, "X-Content-Type-Options", "nosniff");
	ex_http_add_header(request, MHD_HTTP_HEADER_VARY, "Accept-Language");
}

void ex_rp_respond_redirect(ex_http_request *request, const char *location)
{
	ex_http_respond_text(request, 302, "text/plain; charset=utf-8", "");
	ex_http_add_header(request, MHD_HTTP_HEADER_LOCATION, location);
	add_no_store(request);
}

int ex_rp_prepare_cookie(const ex_rp_service *service, ex_rp_set_cookie *out, const char *name, const char *value,
			 const char *path, long max_age)
{
	ex_rp_cookie cookie = {
		.name = name, .value = value, .path = path, .secure = service->cookie_secure, .max_age = max_age,
	};

	out->ready = ex_rp_cookie_format(out->header, sizeof(out->header), &cookie) >= 0;
	if (!out->ready) {
		ex_log(EX_LOG_ERROR, "cookie_not_set", "{s:s, s:i, s:i}", "name", name, "value_bytes",
		       (int)strlen(value), "max_bytes", EX_RP_COOKIE_NAME_VALUE_MAX);
		return -1;
	}
	return 0;
}

void ex_rp_add_cookie(ex_http_request *request, const ex_rp_set_cookie *cookie)
{
	if (cookie->ready)
		ex_http_add_header(request, MHD_HTTP_HEADER_SET_COOKIE, cookie->header);
}

bool ex_rp_prepare_session_cookies(const ex_rp_service *service, const ex_rp_tokens *tokens,
				   const ex_auth_claims *access, ex_rp_session_cookies *cookies)
{
	long lifetime = (long)(access->expires_at - (int64_t)time(NULL));

	cookies->refresh.ready = false;
	cookies->id_token.ready = false;
	if (ex_rp_prepare_cookie(service, &cookies->session, EX_RP_COOKIE_SESSION, tokens->access_token,
				 EX_RP_COOKIE_PATH_ALL, lifetime > 0 ? lifetime : 1) != 0)
		return false;
	if (tokens->refresh_token != NULL)
		ex_rp_prepare_cookie(service, &cookies->refresh, EX_RP_COOKIE_REFRESH, tokens->refresh_token,
				     EX_RP_COOKIE_PATH_AUTH, EX_RP_COOKIE_SESSION_ONLY);
	if (tokens->id_token != NULL)
		ex_rp_prepare_cookie(service, &cookies->id_token, EX_RP_COOKIE_ID_TOKEN, tokens->id_token,
				     EX_RP_COOKIE_PATH_AUTH, EX_RP_COOKIE_SESSION_ONLY);
	return true;
}

void ex_rp_add_session_cookies(ex_http_request *request, const ex_rp_session_cookies *cookies)
{
	ex_rp_add_cookie(request, &cookies->session);
	ex_rp_add_cookie(request, &cookies->refresh);
	ex_rp_add_cookie(request, &cookies->id_token);
}

void ex_rp_clear_session_cookies(ex_rp_service *service, ex_http_request *request)
{
	static const struct {
		const char *name;
		const char *path;
	} cookies[] = {
		{ EX_RP_COOKIE_SESSION, EX_RP_COOKIE_PATH_ALL },
		{ EX_RP_COOKIE_REFRESH, EX_RP_COOKIE_PATH_AUTH },
		{ EX_RP_COOKIE_ID_TOKEN, EX_RP_COOKIE_PATH_AUTH },
	};
	char header[EX_RP_SET_COOKIE_MAX];

	for (size_t i = 0; i < sizeof(cookies) / sizeof(cookies[0]); i++) {
		if (ex_rp_cookie_format_deletion(header, sizeof(header), cookies[i].name, cookies[i].path,
						 service->cookie_secure) > 0)
			ex_http_add_header(request, MHD_HTTP_HEADER_SET_COOKIE, header);
	}
}

const char *ex_rp_request_cookie(const ex_http_request *request, const char *name)
{
	const char *value = MHD_lookup_connection_value(ex_http_connection(request), MHD_COOKIE_KIND, name);
	return value && value[0] ? value : NULL;
}

bool ex_rp_authenticate(ex_rp_service *service, ex_http_request *request, ex_auth_claims *claims)
{
	char challenge[512];

	ex_auth_status status = ex_auth_authenticate_connection(service->access_verifier, ex_http_connection(request),
								claims);
	if (status == EX_AUTH_OK) {
		ex_http_set_log_tenant(request, claims->tenant_id);
		return true;
	}

	const char *description = claims->error_description ? claims->error_description
							     : ex_auth_status_message(status);
	if (status == EX_AUTH_ERR_KEYS_UNAVAILABLE) {
		ex_http_respond_error(request, 503, "auth_unavailable",
				      "the identity provider's signing keys cannot be fetched; try again shortly");
		return false;
	}
	if (status == EX_AUTH_ERR_INTERNAL) {
		ex_http_respond_error(request, 500, "internal_error", "the token could not be checked");
		return false;
	}
	ex_log(EX_LOG_INFO, "authentication_failed", "{s:s}", "reason", ex_auth_status_code(status));
	if (status == EX_AUTH_ERR_NO_TOKEN)
		ex_http_respond_error(request, 401, "missing_token",
				      "send an access token as \"Authorization: Bearer <token>\" or sign in at /auth/login");
	else
		ex_http_respond_error(request, 401, "invalid_token", "%s", description);
	if (ex_auth_format_www_authenticate(challenge, sizeof(challenge), status, description) > 0)
		ex_http_add_header(request, MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge);
	return false;
}

bool ex_rp_check_origin(ex_rp_service *service, ex_http_request *request)
{
	const char *origin = ex_http_header(request, "Origin");

	if (ex_http_header(request, MHD_HTTP_HEADER_AUTHORIZATION) != NULL || origin == NULL)
		return true;
	if (strcasecmp(origin, service->public_origin) == 0)
		return true;
	ex_log(EX_LOG_WARN, "cross_origin_rejected", "{s:s}", "origin", origin);
	ex_http_respond_error(request, 403, "cross_origin_request",
			      "requests authenticated by cookie must come from %s", service->public_origin);
	return false;
}

bool ex_rp_is_uuid(const char *text)
{
	static const char layout[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (text == NULL || strlen(text) != sizeof(layout) - 1)
		return false;
	for (size_t i = 0; i < sizeof(layout) - 1; i++) {
		char c = text[i];
		bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		if (layout[i] == '-' ? c != '-' : !hex)
			return false;
	}
	return true;
}
