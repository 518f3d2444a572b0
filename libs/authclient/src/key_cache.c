/*
 * The per-issuer JWKS cache: discovery, fetching, refetch rate limiting
 * and key lookup for verification.
 *
 * Locking: the verifier's rwlock guards every issuer's key set and is held
 * only for lookups and for swapping in a new set, never during network
 * I/O. Each issuer has a fetch mutex, so at most one fetch per issuer runs
 * at a time. Threads that need an unknown kid wait on it and then look
 * again, so a burst of tokens with a new kid causes one fetch.
 *
 * Rate limit: a fetch attempt, good or failed, blocks further attempts
 * for that issuer for refetch_interval_ms. A failed attempt leaves the
 * old keys in place, so a briefly unreachable issuer costs nothing to
 * tokens signed with known keys.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authclient_internal.h"

/* Long enough for a curl error with a URL in it. */
#define FETCH_ERROR_BYTES 512
/* Suffix appended to the issuer to find its discovery document (OpenID
 * Connect Discovery 1.0 section 4). */
#define DISCOVERY_PATH "/.well-known/openid-configuration"

int64_t ex_auth_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ex_auth_log(const ex_auth_verifier *v, ex_auth_log_level level,
                 const char *event, const char *fmt, ...)
{
    if (!v->log)
        return;
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    v->log(v->log_ctx, level, event, message);
}

ex_auth_issuer_state *ex_auth_find_issuer(ex_auth_verifier *v,
                                          const char *iss, size_t len)
{
    for (size_t i = 0; i < v->issuer_count; i++) {
        ex_auth_issuer_state *st = &v->issuers[i];
        if (st->issuer_len == len && memcmp(st->issuer, iss, len) == 0)
            return st;
    }
    return NULL;
}

/* Reads jwks_uri from the issuer's discovery document into st->jwks_uri.
 * The document's `issuer` must equal the configured issuer exactly, as
 * OpenID Connect Discovery 1.0 section 4.3 requires. */
static int discover_jwks_uri(ex_auth_verifier *v, ex_auth_issuer_state *st,
                             char *err, size_t errlen)
{
    size_t base_len = st->issuer_len;
    while (base_len > 0 && st->issuer[base_len - 1] == '/')
        base_len--;
    size_t url_len = base_len + sizeof DISCOVERY_PATH;
    char *url = malloc(url_len);
    if (!url) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(url, st->issuer, base_len);
    memcpy(url + base_len, DISCOVERY_PATH, sizeof DISCOVERY_PATH);

    atomic_fetch_add(&v->discovery_fetches, 1);
    char *body;
    size_t body_len;
    int rc = ex_auth_http_get(&v->http, url, &body, &body_len, err, errlen);
    if (rc != 0) {
        free(url);
        return -1;
    }

    json_error_t jerr;
    json_t *doc = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &jerr);
    free(body);
    const json_t *issuer = json_object_get(doc, "issuer");
    const json_t *jwks_uri = json_object_get(doc, "jwks_uri");
    rc = -1;
    if (!json_is_object(doc)) {
        snprintf(err, errlen, "discovery document %s is not a JSON object", url);
    } else if (!json_is_string(issuer) || strcmp(json_string_value(issuer), st->issuer) != 0) {
        snprintf(err, errlen, "discovery document %s names another issuer than %s",
                 url, st->issuer);
    } else if (!json_is_string(jwks_uri) || !ex_auth_url_is_http(json_string_value(jwks_uri))) {
        snprintf(err, errlen, "discovery document %s has no http or https jwks_uri", url);
    } else {
        free(st->jwks_uri);
        st->jwks_uri = strdup(json_string_value(jwks_uri));
        if (st->jwks_uri)
            rc = 0;
        else
            snprintf(err, errlen, "out of memory");
    }
    json_decref(doc);
    free(url);
    return rc;
}

int ex_auth_fetch_keys_locked(ex_auth_verifier *v, ex_auth_issuer_state *st,
                              char *err, size_t errlen)
{
    st->attempted = true;
    st->last_attempt_ms = ex_auth_monotonic_ms();
    atomic_fetch_add(&v->jwks_fetches, 1);

    if (!st->jwks_uri && discover_jwks_uri(v, st, err, errlen) != 0)
        goto failed;

    char *body;
    size_t body_len;
    if (ex_auth_http_get(&v->http, st->jwks_uri, &body, &body_len, err, errlen) != 0) {
        /* The issuer may have moved its JWKS: look it up again next time. */
        if (!st->jwks_uri_fixed) {
            free(st->jwks_uri);
            st->jwks_uri = NULL;
        }
        goto failed;
    }

    ex_auth_keyset fresh;
    size_t ignored;
    char note[256];
    int rc = ex_auth_keyset_parse(body, body_len, &fresh, &ignored, note,
                                  sizeof note, err, errlen);
    free(body);
    if (rc != 0)
        goto failed;

    pthread_rwlock_wrlock(&v->lock);
    ex_auth_keyset old = st->keys;
    st->keys = fresh;
    st->keys_fetched_ms = ex_auth_monotonic_ms();
    pthread_rwlock_unlock(&v->lock);
    ex_auth_keyset_clear(&old);

    ex_auth_log(v, EX_AUTH_LOG_INFO, "jwks_fetched",
                "issuer=%s jwks_uri=%s keys=%zu ignored=%zu%s%s", st->issuer,
                st->jwks_uri, fresh.count, ignored, note[0] ? " first_ignored=" : "",
                note);
    return 0;

failed:
    atomic_fetch_add(&v->jwks_fetch_failures, 1);
    ex_auth_log(v, EX_AUTH_LOG_WARNING, "jwks_fetch_failed",
                "issuer=%s error=%s (cached keys stay in use; next attempt in at least %lld ms)",
                st->issuer, err, (long long)v->refetch_interval_ms);
    return -1;
}

static bool refetch_allowed(const ex_auth_verifier *v, const ex_auth_issuer_state *st)
{
    return !st->attempted ||
           ex_auth_monotonic_ms() - st->last_attempt_ms >= v->refetch_interval_ms;
}

/* Copies the key into *out under the read lock and returns true if found.
 * Sets *stale when the issuer's keys are older than keys_max_age_ms, and
 * *have_keys when the issuer has any key at all. */
static bool lookup_key(ex_auth_verifier *v, ex_auth_issuer_state *st,
                       const char *kid, size_t kid_len, ex_auth_key_type type,
                       ex_auth_key *out, bool *stale, bool *have_keys)
{
    pthread_rwlock_rdlock(&v->lock);
    const ex_auth_key *k = ex_auth_keyset_find(&st->keys, kid, kid_len, type);
    if (k) {
        EVP_PKEY_up_ref(k->pkey);
        out->pkey = k->pkey;
        out->type = k->type;
        out->alg = k->alg;
        out->kid = NULL; /* the caller has the kid already */
        out->kid_len = kid_len;
    }
    *have_keys = st->keys.count > 0;
    *stale = st->fetches && *have_keys &&
             ex_auth_monotonic_ms() - st->keys_fetched_ms >= v->keys_max_age_ms;
    pthread_rwlock_unlock(&v->lock);
    return k != NULL;
}

/* Refreshes keys that have grown old, unless another thread is already
 * fetching for this issuer: then this one goes on with the cached key. */
static void refresh_stale_keys(ex_auth_verifier *v, ex_auth_issuer_state *st)
{
    if (pthread_mutex_trylock(&st->fetch_lock) != 0)
        return;
    if (refetch_allowed(v, st)) {
        char err[FETCH_ERROR_BYTES];
        (void)ex_auth_fetch_keys_locked(v, st, err, sizeof err);
    }
    pthread_mutex_unlock(&st->fetch_lock);
}

ex_auth_status ex_auth_acquire_key(ex_auth_verifier *v,
                                   ex_auth_issuer_state *st, const char *kid,
                                   size_t kid_len, ex_auth_key_type type,
                                   ex_auth_key *out)
{
    bool stale, have_keys;
    memset(out, 0, sizeof *out);

    if (lookup_key(v, st, kid, kid_len, type, out, &stale, &have_keys)) {
        if (stale)
            refresh_stale_keys(v, st);
        return EX_AUTH_OK;
    }
    if (!st->fetches)
        return EX_AUTH_ERR_UNKNOWN_KEY;

    /* Unknown kid: wait for any fetch in progress, look again, and fetch
     * only if no other thread brought the key and the interval has passed. */
    pthread_mutex_lock(&st->fetch_lock);
    if (!lookup_key(v, st, kid, kid_len, type, out, &stale, &have_keys) &&
        refetch_allowed(v, st)) {
        char err[FETCH_ERROR_BYTES];
        if (ex_auth_fetch_keys_locked(v, st, err, sizeof err) == 0)
            (void)lookup_key(v, st, kid, kid_len, type, out, &stale, &have_keys);
    }
    pthread_mutex_unlock(&st->fetch_lock);

    if (out->pkey)
        return EX_AUTH_OK;
    return have_keys ? EX_AUTH_ERR_UNKNOWN_KEY : EX_AUTH_ERR_KEYS_UNAVAILABLE;
}
