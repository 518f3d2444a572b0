/*
 * The settings that tell a daemon which OpenID Provider issues the access
 * tokens it accepts, and the verifier (libexpresso-authclient) built from
 * them. Every daemon that checks tokens puts EX_OIDC_SETTINGS in its
 * setting table and calls ex_oidc_verifier_open() in its setup.
 */
#ifndef EXPRESSO_OIDC_SETTINGS_H
#define EXPRESSO_OIDC_SETTINGS_H

#include "expresso/authclient.h"
#include "expresso/config.h"

#define EX_OIDC_SETTINGS                                                                                        \
	{ "oidc_issuer", "EXPRESSO_OIDC_ISSUER", EX_SETTING_STRING, NULL, NULL,                                  \
	  "Issuer URL of the OpenID Provider (the Keycloak realm), exactly as tokens carry it in iss.", false }, \
	{ "oidc_audience", "EXPRESSO_OIDC_AUDIENCE", EX_SETTING_STRING, "expresso", NULL,                        \
	  "Audience that access tokens must carry in aud or azp.", false },                                     \
	{ "oidc_ca_file", "EXPRESSO_OIDC_CA_FILE", EX_SETTING_STRING, NULL, NULL,                                \
	  "PEM file of CA certificates for an https provider; unset: the system's CA certificates.", false },   \
	{ "oidc_timeout", "EXPRESSO_OIDC_TIMEOUT", EX_SETTING_DURATION, "10s", "duration",                       \
	  "Total time allowed for one request to the provider for its signing keys.", false }

typedef enum {
	EX_OIDC_ISSUER_REQUIRED = 0, /* the daemon cannot run without tokens */
	EX_OIDC_ISSUER_OPTIONAL,     /* without an issuer, token logins are simply not offered */
} ex_oidc_issuer_need;

/*
 * Creates the verifier from the oidc_* settings of CONFIG. SESSION_COOKIE
 * names the cookie that may carry the token (NULL: Authorization only).
 * Returns 0 with *VERIFIER set, which is NULL when the issuer is optional
 * and not set, or -1 after logging what is wrong with which setting.
 */
int ex_oidc_verifier_open(const ex_config *config, ex_oidc_issuer_need need, const char *session_cookie,
			  ex_auth_verifier **verifier);

/*
 * Fetches the issuer's signing keys now, so the first request need not wait
 * for them. A failure is logged as a warning and the keys are fetched again
 * when a token needs them.
 */
void ex_oidc_verifier_prefetch(ex_auth_verifier *verifier);

/* Writes one libexpresso-authclient log line with the core logger; fits ex_auth_config.log. */
void ex_oidc_log_authclient_event(void *context, ex_auth_log_level level, const char *event, const char *message);

#endif
