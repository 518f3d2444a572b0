/*
 * Builds the RFC 5322 message of an ex_mail_compose with GMime 3. Text
 * parts are UTF-8 with CRLF line ends, in quoted-printable or base64,
 * whichever GMime finds best for 7-bit transport, so Portuguese text
 * survives any relay. The structure is:
 *   text or HTML alone: one part; both: multipart/alternative;
 *   iTIP: multipart/alternative of the text and text/calendar;method=...;
 *   attachments: multipart/mixed of the body and one part each.
 */
#include <glib.h>
#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

#include "mail_compose.h"

/* Returns TEXT with every line ending as CRLF, as RFC 5322 and RFC 2046 want for text parts. */
static GByteArray *crlf_text(const char *text)
{
	GByteArray *out = g_byte_array_sized_new((guint)(strlen(text) + 64));
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '\r' && p[1] == '\n')
			p++;
		if (*p == '\r' || *p == '\n') {
			g_byte_array_append(out, (const guint8 *)"\r\n", 2);
			continue;
		}
		g_byte_array_append(out, (const guint8 *)p, 1);
	}
	return out;
}

/* Sets the content of PART from DATA (copied) and picks the transfer encoding. */
static void set_content(GMimePart *part, const guint8 *data, size_t length, GMimeContentEncoding encoding)
{
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer((const char *)data, length);
	GMimeDataWrapper *wrapper = g_mime_data_wrapper_new_with_stream(stream, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(part, wrapper);
	if (encoding == GMIME_CONTENT_ENCODING_DEFAULT)
		encoding = g_mime_part_get_best_content_encoding(part, GMIME_ENCODING_CONSTRAINT_7BIT);
	g_mime_part_set_content_encoding(part, encoding);
	g_object_unref(wrapper);
	g_object_unref(stream);
}

static GMimeObject *text_part(const char *subtype, const char *text, const char *method)
{
	GMimePart *part = g_mime_part_new_with_type("text", subtype);
	GMimeContentType *type = g_mime_object_get_content_type(GMIME_OBJECT(part));
	g_mime_content_type_set_parameter(type, "charset", "utf-8");
	if (method != NULL)
		g_mime_content_type_set_parameter(type, "method", method);
	GByteArray *content = crlf_text(text);
	set_content(part, content->data, content->len, GMIME_CONTENT_ENCODING_DEFAULT);
	g_byte_array_unref(content);
	return GMIME_OBJECT(part);
}

static GMimeObject *attachment_part(const ex_mail_compose_attachment *attachment)
{
	char *slash = strchr(attachment->content_type, '/');
	char *type = g_strndup(attachment->content_type, (gsize)(slash - attachment->content_type));
	GMimePart *part = g_mime_part_new_with_type(type, slash + 1);
	g_free(type);
	g_mime_part_set_filename(part, attachment->filename);
	set_content(part, attachment->data, attachment->length, GMIME_CONTENT_ENCODING_BASE64);
	return GMIME_OBJECT(part);
}

static GMimeObject *body_part(const ex_mail_compose *compose)
{
	bool itip = compose->calendar != NULL;
	if (!itip && (compose->text == NULL || compose->html == NULL))
		return compose->html != NULL ? text_part("html", compose->html, NULL)
					     : text_part("plain", compose->text != NULL ? compose->text : "", NULL);

	GMimeMultipart *alternative = g_mime_multipart_new_with_subtype("alternative");
	GMimeObject *part = text_part("plain", compose->text != NULL ? compose->text : "", NULL);
	g_mime_multipart_add(alternative, part);
	g_object_unref(part);
	if (compose->html != NULL) {
		part = text_part("html", compose->html, NULL);
		g_mime_multipart_add(alternative, part);
		g_object_unref(part);
	}
	if (itip) {
		part = text_part("calendar", compose->calendar, compose->method);
		g_mime_multipart_add(alternative, part);
		g_object_unref(part);
	}
	return GMIME_OBJECT(alternative);
}

static void add_addresses(GMimeMessage *message, GMimeAddressType type, const ex_mail_compose_address *list,
			  size_t count)
{
	for (size_t i = 0; i < count; i++)
		g_mime_message_add_mailbox(message, type, list[i].name != NULL ? list[i].name : "", list[i].address);
}

static GMimeMessage *new_message(const ex_mail_compose *compose, const ex_mail_compose_origin *origin)
{
	GMimeMessage *message = g_mime_message_new(TRUE);
	GMimeObject *object = GMIME_OBJECT(message);

	g_mime_message_add_mailbox(message, GMIME_ADDRESS_TYPE_FROM, origin->from_name != NULL ? origin->from_name : "",
				   origin->from_address);
	add_addresses(message, GMIME_ADDRESS_TYPE_TO, compose->recipients[EX_MAIL_RECIPIENT_TO],
		      compose->recipient_count[EX_MAIL_RECIPIENT_TO]);
	add_addresses(message, GMIME_ADDRESS_TYPE_CC, compose->recipients[EX_MAIL_RECIPIENT_CC],
		      compose->recipient_count[EX_MAIL_RECIPIENT_CC]);
	add_addresses(message, GMIME_ADDRESS_TYPE_BCC, compose->recipients[EX_MAIL_RECIPIENT_BCC],
		      compose->recipient_count[EX_MAIL_RECIPIENT_BCC]);
	g_mime_message_set_subject(message, compose->subject != NULL ? compose->subject : "", "utf-8");

	GDateTime *date = g_date_time_new_from_unix_utc((gint64)origin->date);
	g_mime_message_set_date(message, date);
	g_date_time_unref(date);
	g_mime_message_set_message_id(message, origin->message_id);
	if (compose->in_reply_to != NULL)
		g_mime_object_set_header(object, "In-Reply-To", compose->in_reply_to, NULL);
	if (compose->references != NULL)
		g_mime_object_set_header(object, "References", compose->references, NULL);

	GMimeObject *body = body_part(compose);
	if (compose->attachment_count > 0) {
		GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
		g_mime_multipart_add(mixed, body);
		g_object_unref(body);
		for (size_t i = 0; i < compose->attachment_count; i++) {
			GMimeObject *part = attachment_part(&compose->attachments[i]);
			g_mime_multipart_add(mixed, part);
			g_object_unref(part);
		}
		body = GMIME_OBJECT(mixed);
	}
	g_mime_message_set_mime_part(message, body);
	g_object_unref(body);
	return message;
}

/* Writes MESSAGE with CRLF line ends into a new NUL-terminated buffer. */
static int serialize(GMimeMessage *message, char **out, size_t *length)
{
	GMimeFormatOptions *options = g_mime_format_options_clone(NULL);
	g_mime_format_options_set_newline_format(options, GMIME_NEWLINE_FORMAT_DOS);
	GMimeStream *stream = g_mime_stream_mem_new();
	ssize_t written = g_mime_object_write_to_stream(GMIME_OBJECT(message), options, stream);
	g_mime_format_options_free(options);

	GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
	*out = written >= 0 ? malloc(bytes->len + 1) : NULL;
	if (*out != NULL) {
		memcpy(*out, bytes->data, bytes->len);
		(*out)[bytes->len] = '\0';
		*length = bytes->len;
	}
	g_object_unref(stream);
	return *out != NULL ? 0 : -1;
}

int ex_mail_compose_build(const ex_mail_compose *compose, const ex_mail_compose_origin *origin, char **with_bcc,
			  size_t *with_bcc_length, char **without_bcc, size_t *without_bcc_length)
{
	for (size_t i = 0; i < compose->attachment_count; i++) {
		const ex_mail_compose_attachment *attachment = &compose->attachments[i];
		if (attachment->data == NULL || attachment->filename == NULL || attachment->content_type == NULL)
			return -1;
	}

	GMimeMessage *message = new_message(compose, origin);
	int status = 0;

	if (with_bcc != NULL) {
		*with_bcc = NULL;
		status = serialize(message, with_bcc, with_bcc_length);
	}
	if (status == 0 && without_bcc != NULL) {
		internet_address_list_clear(g_mime_message_get_addresses(message, GMIME_ADDRESS_TYPE_BCC));
		g_mime_object_remove_header(GMIME_OBJECT(message), "Bcc");
		status = serialize(message, without_bcc, without_bcc_length);
		if (status != 0 && with_bcc != NULL) {
			free(*with_bcc);
			*with_bcc = NULL;
		}
	}
	g_object_unref(message);
	return status;
}
