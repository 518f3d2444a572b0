/*
 * The header fields of a message as a Sieve script sees them: unfolded,
 * RFC 2047 encoded-words decoded to UTF-8 (GMime 3), in message order.
 */
#ifndef EXPRESSO_MAIL_SIEVE_HEADERS_H
#define EXPRESSO_MAIL_SIEVE_HEADERS_H

#include <stddef.h>

enum {
	EX_MAIL_SIEVE_MAX_HEADERS = 1000,     /* fields kept; further ones are invisible to scripts */
	EX_MAIL_SIEVE_MAX_HEADER_VALUE = 65536, /* bytes of one unfolded value; the rest is cut */
};

typedef struct {
	size_t count;
	char **names;
	char **values;
} ex_mail_sieve_headers;

/* Parses the header section of CONTENT. Returns 0, or -1 when memory ran out. */
int ex_mail_sieve_headers_parse(const char *content, size_t length, ex_mail_sieve_headers *headers);

/* Returns the first value of field NAME (case-insensitive), or NULL. */
const char *ex_mail_sieve_headers_first(const ex_mail_sieve_headers *headers, const char *name);

/* Returns how many fields are named NAME (case-insensitive). */
size_t ex_mail_sieve_headers_count(const ex_mail_sieve_headers *headers, const char *name);

/*
 * Returns a NULL-terminated array of the values of NAME, or NULL when there
 * are none. Only the array is allocated (free() it); the strings belong to
 * HEADERS.
 */
const char **ex_mail_sieve_headers_all(const ex_mail_sieve_headers *headers, const char *name);

void ex_mail_sieve_headers_clear(ex_mail_sieve_headers *headers);

#endif
