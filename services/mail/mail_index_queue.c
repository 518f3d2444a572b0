/*
 * The bounded queue of SEARCH index work after delivery
 * (mail_index_queue.h): a ring buffer of fixed-size items under one
 * mutex, and one worker thread that takes an item, releases the mutex and
 * calls the write function. A push never waits for a write, because the
 * worker does not hold the mutex while it writes and a full queue rejects
 * the item at once.
 */
#include "mail_index_queue.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

enum {
	/*
	 * Nice value of the worker thread (Linux sets it per thread), so
	 * that parsing messages for the index yields the CPU to SMTP
	 * sessions waiting to reply.
	 */
	WORKER_NICE = 10,
};

struct ex_mail_index_queue {
	pthread_mutex_t mutex;
	pthread_cond_t ready; /* signalled on push and on stop */
	ex_mail_index_item *items;
	size_t capacity;
	size_t head;   /* index of the oldest item */
	size_t length; /* items waiting */
	bool stopping;
	ex_mail_index_write write;
	void *context;
	pthread_t worker;
};

static void *run_worker(void *argument)
{
	ex_mail_index_queue *queue = argument;
	/* Failure only leaves the worker at normal priority. */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WORKER_NICE);

	ex_mail_index_item item;
	pthread_mutex_lock(&queue->mutex);
	for (;;) {
		while (queue->length == 0 && !queue->stopping)
			pthread_cond_wait(&queue->ready, &queue->mutex);
		if (queue->stopping)
			break;
		item = queue->items[queue->head];
		queue->head = (queue->head + 1) % queue->capacity;
		queue->length--;
		pthread_mutex_unlock(&queue->mutex);

		queue->write(&item, queue->context);

		pthread_mutex_lock(&queue->mutex);
	}
	pthread_mutex_unlock(&queue->mutex);
	return NULL;
}

ex_mail_index_queue *ex_mail_index_queue_start(size_t capacity, ex_mail_index_write write, void *context)
{
	if (capacity < 1 || capacity > EX_MAIL_INDEX_QUEUE_MAX_CAPACITY || write == NULL)
		return NULL;
	ex_mail_index_queue *queue = calloc(1, sizeof(*queue));
	if (queue == NULL)
		return NULL;
	queue->items = calloc(capacity, sizeof(*queue->items));
	if (queue->items == NULL) {
		free(queue);
		return NULL;
	}
	queue->capacity = capacity;
	queue->write = write;
	queue->context = context;
	pthread_mutex_init(&queue->mutex, NULL);
	pthread_cond_init(&queue->ready, NULL);
	if (pthread_create(&queue->worker, NULL, run_worker, queue) != 0) {
		pthread_cond_destroy(&queue->ready);
		pthread_mutex_destroy(&queue->mutex);
		free(queue->items);
		free(queue);
		return NULL;
	}
	return queue;
}

bool ex_mail_index_queue_push(ex_mail_index_queue *queue, const char *tenant_id, const char *key)
{
	if (queue == NULL || strlen(tenant_id) >= EX_MAIL_INDEX_QUEUE_TENANT_SIZE ||
	    strlen(key) >= EX_MAIL_INDEX_QUEUE_KEY_SIZE)
		return false;

	pthread_mutex_lock(&queue->mutex);
	bool accepted = !queue->stopping && queue->length < queue->capacity;
	if (accepted) {
		ex_mail_index_item *item = &queue->items[(queue->head + queue->length) % queue->capacity];
		snprintf(item->tenant_id, sizeof(item->tenant_id), "%s", tenant_id);
		snprintf(item->storage_key, sizeof(item->storage_key), "%s", key);
		queue->length++;
		pthread_cond_signal(&queue->ready);
	}
	pthread_mutex_unlock(&queue->mutex);
	return accepted;
}

size_t ex_mail_index_queue_length(ex_mail_index_queue *queue)
{
	if (queue == NULL)
		return 0;
	pthread_mutex_lock(&queue->mutex);
	size_t length = queue->length;
	pthread_mutex_unlock(&queue->mutex);
	return length;
}

size_t ex_mail_index_queue_stop(ex_mail_index_queue *queue)
{
	if (queue == NULL)
		return 0;
	pthread_mutex_lock(&queue->mutex);
	queue->stopping = true;
	pthread_cond_signal(&queue->ready);
	pthread_mutex_unlock(&queue->mutex);
	pthread_join(queue->worker, NULL);

	pthread_mutex_lock(&queue->mutex);
	size_t dropped = queue->length;
	queue->length = 0;
	pthread_mutex_unlock(&queue->mutex);
	return dropped;
}

void ex_mail_index_queue_free(ex_mail_index_queue *queue)
{
	if (queue == NULL)
		return;
	pthread_cond_destroy(&queue->ready);
	pthread_mutex_destroy(&queue->mutex);
	free(queue->items);
	free(queue);
}
