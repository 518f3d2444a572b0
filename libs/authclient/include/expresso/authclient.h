/*
 * libexpresso-authclient: validation of the OIDC access tokens (JWTs) that
 * Keycloak issues, for every Expresso daemon.
 *
 * A verifier keeps, for each accepted issuer, the signing keys of that
 * issuer's JSON Web Key Set (JWKS). It finds the JWKS through
 * <issuer>/.well-known/openid-configuration, caches the keys, refetches
 * when a token names an unknown `kid` (at most once per refetch interval)
 * and keeps using the cached keys while the issuer is unreachable.
 *
 * A token is accepted only when all of these hold:
 *   - it is at most max_token_bytes long and is three strict base64url
 *     segments (no padding, no other characters);
 *   - header and payload are JSON objects without duplicate keys;
 *   - `alg` is RS256, RS384, RS512, PS256, ES256 or ES384 and fits the key
 *     (RSA for RS and PS, the right EC curve for ES, and the JWK's own
 *     `alg` when it has one); `none` and HMAC are never accepted;
 *   - `typ` is absent, JWT or at+jwt, and there is no `crit` header;
 *   - `iss` is a configured issuer and `kid` names a key of that issuer;
 *   - the signature verifies with OpenSSL EVP;
 *   - `exp` is present and not past, `nbf` and `iat` are not in the future,
 *     each with leeway_seconds of tolerance;
 *   - `aud` (string or array) or `azp` names an accepted audience;
 *   - `sub` is present and the tenant is known (the issuer's configured
 *     tenant, or else the `tenant_id` claim), in UUID text form.
 * Header parameters that point elsewhere for keys (`jku`, `x5u`, `jwk`,
 * `x5c`) are ignored: keys only ever come from the configured issuers.
 *
 * Thread safety: ex_auth_verify, ex_auth_authenticate_connection,
 * ex_auth_verifier_refresh, ex_auth_verifier_add_jwks_json and
 * ex_auth_verifier_get_stats may run from any number of threads at once on
 * one verifier (libmicrohttpd worker threads). ex_auth_verifier_new and
 * ex_auth_verifier_free must not run concurrently with anything else on
 * that verifier.
 */
#ifndef EXPRESSO_AUTHCLIENT_H
#define EXPRESSO_AUTHCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults that ex_auth_config_init() sets. */
#define EX_AUTH_DEFAULT_LEEWAY_SECONDS 30
#define EX_AUTH_DEFAULT_MAX_TOKEN_BYTES (16 * 1024)
#define EX_AUTH_DEFAULT_REFETCH_INTERVAL_SECONDS 30
#define EX_AUTH_DEFAULT_KEYS_MAX_AGE_SECONDS 600
#define EX_AUTH_DEFAULT_HTTP_TIMEOUT_MS 5000
#define EX_AUTH_DEFAULT_MAX_DOCUMENT_BYTES (256 * 1024)

/* Hard limits that ex_auth_verifier_new() enforces on a configuration. */
#define EX_AUTH_MAX_ISSUERS 64
#define EX_AUTH_MAX_AUDIENCES 64
#define EX_AUTH_MAX_LEEWAY_SECONDS 3600
#define EX_AUTH_MAX_TOKEN_BYTES_LIMIT (1024 * 1024)
#define EX_AUTH_MAX_DOCUMENT_BYTES_LIMIT (16 * 1024 * 1024)
/* At most this many keys of one JWKS are kept; the rest are skipped. */
#define EX_AUTH_MAX_JWKS_KEYS 64
/* RSA keys outside this modulus size range are skipped. */
#define EX_AUTH_RSA_MIN_BITS 2048
#define EX_AUTH_RSA_MAX_BITS 8192

/* One accepted issuer (one Keycloak realm). */
typedef struct ex_auth_issuer {
    /* Exact `iss` value, e.g. "http://127.0.0.1:8080/realms/expresso". */
    const char *issuer;
    /* Tenant id (UUID) of every token from this issuer, for
     * realm-per-tenant deployments. NULL: take the `tenant_id` claim. When
     * set and the token also has a `tenant_id` claim, the two must match. */
    const char *tenant_id;
    /* JWKS URL. NULL: read `jwks_uri` from the discovery document. */
    const char *jwks_uri;
    /* A JWKS document to use instead of fetching (tests, air-gapped
     * installations). The issuer is then never contacted. */
    const char *jwks_json;
} ex_auth_issuer;

typedef enum ex_auth_log_level {
    EX_AUTH_LOG_DEBUG,
    EX_AUTH_LOG_INFO,
    EX_AUTH_LOG_WARNING,
    EX_AUTH_LOG_ERROR,
} ex_auth_log_level;

/* Receives the verifier's events: `event` is a fixed name such as
 * "jwks_fetch_failed", `message` a sentence with the issuer and the cause.
 * Neither ever contains a token. Called from whichever thread caused the
 * event, so it must be thread-safe. */
typedef void ex_auth_log_fn(void *ctx, ex_auth_log_level level,
                            const char *event, const char *message);

typedef struct ex_auth_config {
    /* Issuer allowlist, 1 to EX_AUTH_MAX_ISSUERS entries. */
    const ex_auth_issuer *issuers;
    size_t issuer_count;
    /* Accepted audiences: a token passes when its `aud` contains one of
     * them or its `azp` equals one. 1 to EX_AUTH_MAX_AUDIENCES entries. */
    const char *const *audiences;
    size_t audience_count;
    /* Client whose roles in resource_access.<client>.roles are added to
     * the realm roles. NULL: realm_access.roles only. */
    const char *roles_client;
    /* Cookie that ex_auth_authenticate_connection() reads when the request
     * has no Bearer Authorization header. NULL: the header only. */
    const char *session_cookie;
    /* Clock skew tolerated on exp, nbf and iat, in seconds. */
    long leeway_seconds;
    /* Maximum token length in bytes, checked before any decoding. */
    size_t max_token_bytes;
    /* Minimum time between two JWKS fetches of one issuer, in seconds. */
    long refetch_interval_seconds;
    /* Keys older than this are refreshed by the next verification that
     * uses them; while the refresh fails the old keys stay in use. */
    long keys_max_age_seconds;
    /* Total time allowed for one HTTP request to the issuer, in ms. */
    long http_timeout_ms;
    /* Largest discovery or JWKS document accepted, in bytes. */
    size_t max_document_bytes;
    /* CA bundle (PEM file) for https issuers. NULL: the system's. */
    const char *ca_file;
    /* Optional event sink; NULL drops events. */
    ex_auth_log_fn *log;
    void *log_ctx;
} ex_auth_config;

/* Why a token was rejected. Stable: daemons log ex_auth_status_code(). */
typedef enum ex_auth_status {
    EX_AUTH_OK = 0,
    EX_AUTH_ERR_NO_TOKEN,         /* request carried no credentials */
    EX_AUTH_ERR_TOO_LARGE,        /* longer than max_token_bytes */
    EX_AUTH_ERR_MALFORMED,        /* encoding, JSON, header or claim types */
    EX_AUTH_ERR_ALGORITHM,        /* alg not allowed or does not fit the key */
    EX_AUTH_ERR_UNKNOWN_KEY,      /* kid not in the issuer's JWKS */
    EX_AUTH_ERR_SIGNATURE,        /* signature does not verify */
    EX_AUTH_ERR_EXPIRED,          /* exp has passed */
    EX_AUTH_ERR_NOT_YET_VALID,    /* nbf or iat in the future */
    EX_AUTH_ERR_ISSUER,           /* iss missing or not accepted */
    EX_AUTH_ERR_AUDIENCE,         /* neither aud nor azp accepted */
    EX_AUTH_ERR_CLAIMS,           /* a required claim (exp, sub) missing */
    EX_AUTH_ERR_TENANT,           /* tenant missing, malformed or conflicting */
    EX_AUTH_ERR_KEYS_UNAVAILABLE, /* issuer has no keys and cannot be reached */
    EX_AUTH_ERR_INTERNAL,         /* out of memory or an OpenSSL failure */
} ex_auth_status;

/* What a handler needs from a verified token. Strings are owned by the
 * struct and freed by ex_auth_claims_clear(); optional ones are NULL when
 * the token lacks them. */
typedef struct ex_auth_claims {
    char *subject;            /* sub: the user id */
    char *tenant_id;          /* UUID text */
    char *issuer;             /* iss */
    char *authorized_party;   /* azp, optional */
    char *email;              /* optional */
    char *preferred_username; /* optional */
    char *name;               /* optional */
    /* realm_access.roles plus resource_access.<roles_client>.roles, without
     * duplicates. Malformed role claims grant no roles. */
    char **roles;
    size_t role_count;
    int64_t expires_at;       /* exp, seconds since the epoch */
    int64_t issued_at;        /* iat, 0 when absent */
    /* On failure: a short static sentence for error_description, which
     * never contains any part of the token. NULL on success. */
    const char *error_description;
} ex_auth_claims;

typedef struct ex_auth_stats {
    uint64_t jwks_fetches;        /* JWKS fetch attempts, all issuers */
    uint64_t jwks_fetch_failures; /* attempts that kept the old keys */
    uint64_t discovery_fetches;   /* discovery document requests */
    size_t keys_cached;           /* keys held now, all issuers */
} ex_auth_stats;

typedef struct ex_auth_verifier ex_auth_verifier;

/* Fills *config with zero pointers and the EX_AUTH_DEFAULT_* values. */
void ex_auth_config_init(ex_auth_config *config);

/* Creates a verifier from *config, copying everything it points to.
 * Contacts no issuer (see ex_auth_verifier_refresh). Returns NULL with a
 * sentence in err when the configuration is invalid. */
ex_auth_verifier *ex_auth_verifier_new(const ex_auth_config *config,
                                       char *err, size_t errlen);

void ex_auth_verifier_free(ex_auth_verifier *verifier);

/* Fetches the JWKS of every issuer that has no static jwks_json, ignoring
 * the refetch interval. Daemons call it once at startup so the first
 * request does not wait for the fetch. Returns 0 when every fetch
 * succeeded, else -1 with the first failure in err (the verifier stays
 * usable and retries on demand). */
int ex_auth_verifier_refresh(ex_auth_verifier *verifier, char *err,
                             size_t errlen);

/* Adds the keys of a JWKS document to the keys of `issuer` (which must be
 * configured), replacing keys with the same kid. A later fetch for that
 * issuer replaces all of them. Returns the number of keys added, or -1
 * with the reason in err. */
int ex_auth_verifier_add_jwks_json(ex_auth_verifier *verifier,
                                   const char *issuer, const char *json,
                                   size_t len, char *err, size_t errlen);

/* Verifies `token` (len bytes, no terminator needed) and fills *out.
 * *out is overwritten; call ex_auth_claims_clear() on it afterwards
 * whatever the result. May block on one JWKS fetch when the kid is
 * unknown and the refetch interval allows a fetch. */
ex_auth_status ex_auth_verify(ex_auth_verifier *verifier, const char *token,
                              size_t len, ex_auth_claims *out);

/* Frees the strings of *claims and zeroes it. */
void ex_auth_claims_clear(ex_auth_claims *claims);

/* True when the verified claims carry `role` (exact, case-sensitive). */
bool ex_auth_has_role(const ex_auth_claims *claims, const char *role);

void ex_auth_verifier_get_stats(ex_auth_verifier *verifier,
                                ex_auth_stats *out);

/* Stable machine name of a status, e.g. "token_expired", for logs. */
const char *ex_auth_status_code(ex_auth_status status);

/* A generic sentence for a status, for callers without claims at hand. */
const char *ex_auth_status_message(ex_auth_status status);

/* ---- libmicrohttpd helpers ---- */

/* Takes the token from "Authorization: Bearer <token>" (scheme matched
 * case-insensitively) or, when the request has no Bearer Authorization
 * header and config.session_cookie is set, from that cookie, then
 * verifies it into *out. Returns EX_AUTH_ERR_NO_TOKEN when the request
 * carries neither; an Authorization header of another scheme (Basic)
 * counts as none. */
ex_auth_status ex_auth_authenticate_connection(ex_auth_verifier *verifier,
                                               struct MHD_Connection *connection,
                                               ex_auth_claims *out);

/* Writes the WWW-Authenticate value for a failed authentication:
 *   Bearer realm="expresso"                               (no credentials)
 *   Bearer realm="expresso", error="invalid_token", error_description="..."
 * Characters that RFC 6750 does not allow in error_description are
 * replaced by '?'. Returns the length written, or -1 if buf is too small. */
int ex_auth_format_www_authenticate(char *buf, size_t buflen,
                                    ex_auth_status status,
                                    const char *description);

/* Queues the response for a failed authentication: 401 with
 * WWW-Authenticate and {"error":{"code":"invalid_token","message":...}}
 * (code "missing_token" without credentials); 503 "auth_unavailable" for
 * EX_AUTH_ERR_KEYS_UNAVAILABLE; 500 "internal_error" for
 * EX_AUTH_ERR_INTERNAL. `description` may be NULL (the status's generic
 * message is used). */
enum MHD_Result ex_auth_queue_auth_failure(struct MHD_Connection *connection,
                                           ex_auth_status status,
                                           const char *description);

/* Queues 403 with WWW-Authenticate error="insufficient_scope" and
 * {"error":{"code":"insufficient_role","message":...}} naming `role`. */
enum MHD_Result ex_auth_queue_insufficient_role(struct MHD_Connection *connection,
                                                const char *role);

#ifdef __cplusplus
}
#endif

#endif /* EXPRESSO_AUTHCLIENT_H */
