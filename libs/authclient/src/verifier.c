/*
 * The verifier object: configuration checks and copies, creation and
 * destruction, explicit refresh, static key sets and statistics.
 * Verification itself is in verify.c, the key cache in key_cache.c.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "authclient_internal.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init_once(void)
{
    /* jansson seeds its hash function lazily; doing it here keeps that
     * out of the worker threads. */
    json_object_seed(0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void ex_auth_global_init(void)
{
    pthread_once(&global_once, global_init_once);
}

void ex_auth_config_init(ex_auth_config *config)
{
    memset(config, 0, sizeof *config);
    config->leeway_seconds = EX_AUTH_DEFAULT_LEEWAY_SECONDS;
    config->max_token_bytes = EX_AUTH_DEFAULT_MAX_TOKEN_BYTES;
    config->refetch_interval_seconds = EX_AUTH_DEFAULT_REFETCH_INTERVAL_SECONDS;
    config->keys_max_age_seconds = EX_AUTH_DEFAULT_KEYS_MAX_AGE_SECONDS;
    config->http_timeout_ms = EX_AUTH_DEFAULT_HTTP_TIMEOUT_MS;
    config->max_document_bytes = EX_AUTH_DEFAULT_MAX_DOCUMENT_BYTES;
}

static void set_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Checks the scalar settings; returns false with the reason in err. */
static bool check_limits(const ex_auth_config *c, char *err, size_t errlen)
{
    if (c->leeway_seconds < 0 || c->leeway_seconds > EX_AUTH_MAX_LEEWAY_SECONDS) {
        set_error(err, errlen, "leeway_seconds is %ld; it must be 0 to %d",
                  c->leeway_seconds, EX_AUTH_MAX_LEEWAY_SECONDS);
        return false;
    }
    if (c->max_token_bytes < 64 || c->max_token_bytes > EX_AUTH_MAX_TOKEN_BYTES_LIMIT) {
        set_error(err, errlen, "max_token_bytes is %zu; it must be 64 to %d "
                  "(did you call ex_auth_config_init?)", c->max_token_bytes,
                  EX_AUTH_MAX_TOKEN_BYTES_LIMIT);
        return false;
    }
    if (c->refetch_interval_seconds < 1 || c->keys_max_age_seconds < 1 ||
        c->http_timeout_ms < 1) {
        set_error(err, errlen, "refetch_interval_seconds, keys_max_age_seconds and "
                  "http_timeout_ms must be at least 1 (did you call ex_auth_config_init?)");
        return false;
    }
    if (c->max_document_bytes < 1024 || c->max_document_bytes > EX_AUTH_MAX_DOCUMENT_BYTES_LIMIT) {
        set_error(err, errlen, "max_document_bytes is %zu; it must be 1024 to %d",
                  c->max_document_bytes, EX_AUTH_MAX_DOCUMENT_BYTES_LIMIT);
        return false;
    }
    return true;
}

static bool check_lists(const ex_auth_config *c, char *err, size_t errlen)
{
    if (c->issuer_count < 1 || c->issuer_count > EX_AUTH_MAX_ISSUERS || !c->issuers) {
        set_error(err, errlen, "configure 1 to %d issuers (issuer_count is %zu)",
                  EX_AUTH_MAX_ISSUERS, c->issuer_count);
        return false;
    }
    if (c->audience_count < 1 || c->audience_count > EX_AUTH_MAX_AUDIENCES || !c->audiences) {
        set_error(err, errlen, "configure 1 to %d accepted audiences (audience_count is %zu)",
                  EX_AUTH_MAX_AUDIENCES, c->audience_count);
        return false;
    }
    for (size_t i = 0; i < c->audience_count; i++) {
        if (!c->audiences[i] || !c->audiences[i][0]) {
            set_error(err, errlen, "audience %zu is empty", i);
            return false;
        }
    }
    for (size_t i = 0; i < c->issuer_count; i++) {
        const ex_auth_issuer *is = &c->issuers[i];
        if (!is->issuer || !ex_auth_url_is_http(is->issuer)) {
            set_error(err, errlen, "issuer %zu (%s) is not an http or https URL", i,
                      is->issuer ? is->issuer : "(null)");
            return false;
        }
        if (is->tenant_id && !ex_auth_is_uuid(is->tenant_id)) {
            set_error(err, errlen, "tenant_id of issuer %s is \"%s\", not a UUID",
                      is->issuer, is->tenant_id);
            return false;
        }
        if (is->jwks_uri && !ex_auth_url_is_http(is->jwks_uri)) {
            set_error(err, errlen, "jwks_uri of issuer %s is not an http or https URL",
                      is->issuer);
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->issuers[j].issuer, is->issuer) == 0) {
                set_error(err, errlen, "issuer %s is configured twice", is->issuer);
                return false;
            }
        }
    }
    return true;
}

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *copy = strdup(s);
    if (!copy)
        *oom = true;
    return copy;
}

static int init_issuer(ex_auth_verifier *v, ex_auth_issuer_state *st,
                       const ex_auth_issuer *is, char *err, size_t errlen)
{
    bool oom = false;
    st->issuer = dup_or_null(is->issuer, &oom);
    st->tenant_id = dup_or_null(is->tenant_id, &oom);
    st->jwks_uri = dup_or_null(is->jwks_uri, &oom);
    if (oom) {
        set_error(err, errlen, "out of memory");
        return -1;
    }
    st->issuer_len = strlen(st->issuer);
    for (char *p = st->tenant_id; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    st->jwks_uri_fixed = is->jwks_uri != NULL;
    st->fetches = is->jwks_json == NULL;
    pthread_mutex_init(&st->fetch_lock, NULL);

    if (is->jwks_json) {
        char why[512];
        if (ex_auth_verifier_add_jwks_json(v, st->issuer, is->jwks_json,
                                           strlen(is->jwks_json), why, sizeof why) < 0) {
            set_error(err, errlen, "static JWKS of issuer %s: %s", st->issuer, why);
            return -1;
        }
    }
    return 0;
}

static int copy_config(ex_auth_verifier *v, const ex_auth_config *c, char *err,
                       size_t errlen)
{
    bool oom = false;
    v->audiences = calloc(c->audience_count, sizeof *v->audiences);
    v->issuers = calloc(c->issuer_count, sizeof *v->issuers);
    if (!v->audiences || !v->issuers) {
        set_error(err, errlen, "out of memory");
        return -1;
    }
    v->audience_count = c->audience_count;
    for (size_t i = 0; i < c->audience_count; i++)
        v->audiences[i] = dup_or_null(c->audiences[i], &oom);
    v->roles_client = dup_or_null(c->roles_client, &oom);
    v->session_cookie = dup_or_null(c->session_cookie, &oom);
    v->http.ca_file = dup_or_null(c->ca_file, &oom);
    if (oom) {
        set_error(err, errlen, "out of memory");
        return -1;
    }

    v->leeway_seconds = c->leeway_seconds;
    v->max_token_bytes = c->max_token_bytes;
    v->refetch_interval_ms = (int64_t)c->refetch_interval_seconds * 1000;
    v->keys_max_age_ms = (int64_t)c->keys_max_age_seconds * 1000;
    v->http.timeout_ms = c->http_timeout_ms;
    v->http.max_bytes = c->max_document_bytes;
    v->log = c->log;
    v->log_ctx = c->log_ctx;

    for (size_t i = 0; i < c->issuer_count; i++) {
        v->issuer_count = i + 1; /* so free() cleans up what was set up */
        if (init_issuer(v, &v->issuers[i], &c->issuers[i], err, errlen) != 0)
            return -1;
    }
    return 0;
}

ex_auth_verifier *ex_auth_verifier_new(const ex_auth_config *config, char *err,
                                       size_t errlen)
{
    ex_auth_global_init();
    if (!config) {
        set_error(err, errlen, "no configuration given");
        return NULL;
    }
    if (!check_lists(config, err, errlen) || !check_limits(config, err, errlen))
        return NULL;

    ex_auth_verifier *v = calloc(1, sizeof *v);
    if (!v) {
        set_error(err, errlen, "out of memory");
        return NULL;
    }
    pthread_rwlock_init(&v->lock, NULL);
    ex_auth_parse_cache_init(&v->parse_cache);
    atomic_init(&v->jwks_fetches, 0);
    atomic_init(&v->jwks_fetch_failures, 0);
    atomic_init(&v->discovery_fetches, 0);

    if (copy_config(v, config, err, errlen) != 0) {
        ex_auth_verifier_free(v);
        return NULL;
    }
    return v;
}

void ex_auth_verifier_free(ex_auth_verifier *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->issuer_count; i++) {
        ex_auth_issuer_state *st = &v->issuers[i];
        ex_auth_keyset_clear(&st->keys);
        free(st->issuer);
        free(st->tenant_id);
        free(st->jwks_uri);
        pthread_mutex_destroy(&st->fetch_lock);
    }
    free(v->issuers);
    for (size_t i = 0; i < v->audience_count; i++)
        free(v->audiences[i]);
    free(v->audiences);
    free(v->roles_client);
    free(v->session_cookie);
    free((char *)v->http.ca_file);
    pthread_rwlock_destroy(&v->lock);
    ex_auth_parse_cache_destroy(&v->parse_cache);
    free(v);
}

int ex_auth_verifier_refresh(ex_auth_verifier *v, char *err, size_t errlen)
{
    int rc = 0;
    for (size_t i = 0; i < v->issuer_count; i++) {
        ex_auth_issuer_state *st = &v->issuers[i];
        if (!st->fetches)
            continue;
        char why[512];
        pthread_mutex_lock(&st->fetch_lock);
        int fetched = ex_auth_fetch_keys_locked(v, st, why, sizeof why);
        pthread_mutex_unlock(&st->fetch_lock);
        if (fetched != 0 && rc == 0) {
            set_error(err, errlen, "%s", why);
            rc = -1;
        }
    }
    return rc;
}

int ex_auth_verifier_add_jwks_json(ex_auth_verifier *v, const char *issuer,
                                   const char *json, size_t len, char *err,
                                   size_t errlen)
{
    char why[512];
    ex_auth_issuer_state *st = issuer ? ex_auth_find_issuer(v, issuer, strlen(issuer)) : NULL;
    if (!st) {
        set_error(err, errlen, "issuer %s is not configured", issuer ? issuer : "(null)");
        return -1;
    }

    ex_auth_keyset add;
    size_t ignored;
    char note[256];
    if (ex_auth_keyset_parse(json, len, &add, &ignored, note, sizeof note, why,
                             sizeof why) != 0) {
        set_error(err, errlen, "%s", why);
        return -1;
    }

    size_t added = add.count;
    pthread_rwlock_wrlock(&v->lock);
    int rc = ex_auth_keyset_merge(&st->keys, &add);
    if (rc == 0 && st->keys_fetched_ms == 0)
        st->keys_fetched_ms = ex_auth_monotonic_ms();
    pthread_rwlock_unlock(&v->lock);
    if (rc != 0) {
        ex_auth_keyset_clear(&add);
        set_error(err, errlen, "out of memory");
        return -1;
    }
    return (int)added;
}

void ex_auth_verifier_get_stats(ex_auth_verifier *v, ex_auth_stats *out)
{
    out->jwks_fetches = atomic_load(&v->jwks_fetches);
    out->jwks_fetch_failures = atomic_load(&v->jwks_fetch_failures);
    out->discovery_fetches = atomic_load(&v->discovery_fetches);

    size_t keys = 0;
    pthread_rwlock_rdlock(&v->lock);
    for (size_t i = 0; i < v->issuer_count; i++)
        keys += v->issuers[i].keys.count;
    pthread_rwlock_unlock(&v->lock);
    out->keys_cached = keys;
}
