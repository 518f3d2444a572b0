/*
 * Per-address connection counting for the mail listeners. The table has
 * one slot per allowed connection, so it never grows and a lookup is a
 * scan of max_connections slots under one mutex. The callers' accept
 * rates are far below what that scan costs at the default maximums.
 */
#include "mail_connection_limit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ex_mail_address_count {
	char address[EX_MAIL_ADDRESS_TEXT];
	unsigned count;
};

int ex_mail_connection_limit_init(ex_mail_connection_limit *limit, unsigned max_connections, unsigned max_per_address)
{
	memset(limit, 0, sizeof(*limit));
	limit->max_connections = max_connections;
	limit->max_connections_per_address = max_per_address == 0 ? max_connections : max_per_address;
	limit->addresses = calloc(max_connections == 0 ? 1 : max_connections, sizeof(*limit->addresses));
	if (limit->addresses == NULL)
		return -1;
	pthread_mutex_init(&limit->lock, NULL);
	return 0;
}

void ex_mail_connection_limit_destroy(ex_mail_connection_limit *limit)
{
	if (limit->addresses == NULL)
		return;
	pthread_mutex_destroy(&limit->lock);
	free(limit->addresses);
	limit->addresses = NULL;
}

/* Finds the slot of ADDRESS and the first free slot; under the lock. */
static ex_mail_address_count *find_slot(ex_mail_connection_limit *limit, const char *address,
					 ex_mail_address_count **free_slot)
{
	ex_mail_address_count *found = NULL;
	*free_slot = NULL;
	for (unsigned i = 0; i < limit->max_connections; i++) {
		ex_mail_address_count *candidate = &limit->addresses[i];
		if (candidate->count == 0 && *free_slot == NULL)
			*free_slot = candidate;
		if (candidate->count > 0 && strcmp(candidate->address, address) == 0)
			found = candidate;
	}
	return found;
}

ex_mail_admission ex_mail_connection_limit_admit(ex_mail_connection_limit *limit, const char *address)
{
	ex_mail_admission admission = EX_MAIL_ADMITTED;
	ex_mail_address_count *free_slot = NULL;

	pthread_mutex_lock(&limit->lock);
	ex_mail_address_count *slot = find_slot(limit, address, &free_slot);
	if (limit->connections >= limit->max_connections || (slot == NULL && free_slot == NULL)) {
		admission = EX_MAIL_REJECTED_TOTAL;
	} else if (slot != NULL && slot->count >= limit->max_connections_per_address) {
		admission = EX_MAIL_REJECTED_ADDRESS;
	} else {
		if (slot == NULL) {
			slot = free_slot;
			snprintf(slot->address, sizeof(slot->address), "%s", address);
		}
		slot->count++;
		limit->connections++;
	}
	pthread_mutex_unlock(&limit->lock);
	return admission;
}

void ex_mail_connection_limit_release(ex_mail_connection_limit *limit, const char *address)
{
	ex_mail_address_count *free_slot = NULL;

	pthread_mutex_lock(&limit->lock);
	ex_mail_address_count *slot = find_slot(limit, address, &free_slot);
	if (slot != NULL && limit->connections > 0) {
		slot->count--;
		limit->connections--;
	}
	pthread_mutex_unlock(&limit->lock);
}

unsigned ex_mail_connection_limit_count(ex_mail_connection_limit *limit)
{
	pthread_mutex_lock(&limit->lock);
	unsigned connections = limit->connections;
	pthread_mutex_unlock(&limit->lock);
	return connections;
}

unsigned ex_mail_connection_limit_count_address(ex_mail_connection_limit *limit, const char *address)
{
	ex_mail_address_count *free_slot = NULL;

	pthread_mutex_lock(&limit->lock);
	const ex_mail_address_count *slot = find_slot(limit, address, &free_slot);
	unsigned count = slot != NULL ? slot->count : 0;
	pthread_mutex_unlock(&limit->lock);
	return count;
}
