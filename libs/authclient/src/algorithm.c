/*
 * The JWS algorithm allowlist (RFC 7518 section 3.1 names): which `alg`
 * values are accepted, which key type each needs and which digest it
 * uses. Anything not listed here, `none` and the HMAC family included,
 * maps to EX_AUTH_ALG_INVALID and is rejected before any key is looked up.
 */
#include <string.h>

#include "authclient_internal.h"

static const struct {
    const char *name;
    ex_auth_alg alg;
    ex_auth_key_type key_type;
} algorithms[] = {
    {"RS256", EX_AUTH_ALG_RS256, EX_AUTH_KEY_RSA},
    {"RS384", EX_AUTH_ALG_RS384, EX_AUTH_KEY_RSA},
    {"RS512", EX_AUTH_ALG_RS512, EX_AUTH_KEY_RSA},
    {"PS256", EX_AUTH_ALG_PS256, EX_AUTH_KEY_RSA},
    {"ES256", EX_AUTH_ALG_ES256, EX_AUTH_KEY_EC_P256},
    {"ES384", EX_AUTH_ALG_ES384, EX_AUTH_KEY_EC_P384},
};

ex_auth_alg ex_auth_alg_from_name(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof algorithms / sizeof algorithms[0]; i++) {
        if (strlen(algorithms[i].name) == len &&
            memcmp(algorithms[i].name, name, len) == 0)
            return algorithms[i].alg;
    }
    return EX_AUTH_ALG_INVALID;
}

ex_auth_key_type ex_auth_alg_key_type(ex_auth_alg alg)
{
    for (size_t i = 0; i < sizeof algorithms / sizeof algorithms[0]; i++) {
        if (algorithms[i].alg == alg)
            return algorithms[i].key_type;
    }
    return 0;
}

/* Explicitly fetched digests: passing EVP_sha256() and friends to
 * EVP_DigestVerifyInit makes OpenSSL 3 look the implementation up again
 * on every call. */
static EVP_MD *sha256;
static EVP_MD *sha384;
static EVP_MD *sha512;
static pthread_once_t digests_once = PTHREAD_ONCE_INIT;

static void fetch_digests(void)
{
    sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    sha384 = EVP_MD_fetch(NULL, "SHA2-384", NULL);
    sha512 = EVP_MD_fetch(NULL, "SHA2-512", NULL);
}

const EVP_MD *ex_auth_alg_digest(ex_auth_alg alg)
{
    pthread_once(&digests_once, fetch_digests);

    switch (alg) {
    case EX_AUTH_ALG_RS256:
    case EX_AUTH_ALG_PS256:
    case EX_AUTH_ALG_ES256:
        return sha256;
    case EX_AUTH_ALG_RS384:
    case EX_AUTH_ALG_ES384:
        return sha384;
    case EX_AUTH_ALG_RS512:
        return sha512;
    case EX_AUTH_ALG_INVALID:
        break;
    }
    return NULL;
}
