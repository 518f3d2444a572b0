/*
 * A per-process cache of each mailbox's message list: UID, modseq and
 * flags of every message, in the spirit of Dovecot's index files. IMAP
 * sessions of every worker thread share it, so a SELECT or a FETCH of
 * flags reads the list from memory instead of from PostgreSQL.
 *
 * An entry is never served stale. It records the mailbox's highestmodseq
 * it was built at, and every change to a mailbox (append, flag change,
 * expunge, move), on this process or on another replica, raises that
 * mailbox's highestmodseq in the database. A reader first reads the
 * current highestmodseq, with the messages and expunges whose modseq is
 * above the entry's (imap_view_load.c), and applies them here before it
 * uses the entry.
 *
 * This file has no database code, so the unit tests drive it directly.
 */
#ifndef EXPRESSO_MAIL_IMAP_VIEW_CACHE_H
#define EXPRESSO_MAIL_IMAP_VIEW_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	/* Default of EXPRESSO_IMAP_VIEW_CACHE_MESSAGES: 24 octets per message plus its flag text, so about 30 MiB. */
	IMAP_VIEW_CACHE_DEFAULT_MESSAGES = 1000000,
	/* Largest value EXPRESSO_IMAP_VIEW_CACHE_MESSAGES accepts, about 3 GiB. */
	IMAP_VIEW_CACHE_MAX_MESSAGES = 100000000,
};

/* One message as the database returned it. */
typedef struct {
	uint32_t uid;
	uint64_t modseq;
	const char *flags;      /* flag names separated by one space, e.g. "\Seen $Forwarded"; need not end in NUL */
	size_t flags_length;
} imap_view_change;

/* What changed in one mailbox after modseq SINCE, read in one database snapshot. */
typedef struct {
	uint64_t since;                     /* 0: CHANGED contains every message of the mailbox */
	uint64_t highest_modseq;            /* the mailbox's highestmodseq in that snapshot */
	uint32_t uidnext;
	const imap_view_change *changed;    /* ascending UIDs */
	size_t changed_count;
	const uint32_t *expunged;           /* ascending UIDs; empty when SINCE is 0 */
	size_t expunged_count;
} imap_view_delta;

/* One cached message. Its flags are FLAGS_LENGTH octets at flags_offset in the entry's flag text. */
typedef struct {
	uint32_t uid;
	uint32_t flags_offset;
	uint64_t modseq;
	uint32_t flags_length;
	bool seen;              /* the flags contain \Seen */
} imap_view_cached_message;

/* A read-only look at an entry, valid until imap_view_cache_release(). */
typedef struct imap_view_snapshot_s {
	const imap_view_cached_message *messages;  /* ascending UIDs */
	size_t count;
	const char *flag_text;
	uint64_t highest_modseq;
	uint32_t uidnext;
} imap_view_snapshot;

typedef struct imap_view_cache imap_view_cache;

/*
 * Creates a cache that stores at most MAX_MESSAGES units over all its
 * mailboxes, one per message and one per mailbox; 0 caches nothing.
 */
imap_view_cache *imap_view_cache_new(size_t max_messages);
void imap_view_cache_free(imap_view_cache *cache);

/*
 * The cache shared by the sessions of this process, created at the first
 * call with the size set by imap_view_cache_configure() (or the default).
 * NULL when it was configured with 0 messages or memory ran out.
 */
imap_view_cache *imap_view_cache_shared(void);
/* Sets the size of the shared cache; takes effect only before its first use. */
void imap_view_cache_configure(size_t max_messages);

/* Returns the modseq the entry of MAILBOX_ID is at, or 0 when the cache has none. */
uint64_t imap_view_cache_modseq(imap_view_cache *cache, const char *tenant_id, const char *mailbox_id);

typedef enum {
	IMAP_VIEW_CACHE_APPLIED = 0,  /* the cache is locked and the snapshot set */
	IMAP_VIEW_CACHE_STALE,        /* the entry is at another modseq than the delta starts from */
	IMAP_VIEW_CACHE_REJECTED,     /* the mailbox does not fit in the cache, or memory ran out */
} imap_view_cache_status;

/*
 * Applies DELTA to the entry of MAILBOX_ID. On IMAP_VIEW_CACHE_APPLIED the
 * cache stays locked with SNAPSHOT set, and the caller then calls
 * imap_view_cache_release(). The delta applies when the entry is at
 * DELTA->since (an absent entry is at 0), or when it is at
 * DELTA->highest_modseq already. STALE means another session moved the
 * entry in the meantime, or the delta ends below the entry's modseq
 * because the database was restored, which drops the entry. Either way
 * the caller reads a new delta. REJECTED means
 * the mailbox alone costs more than the cache may hold: one unit per
 * message plus one per mailbox. Entries used least recently are dropped
 * to stay within the limit.
 */
imap_view_cache_status imap_view_cache_apply(imap_view_cache *cache, const char *tenant_id, const char *mailbox_id,
			   const imap_view_delta *delta, imap_view_snapshot *snapshot);
void imap_view_cache_release(imap_view_cache *cache);

/* Returns the index of UID in SNAPSHOT, or -1. */
long imap_view_snapshot_find(const imap_view_snapshot *snapshot, uint32_t uid);

/* Returns the number of messages stored over all mailboxes of the cache. */
size_t imap_view_cache_message_count(imap_view_cache *cache);

#endif
