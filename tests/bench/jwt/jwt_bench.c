/*
 * JWT validation throughput through ex_auth_verify with RS256 (RSA-2048),
 * for one token verified again and again (its parsed JSON comes from the
 * verifier's cache) and for 1,024 distinct tokens in turn (payload parsed
 * each time), against raw OpenSSL EVP_DigestVerify of the same signature
 * with the same key, on 1 and 2 threads. The ratios show what the
 * parsing, checks and locking of the library cost on top of the RSA
 * operation itself.
 *
 * Each cell is the best of ROUNDS short runs, with library and raw runs
 * alternating, so that a burst of load from other processes on a shared
 * machine does not land on one side only.
 *
 * Usage: jwt_bench [seconds-per-run]   (default 1, at most 60)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "expresso/authclient.h"
#include "token_factory.h"

#define DEFAULT_SECONDS 1
#define ROUNDS 5
#define MAX_SECONDS 60
#define MAX_THREADS 2
/* Iterations between two clock reads. */
#define BATCH 64

/* Distinct tokens cycled through by the cold run; more than the verifier
 * caches parsed segments for, so their payloads are parsed each time. */
#define DISTINCT_TOKENS 1024

static ex_auth_verifier *verifier;
static test_key *key;
static char *token;
static char *distinct_tokens[DISTINCT_TOKENS];
static size_t token_len;
static unsigned char signature[512];
static size_t signature_len;
static size_t input_len; /* header.payload */
static EVP_MD *sha256;
static double seconds;

typedef enum { RUN_VERIFIER, RUN_VERIFIER_DISTINCT, RUN_RAW_EVP } run_kind;

typedef struct run {
    run_kind kind;
    pthread_barrier_t *barrier;
    unsigned long count;
    unsigned next_token; /* RUN_VERIFIER_DISTINCT: index into distinct_tokens */
    double elapsed;
    int failed;
} run;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int verify_once_library(void)
{
    ex_auth_claims claims;
    ex_auth_status status = ex_auth_verify(verifier, token, token_len, &claims);
    ex_auth_claims_clear(&claims);
    return status == EX_AUTH_OK ? 0 : -1;
}

static int verify_once_distinct(unsigned *next)
{
    const char *text = distinct_tokens[*next % DISTINCT_TOKENS];
    *next += 1;
    ex_auth_claims claims;
    ex_auth_status status = ex_auth_verify(verifier, text, strlen(text), &claims);
    ex_auth_claims_clear(&claims);
    return status == EX_AUTH_OK ? 0 : -1;
}

static int verify_once_raw(void)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = ctx && EVP_DigestVerifyInit(ctx, &pctx, sha256, NULL, key->pkey) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0 &&
             EVP_DigestVerify(ctx, signature, signature_len, (const unsigned char *)token,
                              input_len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

static void *run_thread(void *arg)
{
    run *r = arg;
    pthread_barrier_wait(r->barrier);
    double start = now_seconds(), t = start;
    while (t - start < seconds) {
        for (int i = 0; i < BATCH; i++) {
            int rc;
            if (r->kind == RUN_VERIFIER)
                rc = verify_once_library();
            else if (r->kind == RUN_VERIFIER_DISTINCT)
                rc = verify_once_distinct(&r->next_token);
            else
                rc = verify_once_raw();
            if (rc != 0) {
                r->failed = 1;
                return NULL;
            }
        }
        r->count += BATCH;
        t = now_seconds();
    }
    r->elapsed = t - start;
    return NULL;
}

/* Runs `threads` threads of one kind; returns operations per second. */
static double measure(run_kind kind, int threads)
{
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)threads);
    pthread_t ids[MAX_THREADS];
    run runs[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        runs[i] = (run){.kind = kind, .barrier = &barrier,
                        .next_token = (unsigned)i * (DISTINCT_TOKENS / MAX_THREADS)};
        pthread_create(&ids[i], NULL, run_thread, &runs[i]);
    }
    double rate = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(ids[i], NULL);
        if (runs[i].failed) {
            fprintf(stderr, "jwt_bench: a verification failed; the numbers would be wrong\n");
            exit(1);
        }
        rate += (double)runs[i].count / runs[i].elapsed;
    }
    pthread_barrier_destroy(&barrier);
    return rate;
}

static void setup(void)
{
    key = test_key_rsa("bench-rsa", 2048);
    const test_key *keys[] = {key};
    char *jwks = test_jwks_text(keys, 1);
    ex_auth_issuer issuer = {.issuer = TEST_ISSUER, .jwks_json = jwks};
    const char *audiences[] = {TEST_AUDIENCE};
    ex_auth_config config;
    ex_auth_config_init(&config);
    config.issuers = &issuer;
    config.issuer_count = 1;
    config.audiences = audiences;
    config.audience_count = 1;
    char err[256];
    verifier = ex_auth_verifier_new(&config, err, sizeof err);
    free(jwks);
    if (!verifier) {
        fprintf(stderr, "jwt_bench: %s\n", err);
        exit(1);
    }

    json_t *payload = test_payload();
    json_object_set_new(payload, "exp", json_integer(test_now() + 3600));
    token = test_sign(key, "RS256", NULL, payload);
    json_decref(payload);
    token_len = strlen(token);

    for (int i = 0; i < DISTINCT_TOKENS; i++) {
        json_t *distinct = test_payload();
        json_object_set_new(distinct, "exp", json_integer(test_now() + 3600));
        json_object_set_new(distinct, "jti", json_integer(i));
        distinct_tokens[i] = test_sign(key, "RS256", NULL, distinct);
        json_decref(distinct);
    }

    /* The raw baseline verifies the same bytes: header.payload and the
     * decoded signature. */
    const char *dot = strrchr(token, '.');
    input_len = (size_t)(dot - token);
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    signature_len = sizeof signature;
    if (!ctx || EVP_DigestSignInit(ctx, &pctx, sha256, NULL, key->pkey) != 1 ||
        EVP_DigestSign(ctx, signature, &signature_len, (const unsigned char *)token,
                       input_len) != 1) {
        fprintf(stderr, "jwt_bench: signing the baseline input failed\n");
        exit(1);
    }
    EVP_MD_CTX_free(ctx);
}

int main(int argc, char **argv)
{
    seconds = argc > 1 ? atof(argv[1]) : DEFAULT_SECONDS;
    if (!(seconds > 0 && seconds <= MAX_SECONDS)) {
        fprintf(stderr, "usage: %s [seconds-per-run, 0 < s <= %d]\n", argv[0],
                MAX_SECONDS);
        return 2;
    }
    setup();
    if (verify_once_library() != 0 || verify_once_raw() != 0) {
        fprintf(stderr, "jwt_bench: the benchmark token does not verify\n");
        return 1;
    }

    printf("JWT validation, RS256 with RSA-2048, token of %zu bytes, "
           "best of %d runs of %.1f s per cell\n", token_len, ROUNDS, seconds);
    printf("repeated: one token verified again and again (its parsed JSON is cached);\n"
           "distinct: %d different tokens in turn (payload parsed every time)\n",
           DISTINCT_TOKENS);
    printf("%-8s %14s %14s %20s %15s %15s\n", "threads", "repeated/s", "distinct/s",
           "EVP_DigestVerify/s", "ratio repeated", "ratio distinct");
    for (int threads = 1; threads <= MAX_THREADS; threads++) {
        double repeated = 0, distinct = 0, raw = 0;
        for (int round = 0; round < ROUNDS; round++) {
            double l = measure(RUN_VERIFIER, threads);
            double d = measure(RUN_VERIFIER_DISTINCT, threads);
            double r = measure(RUN_RAW_EVP, threads);
            repeated = l > repeated ? l : repeated;
            distinct = d > distinct ? d : distinct;
            raw = r > raw ? r : raw;
        }
        printf("%-8d %14.0f %14.0f %20.0f %15.2f %15.2f\n", threads, repeated, distinct, raw,
               repeated / raw, distinct / raw);
    }

    ex_auth_verifier_free(verifier);
    test_key_free(key);
    free(token);
    for (int i = 0; i < DISTINCT_TOKENS; i++)
        free(distinct_tokens[i]);
    EVP_MD_free(sha256);
    return 0;
}
