/*
 * The envelope columns of a messages row (IMAP ENVELOPE fields plus
 * References), taken from the message header with GMime 3. Each value is
 * the header field as sent, unfolded, encoded-words left encoded, and
 * turned into valid UTF-8 (octets that are not UTF-8 are read as
 * ISO-8859-1), because PostgreSQL text columns take nothing else.
 */
#ifndef EXPRESSO_MAIL_ENVELOPE_H
#define EXPRESSO_MAIL_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>

enum {
	EX_MAIL_ENVELOPE_DATE = 0,
	EX_MAIL_ENVELOPE_SUBJECT,
	EX_MAIL_ENVELOPE_FROM,
	EX_MAIL_ENVELOPE_SENDER,
	EX_MAIL_ENVELOPE_REPLY_TO,
	EX_MAIL_ENVELOPE_TO,
	EX_MAIL_ENVELOPE_CC,
	EX_MAIL_ENVELOPE_BCC,
	EX_MAIL_ENVELOPE_IN_REPLY_TO,
	EX_MAIL_ENVELOPE_MESSAGE_ID,
	EX_MAIL_ENVELOPE_REFERENCES,
	EX_MAIL_ENVELOPE_FIELDS,
	/* A header value longer than this is cut at a character boundary. */
	EX_MAIL_ENVELOPE_MAX_VALUE = 64 * 1024,
};

typedef struct {
	/* NULL where the header is absent. The date is ISO 8601 (timestamptz input), NULL if unparseable. */
	char *values[EX_MAIL_ENVELOPE_FIELDS];
	/* True when the From field names at least one mailbox and every mailbox in it is the expected address. */
	bool from_matches;
} ex_mail_envelope;

/* Calls g_mime_init(); once at daemon start. */
void ex_mail_envelope_library_init(void);
void ex_mail_envelope_library_shutdown(void);

/*
 * Parses the header of CONTENT and compares the From mailboxes with
 * EXPECTED_FROM (case-insensitive; NULL skips the check). Returns 0, or -1
 * when memory ran out.
 */
int ex_mail_envelope_parse(const char *content, size_t length, const char *expected_from, ex_mail_envelope *envelope);
void ex_mail_envelope_clear(ex_mail_envelope *envelope);

/*
 * Decodes the RFC 2047 encoded-words of a header value RAW into UTF-8,
 * unfolded, cut to at most MAX_BYTES at a character boundary. Returns a
 * new string the caller frees, or NULL for a NULL RAW or no memory.
 */
char *ex_mail_envelope_decode_text(const char *raw, size_t max_bytes);

/*
 * Returns true when the From field of CONTENT names at least one mailbox
 * and every mailbox in it is one of ALLOWED (case-insensitive); a group
 * never matches.
 */
bool ex_mail_envelope_from_allowed(const char *content, size_t length, const char *const *allowed, size_t count);

#endif
