/*
 * Builds RFC 3464 delivery status notifications. Every value taken from
 * a remote reply or an envelope is cleaned of CR, LF and other control
 * characters before it goes into a header field, so a remote server
 * cannot add fields to the report.
 */
#include "mail_dsn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	char *data;
	size_t length;
	size_t capacity;
	bool failed;
} buffer;

static void append(buffer *out, const char *data, size_t length)
{
	if (out->failed)
		return;
	if (out->length + length + 1 > out->capacity) {
		size_t capacity = out->capacity == 0 ? 4096 : out->capacity;
		while (out->length + length + 1 > capacity)
			capacity *= 2;
		char *grown = realloc(out->data, capacity);
		if (grown == NULL) {
			out->failed = true;
			return;
		}
		out->data = grown;
		out->capacity = capacity;
	}
	memcpy(out->data + out->length, data, length);
	out->length += length;
	out->data[out->length] = '\0';
}

static void append_text(buffer *out, const char *text)
{
	append(out, text, strlen(text));
}

/* Appends VALUE with every control character replaced by a space. */
static void append_clean(buffer *out, const char *value)
{
	for (const char *p = value; *p != '\0'; p++) {
		unsigned char octet = (unsigned char)*p;
		char c = (octet < 0x20 || octet == 0x7f) ? ' ' : (char)octet;
		append(out, &c, 1);
	}
}

__attribute__((format(printf, 2, 3))) static void append_format(buffer *out, const char *format, ...)
{
	char line[1024];
	va_list arguments;
	va_start(arguments, format);
	int length = vsnprintf(line, sizeof(line), format, arguments);
	va_end(arguments);
	if (length < 0) {
		out->failed = true;
		return;
	}
	append(out, line, (size_t)length < sizeof(line) ? (size_t)length : sizeof(line) - 1);
}

static bool is_ascii(const char *text)
{
	for (const char *p = text; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			return false;
	return true;
}

/* Appends a "<type>; <address>" field: rfc822 for ASCII addresses, utf-8 (RFC 6533) otherwise. */
static void append_address_field(buffer *out, const char *name, const char *address)
{
	append_text(out, name);
	append_text(out, is_ascii(address) ? ": rfc822; " : ": utf-8; ");
	append_clean(out, address);
	append_text(out, "\r\n");
}

size_t ex_mail_dsn_header_length(const char *message, size_t length)
{
	if (length >= 2 && message[0] == '\r' && message[1] == '\n')
		return 2;
	for (size_t i = 0; i + 3 < length; i++) {
		if (message[i] == '\r' && message[i + 1] == '\n' && message[i + 2] == '\r' && message[i + 3] == '\n')
			return i + 4;
	}
	return length;
}

typedef enum { REPORT_FAILURE, REPORT_DELAY, REPORT_SUCCESS } report_kind;

/* A report about failures if any recipient failed, else about delays if any, else about successes. */
static report_kind kind_of(const ex_mail_dsn *dsn)
{
	bool delayed = false;
	for (size_t i = 0; i < dsn->recipient_count; i++) {
		const char *action = dsn->recipients[i].action;
		if (strcmp(action, "failed") == 0)
			return REPORT_FAILURE;
		delayed = delayed || strcmp(action, "delayed") == 0;
	}
	return delayed ? REPORT_DELAY : REPORT_SUCCESS;
}

static void append_human_part(buffer *out, const ex_mail_dsn *dsn)
{
	append_text(out, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
	append_format(out, "This is the mail system at host %s.\r\n\r\n", dsn->reporting_mta);
	switch (kind_of(dsn)) {
	case REPORT_DELAY:
		append_text(out, "Your message has not been delivered yet to the recipients below. "
				 "The mail system keeps trying.\r\n\r\n");
		break;
	case REPORT_SUCCESS:
		append_text(out, "Your message was delivered to the recipients below, as you asked to be told.\r\n\r\n");
		break;
	case REPORT_FAILURE:
	default:
		append_text(out, "Your message could not be delivered to one or more recipients. "
				 "It is attached below.\r\n\r\n");
		break;
	}
	for (size_t i = 0; i < dsn->recipient_count; i++) {
		const ex_mail_dsn_recipient *recipient = &dsn->recipients[i];
		append_text(out, "<");
		append_clean(out, recipient->address);
		append_text(out, ">: ");
		if (recipient->diagnostic != NULL) {
			if (recipient->remote_mta != NULL) {
				append_text(out, "host ");
				append_clean(out, recipient->remote_mta);
				append_text(out, " said: ");
			}
			append_clean(out, recipient->diagnostic);
		} else {
			append_text(out, "status ");
			append_clean(out, recipient->status);
		}
		append_text(out, "\r\n");
	}
}

static void append_status_part(buffer *out, const ex_mail_dsn *dsn)
{
	append_text(out, "Content-Type: message/delivery-status\r\n\r\n");
	append_text(out, "Reporting-MTA: dns; ");
	append_clean(out, dsn->reporting_mta);
	append_text(out, "\r\n");
	if (dsn->envelope_id != NULL) {
		append_text(out, "Original-Envelope-Id: ");
		append_clean(out, dsn->envelope_id);
		append_text(out, "\r\n");
	}
	if (dsn->arrival_date != NULL) {
		append_text(out, "Arrival-Date: ");
		append_clean(out, dsn->arrival_date);
		append_text(out, "\r\n");
	}
	for (size_t i = 0; i < dsn->recipient_count; i++) {
		const ex_mail_dsn_recipient *recipient = &dsn->recipients[i];
		append_text(out, "\r\n");
		append_address_field(out, "Final-Recipient", recipient->address);
		if (recipient->original_recipient != NULL) {
			append_text(out, "Original-Recipient: ");
			append_clean(out, recipient->original_recipient);
			append_text(out, "\r\n");
		}
		append_text(out, "Action: ");
		append_clean(out, recipient->action);
		append_text(out, "\r\nStatus: ");
		append_clean(out, recipient->status);
		append_text(out, "\r\n");
		if (recipient->remote_mta != NULL) {
			append_text(out, "Remote-MTA: dns; ");
			append_clean(out, recipient->remote_mta);
			append_text(out, "\r\n");
		}
		if (recipient->diagnostic != NULL) {
			append_text(out, "Diagnostic-Code: smtp; ");
			append_clean(out, recipient->diagnostic);
			append_text(out, "\r\n");
		}
		if (recipient->will_retry_until != NULL) {
			append_text(out, "Will-Retry-Until: ");
			append_clean(out, recipient->will_retry_until);
			append_text(out, "\r\n");
		}
	}
}

char *ex_mail_dsn_build(const ex_mail_dsn *dsn, size_t *length)
{
	if (dsn->reporting_mta == NULL || dsn->sender == NULL || dsn->sender[0] == '\0' || dsn->boundary == NULL ||
	    dsn->date == NULL || dsn->message_id == NULL || dsn->recipient_count == 0)
		return NULL;
	for (size_t i = 0; i < dsn->recipient_count; i++)
		if (dsn->recipients[i].address == NULL || dsn->recipients[i].action == NULL ||
		    dsn->recipients[i].status == NULL)
			return NULL;

	buffer out = { 0 };
	static const char *const subjects[] = {
		[REPORT_FAILURE] = "Undelivered Mail Returned to Sender",
		[REPORT_DELAY] = "Delayed Mail (still being retried)",
		[REPORT_SUCCESS] = "Successful Mail Delivery Report",
	};

	append_text(&out, "From: Mail Delivery System <MAILER-DAEMON@");
	append_clean(&out, dsn->reporting_mta);
	append_text(&out, ">\r\nTo: <");
	append_clean(&out, dsn->sender);
	append_text(&out, ">\r\nSubject: ");
	append_text(&out, subjects[kind_of(dsn)]);
	append_text(&out, "\r\nDate: ");
	append_clean(&out, dsn->date);
	append_text(&out, "\r\nMessage-ID: <");
	append_clean(&out, dsn->message_id);
	/* RFC 3834 5: a report is an automatic reply, so vacation responders stay silent. */
	append_text(&out, ">\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
			  "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"");
	append_clean(&out, dsn->boundary);
	append_text(&out, "\"\r\n\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	append_format(&out, "--%s\r\n", dsn->boundary);
	append_human_part(&out, dsn);
	append_format(&out, "\r\n--%s\r\n", dsn->boundary);
	append_status_part(&out, dsn);
	append_format(&out, "\r\n--%s\r\n", dsn->boundary);

	size_t returned = dsn->original_length;
	bool full = dsn->return_full && dsn->original_length <= EX_MAIL_DSN_MAX_RETURNED;
	if (full) {
		append_text(&out, "Content-Type: message/rfc822\r\n\r\n");
	} else {
		append_text(&out, "Content-Type: text/rfc822-headers\r\n\r\n");
		returned = ex_mail_dsn_header_length(dsn->original, dsn->original_length);
	}
	const char *original = dsn->original != NULL ? dsn->original : "";
	if (dsn->original == NULL)
		returned = 0;
	append(&out, original, returned);
	if (returned < 2 || original[returned - 2] != '\r' || original[returned - 1] != '\n')
		append_text(&out, "\r\n");
	append_format(&out, "\r\n--%s--\r\n", dsn->boundary);

	if (out.failed) {
		free(out.data);
		return NULL;
	}
	*length = out.length;
	return out.data;
}
