/*
 * A key set: the usable keys of one JWKS document (RFC 7517 section 5),
 * with lookup by `kid`.
 *
 * Lookup compares the kid byte for byte, so a kid is only ever a lookup
 * key: characters such as "../" or "' OR 1=1" simply match nothing.
 * This file does no locking; key_cache.c guards every set with the
 * verifier's rwlock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authclient_internal.h"

void ex_auth_keyset_clear(ex_auth_keyset *set)
{
    for (size_t i = 0; i < set->count; i++)
        ex_auth_key_clear(&set->keys[i]);
    free(set->keys);
    set->keys = NULL;
    set->count = 0;
}

int ex_auth_keyset_parse(const char *json, size_t len, ex_auth_keyset *out,
                         size_t *ignored, char *note, size_t notelen,
                         char *err, size_t errlen)
{
    out->keys = NULL;
    out->count = 0;
    *ignored = 0;
    if (notelen)
        note[0] = '\0';

    json_error_t jerr;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf(err, errlen, "JWKS is not valid JSON: %s (line %d)", jerr.text,
                 jerr.line);
        return -1;
    }
    const json_t *keys = json_object_get(doc, "keys");
    if (!json_is_object(doc) || !json_is_array(keys)) {
        snprintf(err, errlen, "JWKS is not an object with a \"keys\" array");
        json_decref(doc);
        return -1;
    }

    size_t total = json_array_size(keys);
    size_t cap = total < EX_AUTH_MAX_JWKS_KEYS ? total : EX_AUTH_MAX_JWKS_KEYS;
    if (cap > 0) {
        out->keys = calloc(cap, sizeof *out->keys);
        if (!out->keys) {
            snprintf(err, errlen, "out of memory reading the JWKS");
            json_decref(doc);
            return -1;
        }
    }

    for (size_t i = 0; i < total; i++) {
        if (out->count == cap) {
            *ignored += total - i;
            if (notelen && !note[0])
                snprintf(note, notelen, "only the first %d keys are kept",
                         EX_AUTH_MAX_JWKS_KEYS);
            break;
        }
        const char *why = NULL;
        ex_auth_jwk_result r = ex_auth_jwk_to_key(json_array_get(keys, i),
                                                  &out->keys[out->count], &why);
        if (r == EX_AUTH_JWK_USABLE) {
            out->count++;
            continue;
        }
        (*ignored)++;
        if (notelen && !note[0])
            snprintf(note, notelen, "key %zu %s: %s", i,
                     r == EX_AUTH_JWK_SKIPPED ? "skipped" : "invalid", why);
    }
    json_decref(doc);

    if (out->count == 0) {
        snprintf(err, errlen, "JWKS has no usable signature key (%zu ignored%s%s)",
                 *ignored, note[0] ? "; " : "", note);
        ex_auth_keyset_clear(out);
        return -1;
    }
    return 0;
}

const ex_auth_key *ex_auth_keyset_find(const ex_auth_keyset *set,
                                       const char *kid, size_t kid_len,
                                       ex_auth_key_type type)
{
    const ex_auth_key *found = NULL;
    for (size_t i = 0; i < set->count; i++) {
        const ex_auth_key *k = &set->keys[i];
        if (k->kid_len != kid_len || memcmp(k->kid, kid, kid_len) != 0)
            continue;
        if (k->type == type)
            return k;
        if (!found)
            found = k;
    }
    return found;
}

int ex_auth_keyset_merge(ex_auth_keyset *set, ex_auth_keyset *add)
{
    size_t max = set->count + add->count;
    ex_auth_key *keys = realloc(set->keys, (max ? max : 1) * sizeof *keys);
    if (!keys)
        return -1;
    set->keys = keys;

    for (size_t i = 0; i < add->count; i++) {
        ex_auth_key *incoming = &add->keys[i];
        size_t j = 0;
        for (; j < set->count; j++) {
            ex_auth_key *k = &set->keys[j];
            if (k->type == incoming->type && k->kid_len == incoming->kid_len &&
                memcmp(k->kid, incoming->kid, k->kid_len) == 0)
                break;
        }
        if (j < set->count)
            ex_auth_key_clear(&set->keys[j]);
        else
            set->count++;
        set->keys[j] = *incoming;
    }

    free(add->keys);
    add->keys = NULL;
    add->count = 0;
    return 0;
}
