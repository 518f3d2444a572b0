/*
 * Builds iMIP messages (mail_itip_message.h): RFC 5322 fields, an RFC 2047
 * encoded subject and two base64 parts.
 */
#include "mail_itip_message.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { BASE64_LINE = 57 /* input bytes per 76-character base64 line */ };

typedef struct {
	char *data;
	size_t length;
	size_t capacity;
	bool failed;
} text_buffer;

static void append(text_buffer *buffer, const char *bytes, size_t length)
{
	if (buffer->failed)
		return;
	if (buffer->length + length + 1 > buffer->capacity) {
		size_t capacity = (buffer->capacity + length + 1) * 2;
		char *grown = realloc(buffer->data, capacity);
		if (grown == NULL) {
			buffer->failed = true;
			return;
		}
		buffer->data = grown;
		buffer->capacity = capacity;
	}
	memcpy(buffer->data + buffer->length, bytes, length);
	buffer->length += length;
	buffer->data[buffer->length] = '\0';
}

static void append_text(text_buffer *buffer, const char *text)
{
	append(buffer, text, strlen(text));
}

/* Appends TEXT as base64 in lines of 76 characters, each ended by CRLF. */
static void append_base64(text_buffer *buffer, const char *text, size_t length)
{
	unsigned char line[80];
	for (size_t offset = 0; offset < length; offset += BASE64_LINE) {
		size_t chunk = length - offset < BASE64_LINE ? length - offset : BASE64_LINE;
		int written = EVP_EncodeBlock(line, (const unsigned char *)text + offset, (int)chunk);
		append(buffer, (const char *)line, (size_t)written);
		append_text(buffer, "\r\n");
	}
}

/* Appends "Subject: " with PREFIX and SUMMARY as RFC 2047 encoded words of 42 bytes, one per line of at most 77 characters. */
static void append_subject(text_buffer *buffer, const char *prefix, const char *summary)
{
	char subject[512];
	unsigned char encoded[800];

	snprintf(subject, sizeof(subject), "%s%s", prefix, summary);
	size_t length = strlen(subject);
	/* Cut at a UTF-8 character boundary. */
	while (length > 0 && ((unsigned char)subject[length] & 0xC0) == 0x80)
		length--;
	append_text(buffer, "Subject:");
	for (size_t offset = 0; offset < length;) {
		size_t chunk = length - offset < 42 ? length - offset : 42;
		while (offset + chunk < length && ((unsigned char)subject[offset + chunk] & 0xC0) == 0x80)
			chunk--;
		int written = EVP_EncodeBlock(encoded, (const unsigned char *)subject + offset, (int)chunk);
		append_text(buffer, offset == 0 ? " =?UTF-8?B?" : "\r\n =?UTF-8?B?");
		append(buffer, (const char *)encoded, (size_t)written);
		append_text(buffer, "?=");
		offset += chunk;
	}
	append_text(buffer, "\r\n");
}

char *ex_mail_itip_build(const char *hostname, const char *row_id, const char *sender, const char *recipient,
			 const char *method, const char *summary, const char *ical, size_t *length)
{
	const char *prefix;
	const char *intro;
	if (strcmp(method, "REQUEST") == 0) {
		prefix = "Convite: ";
		intro = "Você recebeu um convite para o evento";
	} else if (strcmp(method, "CANCEL") == 0) {
		prefix = "Cancelado: ";
		intro = "O evento foi cancelado pelo organizador";
	} else if (strcmp(method, "REPLY") == 0) {
		prefix = "Resposta: ";
		intro = "Um participante respondeu ao convite para o evento";
	} else {
		return NULL;
	}

	char date[64];
	char line[1024];
	struct tm utc;
	time_t now = time(NULL);
	gmtime_r(&now, &utc);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &utc);

	text_buffer buffer = { 0 };
	snprintf(line, sizeof(line), "From: <%s>\r\nTo: <%s>\r\nDate: %s\r\nMessage-ID: <itip.%s@%s>\r\n", sender, recipient,
		 date, row_id, hostname);
	append_text(&buffer, line);
	append_subject(&buffer, prefix, summary[0] != '\0' ? summary : "(sem título)");
	snprintf(line, sizeof(line),
		 "MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary=\"=_itip_%s\"\r\n\r\n"
		 "--=_itip_%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
		 row_id, row_id);
	append_text(&buffer, line);

	char *body = NULL;
	int body_length = asprintf(&body, "%s \"%s\".\r\nOs detalhes estão no anexo text/calendar (%s).\r\n", intro,
				   summary, method);
	if (body_length < 0) {
		free(buffer.data);
		return NULL;
	}
	append_base64(&buffer, body, (size_t)body_length);
	free(body);
	/* RFC 6047 section 2.4: the METHOD parameter repeats the METHOD of the iCalendar object. */
	snprintf(line, sizeof(line),
		 "\r\n--=_itip_%s\r\nContent-Type: text/calendar; charset=utf-8; method=%s\r\n"
		 "Content-Transfer-Encoding: base64\r\n\r\n",
		 row_id, method);
	append_text(&buffer, line);
	append_base64(&buffer, ical, strlen(ical));
	snprintf(line, sizeof(line), "\r\n--=_itip_%s--\r\n", row_id);
	append_text(&buffer, line);
	if (buffer.failed) {
		free(buffer.data);
		return NULL;
	}
	*length = buffer.length;
	return buffer.data;
}

