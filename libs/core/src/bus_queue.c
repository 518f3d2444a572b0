/* The bounded queue of events waiting to be published; see bus_queue.h. */
#include "bus_queue.h"

#include <stdlib.h>
#include <string.h>

bus_event *bus_event_new(const char *subject, const char *id, const char *data, size_t length)
{
	if (strlen(subject) >= EX_BUS_MAX_SUBJECT || strlen(id) > EX_BUS_MAX_EVENT_ID)
		return NULL;
	bus_event *event = malloc(sizeof(*event) + length + 1);
	if (event == NULL)
		return NULL;
	event->next = NULL;
	strcpy(event->subject, subject);
	strcpy(event->id, id);
	event->length = length;
	memcpy(event->data, data, length);
	event->data[length] = '\0';
	return event;
}

int bus_queue_push(bus_queue *queue, bus_event *event)
{
	if (queue->count >= EX_BUS_QUEUE_MAX_EVENTS || event->length > EX_BUS_QUEUE_MAX_BYTES - queue->bytes)
		return -1;
	if (queue->tail != NULL)
		queue->tail->next = event;
	else
		queue->head = event;
	queue->tail = event;
	queue->count++;
	queue->bytes += event->length;
	return 0;
}

void bus_queue_drop_first(bus_queue *queue)
{
	bus_event *first = queue->head;

	queue->head = first->next;
	if (queue->head == NULL)
		queue->tail = NULL;
	queue->count--;
	queue->bytes -= first->length;
	free(first);
}

size_t bus_queue_clear(bus_queue *queue)
{
	size_t count = queue->count;

	while (queue->head != NULL)
		bus_queue_drop_first(queue);
	return count;
}
