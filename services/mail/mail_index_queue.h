/*
 * A bounded in-process queue of stored messages whose SEARCH index rows
 * are still to be written, drained by one worker thread
 * (mail_index_queue.c). SMTP and LMTP delivery pushes a copy's tenant and
 * storage key after its rows have committed, so that indexing never delays
 * the 250 reply. The queue does not build index rows itself: the worker
 * calls the write function it was started with for each item. A full
 * queue rejects the item, whose row then comes from the first IMAP SEARCH
 * BODY or TEXT that reads the message.
 */
#ifndef EXPRESSO_MAIL_INDEX_QUEUE_H
#define EXPRESSO_MAIL_INDEX_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

enum {
	EX_MAIL_INDEX_QUEUE_TENANT_SIZE = 37, /* UUID text and its NUL */
	EX_MAIL_INDEX_QUEUE_KEY_SIZE = 128,
	EX_MAIL_INDEX_QUEUE_MAX_CAPACITY = 1000000,
};

typedef struct ex_mail_index_queue ex_mail_index_queue;

/* One stored object whose messages rows lack their index row. */
typedef struct {
	char tenant_id[EX_MAIL_INDEX_QUEUE_TENANT_SIZE];
	char storage_key[EX_MAIL_INDEX_QUEUE_KEY_SIZE];
} ex_mail_index_item;

/* Writes the index rows of ITEM; runs on the worker thread, one item at a time. */
typedef void (*ex_mail_index_write)(const ex_mail_index_item *item, void *context);

/*
 * Starts the worker thread of a queue of at most CAPACITY items (1 to
 * EX_MAIL_INDEX_QUEUE_MAX_CAPACITY) that calls WRITE with CONTEXT for
 * each. Returns NULL when CAPACITY is out of range, memory runs out or
 * the thread cannot start.
 */
ex_mail_index_queue *ex_mail_index_queue_start(size_t capacity, ex_mail_index_write write, void *context);

/*
 * Appends the object KEY of TENANT_ID. Returns false, without waiting,
 * when QUEUE is NULL, stopping or full, or when TENANT_ID or KEY does not
 * fit an item. Safe to call from any thread.
 */
bool ex_mail_index_queue_push(ex_mail_index_queue *queue, const char *tenant_id, const char *key);

/* Returns the number of items waiting, not counting the one being written. */
size_t ex_mail_index_queue_length(ex_mail_index_queue *queue);

/*
 * Stops the worker of QUEUE (NULL is ignored). The item being written is
 * finished; the items still waiting are dropped, so their rows come from
 * the lazy path. Returns the number dropped. A push during or after the
 * call is rejected, so QUEUE stays valid for threads that still hold it.
 */
size_t ex_mail_index_queue_stop(ex_mail_index_queue *queue);

/* Frees QUEUE after ex_mail_index_queue_stop (NULL is ignored). No push may run during or after the call. */
void ex_mail_index_queue_free(ex_mail_index_queue *queue);

#endif
