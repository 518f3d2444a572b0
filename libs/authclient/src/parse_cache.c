/*
 * Cache of parsed token segments. A client sends the same access token
 * with every request for the token's lifetime. jansson needs about as long
 * to parse a 400-byte payload as OpenSSL needs for half an RSA-2048
 * verification. So the header and payload JSON of recently seen tokens are
 * kept, keyed by their exact encoded bytes. Only parsing is cached: the
 * signature and every claim are still checked on each call.
 *
 * The table is direct-mapped (one entry per slot, a new entry replaces the
 * old one) and guarded by one mutex held only for a lookup or a swap.
 * Cached objects are never modified; readers get their own reference.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authclient_internal.h"

static uint64_t fnv1a(const char *text, size_t len)
{
    uint64_t hash = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        hash ^= (unsigned char)text[i];
        hash *= 1099511628211ULL;
    }
    return hash;
}

void ex_auth_parse_cache_init(ex_auth_parse_cache *cache)
{
    memset(cache, 0, sizeof *cache);
    pthread_mutex_init(&cache->lock, NULL);
}

void ex_auth_parse_cache_destroy(ex_auth_parse_cache *cache)
{
    for (size_t i = 0; i < EX_AUTH_PARSE_CACHE_SLOTS; i++) {
        free(cache->slots[i].text);
        json_decref(cache->slots[i].json);
    }
    pthread_mutex_destroy(&cache->lock);
}

json_t *ex_auth_parse_cache_get(ex_auth_parse_cache *cache, const char *text, size_t len)
{
    if (len > EX_AUTH_PARSE_CACHE_MAX_SEGMENT)
        return NULL;
    uint64_t hash = fnv1a(text, len);
    ex_auth_parse_slot *slot = &cache->slots[hash % EX_AUTH_PARSE_CACHE_SLOTS];
    json_t *found = NULL;

    pthread_mutex_lock(&cache->lock);
    if (slot->json && slot->hash == hash && slot->len == len && memcmp(slot->text, text, len) == 0)
        found = json_incref(slot->json);
    pthread_mutex_unlock(&cache->lock);
    return found;
}

void ex_auth_parse_cache_put(ex_auth_parse_cache *cache, const char *text, size_t len,
                             json_t *json)
{
    if (len > EX_AUTH_PARSE_CACHE_MAX_SEGMENT)
        return;
    char *copy = malloc(len);
    if (!copy)
        return;
    memcpy(copy, text, len);
    uint64_t hash = fnv1a(text, len);
    ex_auth_parse_slot *slot = &cache->slots[hash % EX_AUTH_PARSE_CACHE_SLOTS];

    pthread_mutex_lock(&cache->lock);
    char *old_text = slot->text;
    json_t *old_json = slot->json;
    slot->hash = hash;
    slot->len = len;
    slot->text = copy;
    slot->json = json_incref(json);
    pthread_mutex_unlock(&cache->lock);

    free(old_text);
    json_decref(old_json);
}
