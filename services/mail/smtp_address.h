/*
 * Parser of the arguments of MAIL and RCPT (RFC 5321 4.1.2, RFC 6531 for
 * SMTPUTF8): the path in angle brackets, then ESMTP parameters. It copies
 * the mailbox into a fixed buffer and returns a status the session turns
 * into one reply; it looks nothing up.
 */
#ifndef EXPRESSO_MAIL_SMTP_ADDRESS_H
#define EXPRESSO_MAIL_SMTP_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp_dsn.h"
#include "smtp_limits.h"

typedef enum {
	EX_SMTP_PATH_OK = 0,
	EX_SMTP_PATH_SYNTAX,        /* not a path: missing brackets, bad local part or domain */
	EX_SMTP_PATH_TOO_LONG,      /* path, local part or domain over the RFC 5321 limits */
	EX_SMTP_PATH_NON_ASCII,     /* UTF-8 in the path without the SMTPUTF8 parameter */
	EX_SMTP_PATH_BAD_PARAMETER, /* a parameter with a malformed value */
	EX_SMTP_PATH_UNKNOWN_PARAMETER,
} ex_smtp_path_status;

typedef struct {
	/* local-part@domain as written, without brackets or source route; empty for <>. */
	char mailbox[EX_SMTP_MAX_PATH + 1];
	size_t local_length; /* octets before the '@' */
	bool non_ascii;
} ex_smtp_path;

typedef enum {
	EX_SMTP_BODY_7BIT = 0,
	EX_SMTP_BODY_8BITMIME,
	EX_SMTP_BODY_BINARYMIME, /* RFC 3030: only with BDAT */
} ex_smtp_body_type;

typedef struct {
	bool has_size;
	uint64_t size;   /* SIZE=: the client's estimate of the message size */
	ex_smtp_body_type body;
	bool smtputf8;
	char ret[5];                              /* RFC 3461 RET: "FULL", "HDRS" or "" */
	char envid[EX_SMTP_DSN_MAX_ENVID + 1];    /* RFC 3461 ENVID in xtext, or "" */
} ex_smtp_mail_parameters;

/* RFC 3461 parameters of one RCPT; empty strings when absent. */
typedef struct {
	char notify[EX_SMTP_DSN_NOTIFY_TEXT];     /* canonical, e.g. "FAILURE,DELAY" or "NEVER" */
	char orcpt[EX_SMTP_DSN_MAX_ORCPT + 1];    /* "addr-type;xtext" */
} ex_smtp_rcpt_parameters;

/*
 * Parses the argument of MAIL after the verb ("FROM:<path> params"). The
 * null path <> is allowed. Returns the first problem found.
 */
ex_smtp_path_status ex_smtp_parse_mail_from(const char *arguments, ex_smtp_path *path,
					    ex_smtp_mail_parameters *parameters);

/*
 * Parses the argument of RCPT after the verb ("TO:<path>") without
 * parameters. UTF8_ALLOWED is whether the transaction's MAIL carried
 * SMTPUTF8.
 */
ex_smtp_path_status ex_smtp_parse_rcpt_to(const char *arguments, bool utf8_allowed, ex_smtp_path *path);

/* Parses the argument of RCPT with the DSN parameters NOTIFY and ORCPT (RFC 3461). */
ex_smtp_path_status ex_smtp_parse_rcpt_to_dsn(const char *arguments, bool utf8_allowed, ex_smtp_path *path,
					      ex_smtp_rcpt_parameters *parameters);

/* Parses a bare mailbox "local@domain" (no brackets); for tests and fuzzing as well. */
ex_smtp_path_status ex_smtp_parse_mailbox(const char *text, size_t length, bool utf8_allowed,
					  ex_smtp_path *path);

/* Returns the domain part of a parsed path ("" for the null path). */
const char *ex_smtp_path_domain(const ex_smtp_path *path);

#endif
