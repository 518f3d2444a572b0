/*
 * Login store: a chained hash table keyed by `state` for lookups, and a
 * doubly linked list in creation order for expiry and eviction, both over
 * the same nodes, under one mutex. States are random values this daemon
 * made, so the chains stay short whatever a client sends.
 */
#include "login_state.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct login_node {
	struct login_node *chain_next; /* next node of the same hash bucket */
	struct login_node *older;
	struct login_node *newer;
	uint64_t created_ms;
	ex_rp_login login;
} login_node;

struct ex_rp_login_store {
	pthread_mutex_t mutex;
	size_t capacity;
	uint64_t ttl_ms;
	size_t count;
	size_t bucket_count; /* a power of two */
	login_node **buckets;
	login_node *oldest;
	login_node *newest;
};

uint64_t ex_rp_monotonic_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

/* Age of NODE at NOW_MS; a clock reading before its creation counts as 0. */
static uint64_t age_ms(const login_node *node, uint64_t now_ms)
{
	return now_ms > node->created_ms ? now_ms - node->created_ms : 0;
}

/* FNV-1a over the state text. */
static size_t bucket_of(const ex_rp_login_store *store, const char *state)
{
	uint64_t hash = 1469598103934665603u;
	for (const unsigned char *p = (const unsigned char *)state; *p; p++) {
		hash ^= *p;
		hash *= 1099511628211u;
	}
	return (size_t)(hash & (store->bucket_count - 1));
}

ex_rp_login_store *ex_rp_login_store_new(size_t capacity, uint64_t ttl_ms)
{
	if (capacity == 0 || capacity > EX_RP_LOGIN_STATE_MAX_LIMIT || ttl_ms == 0)
		return NULL;

	ex_rp_login_store *store = calloc(1, sizeof(*store));
	if (store == NULL)
		return NULL;
	store->capacity = capacity;
	store->ttl_ms = ttl_ms;
	store->bucket_count = 16;
	while (store->bucket_count < capacity)
		store->bucket_count *= 2;
	store->buckets = calloc(store->bucket_count, sizeof(login_node *));
	if (store->buckets == NULL) {
		free(store);
		return NULL;
	}
	pthread_mutex_init(&store->mutex, NULL);
	return store;
}

/* Frees a node after wiping the secrets it contains (nonce, code verifier). */
static void free_node(login_node *node)
{
	OPENSSL_cleanse(node, sizeof(*node));
	free(node);
}

void ex_rp_login_store_free(ex_rp_login_store *store)
{
	if (store == NULL)
		return;
	login_node *node = store->oldest;
	while (node != NULL) {
		login_node *newer = node->newer;
		free_node(node);
		node = newer;
	}
	pthread_mutex_destroy(&store->mutex);
	free(store->buckets);
	free(store);
}

/* Unlinks NODE from its bucket and from the creation-order list. */
static void unlink_node(ex_rp_login_store *store, login_node *node)
{
	login_node **link = &store->buckets[bucket_of(store, node->login.state)];
	while (*link != node)
		link = &(*link)->chain_next;
	*link = node->chain_next;

	if (node->older != NULL)
		node->older->newer = node->newer;
	else
		store->oldest = node->newer;
	if (node->newer != NULL)
		node->newer->older = node->older;
	else
		store->newest = node->older;
	store->count--;
}

static login_node *find_node(const ex_rp_login_store *store, const char *state)
{
	for (login_node *node = store->buckets[bucket_of(store, state)]; node != NULL; node = node->chain_next) {
		if (strcmp(node->login.state, state) == 0)
			return node;
	}
	return NULL;
}

/* Drops the logins past their TTL and the grace period after it. */
static void drop_stale(ex_rp_login_store *store, uint64_t now_ms)
{
	while (store->oldest != NULL && age_ms(store->oldest, now_ms) >= 2 * store->ttl_ms) {
		login_node *node = store->oldest;
		unlink_node(store, node);
		free_node(node);
	}
}

int ex_rp_login_store_put(ex_rp_login_store *store, const ex_rp_login *login, uint64_t now_ms, bool *evicted)
{
	if (evicted != NULL)
		*evicted = false;
	if (login->state[0] == '\0')
		return -1;
	login_node *node = malloc(sizeof(*node));
	if (node == NULL)
		return -1;
	node->login = *login;
	node->created_ms = now_ms;

	pthread_mutex_lock(&store->mutex);
	if (find_node(store, login->state) != NULL) {
		pthread_mutex_unlock(&store->mutex);
		free_node(node);
		return -1;
	}
	drop_stale(store, now_ms);
	if (store->count == store->capacity) {
		login_node *oldest = store->oldest;
		unlink_node(store, oldest);
		free_node(oldest);
		if (evicted != NULL)
			*evicted = true;
	}

	size_t bucket = bucket_of(store, login->state);
	node->chain_next = store->buckets[bucket];
	store->buckets[bucket] = node;
	node->newer = NULL;
	node->older = store->newest;
	if (store->newest != NULL)
		store->newest->newer = node;
	else
		store->oldest = node;
	store->newest = node;
	store->count++;
	pthread_mutex_unlock(&store->mutex);
	return 0;
}

ex_rp_login_lookup ex_rp_login_store_take(ex_rp_login_store *store, const char *state, uint64_t now_ms,
					  ex_rp_login *out)
{
	if (state == NULL || state[0] == '\0' || strlen(state) > EX_RP_LOGIN_TOKEN_MAX)
		return EX_RP_LOGIN_UNKNOWN;

	pthread_mutex_lock(&store->mutex);
	login_node *node = find_node(store, state);
	if (node == NULL) {
		pthread_mutex_unlock(&store->mutex);
		return EX_RP_LOGIN_UNKNOWN;
	}
	unlink_node(store, node);
	pthread_mutex_unlock(&store->mutex);

	ex_rp_login_lookup result = EX_RP_LOGIN_EXPIRED;
	if (age_ms(node, now_ms) < store->ttl_ms) {
		*out = node->login;
		result = EX_RP_LOGIN_FOUND;
	}
	free_node(node);
	return result;
}

size_t ex_rp_login_store_count(ex_rp_login_store *store)
{
	pthread_mutex_lock(&store->mutex);
	size_t count = store->count;
	pthread_mutex_unlock(&store->mutex);
	return count;
}
