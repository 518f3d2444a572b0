/*
 * Vacation replies and rejection bounces: when a reply is allowed and how
 * it is written. Text bodies are UTF-8 sent as 8bit, with bare LF turned
 * into CRLF; non-ASCII subjects become RFC 2047 encoded-words (GMime 3).
 */
#include "mail_vacation.h"

#include <gmime/gmime.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* A growable text buffer; on allocation failure it stops growing and sets failed. */
typedef struct {
	char *data;
	size_t length;
	size_t capacity;
	bool failed;
} text_buffer;

static void put(text_buffer *out, const char *text, size_t length)
{
	if (out->failed)
		return;
	if (out->length + length + 1 > out->capacity) {
		size_t capacity = out->capacity ? out->capacity : 1024;
		while (capacity < out->length + length + 1)
			capacity *= 2;
		char *grown = realloc(out->data, capacity);
		if (grown == NULL) {
			out->failed = true;
			return;
		}
		out->data = grown;
		out->capacity = capacity;
	}
	memcpy(out->data + out->length, text, length);
	out->length += length;
	out->data[out->length] = '\0';
}

static void put_text(text_buffer *out, const char *text)
{
	put(out, text, strlen(text));
}

/* Appends TEXT with every line ending as CRLF, and a final CRLF. */
static void put_lines(text_buffer *out, const char *text)
{
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '\n' && (p == text || p[-1] != '\r'))
			put(out, "\r\n", 2);
		else
			put(out, p, 1);
	}
	if (out->length < 2 || memcmp(out->data + out->length - 2, "\r\n", 2) != 0)
		put(out, "\r\n", 2);
}

/* Appends "Name: value" with VALUE cut at the first CR or LF, so no field can be injected. */
static void put_field(text_buffer *out, const char *name, const char *value)
{
	put_text(out, name);
	put(out, ": ", 2);
	put(out, value, strcspn(value, "\r\n"));
	put(out, "\r\n", 2);
}

static bool is_ascii(const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
		if (*p >= 0x80)
			return false;
	}
	return true;
}

static void put_subject(text_buffer *out, const char *subject)
{
	if (is_ascii(subject)) {
		put_field(out, "Subject", subject);
		return;
	}
	char *encoded = g_mime_utils_header_encode_text(NULL, subject, "utf-8");
	put_field(out, "Subject", encoded ? encoded : "");
	g_free(encoded);
}

static void put_common_fields(text_buffer *out, const char *hostname)
{
	char date[64];
	time_t now = time(NULL);
	struct tm utc;
	gmtime_r(&now, &utc);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &utc);
	put_field(out, "Date", date);

	unsigned char random[16];
	char message_id[128];
	if (RAND_bytes(random, sizeof(random)) != 1)
		memset(random, 0, sizeof(random));
	int used = snprintf(message_id, sizeof(message_id), "<");
	for (size_t i = 0; i < sizeof(random); i++)
		used += snprintf(message_id + used, sizeof(message_id) - (size_t)used, "%02x", random[i]);
	snprintf(message_id + used, sizeof(message_id) - (size_t)used, ".sieve@%s>", hostname);
	put_field(out, "Message-ID", message_id);
	put_field(out, "Auto-Submitted", "auto-replied");
}

/* The local part of an address, for the system-sender check. */
static void local_part(const char *address, char *out, size_t size)
{
	const char *at = strrchr(address, '@');
	size_t length = at ? (size_t)(at - address) : strlen(address);
	snprintf(out, size, "%.*s", (int)length, address);
}

static bool ends_with(const char *text, const char *suffix)
{
	size_t text_length = strlen(text);
	size_t suffix_length = strlen(suffix);
	return text_length >= suffix_length && strcasecmp(text + text_length - suffix_length, suffix) == 0;
}

const char *ex_mail_vacation_suppressed(const char *sender, const char *recipient,
					const ex_mail_sieve_headers *headers)
{
	if (sender == NULL || sender[0] == '\0')
		return "the message has a null sender";
	if (recipient != NULL && strcasecmp(sender, recipient) == 0)
		return "the sender is the recipient itself";

	char local[256];
	local_part(sender, local, sizeof(local));
	if (strcasecmp(local, "mailer-daemon") == 0 || strcasecmp(local, "postmaster") == 0 ||
	    strcasecmp(local, "listserv") == 0 || strcasecmp(local, "majordomo") == 0 ||
	    strncasecmp(local, "owner-", 6) == 0 || ends_with(local, "-request") || ends_with(local, "-owner"))
		return "the sender is a system or list address";

	const char *auto_submitted = ex_mail_sieve_headers_first(headers, "Auto-Submitted");
	if (auto_submitted != NULL && strncasecmp(auto_submitted, "no", 2) != 0)
		return "the message is automatic (Auto-Submitted)";
	if (ex_mail_sieve_headers_first(headers, "List-Id") != NULL ||
	    ex_mail_sieve_headers_first(headers, "List-Post") != NULL ||
	    ex_mail_sieve_headers_first(headers, "List-Unsubscribe") != NULL)
		return "the message comes from a mailing list";

	const char *precedence = ex_mail_sieve_headers_first(headers, "Precedence");
	if (precedence != NULL && (strcasecmp(precedence, "bulk") == 0 || strcasecmp(precedence, "list") == 0 ||
				   strcasecmp(precedence, "junk") == 0))
		return "the message is bulk or list mail (Precedence)";
	return NULL;
}

char *ex_mail_vacation_build(const ex_mail_vacation_reply *reply, size_t *length)
{
	text_buffer out = { 0 };
	const char *original_subject = ex_mail_sieve_headers_first(reply->original, "Subject");
	const char *message_id = ex_mail_sieve_headers_first(reply->original, "Message-ID");
	const char *references = ex_mail_sieve_headers_first(reply->original, "References");

	put_field(&out, "From", reply->from);
	put_field(&out, "To", reply->to);
	if (reply->subject != NULL && reply->subject[0] != '\0') {
		put_subject(&out, reply->subject);
	} else {
		char *subject = NULL;
		if (asprintf(&subject, "Auto: %s", original_subject ? original_subject : "") < 0)
			subject = NULL;
		put_subject(&out, subject ? subject : "Auto:");
		free(subject);
	}
	put_common_fields(&out, reply->hostname);
	if (message_id != NULL) {
		/* RFC 5230 section 5.8: In-Reply-To and References name the original. */
		put_field(&out, "In-Reply-To", message_id);
		text_buffer chain = { 0 };
		if (references != NULL) {
			put_text(&chain, references);
			put(&chain, " ", 1);
		}
		put_text(&chain, message_id);
		put_field(&out, "References", chain.failed ? message_id : chain.data);
		free(chain.data);
	}
	put_field(&out, "MIME-Version", "1.0");
	if (reply->mime) {
		put_lines(&out, reply->text ? reply->text : "");
	} else {
		put_field(&out, "Content-Type", "text/plain; charset=utf-8");
		put_field(&out, "Content-Transfer-Encoding", "8bit");
		put(&out, "\r\n", 2);
		put_lines(&out, reply->text ? reply->text : "");
	}
	if (out.failed) {
		free(out.data);
		return NULL;
	}
	*length = out.length;
	return out.data;
}

char *ex_mail_vacation_build_rejection(const char *hostname, const char *to, const char *recipient,
				       const char *reason, const ex_mail_sieve_headers *original, size_t *length)
{
	text_buffer out = { 0 };
	const char *original_subject = ex_mail_sieve_headers_first(original, "Subject");
	const char *message_id = ex_mail_sieve_headers_first(original, "Message-ID");
	char from[320];
	snprintf(from, sizeof(from), "Mail Delivery System <MAILER-DAEMON@%s>", hostname);

	put_field(&out, "From", from);
	put_field(&out, "To", to);
	char *subject = NULL;
	if (asprintf(&subject, "Rejected: %s", original_subject ? original_subject : "") < 0)
		subject = NULL;
	put_subject(&out, subject ? subject : "Rejected");
	free(subject);
	put_common_fields(&out, hostname);
	if (message_id != NULL)
		put_field(&out, "In-Reply-To", message_id);
	put_field(&out, "MIME-Version", "1.0");
	put_field(&out, "Content-Type", "text/plain; charset=utf-8");
	put_field(&out, "Content-Transfer-Encoding", "8bit");
	put(&out, "\r\n", 2);
	/* NOTE: a plain-text notice, not an RFC 3464 multipart/report DSN. */
	put_text(&out, "Your message to ");
	put(&out, recipient, strcspn(recipient, "\r\n"));
	put_text(&out, " was rejected by the recipient's mail filter with this reason:\r\n\r\n");
	put_lines(&out, reason && reason[0] ? reason : "(no reason given)");
	if (out.failed) {
		free(out.data);
		return NULL;
	}
	*length = out.length;
	return out.data;
}
