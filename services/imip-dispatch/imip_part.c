/*
 * Extraction of the text/calendar part of an iMIP message with GMime 3
 * (imip_part.h).
 */
#include "imip_part.h"

#include <ctype.h>
#include <gmime/gmime.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void imip_part_init(void)
{
	g_mime_init();
}

int imip_address_lower(const char *address, char *out, size_t size)
{
	size_t length = address != NULL ? strlen(address) : 0;
	if (length == 0 || length >= size)
		return -1;
	for (size_t i = 0; i < length; i++)
		out[i] = (char)tolower((unsigned char)address[i]);
	out[length] = '\0';
	return 0;
}

static void read_from(GMimeMessage *message, imip_part *part)
{
	InternetAddressList *from = g_mime_message_get_from(message);
	if (from == NULL)
		return;
	for (int i = 0; i < internet_address_list_length(from); i++) {
		InternetAddress *address = internet_address_list_get_address(from, i);
		if (INTERNET_ADDRESS_IS_MAILBOX(address)) {
			if (imip_address_lower(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(address)), part->from,
					       sizeof(part->from)) != 0)
				part->from[0] = '\0';
			return;
		}
	}
}

/* Decodes the content of PART into RESULT. Returns FOUND, or TOO_LARGE when it exceeds MAX_SIZE. */
static imip_part_status decode_part(GMimePart *mime_part, size_t max_size, imip_part *result)
{
	GMimeDataWrapper *content = g_mime_part_get_content(mime_part);
	if (content == NULL)
		return IMIP_PART_INVALID;
	GMimeStream *stream = g_mime_stream_mem_new();
	if (g_mime_data_wrapper_write_to_stream(content, stream) < 0) {
		g_object_unref(stream);
		return IMIP_PART_INVALID;
	}
	GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
	imip_part_status status = IMIP_PART_FOUND;
	if (bytes->len > max_size) {
		status = IMIP_PART_TOO_LARGE;
	} else {
		result->calendar = malloc((size_t)bytes->len + 1);
		if (result->calendar == NULL) {
			status = IMIP_PART_INVALID;
		} else {
			/* An empty part has no byte array data at all. */
			if (bytes->len > 0)
				memcpy(result->calendar, bytes->data, bytes->len);
			result->calendar[bytes->len] = '\0';
			result->length = bytes->len;
		}
	}
	g_object_unref(stream);
	return status;
}

static void read_method(GMimeContentType *type, imip_part *result)
{
	const char *method = g_mime_content_type_get_parameter(type, "method");
	if (method == NULL || strlen(method) >= sizeof(result->method))
		return;
	size_t i = 0;
	for (; method[i] != '\0'; i++)
		result->method[i] = (char)toupper((unsigned char)method[i]);
	result->method[i] = '\0';
}

typedef struct {
	size_t max_size;
	size_t visited;
	imip_part *result;
} search_state;

/* Looks for the first text/calendar part below OBJECT, DEPTH multiparts deep. Returns NONE when there is none. */
static imip_part_status search(GMimeObject *object, unsigned depth, search_state *state)
{
	if (object == NULL || state->visited++ >= IMIP_MAX_PARTS)
		return IMIP_PART_NONE;
	if (GMIME_IS_MULTIPART(object)) {
		if (depth >= IMIP_MAX_DEPTH)
			return IMIP_PART_NONE;
		GMimeMultipart *multipart = GMIME_MULTIPART(object);
		int count = g_mime_multipart_get_count(multipart);
		for (int i = 0; i < count; i++) {
			imip_part_status status = search(g_mime_multipart_get_part(multipart, i), depth + 1, state);
			if (status != IMIP_PART_NONE)
				return status;
		}
		return IMIP_PART_NONE;
	}
	if (!GMIME_IS_PART(object))
		return IMIP_PART_NONE;
	GMimeContentType *type = g_mime_object_get_content_type(object);
	if (type == NULL || !g_mime_content_type_is_type(type, "text", "calendar"))
		return IMIP_PART_NONE;
	read_method(type, state->result);
	return decode_part(GMIME_PART(object), state->max_size, state->result);
}

imip_part_status imip_part_extract(const char *data, size_t length, size_t max_size, imip_part *part)
{
	memset(part, 0, sizeof(*part));
	/* The memory stream copies DATA, so the caller's buffer is not kept. */
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(data, length);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *message = g_mime_parser_construct_message(parser, NULL);
	imip_part_status status = IMIP_PART_INVALID;

	if (message != NULL) {
		read_from(message, part);
		search_state state = { .max_size = max_size, .result = part };
		status = search(g_mime_message_get_mime_part(message), 0, &state);
		g_object_unref(message);
	}
	g_object_unref(parser);
	g_object_unref(stream);
	if (status != IMIP_PART_FOUND) {
		free(part->calendar);
		part->calendar = NULL;
		part->length = 0;
	}
	return status;
}

void imip_part_clear(imip_part *part)
{
	free(part->calendar);
	memset(part, 0, sizeof(*part));
}
