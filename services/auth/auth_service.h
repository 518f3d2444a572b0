/*
 * expresso-auth: the OIDC relying party in front of Keycloak. This header
 * declares the daemon's state and the functions the route files share.
 * setup builds the state once from the settings. The handlers then only
 * read it, except for members that are thread-safe on their own (the
 * login store, the provider client, the verifiers, the counters).
 */
#ifndef EXPRESSO_AUTH_SERVICE_H
#define EXPRESSO_AUTH_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "accept_language.h"
#include "error_page.h"
#include "expresso/authclient.h"
#include "expresso/daemon.h"
#include "login_state.h"
#include "oidc_provider.h"
#include "session_cookie.h"

/* Settings of expresso-auth beside the common ones; listed by --help. */
extern const ex_setting ex_rp_settings[];

typedef struct {
	/* settings */
	char *issuer;
	char *client_id;
	char *audience;
	char *public_origin;        /* scheme://host[:port], no trailing slash */
	char *redirect_uri;         /* <public origin>/auth/callback */
	char *post_logout_redirect; /* where the provider sends the browser after logout */
	bool cookie_secure;
	uint64_t login_ttl_ms;
	size_t login_max;
	long app_passwords_max;

	/* resources */
	ex_db_pool *database;
	ex_rp_provider *provider;
	ex_auth_verifier *access_verifier; /* audience: the API audience; reads the session cookie */
	ex_auth_verifier *id_verifier;     /* audience: this client */
	ex_rp_login_store *logins;

	/* metrics */
	ex_counter *logins_started;
	ex_counter *logins_completed;
	ex_counter *logins_failed;
	ex_counter *login_states_evicted;
	ex_counter *refreshes;
	ex_counter *app_passwords_created;
	ex_counter *app_passwords_revoked;
} ex_rp_service;

/* Reads the settings and opens the resources. Returns 0, or -1 after logging why. */
int ex_rp_service_open(ex_rp_service *service, ex_daemon *daemon);
void ex_rp_service_close(ex_rp_service *service);

/* Route registration, one function per route file. */
int ex_rp_add_login_routes(ex_rp_service *service, ex_http_server *http);
int ex_rp_add_session_routes(ex_rp_service *service, ex_http_server *http);
int ex_rp_add_app_password_routes(ex_rp_service *service, ex_http_server *http);

/* ---- helpers shared by the route files (auth_http.c) ---- */

/* Returns the language of the request's pages from its Accept-Language. */
ex_rp_language ex_rp_request_language(const ex_http_request *request);

/* Responds with PAGE as HTML in the request's language, with its status and no-store headers. */
void ex_rp_respond_page(ex_http_request *request, ex_rp_page page);

/* Responds 302 to LOCATION with no-store. Add cookies afterwards with ex_rp_add_cookie. */
void ex_rp_respond_redirect(ex_http_request *request, const char *location);

/* A formatted Set-Cookie value, prepared before the response it goes with. */
typedef struct {
	char header[EX_RP_SET_COOKIE_MAX];
	bool ready;
} ex_rp_set_cookie;

/*
 * Formats the Set-Cookie value for NAME=VALUE at PATH into *OUT. MAX_AGE
 * is in seconds (EX_RP_COOKIE_SESSION_ONLY for none). Returns 0, or -1
 * after logging when the cookie cannot be formatted (too long for a
 * browser); *OUT is then not ready.
 */
int ex_rp_prepare_cookie(const ex_rp_service *service, ex_rp_set_cookie *out, const char *name, const char *value,
			 const char *path, long max_age);

/* Adds a prepared cookie to the response just made; does nothing when it is not ready. */
void ex_rp_add_cookie(ex_http_request *request, const ex_rp_set_cookie *cookie);

/* The three cookies of a session, formatted before the response. */
typedef struct {
	ex_rp_set_cookie session;
	ex_rp_set_cookie refresh;
	ex_rp_set_cookie id_token;
} ex_rp_session_cookies;

/*
 * Prepares the cookies for TOKENS, whose access token has the verified
 * claims ACCESS; the session cookie lives as long as that token. Returns
 * false when the access token does not fit in a cookie. The refresh and
 * ID token cookies are left out when absent or too long: the session
 * then still works until the access token expires, and the failure is
 * logged.
 */
bool ex_rp_prepare_session_cookies(const ex_rp_service *service, const ex_rp_tokens *tokens,
				   const ex_auth_claims *access, ex_rp_session_cookies *cookies);

/* Adds the prepared session cookies to the response just made. */
void ex_rp_add_session_cookies(ex_http_request *request, const ex_rp_session_cookies *cookies);

/* Adds the Set-Cookie headers that delete the session, refresh and ID token cookies. */
void ex_rp_clear_session_cookies(ex_rp_service *service, ex_http_request *request);

/* Returns the value of cookie NAME of the request, or NULL. */
const char *ex_rp_request_cookie(const ex_http_request *request, const char *name);

/*
 * Verifies the request's Bearer token or session cookie into *CLAIMS.
 * On failure it responds (401 with WWW-Authenticate, 503 when the
 * issuer's keys are unavailable, 500) and returns false. *CLAIMS must be cleared
 * with ex_auth_claims_clear() either way.
 */
bool ex_rp_authenticate(ex_rp_service *service, ex_http_request *request, ex_auth_claims *claims);

/*
 * For requests that change state and may be authenticated by cookie:
 * returns true when the request has an Authorization header, no Origin
 * header, or the Origin of the public URL. Otherwise it responds 403 and
 * returns false, so another site cannot make a browser act with its
 * cookies.
 */
bool ex_rp_check_origin(ex_rp_service *service, ex_http_request *request);

/* Returns true when TEXT is a UUID in its 8-4-4-4-12 hexadecimal form. */
bool ex_rp_is_uuid(const char *text);

#endif
