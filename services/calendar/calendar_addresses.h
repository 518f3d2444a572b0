/*
 * The calendar user addresses of the tenant's users for scheduling: a
 * user's email and mail aliases all name the same calendar user, so an
 * invitation to an alias reaches its user's calendar and that user
 * replies as the alias. Catch-all aliases ("@domain") are not calendar
 * user addresses.
 * expresso-calendar and expresso-imip-dispatch both link this file (the
 * static library expresso_calendar_store). Each function runs in the
 * caller's tenant-bound transaction.
 */
#ifndef EXPRESSO_CALENDAR_ADDRESSES_H
#define EXPRESSO_CALENDAR_ADDRESSES_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "calendar_itip.h"
#include "expresso/dav_auth.h" /* EX_DAV_UUID_TEXT, the size of OUT for a user id */
#include "expresso/db.h"

/*
 * Finds the user whose email or alias is ADDRESS, compared in lowercase,
 * and writes the user's id into OUT. With ENABLED_ONLY a disabled user is
 * not found. Returns 1 when found, 0 when not, -1 on a database error.
 */
int calendar_user_for_address(PGconn *connection, const char *address, bool enabled_only, char *out, size_t size,
			      ex_db_error *error);

/*
 * Writes into OUT the lowercase address by which the enabled user USER_ID
 * takes part in ROLES: the organizer's address when it is the user's email
 * or alias, else the first attendee's that is, else the user's email.
 * Returns 0, 1 when the user is disabled or not found, -1 on a database error.
 */
int calendar_own_address(PGconn *connection, const char *user_id, const ex_itip_roles *roles, char *out, size_t size,
			 ex_db_error *error);

#endif
