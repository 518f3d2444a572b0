/*
 * Character classes of the IMAP grammar (RFC 3501 section 9) and ASCII
 * helpers shared by the parser, the argument helpers and the writer.
 * Private to libexpresso-imap.
 */
#ifndef EXPRESSO_IMAP_CHARS_H
#define EXPRESSO_IMAP_CHARS_H

#include <stdbool.h>
#include <stddef.h>

/* ATOM-CHAR: printable ASCII except atom-specials ( ) { SP % * " \ ] and CTL. */
static inline bool ex_imap_is_strict_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case '%': case '*': case '"': case '\\': case ']':
		return false;
	default:
		return true;
	}
}

/*
 * Characters the parser accepts inside an atom argument: ATOM-CHAR plus the
 * list wildcards % and *, the backslash of system flags, and ']' (allowed in
 * ASTRING-CHAR). The argument helpers check the stricter grammar of each place.
 */
static inline bool ex_imap_is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return c != '(' && c != ')' && c != '{' && c != '"';
}

/* Tag characters: ASTRING-CHAR except '+'. */
static inline bool ex_imap_is_tag_char(unsigned char c)
{
	return c != '+' && (ex_imap_is_strict_atom_char(c) || c == ']');
}

static inline char ex_imap_ascii_toupper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static inline void ex_imap_ascii_upper(char *s)
{
	for (; *s != '\0'; s++)
		*s = ex_imap_ascii_toupper(*s);
}

/* True if the first N octets of A and B are equal ignoring ASCII case. */
static inline bool ex_imap_ascii_casecmp_n(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ex_imap_ascii_toupper(a[i]) != ex_imap_ascii_toupper(b[i]))
			return false;
	}
	return true;
}

#endif
