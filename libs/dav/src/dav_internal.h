/* Shared between store.c and store_checks.c, which write SQL from the table and column names of an ex_dav_store. */
#ifndef EXPRESSO_DAV_INTERNAL_H
#define EXPRESSO_DAV_INTERNAL_H

#include <stddef.h>

#include "expresso/db.h"

/*
 * Writes the statement FORMAT, whose %s are all table or column names, into
 * OUT of SIZE bytes. Returns 0, or -1 with ERROR set when it does not fit.
 */
int ex_dav_write_sql(char *out, size_t size, ex_db_error *error, const char *format, ...)
	__attribute__((format(printf, 4, 5)));

#endif
