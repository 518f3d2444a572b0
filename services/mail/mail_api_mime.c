/*
 * Reads stored messages with GMime 3 for the JSON API. A text/plain or
 * text/html part that is not marked as an attachment becomes the body
 * (the first of each kind). Every other leaf part, and any attached
 * message/rfc822, is listed as an attachment. HTML is returned as the
 * message carries it: the web client must sanitize it before display.
 */
#include "mail_api_mime.h"

#include <gmime/gmime.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail_mime_parse.h"

/* Returns a malloc'd copy of TEXT that is valid UTF-8, because jansson rejects anything else. */
static char *valid_utf8_copy(const char *text)
{
	if (g_utf8_validate(text, -1, NULL))
		return strdup(text);
	char *valid = g_utf8_make_valid(text, -1);
	char *copy = strdup(valid);
	g_free(valid);
	return copy;
}

char *ex_mail_api_decode_header(const char *raw)
{
	if (raw == NULL)
		return NULL;
	char *decoded = g_mime_utils_header_decode_text(NULL, raw);
	char *copy = valid_utf8_copy(decoded != NULL ? decoded : raw);
	g_free(decoded);
	return copy;
}

/* Appends {"name", "address"} for MAILBOX to LIST with both values made valid UTF-8. */
static void append_mailbox(json_t *list, InternetAddress *mailbox)
{
	const char *name = internet_address_get_name(mailbox);
	const char *address = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(mailbox));
	char *valid_name = name != NULL ? valid_utf8_copy(name) : NULL;
	char *valid_address = valid_utf8_copy(address != NULL ? address : "");
	json_t *entry = json_pack("{s:s?, s:s}", "name", valid_name, "address", valid_address != NULL ? valid_address : "");
	if (entry != NULL)
		json_array_append_new(list, entry);
	free(valid_name);
	free(valid_address);
}

json_t *ex_mail_api_addresses_json(const char *raw)
{
	json_t *list = json_array();
	if (raw == NULL)
		return list;
	InternetAddressList *addresses = internet_address_list_parse(NULL, raw);
	if (addresses == NULL)
		return list;
	for (int i = 0; i < internet_address_list_length(addresses); i++) {
		InternetAddress *entry = internet_address_list_get_address(addresses, i);
		if (INTERNET_ADDRESS_IS_GROUP(entry)) {
			InternetAddressList *members = internet_address_group_get_members(INTERNET_ADDRESS_GROUP(entry));
			for (int j = 0; j < internet_address_list_length(members); j++) {
				InternetAddress *member = internet_address_list_get_address(members, j);
				if (INTERNET_ADDRESS_IS_MAILBOX(member))
					append_mailbox(list, member);
			}
			continue;
		}
		if (INTERNET_ADDRESS_IS_MAILBOX(entry))
			append_mailbox(list, entry);
	}
	g_object_unref(addresses);
	return list;
}

/* Writes the decoded content of a leaf part, or the whole of an attached message, into a new byte array. */
static GByteArray *decode_part(GMimeObject *object)
{
	GMimeStream *stream = g_mime_stream_mem_new();
	if (GMIME_IS_MESSAGE_PART(object)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
		if (inner != NULL)
			g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, stream);
	} else if (GMIME_IS_PART(object)) {
		GMimeDataWrapper *wrapper = g_mime_part_get_content(GMIME_PART(object));
		if (wrapper != NULL)
			g_mime_data_wrapper_write_to_stream(wrapper, stream);
	}
	GByteArray *bytes = g_byte_array_new();
	GByteArray *written = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
	g_byte_array_append(bytes, written->data, written->len);
	g_object_unref(stream);
	return bytes;
}

/* Returns the text of a text part in UTF-8 (GMime converts from the declared charset) with LF line ends. */
static char *part_text(GMimeObject *object)
{
	char *text = NULL;
	if (GMIME_IS_TEXT_PART(object)) {
		text = g_mime_text_part_get_text(GMIME_TEXT_PART(object));
	} else {
		GByteArray *bytes = decode_part(object);
		text = g_utf8_make_valid((const char *)bytes->data, (gssize)bytes->len);
		g_byte_array_unref(bytes);
	}
	if (text == NULL)
		return NULL;
	if (!g_utf8_validate(text, -1, NULL)) {
		char *valid = g_utf8_make_valid(text, -1);
		g_free(text);
		text = valid;
	}
	char *out = text;
	for (const char *p = text; *p != '\0'; p++) {
		if (p[0] == '\r' && p[1] == '\n')
			continue;
		*out++ = *p;
	}
	*out = '\0';
	return text;
}

typedef bool (*part_visitor)(GMimeObject *part, const char *part_id, void *context);

/* Calls VISIT for every leaf part and attached message under OBJECT, numbered as IMAP sections; stops when it returns false. */
static bool walk(GMimeObject *object, const char *part_id, int depth, part_visitor visit, void *context)
{
	if (!GMIME_IS_MULTIPART(object))
		return visit(object, part_id, context);
	if (depth >= EX_MAIL_PART_MAX_DEPTH)
		return true;
	GMimeMultipart *multipart = GMIME_MULTIPART(object);
	for (int i = 0; i < g_mime_multipart_get_count(multipart); i++) {
		char child_id[EX_MAIL_PART_ID_MAX];
		int written = part_id[0] == '\0' ? snprintf(child_id, sizeof(child_id), "%d", i + 1)
						 : snprintf(child_id, sizeof(child_id), "%s.%d", part_id, i + 1);
		if (written < 0 || (size_t)written >= sizeof(child_id))
			continue;
		if (!walk(g_mime_multipart_get_part(multipart, i), child_id, depth + 1, visit, context))
			return false;
	}
	return true;
}

static void walk_message(GMimeMessage *message, part_visitor visit, void *context)
{
	GMimeObject *root = g_mime_message_get_mime_part(message);
	if (root == NULL)
		return;
	/* A single-part message's body is section "1". */
	walk(root, GMIME_IS_MULTIPART(root) ? "" : "1", 0, visit, context);
}

static bool is_attachment(GMimeObject *object)
{
	if (GMIME_IS_MESSAGE_PART(object))
		return true;
	GMimeContentType *type = g_mime_object_get_content_type(object);
	bool text = g_mime_content_type_is_type(type, "text", "plain") || g_mime_content_type_is_type(type, "text", "html");
	return !text || (GMIME_IS_PART(object) && g_mime_part_is_attachment(GMIME_PART(object)));
}

static char *type_text(GMimeObject *object)
{
	GMimeContentType *type = g_mime_object_get_content_type(object);
	return g_strdup_printf("%s/%s", g_mime_content_type_get_media_type(type),
			       g_mime_content_type_get_media_subtype(type));
}

static const char *part_filename(GMimeObject *object)
{
	if (GMIME_IS_PART(object))
		return g_mime_part_get_filename(GMIME_PART(object));
	return NULL;
}

static bool collect_body(GMimeObject *object, const char *part_id, void *context)
{
	json_t *body = context;
	if (!is_attachment(object)) {
		GMimeContentType *type = g_mime_object_get_content_type(object);
		const char *slot = g_mime_content_type_is_type(type, "text", "html") ? "html" : "text";
		if (json_object_get(body, slot) == NULL) {
			char *text = part_text(object);
			json_object_set_new(body, slot, json_string(text != NULL ? text : ""));
			g_free(text);
			return true;
		}
	}

	GByteArray *bytes = decode_part(object);
	char *content_type = type_text(object);
	const char *filename = part_filename(object);
	const char *disposition = g_mime_object_get_disposition(object);
	const char *content_id = g_mime_object_get_content_id(object);
	json_t *attachment = json_pack("{s:s, s:s?, s:s, s:I, s:b, s:s?}", "part_id", part_id, "filename",
				       filename != NULL && g_utf8_validate(filename, -1, NULL) ? filename : NULL,
				       "content_type", content_type, "size", (json_int_t)bytes->len, "inline",
				       disposition != NULL && g_ascii_strcasecmp(disposition, "inline") == 0,
				       "content_id", content_id != NULL && g_utf8_validate(content_id, -1, NULL) ? content_id
														   : NULL);
	json_array_append_new(json_object_get(body, "attachments"), attachment);
	g_free(content_type);
	g_byte_array_unref(bytes);
	return true;
}

json_t *ex_mail_api_message_body_json(const char *content, size_t length)
{
	GMimeMessage *message = ex_mail_mime_parse(content, length);
	if (message == NULL)
		return NULL;
	json_t *body = json_pack("{s:[]}", "attachments");
	walk_message(message, collect_body, body);
	if (json_object_get(body, "text") == NULL)
		json_object_set_new(body, "text", json_null());
	if (json_object_get(body, "html") == NULL)
		json_object_set_new(body, "html", json_null());
	g_object_unref(message);
	return body;
}

typedef struct {
	const char *part_id;
	ex_mail_api_part *part;
	bool found;
} part_search;

static bool find_visitor(GMimeObject *object, const char *part_id, void *context)
{
	part_search *search = context;
	if (strcmp(part_id, search->part_id) != 0)
		return true;

	GByteArray *bytes = decode_part(object);
	const char *filename = part_filename(object);
	char *type = type_text(object);
	search->part->data = malloc(bytes->len > 0 ? bytes->len : 1);
	if (search->part->data != NULL && bytes->len > 0)
		memcpy(search->part->data, bytes->data, bytes->len);
	search->part->length = bytes->len;
	search->part->content_type = strdup(type);
	search->part->filename = filename != NULL ? strdup(filename) : NULL;
	g_free(type);
	g_byte_array_unref(bytes);
	search->found = true;
	return false;
}

int ex_mail_api_find_part(const char *content, size_t length, const char *part_id, ex_mail_api_part *part)
{
	memset(part, 0, sizeof(*part));
	GMimeMessage *message = ex_mail_mime_parse(content, length);
	if (message == NULL)
		return -1;
	part_search search = { .part_id = part_id, .part = part };
	walk_message(message, find_visitor, &search);
	g_object_unref(message);
	if (!search.found)
		return 1;
	if (part->data == NULL || part->content_type == NULL) {
		ex_mail_api_part_clear(part);
		return -1;
	}
	return 0;
}

void ex_mail_api_part_clear(ex_mail_api_part *part)
{
	free(part->data);
	free(part->content_type);
	free(part->filename);
	memset(part, 0, sizeof(*part));
}

int ex_mail_api_part_id_is_valid(const char *part_id)
{
	size_t length = strlen(part_id);
	if (length == 0 || length >= EX_MAIL_PART_ID_MAX || part_id[0] == '.' || part_id[length - 1] == '.')
		return 0;
	for (size_t i = 0; i < length; i++) {
		if (part_id[i] == '.' ? part_id[i + 1] == '.' : (part_id[i] < '0' || part_id[i] > '9'))
			return 0;
	}
	return 1;
}
