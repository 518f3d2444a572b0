/*
 * The values of the DSN extension's parameters (RFC 3461): NOTIFY and
 * ORCPT on RCPT, RET and ENVID on MAIL. ENVID and the address of ORCPT
 * are xtext (RFC 3461 4): printable ASCII without '+' and '=', other
 * octets written as "+HH".
 */
#ifndef EXPRESSO_MAIL_SMTP_DSN_H
#define EXPRESSO_MAIL_SMTP_DSN_H

#include <stdbool.h>
#include <stddef.h>

enum {
	/* RFC 3461 4.4: an ENVID is at most 100 characters. */
	EX_SMTP_DSN_MAX_ENVID = 100,
	/* RFC 3461 4.2: an ORCPT parameter is at most 500 characters. */
	EX_SMTP_DSN_MAX_ORCPT = 500,
	/* "SUCCESS,FAILURE,DELAY" and its terminator. */
	EX_SMTP_DSN_NOTIFY_TEXT = 32,
};

/* NOTIFY as bits; 0 means the parameter was absent. */
enum {
	EX_SMTP_NOTIFY_NEVER = 1,
	EX_SMTP_NOTIFY_SUCCESS = 2,
	EX_SMTP_NOTIFY_FAILURE = 4,
	EX_SMTP_NOTIFY_DELAY = 8,
};

/* Returns true when VALUE (LENGTH octets) is valid xtext. */
bool ex_smtp_xtext_is_valid(const char *value, size_t length);

/*
 * Parses a NOTIFY value: NEVER alone, or a list of SUCCESS, FAILURE and
 * DELAY separated by commas, each once, in any case. Returns the bits,
 * or 0 when the value is invalid.
 */
unsigned ex_smtp_dsn_parse_notify(const char *value, size_t length);

/* Writes the NOTIFY bits in their canonical form ("FAILURE,DELAY") into OUT. */
void ex_smtp_dsn_format_notify(unsigned notify, char out[EX_SMTP_DSN_NOTIFY_TEXT]);

/*
 * Checks an ORCPT value "addr-type;xtext" (the type an atom such as
 * rfc822 or utf-8) and copies it into OUT of SIZE octets. Returns 0 or -1.
 */
int ex_smtp_dsn_parse_orcpt(const char *value, size_t length, char *out, size_t size);

#endif
