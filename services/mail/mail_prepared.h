/*
 * The named statements of local delivery, prepared once on each database
 * connection of expresso-mail (mail_prepared.c), so that PostgreSQL
 * parses them once per connection instead of once per message.
 */
#ifndef EXPRESSO_MAIL_PREPARED_H
#define EXPRESSO_MAIL_PREPARED_H

#include "expresso/db.h"

/* SELECT set_config('app.tenant_id', $1, true); $1 '' binds no tenant. */
#define EX_MAIL_STATEMENT_BIND_TENANT "ex_mail_bind_tenant"
/* Binds the tenant of domain $1, or '' when no tenant owns it. */
#define EX_MAIL_STATEMENT_BIND_DOMAIN "ex_mail_bind_domain"
/* ex_mail_usage_sql. */
#define EX_MAIL_STATEMENT_USAGE "ex_mail_usage"
/* ex_mail_fast_insert_sql. */
#define EX_MAIL_STATEMENT_FAST_INSERT "ex_mail_fast_insert"
/* Lists key $2 of tenant $1 in mail_object_garbage. */
#define EX_MAIL_STATEMENT_GARBAGE_INSERT "ex_mail_garbage_insert"
/* ex_mail_sieve_load_sql. */
#define EX_MAIL_STATEMENT_SIEVE_LOAD "ex_mail_sieve_load"

enum { EX_MAIL_FAST_INSERT_PARAMS = 21 };

/*
 * The user that address $1 reaches and whether $2 more bytes would take
 * them over quota (NULL quota means none). The address is a user's own,
 * else an alias, else the catch-all '@domain' of mail_aliases, in that
 * order.
 */
extern const char ex_mail_usage_sql[];

/*
 * The common case of one row in one statement: find the target mailbox
 * by name, check the quota (with $20 true, for the first target of a
 * copy), insert the row and then forget the key's garbage record. It
 * returns no row when the mailbox is missing or the copy would cross the
 * quota, and the slow path then distinguishes the two and creates
 * missing mailboxes. The garbage record goes only when a row was
 * inserted, so a copy that ends up without a row keeps it for the sweep.
 * $21, when not NULL, is a key reserved for the user's next delivery: it
 * is listed in mail_object_garbage in the same transaction.
 */
extern const char ex_mail_fast_insert_sql[];

/* The user $1's active Sieve script: id, content, and whether it is the managed vacation script outside its dates. */
extern const char ex_mail_sieve_load_sql[];

/* Prepares the statements above on CONNECTION: the ex_db_prepare_hook of expresso-mail's pool. */
int ex_mail_prepare_statements(PGconn *connection, void *context, ex_db_error *error);

#endif
