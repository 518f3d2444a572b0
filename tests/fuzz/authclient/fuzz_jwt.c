/*
 * libFuzzer target for libexpresso-authclient. Each input is tried as
 *   1. a token, through ex_auth_verify with a static JWKS;
 *   2. a JWKS document, through the key set parser (JWK to EVP_PKEY);
 *   3. a token payload, through the claim checks that normally run only
 *      after a valid signature, so the fuzzer reaches them without
 *      forging signatures;
 *   4. base64url text, through the strict decoder.
 * The seed corpus (tests/fuzz/corpus/fuzz_jwt) contains tokens signed by the
 * private halves of the two public keys below, so mutations start from
 * inputs that pass every check.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authclient_internal.h"

#define FUZZ_ISSUER "https://id.example.test/realms/expresso"
#define FUZZ_MAPPED_ISSUER "https://id.example.test/realms/acme"
/* 2023-11-14, after the seeds' iat and before their exp (2100). */
#define FUZZ_NOW 1700000100

static const char fuzz_jwks[] =
    "{\"keys\":["
    "{\"kty\":\"RSA\",\"kid\":\"fuzz-rsa\",\"use\":\"sig\",\"n\":\"pBFxt-oPUy-i_Cj0Kv_pQ3L3tF-"
    "Gmpit1JWT2-k4YS65LrsgoEBme-u6ZS0gIGlSGBhCtXZ1zDYn2LdA_z-wLCmpeEppD7yI1gObXis9YLejcDlzUCU"
    "KdwwBdW5tv9_hrY5I5cfHFa9q9Ca8vaDno4kbRV6JKnEBrweMlHWTF0eJy92JjwsfGScL5gOySztEdC0rNv5c3iv"
    "kMVM-c2kNmKi0QoUQeQUoF6WTOpDCANc67DbJ_6penUOB3j_JPcaER2JIvMwcTnykZa-DjOBqJKFdMnGLUTEd7GQ"
    "DfCJydzCYZoIdbIHplff1b0qIkKV4D47t29j1OpUf2TMniepj5Q\",\"e\":\"AQAB\"},"
    "{\"kty\":\"EC\",\"kid\":\"fuzz-ec\",\"use\":\"sig\",\"crv\":\"P-256\","
    "\"x\":\"Uj97G1fYPSDlOE42HRTer8seSBUnrrvx5okgAO4V6o8\","
    "\"y\":\"MaIJTh8Bzf5xaBfo9B0KV0fcL7KjFcnAfzdSNRumouQ\"}"
    "]}";

static ex_auth_verifier *verifier;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ex_auth_issuer issuers[] = {
        {.issuer = FUZZ_ISSUER, .jwks_json = fuzz_jwks},
        {.issuer = FUZZ_MAPPED_ISSUER, .tenant_id = "b8e4d2c1-5a3f-4e6b-8c9d-0f1e2a3b4c22",
         .jwks_json = fuzz_jwks},
    };
    const char *audiences[] = {"expresso"};
    ex_auth_config config;
    ex_auth_config_init(&config);
    config.issuers = issuers;
    config.issuer_count = 2;
    config.audiences = audiences;
    config.audience_count = 1;
    config.roles_client = "expresso-mail";

    char err[256];
    verifier = ex_auth_verifier_new(&config, err, sizeof err);
    if (!verifier) {
        fprintf(stderr, "fuzz_jwt: %s\n", err);
        abort();
    }
    return 0;
}

static void fuzz_verify(const uint8_t *data, size_t size)
{
    ex_auth_claims claims;
    ex_auth_status status = ex_auth_verify(verifier, (const char *)data, size, &claims);
    if (status != EX_AUTH_OK && !claims.error_description)
        abort(); /* every failure must carry a description */
    ex_auth_claims_clear(&claims);
}

static void fuzz_jwks_parse(const uint8_t *data, size_t size)
{
    ex_auth_keyset set;
    size_t ignored;
    char note[128], err[256];
    if (ex_auth_keyset_parse((const char *)data, size, &set, &ignored, note, sizeof note, err,
                             sizeof err) == 0)
        ex_auth_keyset_clear(&set);
}

static void fuzz_claims(const uint8_t *data, size_t size)
{
    json_t *payload = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(payload)) {
        json_decref(payload);
        return;
    }
    const char *issuers[] = {FUZZ_ISSUER, FUZZ_MAPPED_ISSUER};
    for (size_t i = 0; i < 2; i++) {
        ex_auth_issuer_state *st = ex_auth_find_issuer(verifier, issuers[i], strlen(issuers[i]));
        ex_auth_claims claims;
        const char *desc = NULL;
        ex_auth_status status = ex_auth_check_claims(verifier, st, payload, FUZZ_NOW, &claims,
                                                     &desc);
        if (status == EX_AUTH_OK && (!claims.subject || !claims.tenant_id ||
                                     !ex_auth_is_uuid(claims.tenant_id)))
            abort(); /* success must mean a subject and a UUID tenant */
        ex_auth_claims_clear(&claims);
    }
    json_decref(payload);
}

static void fuzz_base64url(const uint8_t *data, size_t size)
{
    size_t cap = ex_auth_b64url_decoded_max(size);
    unsigned char *out = malloc(cap);
    if (!out)
        return;
    long n = ex_auth_b64url_decode((const char *)data, size, out, cap);
    if (n > (long)cap)
        abort();
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_verify(data, size);
    fuzz_jwks_parse(data, size);
    fuzz_claims(data, size);
    fuzz_base64url(data, size);
    return 0;
}
