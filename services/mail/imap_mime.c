/*
 * Body sections with GMime 3. The whole
 * message, its HEADER, TEXT and HEADER.FIELDS are cut from the stored
 * octets, so they are byte-exact. Sections of parts come from GMime's
 * objects: a leaf part's content is the stream GMime kept in its original
 * transfer encoding, and multiparts and embedded messages are written
 * back by GMime with CRLF line ends.
 */
#include "imap_mime.h"

#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail_mime_parse.h"

struct imap_mime {
	const char *data;
	size_t length;
	GMimeMessage *message;
	GMimeFormatOptions *format;
};

imap_mime *imap_mime_open(const char *data, size_t length)
{
	imap_mime *mime = calloc(1, sizeof(*mime));
	if (mime == NULL)
		return NULL;
	mime->data = data;
	mime->length = length;
	mime->message = ex_mail_mime_parse(data, length);
	mime->format = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(mime->format, GMIME_NEWLINE_FORMAT_DOS);
	if (mime->message == NULL) {
		imap_mime_free(mime);
		return NULL;
	}
	return mime;
}

void imap_mime_free(imap_mime *mime)
{
	if (mime == NULL)
		return;
	if (mime->message != NULL)
		g_object_unref(mime->message);
	if (mime->format != NULL)
		g_mime_format_options_free(mime->format);
	free(mime);
}

/* Returns the octets of a leaf part in its transfer encoding (g_byte_array_free). */
static GByteArray *part_content(GMimePart *part)
{
	GByteArray *bytes = g_byte_array_new();
	GMimeDataWrapper *wrapper = g_mime_part_get_content(part);
	if (wrapper == NULL)
		return bytes;
	GMimeStream *source = g_mime_data_wrapper_get_stream(wrapper);
	GMimeStream *sink = g_mime_stream_mem_new_with_byte_array(bytes);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(sink), FALSE);
	g_mime_stream_reset(source);
	g_mime_stream_write_to_stream(source, sink);
	g_mime_stream_reset(source);
	g_object_unref(sink);
	return bytes;
}

static GByteArray *object_bytes(GMimeObject *object, GMimeFormatOptions *format, bool content_only)
{
	GByteArray *bytes = g_byte_array_new();
	GMimeStream *sink = g_mime_stream_mem_new_with_byte_array(bytes);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(sink), FALSE);
	if (content_only)
		g_mime_object_write_content_to_stream(object, format, sink);
	else
		g_mime_object_write_to_stream(object, format, sink);
	g_object_unref(sink);
	return bytes;
}

/* ---- sections --------------------------------------------------------------------------------- */

/* Returns the length of the header of DATA, blank line included. */
static size_t header_length(const char *data, size_t length)
{
	for (size_t i = 0; i + 1 < length; i++) {
		if (data[i] == '\n' && data[i + 1] == '\n')
			return i + 2;
		if (data[i] == '\n' && data[i + 1] == '\r' && i + 2 < length && data[i + 2] == '\n')
			return i + 3;
	}
	return length;
}

static bool field_listed(const ex_imap_section *section, const char *line, size_t name_length)
{
	for (size_t i = 0; i < section->field_count; i++)
		if (strlen(section->fields[i]) == name_length && strncasecmp(section->fields[i], line, name_length) == 0)
			return true;
	return false;
}

/* Copies the header fields of HEADER that are (or, for NOT, are not) in the section's list, then CRLF. */
static char *filter_fields(const ex_imap_section *section, const char *header, size_t length, size_t *out_length)
{
	char *out = malloc(length + 3);
	if (out == NULL)
		return NULL;
	size_t written = 0;
	bool keep = false;
	for (size_t i = 0; i < length;) {
		size_t end = i;
		while (end < length && header[end] != '\n')
			end++;
		if (end < length)
			end++;
		const char *line = header + i;
		size_t line_length = end - i;
		bool blank = line_length <= 2 && (line[0] == '\r' || line[0] == '\n');
		if (blank)
			break;
		if (line[0] != ' ' && line[0] != '\t') {
			const char *colon = memchr(line, ':', line_length);
			size_t name_length = colon != NULL ? (size_t)(colon - line) : line_length;
			while (name_length > 0 && (line[name_length - 1] == ' ' || line[name_length - 1] == '\t'))
				name_length--;
			bool listed = colon != NULL && field_listed(section, line, name_length);
			keep = section->text == EX_IMAP_SECTION_HEADER_FIELDS ? listed : (colon != NULL && !listed);
		}
		if (keep) {
			memcpy(out + written, line, line_length);
			written += line_length;
		}
		i = end;
	}
	out[written++] = '\r';
	out[written++] = '\n';
	out[written] = '\0';
	*out_length = written;
	return out;
}

static char *copy_bytes(const void *data, size_t length)
{
	char *out = malloc(length + 1);
	if (out != NULL) {
		memcpy(out, data, length);
		out[length] = '\0';
	}
	return out;
}

/* Applies HEADER, TEXT, HEADER.FIELDS or the whole message to the octets of a message. */
static int message_section(const ex_imap_section *section, const char *data, size_t length, char **out,
			   size_t *out_length)
{
	size_t header = header_length(data, length);
	switch (section->text) {
	case EX_IMAP_SECTION_HEADER:
		*out = copy_bytes(data, header);
		*out_length = header;
		break;
	case EX_IMAP_SECTION_TEXT:
		*out = copy_bytes(data + header, length - header);
		*out_length = length - header;
		break;
	case EX_IMAP_SECTION_HEADER_FIELDS:
	case EX_IMAP_SECTION_HEADER_FIELDS_NOT:
		*out = filter_fields(section, data, header, out_length);
		break;
	default:
		*out = copy_bytes(data, length);
		*out_length = length;
		break;
	}
	return *out == NULL ? -1 : 0;
}

/*
 * Finds the object that part number PARTS names, starting at MESSAGE; NULL when it does not exist.
 * NOTE: part numbers follow GMime's tree, and BODYSTRUCTURE follows imap_structure.c. The two agree
 * except on malformed messages: with two Content-Type fields GMime uses the last and BODYSTRUCTURE
 * the first, so a client may find a part missing or different.
 */
static GMimeObject *find_part(GMimeMessage *message, const uint32_t *parts, size_t count)
{
	GMimeObject *current = NULL;
	for (size_t i = 0; i < count; i++) {
		if (current != NULL) {
			if (GMIME_IS_MESSAGE_PART(current))
				message = g_mime_message_part_get_message(GMIME_MESSAGE_PART(current));
			else if (!GMIME_IS_MULTIPART(current))
				return NULL;
		}
		GMimeObject *body = current != NULL && GMIME_IS_MULTIPART(current)
					    ? current
					    : (message != NULL ? g_mime_message_get_mime_part(message) : NULL);
		if (body == NULL)
			return NULL;
		if (GMIME_IS_MULTIPART(body)) {
			int count_parts = g_mime_multipart_get_count(GMIME_MULTIPART(body));
			if (parts[i] < 1 || (int)parts[i] > count_parts)
				return NULL;
			current = g_mime_multipart_get_part(GMIME_MULTIPART(body), (int)parts[i] - 1);
		} else if (parts[i] == 1) {
			current = body;
		} else {
			return NULL;
		}
	}
	return current;
}

static int decoded_content(GMimePart *part, char **out, size_t *out_length)
{
	GByteArray *bytes = g_byte_array_new();
	GMimeDataWrapper *wrapper = g_mime_part_get_content(part);
	if (wrapper != NULL) {
		GMimeStream *sink = g_mime_stream_mem_new_with_byte_array(bytes);
		g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(sink), FALSE);
		g_mime_data_wrapper_write_to_stream(wrapper, sink);
		g_object_unref(sink);
	}
	*out = copy_bytes(bytes->data, bytes->len);
	*out_length = bytes->len;
	g_byte_array_free(bytes, TRUE);
	return *out == NULL ? -1 : 0;
}

int imap_mime_section(const imap_mime *mime, const ex_imap_section *section, bool binary, char **out, size_t *out_length)
{
	*out = NULL;
	*out_length = 0;
	if (section->part_count == 0) {
		return message_section(section, mime->data, mime->length, out, out_length);
	}
	GMimeObject *part = find_part(mime->message, section->parts, section->part_count);
	if (part == NULL)
		return -1;
	if (section->text == EX_IMAP_SECTION_MIME) {
		char *headers = g_mime_object_get_headers(part, mime->format);
		size_t length = strlen(headers);
		*out = malloc(length + 3);
		if (*out != NULL) {
			memcpy(*out, headers, length);
			memcpy(*out + length, "\r\n", 3);
			*out_length = length + 2;
		}
		g_free(headers);
		return *out == NULL ? -1 : 0;
	}
	if (section->text != EX_IMAP_SECTION_ALL) {
		/* HEADER and TEXT after a part number apply to an embedded message (message/rfc822). */
		if (!GMIME_IS_MESSAGE_PART(part) || g_mime_message_part_get_message(GMIME_MESSAGE_PART(part)) == NULL)
			return -1;
		GByteArray *bytes = object_bytes(GMIME_OBJECT(g_mime_message_part_get_message(GMIME_MESSAGE_PART(part))),
						 mime->format, false);
		int status = message_section(section, (const char *)bytes->data, bytes->len, out, out_length);
		g_byte_array_free(bytes, TRUE);
		return status;
	}
	if (GMIME_IS_PART(part)) {
		if (binary)
			return decoded_content(GMIME_PART(part), out, out_length);
		GByteArray *bytes = part_content(GMIME_PART(part));
		*out = copy_bytes(bytes->data, bytes->len);
		*out_length = bytes->len;
		g_byte_array_free(bytes, TRUE);
		return *out == NULL ? -1 : 0;
	}
	GByteArray *bytes = object_bytes(part, mime->format, true);
	*out = copy_bytes(bytes->data, bytes->len);
	*out_length = bytes->len;
	g_byte_array_free(bytes, TRUE);
	return *out == NULL ? -1 : 0;
}
