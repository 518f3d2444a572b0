/*
 * Response writer: builds IMAP response text in a bounded, growing buffer.
 * It chooses between atom, quoted string and literal for each string the
 * way RFC 3501 and RFC 9051 require: CR, LF and NUL, 8-bit text for a
 * client without UTF8=ACCEPT, and strings longer than
 * EX_IMAP_MAX_QUOTED_LENGTH are sent as literals. Once the buffer would
 * pass its maximum the writer stops and reports overflow.
 */
#ifndef EXPRESSO_IMAP_WRITER_H
#define EXPRESSO_IMAP_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Maximum length of a quoted string in a response. Longer strings are sent as literals. */
#define EX_IMAP_MAX_QUOTED_LENGTH 1024

typedef enum {
	EX_IMAP_FORM_ATOM = 0,
	EX_IMAP_FORM_QUOTED,
	EX_IMAP_FORM_LITERAL,
	EX_IMAP_FORM_LITERAL8,   /* contains NUL: only valid in BINARY responses */
} ex_imap_string_form;

typedef struct {
	char *data;
	size_t length;
	size_t capacity;
	size_t max_size;         /* 0 means no limit */
	bool overflow;           /* a write failed: the content is incomplete */
	bool utf8;               /* the client enabled UTF8=ACCEPT */
} ex_imap_writer;

void ex_imap_writer_init(ex_imap_writer *writer, size_t max_size, bool utf8);
void ex_imap_writer_free(ex_imap_writer *writer);
/* Empties the buffer and clears the overflow flag, keeping the memory. */
void ex_imap_writer_reset(ex_imap_writer *writer);

/* Returns the form STRING needs; ALLOW_ATOM is true where the grammar has astring. */
ex_imap_string_form ex_imap_string_form_for(const char *string, size_t length, bool utf8,
					    bool allow_atom);

void ex_imap_write_raw(ex_imap_writer *writer, const char *data, size_t length);
void ex_imap_write_text(ex_imap_writer *writer, const char *text);
void ex_imap_write_number(ex_imap_writer *writer, uint64_t number);
/* Writes a string (quoted or literal): the IMAP "string". */
void ex_imap_write_string(ex_imap_writer *writer, const char *string, size_t length);
/* Writes an astring: an atom when it is one, else a string. */
void ex_imap_write_astring(ex_imap_writer *writer, const char *string, size_t length);
/* Writes an nstring: NIL for NULL, else a string. */
void ex_imap_write_nstring(ex_imap_writer *writer, const char *string, size_t length);
void ex_imap_write_literal(ex_imap_writer *writer, const char *data, size_t length);
void ex_imap_write_literal8(ex_imap_writer *writer, const char *data, size_t length);
/* Writes a UTF-8 mailbox name as modified UTF-7 or UTF-8, as the client expects. */
void ex_imap_write_mailbox(ex_imap_writer *writer, const char *name);

/*
 * Writes a parenthesised flag list: the EX_IMAP_FLAG_* bits of SYSTEM in a
 * fixed order, then KEYWORD_COUNT keywords, then \* when STAR is true.
 * Keywords are written unchanged, so they must be atoms, as
 * ex_imap_flags_parse() ensures for keywords a client sent.
 */
void ex_imap_write_flags(ex_imap_writer *writer, unsigned system, const char *const *keywords,
			 size_t keyword_count, bool star);

/*
 * Writes a whole status response: "TAG STATUS [CODE] TEXT\r\n", with "*"
 * for a NULL tag. CODE is without brackets and may be NULL. CR and LF in
 * TEXT are replaced by spaces so that a reply is always one line.
 */
void ex_imap_write_status(ex_imap_writer *writer, const char *tag, const char *status,
			  const char *code, const char *text);

#endif
