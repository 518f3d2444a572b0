/*
 * Declarations shared by the files of libexpresso-authclient and by its
 * unit tests and fuzz target. Not installed, not part of the public API.
 */
#ifndef EXPRESSO_AUTHCLIENT_INTERNAL_H
#define EXPRESSO_AUTHCLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "expresso/authclient.h"

/* ---- base64url.c ---- */

/* Largest number of bytes that `len` base64url characters decode to. */
size_t ex_auth_b64url_decoded_max(size_t len);

/* Decodes strict base64url (RFC 4648 section 5 alphabet, no padding, no
 * whitespace, unused trailing bits zero) into out. Returns the decoded
 * length, or -1 on any invalid input or when outcap is too small. */
long ex_auth_b64url_decode(const char *in, size_t len, unsigned char *out,
                           size_t outcap);

/* ---- algorithm.c ---- */

/* The JWS algorithms this library accepts; everything else is rejected. */
typedef enum ex_auth_alg {
    EX_AUTH_ALG_INVALID = 0,
    EX_AUTH_ALG_RS256,
    EX_AUTH_ALG_RS384,
    EX_AUTH_ALG_RS512,
    EX_AUTH_ALG_PS256,
    EX_AUTH_ALG_ES256,
    EX_AUTH_ALG_ES384,
} ex_auth_alg;

typedef enum ex_auth_key_type {
    EX_AUTH_KEY_RSA = 1,
    EX_AUTH_KEY_EC_P256,
    EX_AUTH_KEY_EC_P384,
} ex_auth_key_type;

/* Maps an `alg` value to the enum; EX_AUTH_ALG_INVALID for anything not in
 * the allowlist (none, HS*, PS384, EdDSA, ...). */
ex_auth_alg ex_auth_alg_from_name(const char *name, size_t len);

/* The key type an algorithm needs. */
ex_auth_key_type ex_auth_alg_key_type(ex_auth_alg alg);

/* The message digest of an algorithm, fetched once and kept. */
const EVP_MD *ex_auth_alg_digest(ex_auth_alg alg);

/* ---- jwk.c / jwks.c ---- */

typedef struct ex_auth_key {
    char *kid;
    size_t kid_len;
    EVP_PKEY *pkey;
    ex_auth_key_type type;
    ex_auth_alg alg; /* the JWK's `alg`, or EX_AUTH_ALG_INVALID if absent */
} ex_auth_key;

typedef struct ex_auth_keyset {
    ex_auth_key *keys;
    size_t count;
} ex_auth_keyset;

typedef enum ex_auth_jwk_result {
    EX_AUTH_JWK_USABLE,  /* *out filled */
    EX_AUTH_JWK_SKIPPED, /* not a signature key of a supported kind */
    EX_AUTH_JWK_INVALID, /* claims to be a supported key but is broken */
} ex_auth_jwk_result;

/* Converts one JWK object to an EVP_PKEY. *why is set to a static reason
 * when the result is not EX_AUTH_JWK_USABLE. */
ex_auth_jwk_result ex_auth_jwk_to_key(const json_t *jwk, ex_auth_key *out,
                                      const char **why);

void ex_auth_key_clear(ex_auth_key *key);

/* Parses a JWKS document into *out (which it overwrites). Keys that are
 * skipped or invalid are counted in *ignored and described in `note`
 * (first one only). Returns 0, or -1 with the reason in err when the
 * document is not a JWKS or holds no usable key. */
int ex_auth_keyset_parse(const char *json, size_t len, ex_auth_keyset *out,
                         size_t *ignored, char *note, size_t notelen,
                         char *err, size_t errlen);

void ex_auth_keyset_clear(ex_auth_keyset *set);

/* Finds the key with exactly this kid (byte comparison, any length).
 * When several keys share the kid, prefers one of `type`. */
const ex_auth_key *ex_auth_keyset_find(const ex_auth_keyset *set,
                                       const char *kid, size_t kid_len,
                                       ex_auth_key_type type);

/* Adds the keys of `add` to `set`, replacing keys with the same kid and
 * type. Takes ownership of add's keys and empties *add. Returns 0 or -1
 * (out of memory, both sets unchanged). */
int ex_auth_keyset_merge(ex_auth_keyset *set, ex_auth_keyset *add);

/* ---- http_fetch.c ---- */

typedef struct ex_auth_http_limits {
    long timeout_ms;
    size_t max_bytes;
    const char *ca_file;
} ex_auth_http_limits;

/* True when url starts with http:// or https:// (case-insensitive) and
 * has something after the scheme. */
bool ex_auth_url_is_http(const char *url);

/* GETs url (http or https only, no redirects) and returns the body in
 * *body (malloc'd, NUL-terminated). Returns 0, or -1 with the reason in
 * err (timeout, size cap, status other than 200, ...). */
int ex_auth_http_get(const ex_auth_http_limits *limits, const char *url,
                     char **body, size_t *body_len, char *err, size_t errlen);

/* ---- key_cache.c ---- */

/* One accepted issuer and its keys. */
typedef struct ex_auth_issuer_state {
    char *issuer;
    size_t issuer_len;
    char *tenant_id;      /* configured tenant, or NULL */
    bool fetches;         /* false when the keys are static */
    bool jwks_uri_fixed;  /* configured, so never rediscovered */

    /* Guarded by the verifier's rwlock. */
    ex_auth_keyset keys;
    int64_t keys_fetched_ms; /* monotonic time of the last good fetch */

    /* Serialises fetches of this issuer and guards the fields below. */
    pthread_mutex_t fetch_lock;
    char *jwks_uri;          /* configured or discovered, or NULL */
    bool attempted;
    int64_t last_attempt_ms; /* monotonic time of the last fetch attempt */
} ex_auth_issuer_state;

/* Parsed header and payload JSON of recently seen tokens (parse_cache.c). */
#define EX_AUTH_PARSE_CACHE_SLOTS 256
/* Longer encoded segments are parsed every time and never cached. */
#define EX_AUTH_PARSE_CACHE_MAX_SEGMENT 4096

typedef struct ex_auth_parse_slot {
    uint64_t hash;
    size_t len;
    char *text;   /* the encoded segment, len bytes */
    json_t *json; /* its parsed object; never modified */
} ex_auth_parse_slot;

typedef struct ex_auth_parse_cache {
    pthread_mutex_t lock;
    ex_auth_parse_slot slots[EX_AUTH_PARSE_CACHE_SLOTS];
} ex_auth_parse_cache;

void ex_auth_parse_cache_init(ex_auth_parse_cache *cache);
void ex_auth_parse_cache_destroy(ex_auth_parse_cache *cache);
/* Returns a new reference to the cached object for text[0..len), or NULL. */
json_t *ex_auth_parse_cache_get(ex_auth_parse_cache *cache, const char *text, size_t len);
/* Stores a reference to json as the parse of text[0..len). */
void ex_auth_parse_cache_put(ex_auth_parse_cache *cache, const char *text, size_t len,
                             json_t *json);

struct ex_auth_verifier {
    ex_auth_issuer_state *issuers;
    size_t issuer_count;
    char **audiences;
    size_t audience_count;
    char *roles_client;
    char *session_cookie;
    long leeway_seconds;
    size_t max_token_bytes;
    int64_t refetch_interval_ms;
    int64_t keys_max_age_ms;
    ex_auth_http_limits http;
    ex_auth_log_fn *log;
    void *log_ctx;

    pthread_rwlock_t lock; /* guards every issuer's keys */
    ex_auth_parse_cache parse_cache;

    atomic_uint_fast64_t jwks_fetches;
    atomic_uint_fast64_t jwks_fetch_failures;
    atomic_uint_fast64_t discovery_fetches;
};

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t ex_auth_monotonic_ms(void);

/* Logs through the configured sink, printf-style. */
void ex_auth_log(const ex_auth_verifier *v, ex_auth_log_level level,
                 const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Finds the configured issuer whose name is exactly iss[0..len). */
ex_auth_issuer_state *ex_auth_find_issuer(ex_auth_verifier *v,
                                          const char *iss, size_t len);

/* Fetches the JWKS of one issuer now (discovering jwks_uri if needed),
 * replacing its keys on success. Caller holds st->fetch_lock. */
int ex_auth_fetch_keys_locked(ex_auth_verifier *v, ex_auth_issuer_state *st,
                              char *err, size_t errlen);

/* Copies the key (kid, type) of st into *out with its own EVP_PKEY
 * reference, fetching the issuer's JWKS when the kid is unknown and the
 * refetch interval allows it. Returns EX_AUTH_OK, EX_AUTH_ERR_UNKNOWN_KEY
 * or EX_AUTH_ERR_KEYS_UNAVAILABLE. */
ex_auth_status ex_auth_acquire_key(ex_auth_verifier *v,
                                   ex_auth_issuer_state *st, const char *kid,
                                   size_t kid_len, ex_auth_key_type type,
                                   ex_auth_key *out);

/* ---- claims.c ---- */

/* Checks the time, audience, subject and tenant claims of a payload whose
 * signature has been verified, and fills *out. `st` is the token's issuer.
 * On failure returns the status with *desc set; *out is then cleared. */
ex_auth_status ex_auth_check_claims(const ex_auth_verifier *v,
                                    const ex_auth_issuer_state *st,
                                    json_t *payload, int64_t now,
                                    ex_auth_claims *out, const char **desc);

/* True when s is a UUID in 8-4-4-4-12 hexadecimal text form. */
bool ex_auth_is_uuid(const char *s);

/* ---- signature.c ---- */

/* Verifies a JWS signature over `input` with the key. For ES* the
 * signature is raw R||S and is converted to DER first. Returns EX_AUTH_OK,
 * EX_AUTH_ERR_SIGNATURE or EX_AUTH_ERR_INTERNAL. */
ex_auth_status ex_auth_verify_signature(ex_auth_alg alg, EVP_PKEY *pkey,
                                        const unsigned char *input,
                                        size_t input_len,
                                        const unsigned char *sig,
                                        size_t sig_len);

/* One-time process setup (jansson seed, libcurl globals). */
void ex_auth_global_init(void);

#endif /* EXPRESSO_AUTHCLIENT_INTERNAL_H */
