/*
 * An RFC 5322 address-list header value turned into the address list of
 * an IMAP ENVELOPE (RFC 3501 7.4.2): one (name route mailbox host) per
 * mailbox, and a group as (NIL NIL "group" NIL), its members, then
 * (NIL NIL NIL NIL). The name is the phrase with its quoting removed and
 * its encoded-words left as sent; for a bare addr-spec a trailing comment
 * is used as the name, as in Dovecot. Malformed input never fails: a part
 * that is missing is written as MISSING_MAILBOX or MISSING_DOMAIN, the
 * same placeholders Dovecot uses, because a NIL host means a group.
 */
#ifndef EXPRESSO_MAIL_IMAP_ADDRESS_H
#define EXPRESSO_MAIL_IMAP_ADDRESS_H

#include <stddef.h>

#include "expresso/imap_writer.h"

enum {
	/* Maximum addresses taken from one header field. The rest are left out. */
	IMAP_ADDRESS_MAX_COUNT = 1000,
};

/* Appends the address list of the raw header value VALUE to a cached ENVELOPE value, or NIL when it names no address. */
void imap_address_list_put(ex_imap_writer *out, const char *value, size_t length);

#endif
