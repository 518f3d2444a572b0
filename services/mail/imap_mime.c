/*
 * ENVELOPE, BODYSTRUCTURE and body sections with GMime 3. The whole
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
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(data, length);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	mime->message = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
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

/* ---- header values -------------------------------------------------------------------- */

/* Returns the raw value of header NAME of OBJECT unfolded and trimmed (g_free), or NULL when absent. */
static char *header_value(GMimeObject *object, const char *name)
{
	GMimeHeader *header = g_mime_header_list_get_header(g_mime_object_get_header_list(object), name);
	if (header == NULL)
		return NULL;
	const char *raw = g_mime_header_get_raw_value(header);
	if (raw == NULL)
		return NULL;
	char *value = g_malloc(strlen(raw) + 1);
	size_t length = 0;
	for (const char *p = raw; *p != '\0'; p++)
		if (*p != '\r' && *p != '\n')
			value[length++] = *p;
	value[length] = '\0';
	char *start = value;
	while (*start == ' ' || *start == '\t')
		start++;
	while (length > (size_t)(start - value) && (value[length - 1] == ' ' || value[length - 1] == '\t'))
		value[--length] = '\0';
	memmove(value, start, strlen(start) + 1);
	return value;
}

static bool header_value_present(GMimeObject *object, const char *name)
{
	return g_mime_header_list_get_header(g_mime_object_get_header_list(object), name) != NULL;
}

static void write_nstring_value(ex_imap_writer *out, char *value)
{
	ex_imap_write_nstring(out, value, value != NULL ? strlen(value) : 0);
	g_free(value);
}

static bool is_ascii(const char *text)
{
	for (; *text != '\0'; text++)
		if ((unsigned char)*text >= 0x80)
			return false;
	return true;
}

static void write_address_name(ex_imap_writer *out, const char *name)
{
	if (name == NULL || *name == '\0') {
		ex_imap_write_text(out, "NIL");
		return;
	}
	if (is_ascii(name) || out->utf8) {
		ex_imap_write_string(out, name, strlen(name));
		return;
	}
	/* A client without UTF8=ACCEPT gets the name as RFC 2047 encoded-words. */
	char *encoded = g_mime_utils_header_encode_phrase(NULL, name, "utf-8");
	ex_imap_write_string(out, encoded, strlen(encoded));
	g_free(encoded);
}

static void write_mailbox(ex_imap_writer *out, InternetAddress *address)
{
	const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(address));
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;
	ex_imap_write_text(out, "(");
	write_address_name(out, internet_address_get_name(address));
	ex_imap_write_text(out, " NIL ");
	if (addr == NULL || *addr == '\0') {
		ex_imap_write_text(out, "NIL NIL");
	} else if (at == NULL) {
		ex_imap_write_string(out, addr, strlen(addr));
		ex_imap_write_text(out, " NIL");
	} else {
		ex_imap_write_string(out, addr, (size_t)(at - addr));
		ex_imap_write_text(out, " ");
		ex_imap_write_string(out, at + 1, strlen(at + 1));
	}
	ex_imap_write_text(out, ")");
}

static void write_address_list(ex_imap_writer *out, InternetAddressList *list)
{
	int count = list != NULL ? internet_address_list_length(list) : 0;
	if (count == 0) {
		ex_imap_write_text(out, "NIL");
		return;
	}
	ex_imap_write_text(out, "(");
	for (int i = 0; i < count; i++) {
		InternetAddress *address = internet_address_list_get_address(list, i);
		if (INTERNET_ADDRESS_IS_GROUP(address)) {
			/* RFC 3501 7.4.2: a group is (NIL NIL "name" NIL), its members, then (NIL NIL NIL NIL). */
			const char *name = internet_address_get_name(address);
			ex_imap_write_text(out, "(NIL NIL ");
			ex_imap_write_string(out, name != NULL ? name : "", name != NULL ? strlen(name) : 0);
			ex_imap_write_text(out, " NIL)");
			InternetAddressList *members = internet_address_group_get_members(INTERNET_ADDRESS_GROUP(address));
			for (int j = 0; members != NULL && j < internet_address_list_length(members); j++) {
				InternetAddress *member = internet_address_list_get_address(members, j);
				if (INTERNET_ADDRESS_IS_MAILBOX(member))
					write_mailbox(out, member);
			}
			ex_imap_write_text(out, "(NIL NIL NIL NIL)");
		} else {
			write_mailbox(out, address);
		}
	}
	ex_imap_write_text(out, ")");
}

/* Writes the addresses of header NAME, or of FALLBACK when NAME is absent (Sender and Reply-To default to From). */
static void write_address_header(ex_imap_writer *out, GMimeObject *object, const char *name, const char *fallback)
{
	char *value = header_value(object, name);
	if (value == NULL && fallback != NULL)
		value = header_value(object, fallback);
	InternetAddressList *list = value != NULL ? internet_address_list_parse(NULL, value) : NULL;
	write_address_list(out, list);
	if (list != NULL)
		g_object_unref(list);
	g_free(value);
}

static void write_envelope_of(ex_imap_writer *out, GMimeObject *message)
{
	ex_imap_write_text(out, "(");
	write_nstring_value(out, header_value(message, "Date"));
	ex_imap_write_text(out, " ");
	write_nstring_value(out, header_value(message, "Subject"));
	ex_imap_write_text(out, " ");
	write_address_header(out, message, "From", NULL);
	ex_imap_write_text(out, " ");
	write_address_header(out, message, "Sender", "From");
	ex_imap_write_text(out, " ");
	write_address_header(out, message, "Reply-To", "From");
	ex_imap_write_text(out, " ");
	write_address_header(out, message, "To", NULL);
	ex_imap_write_text(out, " ");
	write_address_header(out, message, "Cc", NULL);
	ex_imap_write_text(out, " ");
	write_address_header(out, message, "Bcc", NULL);
	ex_imap_write_text(out, " ");
	write_nstring_value(out, header_value(message, "In-Reply-To"));
	ex_imap_write_text(out, " ");
	write_nstring_value(out, header_value(message, "Message-ID"));
	ex_imap_write_text(out, ")");
}

void imap_mime_write_envelope(ex_imap_writer *out, const imap_mime *mime)
{
	write_envelope_of(out, GMIME_OBJECT(mime->message));
}

/* ---- BODYSTRUCTURE ------------------------------------------------------------------------ */

static void write_upper(ex_imap_writer *out, const char *text)
{
	char buffer[128];
	size_t length = 0;
	for (; *text != '\0' && length < sizeof(buffer) - 1; text++)
		buffer[length++] = (char)(*text >= 'a' && *text <= 'z' ? *text - 'a' + 'A' : *text);
	ex_imap_write_string(out, buffer, length);
}

static void write_params(ex_imap_writer *out, GMimeParamList *params)
{
	int count = params != NULL ? g_mime_param_list_length(params) : 0;
	if (count == 0) {
		ex_imap_write_text(out, "NIL");
		return;
	}
	ex_imap_write_text(out, "(");
	for (int i = 0; i < count; i++) {
		GMimeParam *param = g_mime_param_list_get_parameter_at(params, i);
		const char *name = g_mime_param_get_name(param);
		const char *value = g_mime_param_get_value(param);
		if (i > 0)
			ex_imap_write_text(out, " ");
		write_upper(out, name);
		ex_imap_write_text(out, " ");
		ex_imap_write_string(out, value != NULL ? value : "", value != NULL ? strlen(value) : 0);
	}
	ex_imap_write_text(out, ")");
}

static void write_disposition(ex_imap_writer *out, GMimeObject *object)
{
	GMimeContentDisposition *disposition = g_mime_object_get_content_disposition(object);
	if (disposition == NULL || g_mime_content_disposition_get_disposition(disposition) == NULL) {
		ex_imap_write_text(out, "NIL");
		return;
	}
	ex_imap_write_text(out, "(");
	write_upper(out, g_mime_content_disposition_get_disposition(disposition));
	ex_imap_write_text(out, " ");
	write_params(out, g_mime_content_disposition_get_parameters(disposition));
	ex_imap_write_text(out, ")");
}

/* Writes the extension fields shared by every body type: disposition, language, location. */
static void write_common_extensions(ex_imap_writer *out, GMimeObject *object)
{
	ex_imap_write_text(out, " ");
	write_disposition(out, object);
	ex_imap_write_text(out, " ");
	write_nstring_value(out, header_value(object, "Content-Language"));
	ex_imap_write_text(out, " ");
	write_nstring_value(out, header_value(object, "Content-Location"));
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

static size_t count_lines(const GByteArray *bytes)
{
	size_t lines = 0;
	for (guint i = 0; i < bytes->len; i++)
		if (bytes->data[i] == '\n')
			lines++;
	/* A last line without a line end counts too. */
	if (bytes->len > 0 && bytes->data[bytes->len - 1] != '\n')
		lines++;
	return lines;
}

static void write_structure(ex_imap_writer *out, GMimeObject *object, GMimeFormatOptions *format, bool extended);

static void write_multipart(ex_imap_writer *out, GMimeMultipart *multipart, GMimeFormatOptions *format, bool extended)
{
	GMimeObject *object = GMIME_OBJECT(multipart);
	GMimeContentType *type = g_mime_object_get_content_type(object);
	ex_imap_write_text(out, "(");
	int count = g_mime_multipart_get_count(multipart);
	for (int i = 0; i < count; i++)
		write_structure(out, g_mime_multipart_get_part(multipart, i), format, extended);
	if (count == 0)
		/* RFC 3501 requires at least one part; an empty multipart is shown as an empty text part. */
		ex_imap_write_text(out, "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
	ex_imap_write_text(out, " ");
	write_upper(out, g_mime_content_type_get_media_subtype(type));
	if (extended) {
		ex_imap_write_text(out, " ");
		write_params(out, g_mime_content_type_get_parameters(type));
		write_common_extensions(out, object);
	}
	ex_imap_write_text(out, ")");
}

static void write_leaf(ex_imap_writer *out, GMimeObject *object, GMimeFormatOptions *format, bool extended)
{
	GMimeContentType *type = g_mime_object_get_content_type(object);
	const char *media = g_mime_content_type_get_media_type(type);
	const char *subtype = g_mime_content_type_get_media_subtype(type);
	bool is_message = GMIME_IS_MESSAGE_PART(object);
	GByteArray *content = NULL;
	const char *encoding = "7BIT";

	if (GMIME_IS_PART(object)) {
		content = part_content(GMIME_PART(object));
		GMimeContentEncoding value = g_mime_part_get_content_encoding(GMIME_PART(object));
		if (value != GMIME_CONTENT_ENCODING_DEFAULT)
			encoding = g_mime_content_encoding_to_string(value);
	} else {
		content = object_bytes(object, format, true);
		char *header = header_value(object, "Content-Transfer-Encoding");
		if (header != NULL) {
			encoding = g_mime_content_encoding_to_string(g_mime_content_encoding_from_string(header));
			if (encoding == NULL)
				encoding = "7BIT";
		}
		g_free(header);
	}
	ex_imap_write_text(out, "(");
	write_upper(out, media != NULL ? media : "TEXT");
	ex_imap_write_text(out, " ");
	write_upper(out, subtype != NULL ? subtype : "PLAIN");
	ex_imap_write_text(out, " ");
	if (header_value_present(object, "Content-Type") || media == NULL || strcasecmp(media, "text") != 0)
		write_params(out, g_mime_content_type_get_parameters(type));
	else
		/* RFC 2045 5.2: a part without Content-Type is text/plain; charset=us-ascii. */
		ex_imap_write_text(out, "(\"CHARSET\" \"US-ASCII\")");
	ex_imap_write_text(out, " ");
	write_nstring_value(out, header_value(object, "Content-ID"));
	ex_imap_write_text(out, " ");
	write_nstring_value(out, header_value(object, "Content-Description"));
	ex_imap_write_text(out, " ");
	write_upper(out, encoding);
	ex_imap_write_text(out, " ");
	ex_imap_write_number(out, content->len);
	if (is_message) {
		GMimeMessage *embedded = g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
		ex_imap_write_text(out, " ");
		if (embedded != NULL) {
			write_envelope_of(out, GMIME_OBJECT(embedded));
			ex_imap_write_text(out, " ");
			write_structure(out, g_mime_message_get_mime_part(embedded), format, extended);
		} else {
			ex_imap_write_text(out, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
		}
		ex_imap_write_text(out, " ");
		ex_imap_write_number(out, count_lines(content));
	} else if (media != NULL && strcasecmp(media, "text") == 0) {
		ex_imap_write_text(out, " ");
		ex_imap_write_number(out, count_lines(content));
	}
	if (extended) {
		ex_imap_write_text(out, " ");
		write_nstring_value(out, header_value(object, "Content-MD5"));
		write_common_extensions(out, object);
	}
	ex_imap_write_text(out, ")");
	g_byte_array_free(content, TRUE);
}

static void write_structure(ex_imap_writer *out, GMimeObject *object, GMimeFormatOptions *format, bool extended)
{
	if (object == NULL) {
		ex_imap_write_text(out, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)");
		return;
	}
	if (GMIME_IS_MULTIPART(object))
		write_multipart(out, GMIME_MULTIPART(object), format, extended);
	else
		write_leaf(out, object, format, extended);
}

void imap_mime_write_bodystructure(ex_imap_writer *out, const imap_mime *mime, bool extended)
{
	write_structure(out, g_mime_message_get_mime_part(mime->message), mime->format, extended);
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

/* Finds the object that part number PARTS names, starting at MESSAGE; NULL when it does not exist. */
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
