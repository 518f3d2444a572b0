/*
 * The relying party's client of the OpenID Provider (Keycloak, or the
 * development provider). It fetches the discovery document once, retrying
 * lazily while it is missing. It makes the back-channel requests to the
 * token and revocation endpoints with client_secret_basic authentication
 * (RFC 6749, section 2.3.1). Requests use libcurl with http and https
 * only, no redirects, a total timeout and a response size cap.
 *
 * Thread-safe: handlers on any worker thread may call every function but
 * _new and _free.
 */
#ifndef EXPRESSO_AUTH_OIDC_PROVIDER_H
#define EXPRESSO_AUTH_OIDC_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

enum {
	/* Maximum size of a discovery or token response, in bytes. */
	EX_RP_PROVIDER_MAX_RESPONSE = 256 * 1024,
	EX_RP_DEFAULT_PROVIDER_TIMEOUT_MS = 10000,
	/* Minimum time between two discovery attempts while it fails. */
	EX_RP_DISCOVERY_RETRY_MS = 5000,
};

typedef struct {
	const char *issuer;        /* exact issuer, e.g. http://127.0.0.1:8080/realms/expresso */
	const char *client_id;
	const char *client_secret; /* from the environment only */
	long timeout_ms;           /* total time of one request */
	const char *ca_file;       /* PEM bundle for https; NULL: the system's */
} ex_rp_provider_options;

/* Endpoints from the discovery document; optional ones are NULL when absent. */
typedef struct {
	char *issuer;
	char *authorization_endpoint;
	char *token_endpoint;
	char *end_session_endpoint; /* optional */
	char *revocation_endpoint;  /* optional */
} ex_rp_discovery;

typedef enum {
	EX_RP_TOKEN_OK = 0,
	EX_RP_TOKEN_UNREACHABLE,      /* no discovery, connection failure, timeout, 5xx */
	EX_RP_TOKEN_REJECTED,         /* the provider returned an OAuth error (4xx) */
	EX_RP_TOKEN_INVALID_RESPONSE, /* 200 without the expected JSON members */
} ex_rp_token_result;

/* A token response (RFC 6749, section 5). Strings are owned; ex_rp_tokens_clear wipes and frees them. */
typedef struct {
	char *access_token;
	char *refresh_token; /* optional */
	char *id_token;      /* optional for a refresh */
	long expires_in;     /* seconds; -1 when absent */
	long http_status;
	char error[64];              /* OAuth error code when EX_RP_TOKEN_REJECTED */
	char error_description[256];
} ex_rp_tokens;

typedef struct ex_rp_provider ex_rp_provider;

/* Copies OPTIONS without contacting the provider. Returns NULL when a required option is missing. */
ex_rp_provider *ex_rp_provider_new(const ex_rp_provider_options *options);
void ex_rp_provider_free(ex_rp_provider *provider);

/*
 * Returns the discovery document, fetching it first when it is not loaded
 * and the last attempt is at least EX_RP_DISCOVERY_RETRY_MS old. The
 * result lives as long as the provider. Returns NULL with the reason in
 * ERR while it cannot be loaded.
 */
const ex_rp_discovery *ex_rp_provider_discovery(ex_rp_provider *provider, char *err, size_t errlen);

/* Exchanges an authorization code (with its PKCE verifier) at the token endpoint. */
ex_rp_token_result ex_rp_provider_exchange_code(ex_rp_provider *provider, const char *code, const char *redirect_uri,
						const char *code_verifier, ex_rp_tokens *out, char *err,
						size_t errlen);

/* Exchanges a refresh token for new tokens. */
ex_rp_token_result ex_rp_provider_refresh(ex_rp_provider *provider, const char *refresh_token, ex_rp_tokens *out,
					  char *err, size_t errlen);

/*
 * Revokes TOKEN (RFC 7009) with TYPE_HINT ("refresh_token"). Returns 0
 * when revoked, 1 when the provider has no revocation endpoint, -1 with
 * the reason in ERR on failure.
 */
int ex_rp_provider_revoke(ex_rp_provider *provider, const char *token, const char *type_hint, char *err,
			  size_t errlen);

void ex_rp_tokens_clear(ex_rp_tokens *tokens);

#endif
