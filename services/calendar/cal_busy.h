/*
 * Busy time for free-busy responses (RFC 4791 section 7.10, RFC 6638
 * section 5): the periods in which a user's events block time, clipped
 * to the requested range and merged per type. The free-busy-query REPORT
 * and the free-busy POST to the schedule outbox both build their
 * FREEBUSY lines from one such list.
 *
 * An instance counts as busy unless it is TRANSPARENT or CANCELLED, read
 * from the instance's own component, so an override that cancels one
 * occurrence frees its time; a TENTATIVE instance is BUSY-TENTATIVE.
 */
#ifndef EXPRESSO_CALENDAR_CAL_BUSY_H
#define EXPRESSO_CALENDAR_CAL_BUSY_H

#include <libical/ical.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "expresso/db.h"

enum {
	EX_CAL_BUSY_MAX_OBJECTS = 10000, /* events read for one user's busy time */
};

typedef struct {
	int64_t start;
	int64_t end;
	bool tentative;
} ex_cal_busy_period;

typedef struct {
	ex_cal_busy_period *periods;
	size_t count;
	size_t capacity;
	size_t max;          /* periods kept; 0: no bound */
	int64_t range_start; /* periods are clipped to [range_start, range_end) */
	int64_t range_end;
} ex_cal_busy_list;

/*
 * Records one instance of COMPONENT from START to END in the list
 * CONTEXT, an ex_ical_instance_visitor. Returns false to stop the walk
 * when the list is full or out of memory.
 */
bool ex_cal_busy_note(void *context, icalcomponent *component, int64_t start, int64_t end);

/*
 * Adds the busy instances of USER_ID's events (at most
 * EX_CAL_BUSY_MAX_OBJECTS of them) in the list's range to LIST, read
 * under the caller's tenant-bound transaction, and merges them.
 * Returns 0, or -1 with ERROR filled.
 */
int ex_cal_busy_collect(PGconn *connection, const char *user_id, ex_cal_busy_list *list, ex_db_error *error);

/* Sorts the periods by type and start and merges those of one type that overlap or touch. */
void ex_cal_busy_merge(ex_cal_busy_list *list);

/* Writes one FREEBUSY line per period of LIST, BUSY ones first, to OUT. */
void ex_cal_busy_write(FILE *out, const ex_cal_busy_list *list);

void ex_cal_busy_free(ex_cal_busy_list *list);

#endif
