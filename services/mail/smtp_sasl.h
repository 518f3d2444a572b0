/*
 * The parts of SASL that SMTP AUTH needs without I/O: strict base64
 * decoding of client responses (RFC 4954 4), splitting of a PLAIN message
 * (RFC 4616) and of OAUTHBEARER (RFC 7628) and XOAUTH2 messages.
 * Credentials are checked elsewhere.
 */
#ifndef EXPRESSO_MAIL_SMTP_SASL_H
#define EXPRESSO_MAIL_SMTP_SASL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Decodes base64 TEXT into OUT (at most out_size - 1 bytes, NUL-terminated)
 * and sets *length. Rejects characters outside the alphabet, bad padding
 * and output that does not fit. Returns 0 or -1.
 */
int ex_sasl_base64_decode(const char *text, size_t text_length, char *out, size_t out_size, size_t *length);

/* Encodes DATA as base64 into OUT (NUL-terminated); returns 0, or -1 when it does not fit. */
int ex_sasl_base64_encode(const char *data, size_t length, char *out, size_t out_size);

/*
 * Splits a decoded PLAIN message "authzid NUL authcid NUL passwd". The
 * pointers point into MESSAGE. An authzid other than empty or the authcid
 * is rejected, because no user may act for another here. Returns 0 or -1.
 */
int ex_sasl_plain_split(const char *message, size_t length, const char **authcid, const char **password);

/*
 * Parses a decoded OAUTHBEARER message ("n,a=authzid," ^A "auth=Bearer
 * token" ^A ^A) or, when XOAUTH2, a message "user=name" ^A "auth=Bearer
 * token" ^A ^A. Writes NULs into MESSAGE and points *authzid (empty when
 * absent) and *token into it. Returns 0 or -1 when the message is invalid.
 */
int ex_sasl_oauth_parse(char *message, size_t length, bool xoauth2, const char **authzid, const char **token);

#endif
