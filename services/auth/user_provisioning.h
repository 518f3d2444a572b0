/*
 * Just-in-time provisioning: the `users` row of a person who signs in
 * through Keycloak is created from the validated token's claims (sub,
 * tenant_id, email, preferred_username, name) the first time it is
 * needed. Runs inside the caller's tenant-bound transaction.
 */
#ifndef EXPRESSO_AUTH_USER_PROVISIONING_H
#define EXPRESSO_AUTH_USER_PROVISIONING_H

#include "expresso/authclient.h"
#include "expresso/db.h"

typedef enum {
	EX_RP_USER_READY = 0,     /* the row exists (now) and the user is enabled */
	EX_RP_USER_DISABLED,      /* the row exists and is disabled */
	EX_RP_USER_BAD_CLAIMS,    /* sub is not a UUID, or email is missing or malformed */
	EX_RP_USER_CONFLICT,      /* another user already has this email or username */
	EX_RP_USER_UNKNOWN_TENANT,/* the token's tenant_id has no tenants row */
} ex_rp_user_status;

/*
 * Ensures the users row of CLAIMS exists and locks it (FOR UPDATE) until
 * the transaction ends. Returns 0 with *STATUS set, or -1 with ERROR
 * filled in when a statement failed. For EX_RP_USER_BAD_CLAIMS,
 * EX_RP_USER_CONFLICT and EX_RP_USER_UNKNOWN_TENANT it also returns -1,
 * so that the transaction rolls back, and *STATUS gives the reason.
 */
int ex_rp_user_provision(PGconn *connection, const ex_auth_claims *claims, ex_rp_user_status *status,
			 ex_db_error *error);

/* Returns a sentence for an error response about STATUS. */
const char *ex_rp_user_status_message(ex_rp_user_status status);

#endif
