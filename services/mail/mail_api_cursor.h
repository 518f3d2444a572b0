/*
 * Sort orders and keyset cursors of the message list. A cursor names the
 * last row of a page by its sort key and message id, so the next page is
 * "rows after (key, id)" and stays stable while new mail arrives, unlike
 * an offset. The text form is base64url (RFC 4648 section 5, no padding)
 * of "1\n<sort>\n<a|d>\n<id>\n<key>". A client treats it as opaque.
 */
#ifndef EXPRESSO_MAIL_API_CURSOR_H
#define EXPRESSO_MAIL_API_CURSOR_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
	EX_MAIL_SORT_DATE = 0, /* Date field, else the time of arrival */
	EX_MAIL_SORT_FROM,     /* From field as stored, lower case */
	EX_MAIL_SORT_SUBJECT,  /* Subject field as stored, lower case */
	EX_MAIL_SORT_SIZE,     /* octets */
	EX_MAIL_SORT_COUNT,
} ex_mail_sort;

enum {
	/* Bytes of a sort key; the SQL cuts text keys to 200 characters (at most 800 bytes). */
	EX_MAIL_CURSOR_MAX_KEY = 1024,
	EX_MAIL_CURSOR_UUID_TEXT = 36,
	/* Characters of an encoded cursor, without the terminating NUL. */
	EX_MAIL_CURSOR_MAX_TEXT = ((EX_MAIL_CURSOR_MAX_KEY + 64) * 4 + 2) / 3,
};

typedef struct {
	ex_mail_sort sort;
	bool descending;
	char id[EX_MAIL_CURSOR_UUID_TEXT + 1];
	char key[EX_MAIL_CURSOR_MAX_KEY + 1];
} ex_mail_cursor;

/* Sets *sort from its name ("date", "from", "subject", "size"); returns 0, or -1 for another name. */
int ex_mail_sort_parse(const char *name, ex_mail_sort *sort);
const char *ex_mail_sort_name(ex_mail_sort sort);

/* Returns true when TEXT is a UUID in text form (8-4-4-4-12 hexadecimal digits). */
bool ex_mail_is_uuid(const char *text);

/*
 * Returns true when KEY is a valid sort key of SORT: digits for size, a
 * PostgreSQL timestamptz in ISO form for date ("2026-12-05 10:00:00.5+00"),
 * any UTF-8 without control characters for the text sorts.
 */
bool ex_mail_sort_key_is_valid(ex_mail_sort sort, const char *key);

/* Writes the text form of CURSOR into OUT. Returns 0, or -1 when a field is invalid or OUT is too small. */
int ex_mail_cursor_encode(const ex_mail_cursor *cursor, char *out, size_t size);

/* Parses the text form. Returns 0, or -1 when TEXT is not a cursor this code wrote. */
int ex_mail_cursor_decode(const char *text, ex_mail_cursor *cursor);

#endif
