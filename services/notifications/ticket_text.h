/*
 * One-time stream tickets: 32 random bytes in base64url (43 characters).
 * Redis stores only the ticket's SHA-256 under
 * expresso:notify:ticket:<hex digest>, so a copy of Redis does not hand
 * out usable tickets. The value is "<tenant>\n<user>\n<expires_at>", the
 * last being the exp claim (seconds since the epoch) of the token that
 * requested the ticket: a stream opened with the ticket ends with it.
 */
#ifndef EX_NOTIFY_TICKET_TEXT_H
#define EX_NOTIFY_TICKET_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "notify_event.h"

enum {
	EX_NOTIFY_TICKET_BYTES = 32,
	EX_NOTIFY_TICKET_LENGTH = 43,
	EX_NOTIFY_TICKET_KEY_MAX = 96,
};

/* Writes a new random ticket (EX_NOTIFY_TICKET_LENGTH + 1 bytes). Returns 0 or -1. */
int ex_notify_ticket_generate(char out[EX_NOTIFY_TICKET_LENGTH + 1]);

/* Returns 1 when TEXT has the form of a ticket. */
int ex_notify_ticket_valid(const char *text);

/* Writes the Redis key of TICKET. Returns 0, or -1 when the ticket is malformed. */
int ex_notify_ticket_key(const char *ticket, char out[EX_NOTIFY_TICKET_KEY_MAX]);

/* Splits a stored "<tenant>\n<user>\n<expires_at>" value. Returns 0, or -1 when it is malformed. */
int ex_notify_ticket_owner_parse(const char *value, size_t length, char tenant[EX_NOTIFY_MAX_TOKEN + 1],
				 char user[EX_NOTIFY_MAX_TOKEN + 1], int64_t *expires_at);

#endif
