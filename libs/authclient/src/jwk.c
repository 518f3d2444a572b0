/*
 * Conversion of one JSON Web Key (RFC 7517, RFC 7518 section 6) to an
 * OpenSSL 3 EVP_PKEY: RSA from n and e, EC P-256 and P-384 from x and y.
 *
 * Only public signature keys are kept. A key with `use` other than "sig",
 * `key_ops` without "verify", an unsupported `kty` or `crv`, an `alg`
 * outside the allowlist, or no `kid` is skipped, not an error, because
 * issuers publish encryption keys in the same set. A key of a supported
 * kind whose members are malformed (bad base64url, wrong coordinate
 * length, point not on the curve, RSA modulus outside
 * EX_AUTH_RSA_MIN_BITS..EX_AUTH_RSA_MAX_BITS) is reported invalid.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "authclient_internal.h"

/* Big enough for an EX_AUTH_RSA_MAX_BITS modulus plus a leading zero. */
#define MAX_KEY_MEMBER_BYTES (EX_AUTH_RSA_MAX_BITS / 8 + 1)
/* The public exponent: 65537 needs 3 bytes; more than 64 bits is absurd. */
#define MAX_RSA_EXPONENT_BYTES 8

void ex_auth_key_clear(ex_auth_key *key)
{
    free(key->kid);
    EVP_PKEY_free(key->pkey);
    memset(key, 0, sizeof *key);
}

/* Decodes the base64url string member `name` into buf; returns its
 * length or -1. */
static long decode_member(const json_t *jwk, const char *name,
                          unsigned char *buf, size_t cap)
{
    const json_t *value = json_object_get(jwk, name);
    if (!json_is_string(value))
        return -1;
    return ex_auth_b64url_decode(json_string_value(value),
                                 json_string_length(value), buf, cap);
}

static bool string_member_is(const json_t *jwk, const char *name,
                             const char *expected)
{
    const json_t *value = json_object_get(jwk, name);
    return json_is_string(value) && strcmp(json_string_value(value), expected) == 0;
}

/* Builds an EVP_PKEY of `type_name` ("RSA" or "EC") from params and runs
 * OpenSSL's public key check on it. */
static EVP_PKEY *pkey_from_params(const char *type_name, OSSL_PARAM *params)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type_name, NULL);
    if (!ctx)
        return NULL;
    if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    EVP_PKEY_CTX_free(ctx);

    EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!check || EVP_PKEY_public_check(check) != 1) {
        EVP_PKEY_CTX_free(check);
        EVP_PKEY_free(pkey);
        return NULL;
    }
    EVP_PKEY_CTX_free(check);
    return pkey;
}

static EVP_PKEY *rsa_from_jwk(const json_t *jwk, const char **why)
{
    unsigned char n_buf[MAX_KEY_MEMBER_BYTES];
    unsigned char e_buf[MAX_RSA_EXPONENT_BYTES];
    long n_len = decode_member(jwk, "n", n_buf, sizeof n_buf);
    long e_len = decode_member(jwk, "e", e_buf, sizeof e_buf);
    if (n_len <= 0 || e_len <= 0) {
        *why = "RSA key has a missing, malformed or oversized n or e";
        return NULL;
    }

    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    BIGNUM *n = BN_bin2bn(n_buf, (int)n_len, NULL);
    BIGNUM *e = BN_bin2bn(e_buf, (int)e_len, NULL);
    if (!n || !e) {
        *why = "out of memory";
        goto done;
    }
    int bits = BN_num_bits(n);
    if (bits < EX_AUTH_RSA_MIN_BITS || bits > EX_AUTH_RSA_MAX_BITS) {
        *why = "RSA modulus size is outside the accepted range";
        goto done;
    }
    if (!BN_is_odd(e) || BN_num_bits(e) < 2) {
        *why = "RSA public exponent is not an odd number above 1";
        goto done;
    }

    bld = OSSL_PARAM_BLD_new();
    if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
        !(params = OSSL_PARAM_BLD_to_param(bld))) {
        *why = "out of memory";
        goto done;
    }
    pkey = pkey_from_params("RSA", params);
    if (!pkey)
        *why = "RSA key failed OpenSSL's public key check";

done:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pkey;
}

static EVP_PKEY *ec_from_jwk(const json_t *jwk, ex_auth_key_type type,
                             const char **why)
{
    const char *group = type == EX_AUTH_KEY_EC_P256 ? "prime256v1" : "secp384r1";
    size_t coordinate = type == EX_AUTH_KEY_EC_P256 ? 32 : 48;

    /* Uncompressed point: 0x04 || x || y, each coordinate of exactly the
     * field size as RFC 7518 section 6.2.1.2 requires. */
    unsigned char point[1 + 2 * 48];
    point[0] = 0x04;
    long x_len = decode_member(jwk, "x", point + 1, coordinate);
    long y_len = decode_member(jwk, "y", point + 1 + coordinate, coordinate);
    if (x_len != (long)coordinate || y_len != (long)coordinate) {
        *why = "EC key has a missing or malformed x or y, or the wrong length for its curve";
        return NULL;
    }

    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (!bld ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
                                          1 + 2 * coordinate) ||
        !(params = OSSL_PARAM_BLD_to_param(bld))) {
        *why = "out of memory";
        goto done;
    }
    pkey = pkey_from_params("EC", params);
    if (!pkey)
        *why = "EC key is not a valid point on its curve";

done:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

/* Applies the `use` and `key_ops` members: true when the key may verify
 * signatures. */
static bool usable_for_verification(const json_t *jwk)
{
    const json_t *use = json_object_get(jwk, "use");
    if (use && !string_member_is(jwk, "use", "sig"))
        return false;

    const json_t *ops = json_object_get(jwk, "key_ops");
    if (!ops)
        return true;
    if (!json_is_array(ops))
        return false;
    size_t i;
    const json_t *op;
    json_array_foreach(ops, i, op) {
        if (json_is_string(op) && strcmp(json_string_value(op), "verify") == 0)
            return true;
    }
    return false;
}

ex_auth_jwk_result ex_auth_jwk_to_key(const json_t *jwk, ex_auth_key *out,
                                      const char **why)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(jwk)) {
        *why = "JWKS entry is not a JSON object";
        return EX_AUTH_JWK_INVALID;
    }

    const json_t *kid = json_object_get(jwk, "kid");
    if (!json_is_string(kid)) {
        *why = "key has no kid";
        return EX_AUTH_JWK_SKIPPED;
    }
    if (!usable_for_verification(jwk)) {
        *why = "key is not for signature verification (use or key_ops)";
        return EX_AUTH_JWK_SKIPPED;
    }

    ex_auth_key_type type;
    if (string_member_is(jwk, "kty", "RSA")) {
        type = EX_AUTH_KEY_RSA;
    } else if (string_member_is(jwk, "kty", "EC") && string_member_is(jwk, "crv", "P-256")) {
        type = EX_AUTH_KEY_EC_P256;
    } else if (string_member_is(jwk, "kty", "EC") && string_member_is(jwk, "crv", "P-384")) {
        type = EX_AUTH_KEY_EC_P384;
    } else {
        *why = "key type or curve is not supported (RSA, EC P-256 and P-384 are)";
        return EX_AUTH_JWK_SKIPPED;
    }

    ex_auth_alg alg = EX_AUTH_ALG_INVALID;
    const json_t *alg_value = json_object_get(jwk, "alg");
    if (alg_value) {
        if (json_is_string(alg_value))
            alg = ex_auth_alg_from_name(json_string_value(alg_value),
                                        json_string_length(alg_value));
        if (alg == EX_AUTH_ALG_INVALID) {
            *why = "key's alg is not an accepted signature algorithm";
            return EX_AUTH_JWK_SKIPPED;
        }
        if (ex_auth_alg_key_type(alg) != type) {
            *why = "key's alg does not fit its kty or crv";
            return EX_AUTH_JWK_INVALID;
        }
    }

    EVP_PKEY *pkey = type == EX_AUTH_KEY_RSA ? rsa_from_jwk(jwk, why)
                                             : ec_from_jwk(jwk, type, why);
    if (!pkey)
        return EX_AUTH_JWK_INVALID;

    size_t kid_len = json_string_length(kid);
    out->kid = malloc(kid_len + 1);
    if (!out->kid) {
        EVP_PKEY_free(pkey);
        *why = "out of memory";
        return EX_AUTH_JWK_INVALID;
    }
    memcpy(out->kid, json_string_value(kid), kid_len + 1);
    out->kid_len = kid_len;
    out->pkey = pkey;
    out->type = type;
    out->alg = alg;
    return EX_AUTH_JWK_USABLE;
}
