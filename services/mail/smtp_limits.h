/*
 * Limits of one SMTP session, each a daemon setting with the default
 * given here. The parsers and the session check them before they buffer
 * or allocate anything.
 */
#ifndef EXPRESSO_MAIL_SMTP_LIMITS_H
#define EXPRESSO_MAIL_SMTP_LIMITS_H

#include <stddef.h>
#include <stdint.h>

enum {
	/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with CRLF. */
	EX_SMTP_MAX_COMMAND_LINE = 510,
	/* RFC 4954 4: an AUTH line (and a SASL response line) may be 12288 octets. */
	EX_SMTP_MAX_AUTH_LINE = 12288,
	/* RFC 5321 4.5.3.1.3: a path is at most 256 octets including the brackets. */
	EX_SMTP_MAX_PATH = 256,
	EX_SMTP_MAX_LOCAL_PART = 64,
	EX_SMTP_MAX_DOMAIN = 255,
	EX_SMTP_MAX_HELO = 255,
	EX_SMTP_DEFAULT_MAX_MESSAGE_BYTES = 25 * 1024 * 1024,
	/* RFC 5321 4.5.3.1.8 requires servers to accept at least 100 recipients per message. */
	EX_SMTP_DEFAULT_MAX_RECIPIENTS = 100,
	EX_SMTP_DEFAULT_MAX_ERRORS = 10,
	EX_SMTP_DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 20,
	EX_SMTP_DEFAULT_MAX_CONNECTIONS = 500,
	/* Enough for a pipelined message with 100 recipients every few seconds. */
	EX_SMTP_DEFAULT_MAX_COMMANDS_PER_MINUTE = 1000,
};

typedef struct {
	uint64_t max_message_bytes;  /* SIZE: the message as received, after dot-unstuffing */
	unsigned max_recipients;     /* RCPT commands accepted per transaction */
	unsigned max_errors;         /* rejected commands before the session is closed with 421 */
	unsigned max_commands_per_minute; /* command lines in any one-minute window; more close with 421; 0: no limit */
} ex_smtp_limits;

#endif
