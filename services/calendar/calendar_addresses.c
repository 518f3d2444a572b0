/*
 * A user's email and mail aliases as calendar user addresses; see
 * calendar_addresses.h.
 */
#include "calendar_addresses.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int calendar_user_for_address(PGconn *connection, const char *address, bool enabled_only, char *out, size_t size,
			      ex_db_error *error)
{
	static const char sql[] =
		"SELECT id::text FROM users WHERE email = $1 AND NOT (disabled AND $2) "
		"UNION ALL "
		"SELECT u.id::text FROM mail_aliases a JOIN users u ON u.tenant_id = a.tenant_id AND u.id = a.user_id "
		" WHERE a.address = $1 AND NOT (u.disabled AND $2) "
		"LIMIT 1";
	char lowercase[EX_ITIP_MAX_ADDRESS];
	size_t length = strlen(address);

	if (length >= sizeof(lowercase) || address[0] == '@')
		return 0;
	for (size_t i = 0; i <= length; i++)
		lowercase[i] = (char)tolower((unsigned char)address[i]);
	const char *params[] = { lowercase, enabled_only ? "true" : "false" };
	PGresult *result = ex_db_exec(connection, sql, 2, params, error);
	if (result == NULL)
		return -1;
	int found = PQntuples(result) == 1;
	if (found)
		snprintf(out, size, "%s", PQgetvalue(result, 0, 0));
	PQclear(result);
	return found;
}

/* Returns the row of RESULT whose address is ADDRESS, or -1. */
static int find_row(const PGresult *result, const char *address)
{
	for (int row = 0; row < PQntuples(result); row++) {
		if (strcmp(PQgetvalue(result, row, 0), address) == 0)
			return row;
	}
	return -1;
}

int calendar_own_address(PGconn *connection, const char *user_id, const ex_itip_roles *roles, char *out, size_t size,
			 ex_db_error *error)
{
	/* The email (lowercase, as users_email_lowercase requires) comes first; a disabled user has no rows. */
	static const char sql[] =
		"SELECT address FROM ("
		"  SELECT email AS address, 0 AS rank FROM users WHERE id = $1 AND NOT disabled "
		"  UNION ALL "
		"  SELECT a.address, 1 FROM mail_aliases a JOIN users u ON u.tenant_id = a.tenant_id AND u.id = a.user_id "
		"   WHERE a.user_id = $1 AND NOT u.disabled AND left(a.address, 1) <> '@'"
		") AS addresses ORDER BY rank, address";
	const char *params[] = { user_id };
	PGresult *result = ex_db_exec(connection, sql, 1, params, error);
	if (result == NULL)
		return -1;
	if (PQntuples(result) == 0) {
		PQclear(result);
		return 1;
	}

	int chosen = find_row(result, roles->organizer);
	for (size_t i = 0; chosen < 0 && i < roles->attendee_count; i++)
		chosen = find_row(result, roles->attendees[i].address);
	snprintf(out, size, "%s", PQgetvalue(result, chosen >= 0 ? chosen : 0, 0));
	PQclear(result);
	return 0;
}
