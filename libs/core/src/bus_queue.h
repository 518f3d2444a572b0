/*
 * The events a bus has accepted and not yet sent, oldest first. The queue
 * counts its events and their bytes so that the bus can reject new ones
 * past EX_BUS_QUEUE_MAX_EVENTS or EX_BUS_QUEUE_MAX_BYTES, and an outage of
 * NATS costs bounded memory. It does no locking, because the bus takes its
 * lock around every call.
 */
#ifndef EXPRESSO_BUS_QUEUE_H
#define EXPRESSO_BUS_QUEUE_H

#include <stddef.h>

#include "expresso/bus.h"

typedef struct bus_event {
	struct bus_event *next;
	char subject[EX_BUS_MAX_SUBJECT];
	char id[EX_BUS_MAX_EVENT_ID + 1]; /* Nats-Msg-Id */
	size_t length;
	char data[]; /* the JSON text, length bytes and a NUL */
} bus_event;

typedef struct {
	bus_event *head;
	bus_event *tail;
	size_t count;
	size_t bytes; /* sum of the events' lengths */
} bus_queue;

/* Copies an event, or returns NULL when memory is short or SUBJECT or ID is too long. */
bus_event *bus_event_new(const char *subject, const char *id, const char *data, size_t length);

/* Appends EVENT and returns 0, or returns -1 and leaves EVENT to the caller when the queue is full. */
int bus_queue_push(bus_queue *queue, bus_event *event);

/* Removes and frees the oldest event. The queue must not be empty. */
void bus_queue_drop_first(bus_queue *queue);

/* Frees every event and returns how many there were. */
size_t bus_queue_clear(bus_queue *queue);

#endif
