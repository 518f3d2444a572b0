/*
 * A user's Sieve scripts in the sieve_scripts table, for the HTTP API and
 * ManageSieve. Each call runs in its own tenant transaction. Scripts must
 * be validated (ex_sieve_validate) before ex_mail_sieve_store_put.
 */
#ifndef EXPRESSO_MAIL_SIEVE_STORE_H
#define EXPRESSO_MAIL_SIEVE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "mail_service.h"

typedef enum {
	EX_MAIL_SIEVE_STORE_OK = 0,
	EX_MAIL_SIEVE_STORE_NOT_FOUND,
	EX_MAIL_SIEVE_STORE_ACTIVE,  /* delete: the script is active */
	EX_MAIL_SIEVE_STORE_EXISTS,  /* rename: the new name is taken */
	EX_MAIL_SIEVE_STORE_FAILED,  /* database error, logged */
} ex_mail_sieve_store_status;

typedef struct {
	ex_mail_service *service;
	const char *tenant_id;
	const char *user_id;
} ex_mail_sieve_owner;

/* Sets *LIST to an array of {name, active, size, last_error, last_error_at, updated_at}. */
ex_mail_sieve_store_status ex_mail_sieve_store_list(const ex_mail_sieve_owner *owner, json_t **list);

/* Sets *SCRIPT to {name, content, active, last_error, last_error_at, updated_at}. */
ex_mail_sieve_store_status ex_mail_sieve_store_get(const ex_mail_sieve_owner *owner, const char *name,
						   json_t **script);

/* Creates or replaces NAME; replacing clears last_error. ACTIVATE also makes it the active script. */
ex_mail_sieve_store_status ex_mail_sieve_store_put(const ex_mail_sieve_owner *owner, const char *name,
						   const char *content, size_t length, bool activate);

/* Makes NAME the only active script; NULL deactivates every script. */
ex_mail_sieve_store_status ex_mail_sieve_store_activate(const ex_mail_sieve_owner *owner, const char *name);

ex_mail_sieve_store_status ex_mail_sieve_store_delete(const ex_mail_sieve_owner *owner, const char *name);

ex_mail_sieve_store_status ex_mail_sieve_store_rename(const ex_mail_sieve_owner *owner, const char *name,
						      const char *new_name);

/* Returns true when NAME is a valid script name: 1 to 255 bytes of UTF-8, no control characters. */
bool ex_mail_sieve_name_valid(const char *name);

#endif
