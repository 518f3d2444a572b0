/*
 * users rows from token claims. INSERT ... ON CONFLICT DO NOTHING leaves
 * an existing row alone, so a returning user keeps the name an
 * administrator may have changed. The SELECT that follows distinguishes
 * "created or already there" from "blocked by another user's email or
 * username".
 */
#include "user_provisioning.h"

#include <stdio.h>
#include <string.h>

#include "auth_service.h"

/* Columns are capped as the users table's constraints require. */
static const char insert_user_sql[] =
	"INSERT INTO users (id, tenant_id, email, username, display_name) "
	"VALUES ($1::uuid, $2::uuid, lower($3), left($4, 255), left(coalesce($5, ''), 255)) "
	"ON CONFLICT DO NOTHING";

static const char lock_user_sql[] = "SELECT disabled FROM users WHERE id = $1::uuid FOR UPDATE";

static void set_error(ex_db_error *error, const char *message)
{
	error->sqlstate[0] = '\0';
	snprintf(error->message, sizeof(error->message), "%s", message);
}

static bool email_is_plausible(const char *email)
{
	const char *at = email ? strchr(email, '@') : NULL;
	return at != NULL && at != email && at[1] != '\0' && strchr(at + 1, '@') == NULL && strlen(email) <= 254;
}

int ex_rp_user_provision(PGconn *connection, const ex_auth_claims *claims, ex_rp_user_status *status,
			 ex_db_error *error)
{
	if (!ex_rp_is_uuid(claims->subject) || !email_is_plausible(claims->email)) {
		*status = EX_RP_USER_BAD_CLAIMS;
		set_error(error, ex_rp_user_status_message(*status));
		return -1;
	}
	const char *username = claims->preferred_username && claims->preferred_username[0]
				       ? claims->preferred_username
				       : claims->email;
	const char *insert_params[] = { claims->subject, claims->tenant_id, claims->email, username, claims->name };
	PGresult *result = ex_db_exec(connection, insert_user_sql, 5, insert_params, error);
	if (result == NULL) {
		if (strcmp(error->sqlstate, "23503") == 0)
			*status = EX_RP_USER_UNKNOWN_TENANT;
		else if (strcmp(error->sqlstate, "23514") == 0)
			*status = EX_RP_USER_BAD_CLAIMS;
		else
			*status = EX_RP_USER_READY;
		return -1;
	}
	PQclear(result);

	const char *lock_params[] = { claims->subject };
	result = ex_db_exec(connection, lock_user_sql, 1, lock_params, error);
	if (result == NULL) {
		*status = EX_RP_USER_READY;
		return -1;
	}
	if (PQntuples(result) == 0) {
		PQclear(result);
		*status = EX_RP_USER_CONFLICT;
		set_error(error, ex_rp_user_status_message(*status));
		return -1;
	}
	*status = strcmp(PQgetvalue(result, 0, 0), "t") == 0 ? EX_RP_USER_DISABLED : EX_RP_USER_READY;
	PQclear(result);
	return 0;
}

const char *ex_rp_user_status_message(ex_rp_user_status status)
{
	switch (status) {
	case EX_RP_USER_READY:
		return "the user is ready";
	case EX_RP_USER_DISABLED:
		return "this user is disabled; ask an administrator to enable the account";
	case EX_RP_USER_BAD_CLAIMS:
		return "the token's sub must be a UUID and its email a valid address; check the identity provider's "
		       "user and its email scope";
	case EX_RP_USER_CONFLICT:
		return "another user of this installation already has this email address or username; "
		       "ask an administrator to resolve the duplicate";
	case EX_RP_USER_UNKNOWN_TENANT:
		return "the token's tenant_id names no tenant of this installation; ask an administrator to create it";
	}
	return "unknown user status";
}
