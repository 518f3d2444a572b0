/*
 * Return-Path and Received. Text that came from the client (the EHLO
 * argument) is reduced to printable ASCII without parentheses, so it
 * cannot break out of the comment it sits in or fold the header.
 */
#include "smtp_trace.h"

#include <stdio.h>
#include <string.h>

const char *ex_smtp_trace_protocol(const ex_smtp_envelope *envelope)
{
	static const char *const names[2][2][2] = {
		/* [utf8][tls][auth] */
		{ { "ESMTP", "ESMTPA" }, { "ESMTPS", "ESMTPSA" } },
		{ { "UTF8SMTP", "UTF8SMTPA" }, { "UTF8SMTPS", "UTF8SMTPSA" } },
	};
	if (!envelope->esmtp)
		return "SMTP";
	return names[envelope->smtputf8][envelope->tls][envelope->identity != NULL];
}

static void printable_copy(char *out, size_t size, const char *text)
{
	size_t i = 0;
	for (; text[i] != '\0' && i + 1 < size; i++) {
		unsigned char c = (unsigned char)text[i];
		out[i] = (c > 32 && c < 127 && c != '(' && c != ')' && c != '\\') ? (char)c : '?';
	}
	out[i] = '\0';
}

int ex_smtp_trace_headers(char *out, size_t size, const ex_smtp_envelope *envelope, const char *hostname,
			  const char *queue_id, const char *for_recipient, time_t now)
{
	char helo[EX_SMTP_MAX_HELO + 1];
	char date[64];
	struct tm utc;

	printable_copy(helo, sizeof(helo), envelope->helo);
	gmtime_r(&now, &utc);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &utc);

	int length = snprintf(out, size,
			      "Return-Path: <%s>\r\n"
			      "Received: from %s ([%s%s])\r\n"
			      "\tby %s (expresso-mail) with %s id %s%s%s%s;\r\n"
			      "\t%s\r\n",
			      envelope->reverse_path, helo, strchr(envelope->client_address, ':') != NULL ? "IPv6:" : "",
			      envelope->client_address, hostname,
			      ex_smtp_trace_protocol(envelope), queue_id,
			      for_recipient != NULL ? "\r\n\tfor <" : "", for_recipient != NULL ? for_recipient : "",
			      for_recipient != NULL ? ">" : "", date);
	if (length < 0 || (size_t)length >= size)
		return -1;
	return length;
}
