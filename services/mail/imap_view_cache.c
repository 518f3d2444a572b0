/*
 * The per-process mailbox cache of imap_view_cache.h: a hash table of
 * entries keyed by mailbox id, with a list in order of last use for
 * eviction, behind one mutex. Each entry keeps its messages sorted by UID
 * and their flags in one text buffer, so a FETCH of 10,000 flag lists
 * copies from two arrays and allocates nothing per message.
 */
#include "imap_view_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum {
	BUCKETS = 1024,
	ID_TEXT = 37,
	/* Flag text is rewritten without its unused octets once it grows past twice the used part plus this. */
	FLAG_TEXT_SLACK = 4096,
};

typedef struct entry {
	char tenant_id[ID_TEXT];
	char mailbox_id[ID_TEXT];
	uint64_t highest_modseq;
	uint32_t uidnext;
	imap_view_cached_message *messages;
	size_t count;
	size_t capacity;
	char *flag_text;
	size_t flag_length;      /* octets written to flag_text */
	size_t flag_capacity;
	size_t flag_used;        /* octets referenced by messages, counting shared runs once per message */
	struct entry *bucket_next;
	struct entry *newer;     /* towards the most recently used entry */
	struct entry *older;
} entry;

struct imap_view_cache {
	pthread_mutex_t lock;
	size_t max_messages;
	size_t total;            /* messages held, plus one per entry so that empty mailboxes count */
	entry *buckets[BUCKETS];
	entry *newest;
	entry *oldest;
};

imap_view_cache *imap_view_cache_new(size_t max_messages)
{
	imap_view_cache *cache = calloc(1, sizeof(*cache));
	if (cache == NULL)
		return NULL;
	if (pthread_mutex_init(&cache->lock, NULL) != 0) {
		free(cache);
		return NULL;
	}
	cache->max_messages = max_messages;
	return cache;
}

static void entry_free(entry *item)
{
	free(item->messages);
	free(item->flag_text);
	free(item);
}

void imap_view_cache_free(imap_view_cache *cache)
{
	if (cache == NULL)
		return;
	for (entry *item = cache->newest; item != NULL;) {
		entry *next = item->older;
		entry_free(item);
		item = next;
	}
	pthread_mutex_destroy(&cache->lock);
	free(cache);
}

/* ---- the shared instance ----------------------------------------------------------- */

static pthread_once_t shared_once = PTHREAD_ONCE_INIT;
static size_t shared_max_messages = IMAP_VIEW_CACHE_DEFAULT_MESSAGES;
static imap_view_cache *shared_cache;

static void create_shared(void)
{
	if (shared_max_messages > 0)
		shared_cache = imap_view_cache_new(shared_max_messages);
}

imap_view_cache *imap_view_cache_shared(void)
{
	pthread_once(&shared_once, create_shared);
	return shared_cache;
}

void imap_view_cache_configure(size_t max_messages)
{
	shared_max_messages = max_messages;
}

/* ---- the table ---------------------------------------------------------------------- */

static size_t bucket_of(const char *mailbox_id)
{
	uint32_t hash = 2166136261u; /* FNV-1a */
	for (const char *p = mailbox_id; *p != '\0'; p++) {
		hash ^= (unsigned char)*p;
		hash *= 16777619u;
	}
	return hash % BUCKETS;
}

static entry *find(imap_view_cache *cache, const char *tenant_id, const char *mailbox_id)
{
	for (entry *item = cache->buckets[bucket_of(mailbox_id)]; item != NULL; item = item->bucket_next)
		if (strcmp(item->mailbox_id, mailbox_id) == 0 && strcmp(item->tenant_id, tenant_id) == 0)
			return item;
	return NULL;
}

static void unlink_use(imap_view_cache *cache, entry *item)
{
	if (item->newer != NULL)
		item->newer->older = item->older;
	else
		cache->newest = item->older;
	if (item->older != NULL)
		item->older->newer = item->newer;
	else
		cache->oldest = item->newer;
	item->newer = NULL;
	item->older = NULL;
}

static void mark_used(imap_view_cache *cache, entry *item)
{
	if (cache->newest == item)
		return;
	if (item->newer != NULL || item->older != NULL || cache->oldest == item)
		unlink_use(cache, item);
	item->older = cache->newest;
	if (cache->newest != NULL)
		cache->newest->newer = item;
	cache->newest = item;
	if (cache->oldest == NULL)
		cache->oldest = item;
}

static void drop(imap_view_cache *cache, entry *item)
{
	/* Every entry is in the chain of its bucket, so the walk ends at it. */
	entry **link = &cache->buckets[bucket_of(item->mailbox_id)];
	while (*link != NULL && *link != item)
		link = &(*link)->bucket_next;
	if (*link == item)
		*link = item->bucket_next;
	unlink_use(cache, item);
	cache->total -= item->count + 1;
	entry_free(item);
}

static entry *insert(imap_view_cache *cache, const char *tenant_id, const char *mailbox_id)
{
	if (strlen(tenant_id) >= ID_TEXT || strlen(mailbox_id) >= ID_TEXT)
		return NULL;
	entry *item = calloc(1, sizeof(*item));
	if (item == NULL)
		return NULL;
	memcpy(item->tenant_id, tenant_id, strlen(tenant_id) + 1);
	memcpy(item->mailbox_id, mailbox_id, strlen(mailbox_id) + 1);
	size_t bucket = bucket_of(mailbox_id);
	item->bucket_next = cache->buckets[bucket];
	cache->buckets[bucket] = item;
	mark_used(cache, item);
	cache->total += 1;
	return item;
}

uint64_t imap_view_cache_modseq(imap_view_cache *cache, const char *tenant_id, const char *mailbox_id)
{
	pthread_mutex_lock(&cache->lock);
	entry *item = find(cache, tenant_id, mailbox_id);
	uint64_t modseq = item != NULL ? item->highest_modseq : 0;
	pthread_mutex_unlock(&cache->lock);
	return modseq;
}

size_t imap_view_cache_message_count(imap_view_cache *cache)
{
	pthread_mutex_lock(&cache->lock);
	size_t count = 0;
	for (const entry *item = cache->newest; item != NULL; item = item->older)
		count += item->count;
	pthread_mutex_unlock(&cache->lock);
	return count;
}

/* ---- applying changes ------------------------------------------------------------------ */

static bool contains_seen(const char *flags, size_t length)
{
	static const char seen[] = "\\Seen";
	const size_t seen_length = sizeof(seen) - 1;
	size_t start = 0;
	for (size_t i = 0; i <= length; i++) {
		if (i < length && flags[i] != ' ')
			continue;
		if (i - start == seen_length && memcmp(flags + start, seen, seen_length) == 0)
			return true;
		start = i + 1;
	}
	return false;
}

static bool grow_flag_text(entry *item, size_t extra)
{
	if (item->flag_length + extra <= item->flag_capacity)
		return true;
	size_t capacity = item->flag_capacity == 0 ? 1024 : item->flag_capacity;
	while (capacity < item->flag_length + extra)
		capacity *= 2;
	char *grown = realloc(item->flag_text, capacity);
	if (grown == NULL)
		return false;
	item->flag_text = grown;
	item->flag_capacity = capacity;
	return true;
}

/*
 * Points MESSAGE at FLAGS in the entry's flag text. Neighbours often have
 * the same flags, so PREVIOUS's octets are shared when they are equal.
 */
static bool set_flags(entry *item, imap_view_cached_message *message, const imap_view_cached_message *previous,
		      const char *flags, size_t length)
{
	if (length > UINT32_MAX || item->flag_length + length > UINT32_MAX)
		return false;
	message->seen = contains_seen(flags, length);
	message->flags_length = (uint32_t)length;
	item->flag_used += length;
	if (previous != NULL && previous->flags_length == length &&
	    memcmp(item->flag_text + previous->flags_offset, flags, length) == 0) {
		message->flags_offset = previous->flags_offset;
		return true;
	}
	if (!grow_flag_text(item, length))
		return false;
	memcpy(item->flag_text + item->flag_length, flags, length);
	message->flags_offset = (uint32_t)item->flag_length;
	item->flag_length += length;
	return true;
}

/* Copies the flags still referenced into a new buffer when most of the old one is unused. */
static bool compact_flag_text(entry *item)
{
	if (item->flag_length <= 2 * item->flag_used + FLAG_TEXT_SLACK)
		return true;
	char *old_text = item->flag_text;
	item->flag_text = NULL;
	item->flag_length = 0;
	item->flag_capacity = 0;
	item->flag_used = 0;
	for (size_t i = 0; i < item->count; i++) {
		imap_view_cached_message *message = &item->messages[i];
		const char *flags = old_text + message->flags_offset;
		if (!set_flags(item, message, i > 0 ? &item->messages[i - 1] : NULL, flags, message->flags_length)) {
			free(old_text);
			return false;
		}
	}
	free(old_text);
	return true;
}

static long find_message(const imap_view_cached_message *messages, size_t count, uint32_t uid)
{
	size_t low = 0;
	size_t high = count;
	while (low < high) {
		size_t middle = low + (high - low) / 2;
		if (messages[middle].uid < uid)
			low = middle + 1;
		else
			high = middle;
	}
	return low < count && messages[low].uid == uid ? (long)low : -(long)low - 1;
}

long imap_view_snapshot_find(const imap_view_snapshot *snapshot, uint32_t uid)
{
	long index = find_message(snapshot->messages, snapshot->count, uid);
	return index >= 0 ? index : -1;
}

static void remove_expunged(entry *item, const uint32_t *expunged, size_t count)
{
	size_t remaining = 0;
	size_t next = 0;
	for (size_t i = 0; i < item->count; i++) {
		uint32_t uid = item->messages[i].uid;
		while (next < count && expunged[next] < uid)
			next++;
		if (next < count && expunged[next] == uid) {
			item->flag_used -= item->messages[i].flags_length;
			continue;
		}
		item->messages[remaining++] = item->messages[i];
	}
	item->count = remaining;
}

static bool reserve_messages(entry *item, size_t extra)
{
	if (item->count + extra <= item->capacity)
		return true;
	size_t capacity = item->capacity == 0 ? 64 : item->capacity;
	while (capacity < item->count + extra)
		capacity *= 2;
	imap_view_cached_message *grown = realloc(item->messages, capacity * sizeof(*grown));
	if (grown == NULL)
		return false;
	item->messages = grown;
	item->capacity = capacity;
	return true;
}

static bool apply_change(entry *item, const imap_view_change *change)
{
	long index = find_message(item->messages, item->count, change->uid);
	if (index < 0) {
		/* A new message: UIDs only grow, so it is almost always the last one. */
		size_t position = (size_t)(-index - 1);
		if (!reserve_messages(item, 1))
			return false;
		memmove(&item->messages[position + 1], &item->messages[position],
			(item->count - position) * sizeof(item->messages[0]));
		item->count++;
		index = (long)position;
	} else {
		item->flag_used -= item->messages[index].flags_length;
	}
	imap_view_cached_message *message = &item->messages[index];
	message->uid = change->uid;
	message->modseq = change->modseq;
	return set_flags(item, message, index > 0 ? &item->messages[index - 1] : NULL, change->flags,
			 change->flags_length);
}

static void clear_entry(entry *item)
{
	item->count = 0;
	item->flag_length = 0;
	item->flag_used = 0;
	item->highest_modseq = 0;
}

/* Drops the entries used least recently, other than KEEP, until the cache is within its limit. */
static void evict(imap_view_cache *cache, const entry *keep)
{
	entry *item = cache->oldest;
	while (cache->total > cache->max_messages && item != NULL) {
		entry *newer = item->newer;
		if (item != keep)
			drop(cache, item);
		item = newer;
	}
}

static void fill_snapshot(const entry *item, imap_view_snapshot *snapshot)
{
	*snapshot = (imap_view_snapshot){
		.messages = item->messages,
		.count = item->count,
		.flag_text = item->flag_text,
		.highest_modseq = item->highest_modseq,
		.uidnext = item->uidnext,
	};
}

imap_view_cache_status imap_view_cache_apply(imap_view_cache *cache, const char *tenant_id, const char *mailbox_id,
					     const imap_view_delta *delta, imap_view_snapshot *snapshot)
{
	pthread_mutex_lock(&cache->lock);
	entry *item = find(cache, tenant_id, mailbox_id);
	uint64_t current = item != NULL ? item->highest_modseq : 0;
	if (item != NULL && current == delta->highest_modseq && current != 0) {
		mark_used(cache, item);
		fill_snapshot(item, snapshot);
		return IMAP_VIEW_CACHE_APPLIED;
	}
	if (current != delta->since) {
		pthread_mutex_unlock(&cache->lock);
		return IMAP_VIEW_CACHE_STALE;
	}
	if (item != NULL && delta->highest_modseq < current) {
		/* The database went back in time (a restore): nothing in the entry can be trusted. */
		drop(cache, item);
		pthread_mutex_unlock(&cache->lock);
		return IMAP_VIEW_CACHE_STALE;
	}
	if (delta->changed_count + 1 > cache->max_messages) {
		if (item != NULL)
			drop(cache, item);
		pthread_mutex_unlock(&cache->lock);
		return IMAP_VIEW_CACHE_REJECTED;
	}
	if (item == NULL && (item = insert(cache, tenant_id, mailbox_id)) == NULL) {
		pthread_mutex_unlock(&cache->lock);
		return IMAP_VIEW_CACHE_REJECTED;
	}
	mark_used(cache, item);

	size_t before = item->count;
	bool applied = true;
	if (delta->since == 0)
		clear_entry(item);
	else
		remove_expunged(item, delta->expunged, delta->expunged_count);
	if (delta->since == 0 && !reserve_messages(item, delta->changed_count))
		applied = false;
	for (size_t i = 0; applied && i < delta->changed_count; i++)
		applied = apply_change(item, &delta->changed[i]);
	applied = applied && compact_flag_text(item);
	cache->total = cache->total - before + item->count;

	if (!applied || item->count + 1 > cache->max_messages) {
		/* Half-applied or too large for the cache: a later reader loads the mailbox again. */
		drop(cache, item);
		pthread_mutex_unlock(&cache->lock);
		return IMAP_VIEW_CACHE_REJECTED;
	}
	item->highest_modseq = delta->highest_modseq;
	item->uidnext = delta->uidnext;
	evict(cache, item);
	fill_snapshot(item, snapshot);
	return IMAP_VIEW_CACHE_APPLIED;
}

void imap_view_cache_release(imap_view_cache *cache)
{
	pthread_mutex_unlock(&cache->lock);
}
