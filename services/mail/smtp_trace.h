/*
 * The trace header fields a delivery adds in front of the message:
 * Return-Path (RFC 5321 4.4) and Received with the protocol keyword of
 * RFC 3848 and RFC 6531 (ESMTP, ESMTPS, ESMTPSA, UTF8SMTPS ...).
 */
#ifndef EXPRESSO_MAIL_SMTP_TRACE_H
#define EXPRESSO_MAIL_SMTP_TRACE_H

#include <stddef.h>
#include <time.h>

#include "smtp_session.h"

enum { EX_SMTP_TRACE_MAX = 2048 };

/*
 * Writes "Return-Path: <...>\r\nReceived: ...\r\n" for ENVELOPE into OUT.
 * FOR_RECIPIENT is named in the Received field (NULL to leave it out).
 * Returns the length, or -1 when OUT is too small.
 */
int ex_smtp_trace_headers(char *out, size_t size, const ex_smtp_envelope *envelope, const char *hostname,
			  const char *queue_id, const char *for_recipient, time_t now);

/* Returns the RFC 3848 / RFC 6531 "with" keyword for ENVELOPE. */
const char *ex_smtp_trace_protocol(const ex_smtp_envelope *envelope);

#endif
