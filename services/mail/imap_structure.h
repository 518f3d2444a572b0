/*
 * ENVELOPE and BODYSTRUCTURE (RFC 3501 7.4.2, RFC 9051 7.5.2) built from
 * the octets of a stored message, in a form that is cached in the
 * messages row and turned into a response without parsing the message
 * again.
 *
 * Every value comes from the message as sent: header fields unfolded,
 * address phrases and parameter values without RFC 2047 or RFC 2231
 * decoding (RFC 2231 continuations are joined), sizes and line counts
 * of the raw octets. This is what Dovecot returns for the same message,
 * and tests/e2e/imap-dovecot-compare.test.mjs checks it on the corpus.
 *
 * The cached form is IMAP text in which every string is a literal and
 * the extension data of each body part follows a 0x01 marker, so one
 * cached value gives BODY and BODYSTRUCTURE, with strings quoted or sent
 * as literals the way the session needs (UTF8=ACCEPT or not).
 */
#ifndef EXPRESSO_MAIL_IMAP_STRUCTURE_H
#define EXPRESSO_MAIL_IMAP_STRUCTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "expresso/imap_writer.h"

enum {
	/* First octet of a cached value. A value of another version is built again. */
	IMAP_STRUCTURE_VERSION = '1',
	/* Maximum nesting of multiparts and embedded messages. Deeper parts are shown as empty text. */
	IMAP_STRUCTURE_MAX_DEPTH = 50,
	/* Maximum body parts in one message. Later parts are shown as empty text. */
	IMAP_STRUCTURE_MAX_PARTS = 5000,
	/* Maximum size of either cached value. */
	IMAP_STRUCTURE_MAX_SIZE = 4 * 1024 * 1024,
};

typedef struct {
	char *envelope;
	size_t envelope_length;
	char *bodystructure;
	size_t bodystructure_length;
} imap_structure;

/* Builds both cached values of the LENGTH octets at DATA. Returns 0, or -1 when memory ran out or a value passed its maximum. */
int imap_structure_build(const char *data, size_t length, imap_structure *structure);
void imap_structure_clear(imap_structure *structure);

/*
 * Writes a cached ENVELOPE or BODYSTRUCTURE value to OUT. EXTENDED false
 * leaves out the extension data, which gives BODY. Returns false when
 * VALUE is not a cached value of this version.
 */
bool imap_structure_render(ex_imap_writer *out, const char *value, size_t length, bool extended);

/*
 * Returns VALUE in the hex text form of a PostgreSQL bytea ("\x..."),
 * malloc'd, or NULL when memory ran out.
 */
char *imap_structure_bytea_text(const char *value, size_t length);

/* Appends STRING to a cached value as a literal. */
void imap_structure_put_string(ex_imap_writer *value, const char *string, size_t length);

#endif
