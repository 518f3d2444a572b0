/*
 * ex_auth_verify against tokens signed in the test with keys generated
 * by the test. The cases cover every accepted algorithm and the time,
 * issuer, audience and tenant rules. They also cover hostile headers
 * (alg none, HMAC with an RSA public key, alg/key mismatch, odd kids),
 * malformed encodings and role extraction. Keys come from static JWKS
 * documents, so no network is involved.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expresso/authclient.h"
#include "token_factory.h"

/* A kid made of path and SQL characters that the JWKS really contains. */
#define ODD_KID "../keys/' OR 1=1 --\"\\ <k>"

static test_key *rsa;        /* kid "rsa-1", JWK without alg */
static test_key *rsa_pinned; /* kid "rsa-pinned", JWK alg RS256 */
static test_key *rsa_odd;    /* kid ODD_KID */
static test_key *rsa_other;  /* kid "other-1", only in TEST_OTHER_ISSUER */
static test_key *ec256;      /* kid "ec-256" */
static test_key *ec384;      /* kid "ec-384" */
static ex_auth_verifier *verifier;

static char *issuer_jwks(void)
{
    json_t *keys = json_array();
    json_array_append_new(keys, test_key_jwk(rsa, NULL));
    json_array_append_new(keys, test_key_jwk(rsa_pinned, "RS256"));
    json_array_append_new(keys, test_key_jwk(rsa_odd, NULL));
    json_array_append_new(keys, test_key_jwk(ec256, NULL));
    json_array_append_new(keys, test_key_jwk(ec384, NULL));
    json_t *doc = json_pack("{s:o}", "keys", keys);
    char *text = test_json_text(doc);
    json_decref(doc);
    return text;
}

static int setup(void **state)
{
    (void)state;
    rsa = test_key_rsa("rsa-1", 2048);
    rsa_pinned = test_key_rsa("rsa-pinned", 2048);
    rsa_odd = test_key_rsa(ODD_KID, 2048);
    rsa_other = test_key_rsa("other-1", 2048);
    ec256 = test_key_ec("ec-256", "P-256");
    ec384 = test_key_ec("ec-384", "P-384");

    char *main_jwks = issuer_jwks();
    const test_key *other_keys[] = {rsa_other};
    char *other_jwks = test_jwks_text(other_keys, 1);

    ex_auth_issuer issuers[] = {
        {.issuer = TEST_ISSUER, .jwks_json = main_jwks},
        {.issuer = TEST_OTHER_ISSUER, .tenant_id = TEST_OTHER_TENANT, .jwks_json = other_jwks},
    };
    const char *audiences[] = {TEST_AUDIENCE, "expresso-web"};
    ex_auth_config config;
    ex_auth_config_init(&config);
    config.issuers = issuers;
    config.issuer_count = 2;
    config.audiences = audiences;
    config.audience_count = 2;
    config.roles_client = "expresso-mail";

    char err[256] = "";
    verifier = ex_auth_verifier_new(&config, err, sizeof err);
    free(main_jwks);
    free(other_jwks);
    if (!verifier) {
        fprintf(stderr, "ex_auth_verifier_new: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ex_auth_verifier_free(verifier);
    test_key_free(rsa);
    test_key_free(rsa_pinned);
    test_key_free(rsa_odd);
    test_key_free(rsa_other);
    test_key_free(ec256);
    test_key_free(ec384);
    return 0;
}

/* Verifies a NUL-terminated token, then frees it. */
static ex_auth_status verify_and_free(char *token, ex_auth_claims *claims)
{
    ex_auth_status status = ex_auth_verify(verifier, token, strlen(token), claims);
    free(token);
    return status;
}

/* Signs the default payload with `key` and `alg` and expects success. */
static void expect_valid(const test_key *key, const char *alg)
{
    json_t *payload = test_payload();
    ex_auth_claims claims;
    ex_auth_status status = verify_and_free(test_sign(key, alg, NULL, payload), &claims);
    assert_int_equal(status, EX_AUTH_OK);
    assert_null(claims.error_description);
    assert_string_equal(claims.subject, TEST_SUBJECT);
    assert_string_equal(claims.tenant_id, TEST_TENANT);
    assert_string_equal(claims.issuer, TEST_ISSUER);
    assert_int_equal(claims.expires_at, json_integer_value(json_object_get(payload, "exp")));
    ex_auth_claims_clear(&claims);
    json_decref(payload);
}

/* Signs `payload` with the RSA key and RS256 and returns the status. */
static ex_auth_status verify_payload(json_t *payload, ex_auth_claims *claims)
{
    return verify_and_free(test_sign(rsa, "RS256", NULL, payload), claims);
}

static void test_valid_rs256(void **state) { (void)state; expect_valid(rsa, "RS256"); }
static void test_valid_rs384(void **state) { (void)state; expect_valid(rsa, "RS384"); }
static void test_valid_rs512(void **state) { (void)state; expect_valid(rsa, "RS512"); }
static void test_valid_ps256(void **state) { (void)state; expect_valid(rsa, "PS256"); }
static void test_valid_es256(void **state) { (void)state; expect_valid(ec256, "ES256"); }
static void test_valid_es384(void **state) { (void)state; expect_valid(ec384, "ES384"); }

static void test_claims_extracted(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_OK);
    assert_string_equal(claims.email, "alice@demo.expresso.test");
    assert_string_equal(claims.preferred_username, "alice");
    assert_string_equal(claims.name, "Alice Souza");
    assert_string_equal(claims.authorized_party, "expresso-dev");
    assert_int_equal(claims.issued_at, json_integer_value(json_object_get(payload, "iat")));
    ex_auth_claims_clear(&claims);
    assert_null(claims.subject);
    json_decref(payload);
}

static void test_expired(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "exp", json_integer(test_now() - 100));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_ERR_EXPIRED);
    assert_string_equal(claims.error_description, "token has expired");
    assert_null(claims.subject);
    json_decref(payload);
}

static void test_expired_within_leeway(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "exp", json_integer(test_now() - 10));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_OK);
    ex_auth_claims_clear(&claims);
    json_decref(payload);
}

static void test_expired_real_number(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "exp", json_real((double)test_now() - 100.5));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_ERR_EXPIRED);
    json_decref(payload);
}

static void test_exp_missing(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_del(payload, "exp");
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_ERR_CLAIMS);
    json_decref(payload);
}

static void test_exp_not_number(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "exp", json_string("tomorrow"));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_ERR_MALFORMED);
    json_decref(payload);
}

static void test_exp_huge_real(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "exp", json_real(1e300));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_ERR_MALFORMED);
    json_decref(payload);
}

static void test_not_yet_valid(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "nbf", json_integer(test_now() + 100));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_ERR_NOT_YET_VALID);
    json_decref(payload);
}

static void test_nbf_within_leeway(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "nbf", json_integer(test_now() + 10));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_OK);
    ex_auth_claims_clear(&claims);
    json_decref(payload);
}

static void test_iat_in_future(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "iat", json_integer(test_now() + 100));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_ERR_NOT_YET_VALID);
    json_decref(payload);
}

static void test_wrong_issuer(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "iss", json_string("https://evil.example.test/realms/expresso"));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_ERR_ISSUER);
    json_decref(payload);
}

static void test_issuer_prefix_rejected(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "iss", json_string(TEST_ISSUER "/"));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_ERR_ISSUER);
    json_decref(payload);
}

static void test_issuer_missing(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_del(payload, "iss");
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_ERR_ISSUER);
    json_decref(payload);
}

/* A key of one issuer must not sign for another accepted issuer. */
static void test_key_of_other_issuer(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "iss", json_string(TEST_OTHER_ISSUER));
    json_object_del(payload, "tenant_id");
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_ERR_UNKNOWN_KEY);
    json_decref(payload);
}

static void test_wrong_audience(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "aud", json_string("account"));
    json_object_set_new(payload, "azp", json_string("other-client"));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_ERR_AUDIENCE);
    json_decref(payload);
}

static void test_audience_array(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "aud", json_pack("[s,s]", "account", "expresso-web"));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_OK);
    ex_auth_claims_clear(&claims);
    json_decref(payload);
}

static void test_audience_array_without_match(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "aud", json_pack("[s,i]", "account", 7));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_ERR_AUDIENCE);
    json_decref(payload);
}

static void test_azp_accepted(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "aud", json_string("account"));
    json_object_set_new(payload, "azp", json_string(TEST_AUDIENCE));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_OK);
    assert_string_equal(claims.authorized_party, TEST_AUDIENCE);
    ex_auth_claims_clear(&claims);
    json_decref(payload);
}

static void test_azp_without_aud_accepted(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_del(payload, "aud");
    json_object_set_new(payload, "azp", json_string(TEST_AUDIENCE));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_OK);
    ex_auth_claims_clear(&claims);
    json_decref(payload);
}

static void test_alg_none(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    char *p_json = test_json_text(payload);
    const char *h_json = "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"rsa-1\"}";
    char *h = test_b64url((const unsigned char *)h_json, strlen(h_json));
    char *p = test_b64url((const unsigned char *)p_json, strlen(p_json));
    char token[8192];

    /* The usual form: an empty signature segment. */
    snprintf(token, sizeof token, "%s.%s.", h, p);
    ex_auth_claims claims;
    assert_int_equal(ex_auth_verify(verifier, token, strlen(token), &claims),
                     EX_AUTH_ERR_ALGORITHM);

    /* With some signature bytes appended. */
    snprintf(token, sizeof token, "%s.%s.AAAA", h, p);
    assert_int_equal(ex_auth_verify(verifier, token, strlen(token), &claims),
                     EX_AUTH_ERR_ALGORITHM);

    free(h);
    free(p);
    free(p_json);
    json_decref(payload);
}

static void test_alg_none_capitalised(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    char *p_json = test_json_text(payload);
    char *token = test_sign_text(rsa, "RS256", "{\"alg\":\"None\",\"kid\":\"rsa-1\"}", p_json);
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(token, &claims), EX_AUTH_ERR_ALGORITHM);
    free(p_json);
    json_decref(payload);
}

/* The classic confusion: HS256 with the RSA public key's PEM as the HMAC
 * secret, which libraries that take "the key" for any alg accept. */
static void test_hs256_with_rsa_pem(void **state)
{
    (void)state;
    size_t pem_len;
    char *pem = test_public_pem(rsa, &pem_len);
    json_t *payload = test_payload();
    char *p_json = test_json_text(payload);
    char *token = test_sign_hs256("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"rsa-1\"}",
                                  p_json, (const unsigned char *)pem, pem_len);
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(token, &claims), EX_AUTH_ERR_ALGORITHM);
    free(p_json);
    free(pem);
    json_decref(payload);
}

static void test_rs256_header_with_ec_kid(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_t *header = json_pack("{s:s,s:s}", "alg", "RS256", "kid", "ec-256");
    ex_auth_claims claims;
    /* Signed with the RSA key, naming the EC key. */
    assert_int_equal(verify_and_free(test_sign(rsa, "RS256", header, payload), &claims),
                     EX_AUTH_ERR_ALGORITHM);
    json_decref(header);
    json_decref(payload);
}

static void test_es384_header_with_p256_kid(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_t *header = json_pack("{s:s,s:s}", "alg", "ES384", "kid", "ec-256");
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(test_sign(ec384, "ES384", header, payload), &claims),
                     EX_AUTH_ERR_ALGORITHM);
    json_decref(header);
    json_decref(payload);
}

/* The JWK sets alg RS256: an RS512 token with that kid is rejected even
 * though the signature is valid for the key. */
static void test_jwk_alg_pinned(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(test_sign(rsa_pinned, "RS512", NULL, payload), &claims),
                     EX_AUTH_ERR_ALGORITHM);
    assert_int_equal(verify_and_free(test_sign(rsa_pinned, "RS256", NULL, payload), &claims),
                     EX_AUTH_OK);
    ex_auth_claims_clear(&claims);
    json_decref(payload);
}

static void test_unknown_kid(void **state)
{
    (void)state;
    test_key *stranger = test_key_ec("not-in-jwks", "P-256");
    json_t *payload = test_payload();
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(test_sign(stranger, "ES256", NULL, payload), &claims),
                     EX_AUTH_ERR_UNKNOWN_KEY);
    json_decref(payload);
    test_key_free(stranger);
}

static void test_kid_path_and_sql_characters(void **state)
{
    (void)state;
    const char *kids[] = {"../../etc/passwd", "rsa-1' OR 1=1 --", "rsa-1/../rsa-1",
                          "rsa-", "rsa-1 ", "RSA-1", "%2e%2e%2f"};
    json_t *payload = test_payload();
    for (size_t i = 0; i < sizeof kids / sizeof kids[0]; i++) {
        json_t *header = json_pack("{s:s,s:s}", "alg", "RS256", "kid", kids[i]);
        ex_auth_claims claims;
        ex_auth_status status = verify_and_free(test_sign(rsa, "RS256", header, payload),
                                                &claims);
        if (status != EX_AUTH_ERR_UNKNOWN_KEY)
            fail_msg("kid %s gave status %s", kids[i], ex_auth_status_code(status));
        json_decref(header);
    }
    json_decref(payload);
}

static void test_kid_odd_characters_match_exactly(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(test_sign(rsa_odd, "RS256", NULL, payload), &claims),
                     EX_AUTH_OK);
    ex_auth_claims_clear(&claims);
    json_decref(payload);
}

static void test_kid_missing(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_t *header = json_pack("{s:s}", "alg", "RS256");
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(test_sign(rsa, "RS256", header, payload), &claims),
                     EX_AUTH_ERR_MALFORMED);
    json_decref(header);
    json_decref(payload);
}

static void test_signature_from_other_key(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_t *header = json_pack("{s:s,s:s}", "alg", "RS256", "kid", "rsa-1");
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(test_sign(rsa_other, "RS256", header, payload), &claims),
                     EX_AUTH_ERR_SIGNATURE);
    json_decref(header);
    json_decref(payload);
}

/* Replaces the payload segment of a valid token with another payload. */
static void test_payload_swapped(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    char *token = test_sign(rsa, "RS256", NULL, payload);
    json_object_set_new(payload, "sub", json_string("someone-else"));
    char *forged_json = test_json_text(payload);
    char *forged = test_b64url((const unsigned char *)forged_json, strlen(forged_json));

    char *dot1 = strchr(token, '.');
    char *dot2 = strchr(dot1 + 1, '.');
    char spliced[8192];
    snprintf(spliced, sizeof spliced, "%.*s.%s%s", (int)(dot1 - token), token, forged, dot2);

    ex_auth_claims claims;
    assert_int_equal(ex_auth_verify(verifier, spliced, strlen(spliced), &claims),
                     EX_AUTH_ERR_SIGNATURE);
    free(forged);
    free(forged_json);
    free(token);
    json_decref(payload);
}

/* Shortens the signature segment to whole 4-character groups minus one
 * group, so it stays canonical base64url but decodes to fewer bytes. */
static void shorten_signature(char *token)
{
    char *sig = strrchr(token, '.') + 1;
    size_t len = strlen(sig);
    sig[len - len % 4 - 4] = '\0';
}

static void test_es256_signature_wrong_length(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    char *token = test_sign(ec256, "ES256", NULL, payload);
    shorten_signature(token);
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(token, &claims), EX_AUTH_ERR_SIGNATURE);
    json_decref(payload);
}

static void test_truncated_signature(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    char *token = test_sign(rsa, "RS256", NULL, payload);
    shorten_signature(token);
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(token, &claims), EX_AUTH_ERR_SIGNATURE);
    json_decref(payload);
}

static void test_truncated_to_two_segments(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    char *token = test_sign(rsa, "RS256", NULL, payload);
    *strrchr(token, '.') = '\0';
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(token, &claims), EX_AUTH_ERR_MALFORMED);
    json_decref(payload);
}

static void test_truncated_inside_payload(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    char *token = test_sign(rsa, "RS256", NULL, payload);
    char *dot1 = strchr(token, '.');
    dot1[20] = '\0';
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(token, &claims), EX_AUTH_ERR_MALFORMED);
    json_decref(payload);
}

static void test_four_segments(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    char *token = test_sign(rsa, "RS256", NULL, payload);
    char extended[8192];
    snprintf(extended, sizeof extended, "%s.AAAA", token);
    ex_auth_claims claims;
    assert_int_equal(ex_auth_verify(verifier, extended, strlen(extended), &claims),
                     EX_AUTH_ERR_MALFORMED);
    free(token);
    json_decref(payload);
}

static void test_oversized_token(void **state)
{
    (void)state;
    size_t len = EX_AUTH_DEFAULT_MAX_TOKEN_BYTES + 1;
    char *token = malloc(len);
    assert_non_null(token);
    memset(token, 'A', len);
    token[10] = '.';
    token[20] = '.';
    ex_auth_claims claims;
    assert_int_equal(ex_auth_verify(verifier, token, len, &claims), EX_AUTH_ERR_TOO_LARGE);
    assert_string_equal(claims.error_description, "token exceeds the maximum size");

    /* One byte less is decoded (and then fails as malformed). */
    assert_int_equal(ex_auth_verify(verifier, token, len - 1, &claims), EX_AUTH_ERR_MALFORMED);
    free(token);
}

static void test_empty_token(void **state)
{
    (void)state;
    ex_auth_claims claims;
    assert_int_equal(ex_auth_verify(verifier, "", 0, &claims), EX_AUTH_ERR_MALFORMED);
    assert_int_equal(ex_auth_verify(verifier, "..", 2, &claims), EX_AUTH_ERR_MALFORMED);
}

/* Replaces character `pos` of a valid token with c and verifies. */
static ex_auth_status verify_with_char(size_t pos, char c)
{
    json_t *payload = test_payload();
    char *token = test_sign(rsa, "RS256", NULL, payload);
    size_t len = strlen(token);
    token[pos] = c;
    ex_auth_claims claims;
    ex_auth_status status = ex_auth_verify(verifier, token, len, &claims);
    free(token);
    json_decref(payload);
    return status;
}

static void test_non_base64url_characters(void **state)
{
    (void)state;
    assert_int_equal(verify_with_char(3, '+'), EX_AUTH_ERR_MALFORMED);
    assert_int_equal(verify_with_char(3, '/'), EX_AUTH_ERR_MALFORMED);
    assert_int_equal(verify_with_char(3, ' '), EX_AUTH_ERR_MALFORMED);
    assert_int_equal(verify_with_char(3, '\n'), EX_AUTH_ERR_MALFORMED);
    assert_int_equal(verify_with_char(3, '\0'), EX_AUTH_ERR_MALFORMED);
}

static void test_padded_segment(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    char *token = test_sign(rsa, "RS256", NULL, payload);
    char padded[8192];
    snprintf(padded, sizeof padded, "%s==", token);
    ex_auth_claims claims;
    assert_int_equal(ex_auth_verify(verifier, padded, strlen(padded), &claims),
                     EX_AUTH_ERR_MALFORMED);
    free(token);
    json_decref(payload);
}

/* A second verification of the same token reads its parsed JSON from the
 * verifier's cache and returns the same claims. */
static void test_repeated_token_same_claims(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    char *token = test_sign(rsa, "RS256", NULL, payload);
    ex_auth_claims first, second;
    assert_int_equal(ex_auth_verify(verifier, token, strlen(token), &first), EX_AUTH_OK);
    assert_int_equal(ex_auth_verify(verifier, token, strlen(token), &second), EX_AUTH_OK);
    assert_string_equal(first.subject, second.subject);
    assert_string_equal(first.tenant_id, second.tenant_id);
    assert_int_equal(first.role_count, second.role_count);
    ex_auth_claims_clear(&first);
    ex_auth_claims_clear(&second);
    free(token);
    json_decref(payload);
}

/* The cache holds parsed JSON only: a token whose header and payload were
 * seen before is still rejected when its signature does not verify. */
static void test_cached_segments_still_need_signature(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    char *token = test_sign(rsa, "RS256", NULL, payload);
    ex_auth_claims claims;
    assert_int_equal(ex_auth_verify(verifier, token, strlen(token), &claims), EX_AUTH_OK);
    ex_auth_claims_clear(&claims);

    /* Change one character in the middle of the signature segment. */
    char *dot = strrchr(token, '.');
    size_t middle = (size_t)(dot - token) + (strlen(dot) / 2);
    token[middle] = token[middle] == 'A' ? 'B' : 'A';
    assert_int_equal(ex_auth_verify(verifier, token, strlen(token), &claims), EX_AUTH_ERR_SIGNATURE);
    assert_null(claims.subject);
    ex_auth_claims_clear(&claims);

    /* The same header and payload signed by a key of another issuer. */
    char *other = test_sign(rsa_other, "RS256", NULL, payload);
    char *forged = malloc(strlen(token) + strlen(other) + 1);
    assert_non_null(forged);
    size_t signed_part = (size_t)(strrchr(token, '.') - token);
    memcpy(forged, token, signed_part);
    strcpy(forged + signed_part, strrchr(other, '.'));
    assert_int_not_equal(ex_auth_verify(verifier, forged, strlen(forged), &claims), EX_AUTH_OK);
    ex_auth_claims_clear(&claims);

    free(forged);
    free(other);
    free(token);
    json_decref(payload);
}

/* The token is given with an explicit length: bytes after it are never
 * read, and a NUL inside it is an invalid character. */
static void test_length_is_respected(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    char *token = test_sign(rsa, "RS256", NULL, payload);
    size_t len = strlen(token);
    char *longer = malloc(len + 10);
    assert_non_null(longer);
    snprintf(longer, len + 10, "%sgarbage!!", token);
    ex_auth_claims claims;
    assert_int_equal(ex_auth_verify(verifier, longer, len, &claims), EX_AUTH_OK);
    ex_auth_claims_clear(&claims);
    assert_int_equal(ex_auth_verify(verifier, longer, len + 9, &claims), EX_AUTH_ERR_MALFORMED);
    free(longer);
    free(token);
    json_decref(payload);
}

static void test_duplicate_header_key(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    char *p_json = test_json_text(payload);
    char *token = test_sign_text(
        rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"alg\":\"none\"}", p_json);
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(token, &claims), EX_AUTH_ERR_MALFORMED);
    free(p_json);
    json_decref(payload);
}

static void test_duplicate_payload_key(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    char *p_json = test_json_text(payload);
    /* Append a second "sub" after the first by editing the closing brace. */
    char dup[8192];
    snprintf(dup, sizeof dup, "%.*s,\"sub\":\"admin\"}", (int)(strlen(p_json) - 1), p_json);
    char *token = test_sign_text(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", dup);
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(token, &claims), EX_AUTH_ERR_MALFORMED);
    free(p_json);
    json_decref(payload);
}

static void test_header_not_object(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    char *p_json = test_json_text(payload);
    char *token = test_sign_text(rsa, "RS256", "[\"RS256\"]", p_json);
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(token, &claims), EX_AUTH_ERR_MALFORMED);
    free(p_json);
    json_decref(payload);
}

static void test_payload_not_object(void **state)
{
    (void)state;
    char *token = test_sign_text(rsa, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}",
                                 "\"just a string\"");
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(token, &claims), EX_AUTH_ERR_MALFORMED);
}

static void test_typ_at_jwt_accepted(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    const char *types[] = {"at+jwt", "application/at+jwt", "JWT", "jwt"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        json_t *header = json_pack("{s:s,s:s,s:s}", "alg", "RS256", "typ", types[i], "kid",
                                   "rsa-1");
        ex_auth_claims claims;
        ex_auth_status status = verify_and_free(test_sign(rsa, "RS256", header, payload),
                                                &claims);
        if (status != EX_AUTH_OK)
            fail_msg("typ %s gave %s", types[i], ex_auth_status_code(status));
        ex_auth_claims_clear(&claims);
        json_decref(header);
    }
    json_decref(payload);
}

static void test_typ_other_rejected(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_t *header = json_pack("{s:s,s:s,s:s}", "alg", "RS256", "typ", "JOSE", "kid", "rsa-1");
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(test_sign(rsa, "RS256", header, payload), &claims),
                     EX_AUTH_ERR_MALFORMED);
    json_decref(header);
    json_decref(payload);
}

static void test_crit_rejected(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_t *header = json_pack("{s:s,s:s,s:[s],s:b}", "alg", "RS256", "kid", "rsa-1", "crit",
                               "b64", "b64", 0);
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(test_sign(rsa, "RS256", header, payload), &claims),
                     EX_AUTH_ERR_MALFORMED);
    json_decref(header);
    json_decref(payload);
}

static void test_tenant_missing(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_del(payload, "tenant_id");
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_ERR_TENANT);
    assert_null(claims.tenant_id);
    json_decref(payload);
}

static void test_tenant_not_uuid(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "tenant_id", json_string("demo'; DROP TABLE users; --"));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_ERR_TENANT);
    json_decref(payload);
}

static void test_tenant_upper_case_normalised(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "tenant_id", json_string("6F1C3A52-8D0E-4C57-9B7A-3E2D1F0A9B11"));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_OK);
    assert_string_equal(claims.tenant_id, TEST_TENANT);
    ex_auth_claims_clear(&claims);
    json_decref(payload);
}

static void test_tenant_from_issuer_map(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "iss", json_string(TEST_OTHER_ISSUER));
    json_object_del(payload, "tenant_id");
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(test_sign(rsa_other, "RS256", NULL, payload), &claims),
                     EX_AUTH_OK);
    assert_string_equal(claims.tenant_id, TEST_OTHER_TENANT);
    assert_string_equal(claims.issuer, TEST_OTHER_ISSUER);
    ex_auth_claims_clear(&claims);
    json_decref(payload);
}

static void test_tenant_conflicts_with_issuer_map(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "iss", json_string(TEST_OTHER_ISSUER));
    /* TEST_TENANT is not the tenant mapped to TEST_OTHER_ISSUER. */
    ex_auth_claims claims;
    assert_int_equal(verify_and_free(test_sign(rsa_other, "RS256", NULL, payload), &claims),
                     EX_AUTH_ERR_TENANT);
    json_decref(payload);
}

static void test_subject_missing(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_del(payload, "sub");
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_ERR_CLAIMS);
    json_decref(payload);
}

static void test_roles_realm_and_client(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "realm_access",
                        json_pack("{s:[s,s,i]}", "roles", "user", "tenant_admin", 5));
    json_object_set_new(payload, "resource_access",
                        json_pack("{s:{s:[s,s]},s:{s:[s]}}", "expresso-mail", "roles",
                                  "mail_admin", "user", "account", "roles", "manage-account"));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_OK);
    assert_int_equal(claims.role_count, 3);
    assert_true(ex_auth_has_role(&claims, "user"));
    assert_true(ex_auth_has_role(&claims, "tenant_admin"));
    assert_true(ex_auth_has_role(&claims, "mail_admin"));
    assert_false(ex_auth_has_role(&claims, "manage-account"));
    assert_false(ex_auth_has_role(&claims, "superadmin"));
    assert_false(ex_auth_has_role(&claims, "USER"));
    ex_auth_claims_clear(&claims);
    json_decref(payload);
}

static void test_roles_malformed_grant_nothing(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "realm_access", json_pack("{s:s}", "roles", "superadmin"));
    json_object_set_new(payload, "resource_access", json_pack("[s]", "superadmin"));
    ex_auth_claims claims;
    assert_int_equal(verify_payload(payload, &claims), EX_AUTH_OK);
    assert_int_equal(claims.role_count, 0);
    assert_false(ex_auth_has_role(&claims, "superadmin"));
    ex_auth_claims_clear(&claims);
    json_decref(payload);
}

/* Descriptions are fixed sentences: no part of the token shows up. */
static void test_description_never_echoes_token(void **state)
{
    (void)state;
    json_t *payload = test_payload();
    json_object_set_new(payload, "iss", json_string("https://attacker.example/<script>"));
    char *token = test_sign(rsa, "RS256", NULL, payload);
    ex_auth_claims claims;
    assert_int_equal(ex_auth_verify(verifier, token, strlen(token), &claims),
                     EX_AUTH_ERR_ISSUER);
    assert_null(strstr(claims.error_description, "attacker"));
    assert_null(strstr(claims.error_description, "<script>"));
    free(token);
    json_decref(payload);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_rs256),
        cmocka_unit_test(test_valid_rs384),
        cmocka_unit_test(test_valid_rs512),
        cmocka_unit_test(test_valid_ps256),
        cmocka_unit_test(test_valid_es256),
        cmocka_unit_test(test_valid_es384),
        cmocka_unit_test(test_claims_extracted),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_expired_within_leeway),
        cmocka_unit_test(test_expired_real_number),
        cmocka_unit_test(test_exp_missing),
        cmocka_unit_test(test_exp_not_number),
        cmocka_unit_test(test_exp_huge_real),
        cmocka_unit_test(test_not_yet_valid),
        cmocka_unit_test(test_nbf_within_leeway),
        cmocka_unit_test(test_iat_in_future),
        cmocka_unit_test(test_wrong_issuer),
        cmocka_unit_test(test_issuer_prefix_rejected),
        cmocka_unit_test(test_issuer_missing),
        cmocka_unit_test(test_key_of_other_issuer),
        cmocka_unit_test(test_wrong_audience),
        cmocka_unit_test(test_audience_array),
        cmocka_unit_test(test_audience_array_without_match),
        cmocka_unit_test(test_azp_accepted),
        cmocka_unit_test(test_azp_without_aud_accepted),
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_alg_none_capitalised),
        cmocka_unit_test(test_hs256_with_rsa_pem),
        cmocka_unit_test(test_rs256_header_with_ec_kid),
        cmocka_unit_test(test_es384_header_with_p256_kid),
        cmocka_unit_test(test_jwk_alg_pinned),
        cmocka_unit_test(test_unknown_kid),
        cmocka_unit_test(test_kid_path_and_sql_characters),
        cmocka_unit_test(test_kid_odd_characters_match_exactly),
        cmocka_unit_test(test_kid_missing),
        cmocka_unit_test(test_signature_from_other_key),
        cmocka_unit_test(test_payload_swapped),
        cmocka_unit_test(test_es256_signature_wrong_length),
        cmocka_unit_test(test_truncated_signature),
        cmocka_unit_test(test_truncated_to_two_segments),
        cmocka_unit_test(test_truncated_inside_payload),
        cmocka_unit_test(test_four_segments),
        cmocka_unit_test(test_oversized_token),
        cmocka_unit_test(test_empty_token),
        cmocka_unit_test(test_non_base64url_characters),
        cmocka_unit_test(test_padded_segment),
        cmocka_unit_test(test_length_is_respected),
        cmocka_unit_test(test_repeated_token_same_claims),
        cmocka_unit_test(test_cached_segments_still_need_signature),
        cmocka_unit_test(test_duplicate_header_key),
        cmocka_unit_test(test_duplicate_payload_key),
        cmocka_unit_test(test_header_not_object),
        cmocka_unit_test(test_payload_not_object),
        cmocka_unit_test(test_typ_at_jwt_accepted),
        cmocka_unit_test(test_typ_other_rejected),
        cmocka_unit_test(test_crit_rejected),
        cmocka_unit_test(test_tenant_missing),
        cmocka_unit_test(test_tenant_not_uuid),
        cmocka_unit_test(test_tenant_upper_case_normalised),
        cmocka_unit_test(test_tenant_from_issuer_map),
        cmocka_unit_test(test_tenant_conflicts_with_issuer_map),
        cmocka_unit_test(test_subject_missing),
        cmocka_unit_test(test_roles_realm_and_client),
        cmocka_unit_test(test_roles_malformed_grant_nothing),
        cmocka_unit_test(test_description_never_echoes_token),
    };
    return cmocka_run_group_tests_name("authclient_jwt", tests, setup, teardown);
}
