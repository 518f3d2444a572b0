/*
 * Test keys and tokens for the authclient tests: keys generated with
 * OpenSSL at run time, their public JWKs, and JWTs signed with them, so
 * no test depends on a stored token or an outside identity provider.
 */
#ifndef EXPRESSO_TEST_TOKEN_FACTORY_H
#define EXPRESSO_TEST_TOKEN_FACTORY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#define TEST_ISSUER "https://id.example.test/realms/expresso"
#define TEST_OTHER_ISSUER "https://id.example.test/realms/other"
#define TEST_AUDIENCE "expresso"
#define TEST_TENANT "6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11"
#define TEST_OTHER_TENANT "b8e4d2c1-5a3f-4e6b-8c9d-0f1e2a3b4c22"
#define TEST_SUBJECT "2a7f0c1e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"

typedef struct test_key {
    EVP_PKEY *pkey;
    char kid[128];
    const char *curve; /* "P-256", "P-384" or NULL for RSA */
} test_key;

/* Generates an RSA key of `bits` or an EC key on `curve` ("P-256",
 * "P-384"). Aborts the test program on failure. */
test_key *test_key_rsa(const char *kid, int bits);
test_key *test_key_ec(const char *kid, const char *curve);
void test_key_free(test_key *key);

/* The public JWK of a key as a JSON object; `alg` is added when not NULL. */
json_t *test_key_jwk(const test_key *key, const char *alg);

/* {"keys":[...]} of the given keys (no alg members), as text to free(). */
char *test_jwks_text(const test_key *const *keys, size_t count);

/* Base64url without padding, as text to free(). */
char *test_b64url(const unsigned char *data, size_t len);

/* A payload with iss TEST_ISSUER, aud TEST_AUDIENCE, sub, tenant_id,
 * email, preferred_username, name, iat = now, exp = now + 300 and
 * realm_access.roles ["user"]. The caller owns the reference. */
json_t *test_payload(void);

/* Signs header.payload with key using alg (RS256, RS384, RS512, PS256,
 * ES256, ES384). The header is {"alg":alg,"typ":"JWT","kid":key->kid}
 * when header is NULL. Returns the compact token, to free(). */
char *test_sign(const test_key *key, const char *alg, const json_t *header,
                const json_t *payload);

/* Same with header and payload given as exact JSON text (for duplicate
 * keys, which jansson cannot produce). */
char *test_sign_text(const test_key *key, const char *alg, const char *header_json,
                     const char *payload_json);

/* An HS256 token whose HMAC key is `secret` (algorithm confusion tests). */
char *test_sign_hs256(const char *header_json, const char *payload_json,
                      const unsigned char *secret, size_t secret_len);

/* The PEM text of a key's public part, to free(). */
char *test_public_pem(const test_key *key, size_t *len);

/* Serialises a JSON value compactly, to free(). */
char *test_json_text(const json_t *value);

/* Seconds since the epoch. */
int64_t test_now(void);

#endif
