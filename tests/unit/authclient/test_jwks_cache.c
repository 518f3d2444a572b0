/*
 * The JWKS cache against a real HTTP issuer on 127.0.0.1 (jwks_server.c):
 * discovery, key rotation, the refetch rate limit, an unreachable or
 * failing issuer, stale keys, size caps and one fetch for many threads.
 * The refetch interval is 1 s here, so the tests sleep just past it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "expresso/authclient.h"
#include "jwks_server.h"
#include "token_factory.h"

#define CONCURRENT_THREADS 8

static test_key *key_a;
static test_key *key_b;
static test_key *key_c; /* never published */

typedef struct fixture {
    jwks_server *server;
    ex_auth_verifier *verifier;
} fixture;

static int setup_keys(void **state)
{
    (void)state;
    key_a = test_key_rsa("key-a", 2048);
    key_b = test_key_ec("key-b", "P-256");
    key_c = test_key_rsa("key-c", 2048);
    return 0;
}

static int teardown_keys(void **state)
{
    (void)state;
    test_key_free(key_a);
    test_key_free(key_b);
    test_key_free(key_c);
    return 0;
}

static void sleep_past_interval(void)
{
    struct timespec ts = {.tv_sec = 1, .tv_nsec = 150 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void serve_keys(jwks_server *server, const test_key *first, const test_key *second)
{
    const test_key *keys[] = {first, second};
    char *jwks = test_jwks_text(keys, second ? 2 : 1);
    jwks_server_set_jwks(server, jwks);
    free(jwks);
}

/* Starts an issuer serving key A and a verifier for it with a 1 s
 * refetch interval and the given maximum key age. */
static fixture *start(long keys_max_age_seconds, size_t max_document_bytes)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->server = jwks_server_start();
    serve_keys(f->server, key_a, NULL);

    ex_auth_issuer issuer = {.issuer = jwks_server_issuer(f->server)};
    const char *audiences[] = {TEST_AUDIENCE};
    ex_auth_config config;
    ex_auth_config_init(&config);
    config.issuers = &issuer;
    config.issuer_count = 1;
    config.audiences = audiences;
    config.audience_count = 1;
    config.refetch_interval_seconds = 1;
    config.keys_max_age_seconds = keys_max_age_seconds;
    config.http_timeout_ms = 2000;
    if (max_document_bytes)
        config.max_document_bytes = max_document_bytes;

    char err[256] = "";
    f->verifier = ex_auth_verifier_new(&config, err, sizeof err);
    if (!f->verifier)
        fail_msg("ex_auth_verifier_new: %s", err);
    return f;
}

static void finish(fixture *f)
{
    ex_auth_verifier_free(f->verifier);
    jwks_server_free(f->server);
    free(f);
}

/* Verifies a token signed by `key` for the fixture's issuer. */
static ex_auth_status verify_with(fixture *f, const test_key *key)
{
    json_t *payload = test_payload();
    json_object_set_new(payload, "iss", json_string(jwks_server_issuer(f->server)));
    char *token = test_sign(key, key->curve ? "ES256" : "RS256", NULL, payload);
    ex_auth_claims claims;
    ex_auth_status status = ex_auth_verify(f->verifier, token, strlen(token), &claims);
    ex_auth_claims_clear(&claims);
    free(token);
    json_decref(payload);
    return status;
}

static uint64_t fetch_failures(fixture *f)
{
    ex_auth_stats stats;
    ex_auth_verifier_get_stats(f->verifier, &stats);
    return stats.jwks_fetch_failures;
}

static void test_first_token_discovers_and_fetches(void **state)
{
    (void)state;
    fixture *f = start(600, 0);
    assert_int_equal(verify_with(f, key_a), EX_AUTH_OK);
    assert_int_equal(jwks_server_discovery_requests(f->server), 1);
    assert_int_equal(jwks_server_jwks_requests(f->server), 1);

    /* Cached: no further request. */
    assert_int_equal(verify_with(f, key_a), EX_AUTH_OK);
    assert_int_equal(jwks_server_jwks_requests(f->server), 1);
    assert_int_equal(jwks_server_discovery_requests(f->server), 1);
    finish(f);
}

static void test_rotation_refetches_once(void **state)
{
    (void)state;
    fixture *f = start(600, 0);
    assert_int_equal(verify_with(f, key_a), EX_AUTH_OK);
    assert_int_equal(jwks_server_jwks_requests(f->server), 1);

    serve_keys(f->server, key_b, NULL);
    sleep_past_interval();
    assert_int_equal(verify_with(f, key_b), EX_AUTH_OK);
    assert_int_equal(jwks_server_jwks_requests(f->server), 2);

    /* A second unknown kid right after: no refetch within the interval. */
    assert_int_equal(verify_with(f, key_c), EX_AUTH_ERR_UNKNOWN_KEY);
    assert_int_equal(jwks_server_jwks_requests(f->server), 2);

    /* Key A left the JWKS with the rotation. */
    assert_int_equal(verify_with(f, key_a), EX_AUTH_ERR_UNKNOWN_KEY);
    assert_int_equal(jwks_server_jwks_requests(f->server), 2);

    /* Key B keeps working from the cache. */
    assert_int_equal(verify_with(f, key_b), EX_AUTH_OK);
    assert_int_equal(jwks_server_jwks_requests(f->server), 2);
    finish(f);
}

static void test_unknown_kid_within_interval(void **state)
{
    (void)state;
    fixture *f = start(600, 0);
    assert_int_equal(verify_with(f, key_a), EX_AUTH_OK);

    serve_keys(f->server, key_a, key_b);
    assert_int_equal(verify_with(f, key_b), EX_AUTH_ERR_UNKNOWN_KEY);
    assert_int_equal(jwks_server_jwks_requests(f->server), 1);

    sleep_past_interval();
    assert_int_equal(verify_with(f, key_b), EX_AUTH_OK);
    assert_int_equal(jwks_server_jwks_requests(f->server), 2);
    finish(f);
}

static void test_issuer_down_keeps_cached_keys(void **state)
{
    (void)state;
    fixture *f = start(600, 0);
    assert_int_equal(verify_with(f, key_a), EX_AUTH_OK);

    jwks_server_stop(f->server);
    assert_int_equal(verify_with(f, key_a), EX_AUTH_OK);

    /* An unknown kid makes one failing attempt; known keys still work. */
    sleep_past_interval();
    assert_int_equal(verify_with(f, key_c), EX_AUTH_ERR_UNKNOWN_KEY);
    assert_int_equal(fetch_failures(f), 1);
    assert_int_equal(verify_with(f, key_a), EX_AUTH_OK);

    /* Within the interval the failed issuer is not tried again. */
    assert_int_equal(verify_with(f, key_c), EX_AUTH_ERR_UNKNOWN_KEY);
    assert_int_equal(fetch_failures(f), 1);
    finish(f);
}

static void test_stale_refresh_failure_keeps_keys(void **state)
{
    (void)state;
    fixture *f = start(1, 0);
    assert_int_equal(verify_with(f, key_a), EX_AUTH_OK);

    jwks_server_set_failing(f->server, true);
    sleep_past_interval();
    assert_int_equal(verify_with(f, key_a), EX_AUTH_OK);
    assert_int_equal(jwks_server_jwks_requests(f->server), 2);
    assert_int_equal(fetch_failures(f), 1);
    assert_int_equal(verify_with(f, key_a), EX_AUTH_OK);
    finish(f);
}

static void test_stale_refresh_drops_removed_keys(void **state)
{
    (void)state;
    fixture *f = start(1, 0);
    assert_int_equal(verify_with(f, key_a), EX_AUTH_OK);

    serve_keys(f->server, key_b, NULL);
    sleep_past_interval();
    /* This verification uses the cached key, then refreshes the set. */
    assert_int_equal(verify_with(f, key_a), EX_AUTH_OK);
    assert_int_equal(jwks_server_jwks_requests(f->server), 2);
    assert_int_equal(verify_with(f, key_a), EX_AUTH_ERR_UNKNOWN_KEY);
    assert_int_equal(verify_with(f, key_b), EX_AUTH_OK);
    finish(f);
}

static void test_no_keys_and_issuer_down(void **state)
{
    (void)state;
    fixture *f = start(600, 0);
    jwks_server_stop(f->server);
    assert_int_equal(verify_with(f, key_a), EX_AUTH_ERR_KEYS_UNAVAILABLE);
    assert_int_equal(fetch_failures(f), 1);
    finish(f);
}

static void test_discovery_names_other_issuer(void **state)
{
    (void)state;
    fixture *f = start(600, 0);
    jwks_server_set_discovery_issuer(f->server, "http://127.0.0.1:1/realms/elsewhere");
    assert_int_equal(verify_with(f, key_a), EX_AUTH_ERR_KEYS_UNAVAILABLE);
    assert_int_equal(jwks_server_jwks_requests(f->server), 0);
    finish(f);
}

static void test_jwks_over_size_cap(void **state)
{
    (void)state;
    fixture *f = start(600, 1024);
    /* One RSA-2048 JWK (about 420 bytes) and a member that takes the
     * document past the 1 KiB cap. */
    char padding[700];
    memset(padding, 'x', sizeof padding - 1);
    padding[sizeof padding - 1] = '\0';
    json_t *doc = json_pack("{s:[o],s:s}", "keys", test_key_jwk(key_a, NULL), "padding",
                            padding);
    char *text = test_json_text(doc);
    assert_true(strlen(text) > 1024);
    jwks_server_set_jwks(f->server, text);

    assert_int_equal(verify_with(f, key_a), EX_AUTH_ERR_KEYS_UNAVAILABLE);
    assert_int_equal(jwks_server_jwks_requests(f->server), 1);
    free(text);
    json_decref(doc);
    finish(f);
}

static void test_jwks_without_usable_keys(void **state)
{
    (void)state;
    fixture *f = start(600, 0);
    json_t *enc = test_key_jwk(key_a, NULL);
    json_object_set_new(enc, "use", json_string("enc"));
    json_t *doc = json_pack("{s:[o,{s:s,s:s,s:s}]}", "keys", enc, "kty", "oct", "kid",
                            "hmac", "k", "c2VjcmV0");
    char *text = test_json_text(doc);
    jwks_server_set_jwks(f->server, text);
    assert_int_equal(verify_with(f, key_a), EX_AUTH_ERR_KEYS_UNAVAILABLE);
    free(text);
    json_decref(doc);
    finish(f);
}

static void test_refresh_at_startup(void **state)
{
    (void)state;
    fixture *f = start(600, 0);
    char err[256] = "";
    assert_int_equal(ex_auth_verifier_refresh(f->verifier, err, sizeof err), 0);
    assert_int_equal(jwks_server_jwks_requests(f->server), 1);
    assert_int_equal(verify_with(f, key_a), EX_AUTH_OK);
    assert_int_equal(jwks_server_jwks_requests(f->server), 1);

    jwks_server_stop(f->server);
    assert_int_equal(ex_auth_verifier_refresh(f->verifier, err, sizeof err), -1);
    assert_non_null(strstr(err, "127.0.0.1"));
    finish(f);
}

typedef struct worker {
    fixture *f;
    pthread_barrier_t *barrier;
    ex_auth_status status;
} worker;

static void *verify_in_thread(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(w->barrier);
    w->status = verify_with(w->f, key_b);
    return NULL;
}

static void test_concurrent_unknown_kid_one_fetch(void **state)
{
    (void)state;
    fixture *f = start(600, 0);
    assert_int_equal(verify_with(f, key_a), EX_AUTH_OK);
    serve_keys(f->server, key_a, key_b);
    sleep_past_interval();

    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, CONCURRENT_THREADS);
    pthread_t threads[CONCURRENT_THREADS];
    worker workers[CONCURRENT_THREADS];
    for (int i = 0; i < CONCURRENT_THREADS; i++) {
        workers[i] = (worker){.f = f, .barrier = &barrier, .status = EX_AUTH_ERR_INTERNAL};
        assert_int_equal(pthread_create(&threads[i], NULL, verify_in_thread, &workers[i]), 0);
    }
    for (int i = 0; i < CONCURRENT_THREADS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&barrier);

    for (int i = 0; i < CONCURRENT_THREADS; i++)
        assert_int_equal(workers[i].status, EX_AUTH_OK);
    assert_int_equal(jwks_server_jwks_requests(f->server), 2);
    finish(f);
}

static void test_configured_jwks_uri_skips_discovery(void **state)
{
    (void)state;
    jwks_server *server = jwks_server_start();
    serve_keys(server, key_a, NULL);
    char jwks_uri[192];
    snprintf(jwks_uri, sizeof jwks_uri, "%s/certs", jwks_server_issuer(server));

    ex_auth_issuer issuer = {.issuer = jwks_server_issuer(server), .jwks_uri = jwks_uri};
    const char *audiences[] = {TEST_AUDIENCE};
    ex_auth_config config;
    ex_auth_config_init(&config);
    config.issuers = &issuer;
    config.issuer_count = 1;
    config.audiences = audiences;
    config.audience_count = 1;
    char err[256];
    fixture f = {.server = server, .verifier = ex_auth_verifier_new(&config, err, sizeof err)};
    assert_non_null(f.verifier);

    assert_int_equal(verify_with(&f, key_a), EX_AUTH_OK);
    assert_int_equal(jwks_server_discovery_requests(server), 0);
    assert_int_equal(jwks_server_jwks_requests(server), 1);
    ex_auth_verifier_free(f.verifier);
    jwks_server_free(server);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_token_discovers_and_fetches),
        cmocka_unit_test(test_rotation_refetches_once),
        cmocka_unit_test(test_unknown_kid_within_interval),
        cmocka_unit_test(test_issuer_down_keeps_cached_keys),
        cmocka_unit_test(test_stale_refresh_failure_keeps_keys),
        cmocka_unit_test(test_stale_refresh_drops_removed_keys),
        cmocka_unit_test(test_no_keys_and_issuer_down),
        cmocka_unit_test(test_discovery_names_other_issuer),
        cmocka_unit_test(test_jwks_over_size_cap),
        cmocka_unit_test(test_jwks_without_usable_keys),
        cmocka_unit_test(test_refresh_at_startup),
        cmocka_unit_test(test_concurrent_unknown_kid_one_fetch),
        cmocka_unit_test(test_configured_jwks_uri_skips_discovery),
    };
    return cmocka_run_group_tests_name("authclient_jwks_cache", tests, setup_keys,
                                       teardown_keys);
}
