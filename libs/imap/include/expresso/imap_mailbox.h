/*
 * Mailbox names on the wire: modified UTF-7 (RFC 3501 section 5.1.3) for
 * clients that did not ENABLE UTF8=ACCEPT, plain UTF-8 (RFC 6855) for those
 * that did, the "/" hierarchy delimiter and the case-insensitive INBOX.
 * Names inside the server are always UTF-8. Decoding is strict: bare '&',
 * non-canonical base64, encoded printable ASCII, adjacent encoded runs and
 * unpaired surrogates are rejected, so each name has exactly one spelling.
 *
 * Every function writes a NUL-terminated result into OUT (OUT_SIZE octets)
 * and returns NULL on success or a sentence saying what is wrong.
 */
#ifndef EXPRESSO_IMAP_MAILBOX_H
#define EXPRESSO_IMAP_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>

#define EX_IMAP_HIERARCHY_DELIMITER '/'
/* Octets of a whole mailbox name in UTF-8. */
#define EX_IMAP_MAX_MAILBOX_NAME 1024
/* Octets of one hierarchy level in UTF-8 (NAME_MAX of Linux file systems). */
#define EX_IMAP_MAX_MAILBOX_COMPONENT 255

/* True if the LENGTH octets at S are well-formed UTF-8 (no overlongs, surrogates or values above U+10FFFF). */
bool ex_imap_utf8_valid(const char *s, size_t length);

/* Decodes a modified UTF-7 name into UTF-8. */
const char *ex_imap_mutf7_decode(const char *in, size_t length, char *out, size_t out_size,
				 size_t *out_length);

/* Encodes a UTF-8 name into modified UTF-7. */
const char *ex_imap_mutf7_encode(const char *in, size_t length, char *out, size_t out_size,
				 size_t *out_length);

/* True if NAME is INBOX in any case. */
bool ex_imap_mailbox_is_inbox(const char *name);

/* Upper-cases the first hierarchy level of NAME when it is INBOX in any case ("inbox/x" -> "INBOX/x"). */
void ex_imap_mailbox_normalize_inbox(char *name);

/*
 * Converts a mailbox argument to the server's UTF-8 form: modified UTF-7
 * is decoded unless UTF8_ACCEPT, in which case the name is UTF-8 and '&'
 * stands for itself. INBOX is normalised.
 */
const char *ex_imap_mailbox_from_wire(const char *wire, size_t length, bool utf8_accept,
				      char *out, size_t out_size);

/* Converts a UTF-8 mailbox name to what the client expects on the wire. */
const char *ex_imap_mailbox_to_wire(const char *name, bool utf8_accept, char *out, size_t out_size);

/*
 * Checks a UTF-8 name that is about to be created: not empty, no empty
 * hierarchy level, no control characters, no wildcards '%' and '*', and
 * within EX_IMAP_MAX_MAILBOX_NAME and EX_IMAP_MAX_MAILBOX_COMPONENT.
 */
const char *ex_imap_mailbox_name_check(const char *name);

#endif
