/*
 * Audit writer for security-relevant actions (logins, failed logins, app
 * password changes, cross-tenant reads, administration). Rows go to the
 * append-only audit_log table: the daemons' role may insert and read, not
 * update or delete. Write the row in the same transaction as the action
 * it records (ex_audit_write), or on its own (ex_audit_record) for an
 * action that has no transaction, such as a refused login.
 */
#ifndef EXPRESSO_AUDIT_H
#define EXPRESSO_AUDIT_H

#include <jansson.h>

#include "expresso/db.h"

typedef struct {
	const char *tenant_id;  /* required */
	const char *actor;      /* user id or login name; may be NULL */
	const char *action;     /* dotted verb, e.g. "auth.login_failed"; required */
	const char *resource;   /* what was acted on; may be NULL */
	const char *address;    /* client address; may be NULL */
	const char *request_id; /* may be NULL */
	json_t *detail;         /* borrowed; may be NULL. Never secrets or bodies. */
} ex_audit_entry;

/* Inserts ENTRY through CONNECTION, inside the caller's tenant transaction. */
int ex_audit_write(PGconn *connection, const ex_audit_entry *entry, ex_db_error *error);

/* Inserts ENTRY in a transaction of its own bound to entry->tenant_id. */
int ex_audit_record(ex_db_pool *pool, const ex_audit_entry *entry, ex_db_error *error);

#endif
