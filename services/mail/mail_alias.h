/*
 * The addresses a user may send as: their own and their aliases (table
 * mail_aliases). Catch-all entries ('@domain') receive mail but do not
 * make every address of the domain the user's to send as.
 */
#ifndef EXPRESSO_MAIL_ALIAS_H
#define EXPRESSO_MAIL_ALIAS_H

#include <stddef.h>

#include "mail_service.h"

/*
 * Reads the user's own address and aliases into *ADDRESSES (lower case),
 * an array the caller frees with ex_mail_alias_free. Returns the count,
 * or -1 when the database failed (logged).
 */
int ex_mail_alias_sender_addresses(ex_mail_service *service, const ex_smtp_identity *identity, char ***addresses);
void ex_mail_alias_free(char **addresses, size_t count);

/* The SMTP backend's sender check for MAIL FROM on submission. */
ex_smtp_sender_status ex_mail_alias_check_sender(void *context, const ex_smtp_identity *identity, const char *address);

#endif
