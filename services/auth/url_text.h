/*
 * A growing, bounded string for the URLs and form bodies expresso-auth
 * builds (authorization request, token request, logout redirect), with
 * RFC 3986 percent-encoding of parameter names and values.
 */
#ifndef EXPRESSO_AUTH_URL_TEXT_H
#define EXPRESSO_AUTH_URL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

enum { EX_RP_URL_TEXT_DEFAULT_MAX = 16 * 1024 };

typedef struct {
	char *data;
	size_t length;
	size_t capacity;
	size_t max;  /* maximum text length, in bytes */
	bool failed; /* out of memory or past max: every later append is ignored */
} ex_rp_url_text;

void ex_rp_url_text_init(ex_rp_url_text *text, size_t max);
void ex_rp_url_text_append(ex_rp_url_text *text, const char *literal);

/* Appends VALUE with every byte outside RFC 3986's unreserved set as %XX. */
void ex_rp_url_text_append_encoded(ex_rp_url_text *text, const char *value);

/*
 * Appends "name=value" (both encoded), preceded by SEPARATOR when the text
 * already has parameters: callers pass '&', or '?' for the first query
 * parameter of a URL that has none.
 */
void ex_rp_url_text_append_parameter(ex_rp_url_text *text, char separator, const char *name, const char *value);

/* Returns the text (the caller frees it) and empties TEXT; NULL when an append failed. */
char *ex_rp_url_text_steal(ex_rp_url_text *text);

/* Frees the text, wiping it first because it may carry a token. */
void ex_rp_url_text_free(ex_rp_url_text *text);

#endif
