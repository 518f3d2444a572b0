/*
 * Test keys, JWKs and JWT signing for the authclient tests (see
 * token_factory.h). Signing is written here independently of the library
 * so the tests do not check the library against itself.
 */
#include "token_factory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

static void die(const char *operation)
{
    fprintf(stderr, "token_factory: %s failed\n", operation);
    abort();
}

int64_t test_now(void)
{
    return (int64_t)time(NULL);
}

test_key *test_key_rsa(const char *kid, int bits)
{
    test_key *key = calloc(1, sizeof *key);
    if (!key)
        die("calloc");
    key->pkey = EVP_RSA_gen((unsigned int)bits);
    if (!key->pkey)
        die("EVP_RSA_gen");
    snprintf(key->kid, sizeof key->kid, "%s", kid);
    return key;
}

test_key *test_key_ec(const char *kid, const char *curve)
{
    test_key *key = calloc(1, sizeof *key);
    if (!key)
        die("calloc");
    key->pkey = EVP_EC_gen(strcmp(curve, "P-256") == 0 ? "P-256" : "P-384");
    if (!key->pkey)
        die("EVP_EC_gen");
    key->curve = strcmp(curve, "P-256") == 0 ? "P-256" : "P-384";
    snprintf(key->kid, sizeof key->kid, "%s", kid);
    return key;
}

void test_key_free(test_key *key)
{
    if (!key)
        return;
    EVP_PKEY_free(key->pkey);
    free(key);
}

char *test_b64url(const unsigned char *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(len / 3 * 4 + 5);
    if (!out)
        die("malloc");
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8 | data[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)data[i] << 16;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
    } else if (len - i == 2) {
        unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

/* Base64url of a big number, left-padded with zeros to `width` bytes
 * (0: minimal length). */
static char *bn_b64url(const BIGNUM *bn, int width)
{
    int len = width ? width : BN_num_bytes(bn);
    unsigned char *buf = malloc((size_t)len);
    if (!buf || BN_bn2binpad(bn, buf, len) != len)
        die("BN_bn2binpad");
    char *text = test_b64url(buf, (size_t)len);
    free(buf);
    return text;
}

json_t *test_key_jwk(const test_key *key, const char *alg)
{
    json_t *jwk;
    if (!key->curve) {
        BIGNUM *n = NULL, *e = NULL;
        if (!EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_N, &n) ||
            !EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_E, &e))
            die("EVP_PKEY_get_bn_param(RSA)");
        char *n_text = bn_b64url(n, 0), *e_text = bn_b64url(e, 0);
        jwk = json_pack("{s:s,s:s,s:s,s:s,s:s}", "kty", "RSA", "kid", key->kid, "use",
                        "sig", "n", n_text, "e", e_text);
        free(n_text);
        free(e_text);
        BN_free(n);
        BN_free(e);
    } else {
        int width = strcmp(key->curve, "P-256") == 0 ? 32 : 48;
        BIGNUM *x = NULL, *y = NULL;
        if (!EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
            !EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y))
            die("EVP_PKEY_get_bn_param(EC)");
        char *x_text = bn_b64url(x, width), *y_text = bn_b64url(y, width);
        jwk = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "kty", "EC", "kid", key->kid, "use",
                        "sig", "crv", key->curve, "x", x_text, "y", y_text);
        free(x_text);
        free(y_text);
        BN_free(x);
        BN_free(y);
    }
    if (!jwk)
        die("json_pack(jwk)");
    if (alg)
        json_object_set_new(jwk, "alg", json_string(alg));
    return jwk;
}

char *test_json_text(const json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT);
    if (!text)
        die("json_dumps");
    return text;
}

char *test_jwks_text(const test_key *const *keys, size_t count)
{
    json_t *array = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(array, test_key_jwk(keys[i], NULL));
    json_t *doc = json_pack("{s:o}", "keys", array);
    char *text = test_json_text(doc);
    json_decref(doc);
    return text;
}

json_t *test_payload(void)
{
    int64_t now = test_now();
    json_t *payload = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:{s:[s]},s:s}", "iss", TEST_ISSUER,
        "aud", TEST_AUDIENCE, "sub", TEST_SUBJECT, "tenant_id", TEST_TENANT, "email",
        "alice@demo.expresso.test", "preferred_username", "alice", "name", "Alice Souza",
        "iat", (json_int_t)now, "exp", (json_int_t)now + 300, "realm_access", "roles",
        "user", "azp", "expresso-dev");
    if (!payload)
        die("json_pack(payload)");
    return payload;
}

static const EVP_MD *alg_digest(const char *alg)
{
    if (strstr(alg, "256"))
        return EVP_sha256();
    if (strstr(alg, "384"))
        return EVP_sha384();
    return EVP_sha512();
}

/* Converts a DER ECDSA signature to JWS R||S of 2 * width bytes. */
static size_t der_to_raw(const unsigned char *der, size_t der_len, int width,
                         unsigned char *raw)
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (!sig)
        die("d2i_ECDSA_SIG");
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, raw, width) != width || BN_bn2binpad(s, raw + width, width) != width)
        die("BN_bn2binpad(ECDSA)");
    ECDSA_SIG_free(sig);
    return (size_t)width * 2;
}

/* Signs `input` and returns the JWS signature bytes in *out. */
static size_t sign_input(const test_key *key, const char *alg, const char *input,
                         unsigned char **out)
{
    const EVP_MD *md = alg_digest(alg);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    if (!mctx || EVP_DigestSignInit(mctx, &pctx, md, NULL, key->pkey) != 1)
        die("EVP_DigestSignInit");
    if (strncmp(alg, "PS", 2) == 0) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0)
            die("PSS setup");
    }
    size_t len = 0;
    if (EVP_DigestSign(mctx, NULL, &len, (const unsigned char *)input, strlen(input)) != 1)
        die("EVP_DigestSign(size)");
    unsigned char *sig = malloc(len);
    if (!sig ||
        EVP_DigestSign(mctx, sig, &len, (const unsigned char *)input, strlen(input)) != 1)
        die("EVP_DigestSign");
    EVP_MD_CTX_free(mctx);

    if (key->curve) {
        int width = strcmp(key->curve, "P-256") == 0 ? 32 : 48;
        unsigned char *raw = malloc((size_t)width * 2);
        if (!raw)
            die("malloc");
        len = der_to_raw(sig, len, width, raw);
        free(sig);
        sig = raw;
    }
    *out = sig;
    return len;
}

/* Joins b64(header).b64(payload) and returns it, to free(). */
static char *signing_input(const char *header_json, const char *payload_json)
{
    char *h = test_b64url((const unsigned char *)header_json, strlen(header_json));
    char *p = test_b64url((const unsigned char *)payload_json, strlen(payload_json));
    size_t len = strlen(h) + 1 + strlen(p) + 1;
    char *input = malloc(len);
    if (!input)
        die("malloc");
    snprintf(input, len, "%s.%s", h, p);
    free(h);
    free(p);
    return input;
}

static char *append_signature(char *input, const unsigned char *sig, size_t sig_len)
{
    char *s = test_b64url(sig, sig_len);
    size_t len = strlen(input) + 1 + strlen(s) + 1;
    char *token = malloc(len);
    if (!token)
        die("malloc");
    snprintf(token, len, "%s.%s", input, s);
    free(s);
    free(input);
    return token;
}

char *test_sign_text(const test_key *key, const char *alg, const char *header_json,
                     const char *payload_json)
{
    char *input = signing_input(header_json, payload_json);
    unsigned char *sig;
    size_t sig_len = sign_input(key, alg, input, &sig);
    char *token = append_signature(input, sig, sig_len);
    free(sig);
    return token;
}

char *test_sign(const test_key *key, const char *alg, const json_t *header,
                const json_t *payload)
{
    json_t *own_header = NULL;
    if (!header) {
        own_header = json_pack("{s:s,s:s,s:s}", "alg", alg, "typ", "JWT", "kid", key->kid);
        header = own_header;
    }
    char *h = test_json_text(header);
    char *p = test_json_text(payload);
    char *token = test_sign_text(key, alg, h, p);
    free(h);
    free(p);
    json_decref(own_header);
    return token;
}

char *test_sign_hs256(const char *header_json, const char *payload_json,
                      const unsigned char *secret, size_t secret_len)
{
    char *input = signing_input(header_json, payload_json);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)input,
              strlen(input), mac, &mac_len))
        die("HMAC");
    return append_signature(input, mac, mac_len);
}

char *test_public_pem(const test_key *key, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio || PEM_write_bio_PUBKEY(bio, key->pkey) != 1)
        die("PEM_write_bio_PUBKEY");
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *pem = malloc((size_t)n + 1);
    if (!pem)
        die("malloc");
    memcpy(pem, data, (size_t)n);
    pem[n] = '\0';
    *len = (size_t)n;
    BIO_free(bio);
    return pem;
}
