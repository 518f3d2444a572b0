/*
 * Reads the JSON of a message written through the API into an
 * ex_mail_compose, checking every field and limit before anything is
 * built. Attachments arrive as base64 in "content"; a reference to a
 * drive file is rejected for now.
 */
#include "mail_compose.h"

#include <glib.h>
#include <gmime/gmime.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp_address.h"

static const char *const recipient_fields[EX_MAIL_RECIPIENT_KINDS] = { "to", "cc", "bcc" };

typedef struct {
	const ex_mail_compose_limits *limits;
	ex_mail_compose *compose;
	char *err;
	size_t errlen;
	char *field;
	size_t field_size;
	uint64_t total_bytes;
} parse_state;

static ex_mail_compose_status fail(parse_state *state, ex_mail_compose_status status, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

static ex_mail_compose_status fail(parse_state *state, ex_mail_compose_status status, const char *format, ...)
{
	va_list arguments;
	va_start(arguments, format);
	vsnprintf(state->err, state->errlen, format, arguments);
	va_end(arguments);
	return status;
}

/* Returns true when TEXT is valid UTF-8 and has no control characters other than those in ALLOWED. */
static bool is_clean_text(const char *text, const char *allowed)
{
	if (!g_utf8_validate(text, -1, NULL))
		return false;
	for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
		if ((*p < 0x20 || *p == 0x7f) && strchr(allowed, *p) == NULL)
			return false;
	}
	return true;
}

/* Reads the optional string member NAME into *OUT (a copy). */
static ex_mail_compose_status read_string(parse_state *state, const json_t *body, const char *name, size_t max,
					  const char *allowed_controls, char **out)
{
	const json_t *value = json_object_get(body, name);
	if (value == NULL || json_is_null(value))
		return EX_MAIL_COMPOSE_OK;
	if (!json_is_string(value))
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST, "%s must be a string", name);
	const char *text = json_string_value(value);
	size_t length = json_string_length(value);
	if (strlen(text) != length || !is_clean_text(text, allowed_controls))
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST, "%s must be UTF-8 text without control characters",
			    name);
	if (max > 0 && length > max)
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST, "%s is longer than %zu bytes", name, max);
	if (max == 0) {
		state->total_bytes += length;
		if (state->total_bytes > state->limits->max_message_bytes)
			return fail(state, EX_MAIL_COMPOSE_MESSAGE_TOO_LARGE,
				    "the message is larger than %llu bytes; send less text or smaller attachments",
				    (unsigned long long)state->limits->max_message_bytes);
	}
	*out = strdup(text);
	return *out != NULL ? EX_MAIL_COMPOSE_OK : EX_MAIL_COMPOSE_NO_MEMORY;
}

/* Splits "Name <local@domain>" or a bare address with GMime's address parser. */
static bool split_address(const char *text, char **name, char **address)
{
	InternetAddressList *list = internet_address_list_parse(NULL, text);
	bool found = false;
	if (list != NULL && internet_address_list_length(list) == 1) {
		InternetAddress *entry = internet_address_list_get_address(list, 0);
		if (INTERNET_ADDRESS_IS_MAILBOX(entry)) {
			const char *display = internet_address_get_name(entry);
			*name = display != NULL && display[0] != '\0' ? strdup(display) : NULL;
			*address = strdup(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(entry)));
			found = *address != NULL;
		}
	}
	if (list != NULL)
		g_object_unref(list);
	return found;
}

static ex_mail_compose_status read_address(parse_state *state, const json_t *item, ex_mail_compose_address *out)
{
	const char *name = NULL;
	const char *address = NULL;

	if (json_is_string(item)) {
		const char *text = json_string_value(item);
		if (strlen(text) > 1024 || !is_clean_text(text, "") || !split_address(text, &out->name, &out->address))
			return EX_MAIL_COMPOSE_INVALID_RECIPIENT;
	} else if (json_is_object(item)) {
		name = json_string_value(json_object_get(item, "name"));
		address = json_string_value(json_object_get(item, "address"));
		if (address == NULL || (json_object_get(item, "name") != NULL && name == NULL &&
					!json_is_null(json_object_get(item, "name"))))
			return EX_MAIL_COMPOSE_INVALID_RECIPIENT;
		if (name != NULL && (strlen(name) > EX_MAIL_COMPOSE_MAX_NAME || !is_clean_text(name, "")))
			return EX_MAIL_COMPOSE_INVALID_RECIPIENT;
		out->name = name != NULL && name[0] != '\0' ? strdup(name) : NULL;
		out->address = strdup(address);
		if (out->address == NULL)
			return EX_MAIL_COMPOSE_NO_MEMORY;
	} else {
		return EX_MAIL_COMPOSE_INVALID_RECIPIENT;
	}

	ex_smtp_path path;
	if (ex_smtp_parse_mailbox(out->address, strlen(out->address), true, &path) != EX_SMTP_PATH_OK)
		return EX_MAIL_COMPOSE_INVALID_RECIPIENT;
	(void)state;
	return EX_MAIL_COMPOSE_OK;
}

static ex_mail_compose_status read_recipients(parse_state *state, const json_t *body, size_t *total)
{
	for (int kind = 0; kind < EX_MAIL_RECIPIENT_KINDS; kind++) {
		const char *name = recipient_fields[kind];
		const json_t *list = json_object_get(body, name);
		if (list == NULL || json_is_null(list))
			continue;
		if (!json_is_array(list))
			return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST,
				    "%s must be an array of addresses such as \"Maria <maria@example.org>\"", name);
		*total += json_array_size(list);
		if (*total > state->limits->max_recipients)
			return fail(state, EX_MAIL_COMPOSE_TOO_MANY_RECIPIENTS,
				    "the message has more than %zu recipients in to, cc and bcc together",
				    state->limits->max_recipients);
		if (json_array_size(list) == 0)
			continue;
		state->compose->recipients[kind] = calloc(json_array_size(list), sizeof(ex_mail_compose_address));
		if (state->compose->recipients[kind] == NULL)
			return EX_MAIL_COMPOSE_NO_MEMORY;
		size_t index;
		json_t *item;
		json_array_foreach(list, index, item) {
			ex_mail_compose_address *address = &state->compose->recipients[kind][index];
			state->compose->recipient_count[kind] = index + 1;
			ex_mail_compose_status status = read_address(state, item, address);
			if (status == EX_MAIL_COMPOSE_INVALID_RECIPIENT) {
				snprintf(state->field, state->field_size, "%s[%zu]", name, index);
				return fail(state, status,
					    "%s[%zu] is not a valid address; write local@domain or \"Name <local@domain>\"",
					    name, index);
			}
			if (status != EX_MAIL_COMPOSE_OK)
				return status;
		}
	}
	return EX_MAIL_COMPOSE_OK;
}

/* Returns true when TEXT is one or more "<id>" tokens separated by spaces (RFC 5322 msg-id, printable ASCII). */
static bool is_message_id_list(const char *text, bool single)
{
	const char *p = text;
	int count = 0;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		if (*p != '<')
			return false;
		p++;
		const char *start = p;
		while (*p > 0x20 && *p < 0x7f && *p != '<' && *p != '>')
			p++;
		if (*p != '>' || p == start)
			return false;
		p++;
		count++;
	}
	return count >= 1 && (!single || count == 1);
}

static ex_mail_compose_status read_threading(parse_state *state, const json_t *body)
{
	ex_mail_compose *compose = state->compose;
	ex_mail_compose_status status =
		read_string(state, body, "in_reply_to", EX_MAIL_COMPOSE_MAX_REFERENCES, "", &compose->in_reply_to);
	if (status != EX_MAIL_COMPOSE_OK)
		return status;
	if (compose->in_reply_to != NULL && !is_message_id_list(compose->in_reply_to, true))
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST, "in_reply_to must be one message id such as <id@host>");

	const json_t *references = json_object_get(body, "references");
	if (json_is_array(references)) {
		GString *joined = g_string_new(NULL);
		size_t index;
		json_t *item;
		json_array_foreach(references, index, item) {
			const char *id = json_string_value(item);
			if (id == NULL || !is_message_id_list(id, true)) {
				g_string_free(joined, TRUE);
				return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST,
					    "references[%zu] must be a message id such as <id@host>", index);
			}
			if (joined->len > 0)
				g_string_append_c(joined, ' ');
			g_string_append(joined, id);
		}
		if (joined->len > EX_MAIL_COMPOSE_MAX_REFERENCES) {
			g_string_free(joined, TRUE);
			return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST, "references is longer than %d bytes",
				    EX_MAIL_COMPOSE_MAX_REFERENCES);
		}
		compose->references = joined->len > 0 ? strdup(joined->str) : NULL;
		g_string_free(joined, TRUE);
		return EX_MAIL_COMPOSE_OK;
	}
	status = read_string(state, body, "references", EX_MAIL_COMPOSE_MAX_REFERENCES, "", &compose->references);
	if (status == EX_MAIL_COMPOSE_OK && compose->references != NULL && !is_message_id_list(compose->references, false))
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST,
			    "references must be message ids such as \"<a@host> <b@host>\", or an array of them");
	return status;
}

/* Returns true when TEXT is strict base64 (RFC 4648 section 4, padded, no white space). */
static bool is_base64(const char *text, size_t length)
{
	if (length % 4 != 0)
		return false;
	for (size_t i = 0; i < length; i++) {
		char c = text[i];
		bool alphabet = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
				c == '/';
		bool padding = c == '=' && i >= length - 2 && (i == length - 1 || text[length - 1] == '=');
		if (!alphabet && !padding)
			return false;
	}
	return true;
}

static bool is_media_type(const char *text)
{
	const char *slash = strchr(text, '/');
	if (slash == NULL || slash == text || slash[1] == '\0' || strlen(text) > 255)
		return false;
	for (const char *p = text; *p != '\0'; p++) {
		if (p == slash)
			continue;
		if (!g_ascii_isalnum(*p) && strchr("!#$&-^_.+", *p) == NULL)
			return false;
	}
	return true;
}

/* Returns true when TEXT is a UUID in text form. */
static bool is_uuid(const char *text)
{
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? text[i] != '-' : !g_ascii_isxdigit(text[i]))
			return false;
	}
	return text[36] == '\0';
}

static bool valid_filename(const char *filename)
{
	return filename != NULL && filename[0] != '\0' && strlen(filename) <= EX_MAIL_COMPOSE_MAX_NAME &&
	       is_clean_text(filename, "");
}

/* Reads {"drive_file_id": "<uuid>"}, with an optional filename and content_type that replace drive's. */
static ex_mail_compose_status read_drive_reference(parse_state *state, const json_t *item, size_t index,
						   ex_mail_compose_attachment *out)
{
	const char *file_id = json_string_value(json_object_get(item, "drive_file_id"));
	const char *filename = json_string_value(json_object_get(item, "filename"));
	const char *content_type = json_string_value(json_object_get(item, "content_type"));

	if (file_id == NULL || strlen(file_id) != 36 || !is_uuid(file_id))
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST, "attachments[%zu].drive_file_id must be a file id (UUID)",
			    index);
	if (json_object_get(item, "content") != NULL)
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST,
			    "attachments[%zu] has both drive_file_id and content; send one of them", index);
	if ((json_object_get(item, "filename") != NULL && !valid_filename(filename)) ||
	    (json_object_get(item, "content_type") != NULL && (content_type == NULL || !is_media_type(content_type))))
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST,
			    "attachments[%zu]: filename must be UTF-8 text of 1 to %d bytes and content_type a media type",
			    index, EX_MAIL_COMPOSE_MAX_NAME);

	out->drive_file_id = g_ascii_strdown(file_id, -1);
	out->filename = filename != NULL ? strdup(filename) : NULL;
	out->content_type = content_type != NULL ? g_ascii_strdown(content_type, -1) : NULL;
	if (out->drive_file_id == NULL || (filename != NULL && out->filename == NULL) ||
	    (content_type != NULL && out->content_type == NULL))
		return EX_MAIL_COMPOSE_NO_MEMORY;
	return EX_MAIL_COMPOSE_OK;
}

static ex_mail_compose_status read_attachment(parse_state *state, const json_t *item, size_t index,
					      ex_mail_compose_attachment *out)
{
	if (!json_is_object(item))
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST,
			    "attachments[%zu] must be an object with filename, content_type and content, or drive_file_id",
			    index);
	if (json_object_get(item, "drive_file_id") != NULL)
		return read_drive_reference(state, item, index, out);

	const char *filename = json_string_value(json_object_get(item, "filename"));
	const char *content_type = json_string_value(json_object_get(item, "content_type"));
	const json_t *content = json_object_get(item, "content");
	if (!valid_filename(filename))
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST,
			    "attachments[%zu].filename must be UTF-8 text of 1 to %d bytes", index, EX_MAIL_COMPOSE_MAX_NAME);
	if (content_type == NULL)
		content_type = "application/octet-stream";
	if (!is_media_type(content_type))
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST,
			    "attachments[%zu].content_type must be a media type such as application/pdf", index);
	if (!json_is_string(content))
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST, "attachments[%zu].content must be base64 text", index);

	size_t encoded_length = json_string_length(content);
	uint64_t decoded_estimate = encoded_length / 4 * 3;
	if (decoded_estimate > state->limits->max_attachment_bytes + 2)
		return fail(state, EX_MAIL_COMPOSE_ATTACHMENT_TOO_LARGE, "attachments[%zu] is larger than %llu bytes",
			    index, (unsigned long long)state->limits->max_attachment_bytes);
	if (!is_base64(json_string_value(content), encoded_length))
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST,
			    "attachments[%zu].content is not base64 (RFC 4648, padded, without line breaks)", index);

	gsize decoded_length = 0;
	guchar *decoded = g_base64_decode(json_string_value(content), &decoded_length);
	if (decoded_length > state->limits->max_attachment_bytes) {
		g_free(decoded);
		return fail(state, EX_MAIL_COMPOSE_ATTACHMENT_TOO_LARGE, "attachments[%zu] is larger than %llu bytes",
			    index, (unsigned long long)state->limits->max_attachment_bytes);
	}
	state->total_bytes += decoded_length;
	if (state->total_bytes > state->limits->max_message_bytes) {
		g_free(decoded);
		return fail(state, EX_MAIL_COMPOSE_MESSAGE_TOO_LARGE,
			    "the message is larger than %llu bytes; send less text or smaller attachments",
			    (unsigned long long)state->limits->max_message_bytes);
	}
	out->data = malloc(decoded_length > 0 ? decoded_length : 1);
	out->filename = strdup(filename);
	out->content_type = g_ascii_strdown(content_type, -1);
	if (out->data == NULL || out->filename == NULL || out->content_type == NULL) {
		g_free(decoded);
		return EX_MAIL_COMPOSE_NO_MEMORY;
	}
	if (decoded_length > 0)
		memcpy(out->data, decoded, decoded_length);
	out->length = decoded_length;
	g_free(decoded);
	return EX_MAIL_COMPOSE_OK;
}

static ex_mail_compose_status read_attachments(parse_state *state, const json_t *body)
{
	const json_t *list = json_object_get(body, "attachments");
	if (list == NULL || json_is_null(list))
		return EX_MAIL_COMPOSE_OK;
	if (!json_is_array(list))
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST, "attachments must be an array");
	if (json_array_size(list) > EX_MAIL_COMPOSE_MAX_ATTACHMENTS)
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST, "a message may have at most %d attachments",
			    EX_MAIL_COMPOSE_MAX_ATTACHMENTS);
	if (json_array_size(list) == 0)
		return EX_MAIL_COMPOSE_OK;
	state->compose->attachments = calloc(json_array_size(list), sizeof(ex_mail_compose_attachment));
	if (state->compose->attachments == NULL)
		return EX_MAIL_COMPOSE_NO_MEMORY;
	size_t index;
	json_t *item;
	json_array_foreach(list, index, item) {
		state->compose->attachment_count = index + 1;
		ex_mail_compose_status status = read_attachment(state, item, index, &state->compose->attachments[index]);
		if (status != EX_MAIL_COMPOSE_OK)
			return status;
	}
	return EX_MAIL_COMPOSE_OK;
}

static ex_mail_compose_status read_itip(parse_state *state, const json_t *body)
{
	ex_mail_compose *compose = state->compose;
	ex_mail_compose_status status = read_string(state, body, "method", 16, "", &compose->method);
	if (status != EX_MAIL_COMPOSE_OK)
		return status;
	if (compose->method == NULL ||
	    (strcmp(compose->method, "REQUEST") != 0 && strcmp(compose->method, "REPLY") != 0 &&
	     strcmp(compose->method, "CANCEL") != 0))
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST, "method must be REQUEST, REPLY or CANCEL");
	status = read_string(state, body, "calendar", 0, "\t\r\n", &compose->calendar);
	if (status != EX_MAIL_COMPOSE_OK)
		return status;
	/* NOTE: only the outer lines are checked here; the iCalendar content is passed on as the client wrote it. */
	if (compose->calendar == NULL || strncmp(compose->calendar, "BEGIN:VCALENDAR", 15) != 0 ||
	    strstr(compose->calendar, "END:VCALENDAR") == NULL)
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST,
			    "calendar must be an iCalendar object from BEGIN:VCALENDAR to END:VCALENDAR");
	return EX_MAIL_COMPOSE_OK;
}

static ex_mail_compose_status parse_object(parse_state *state, const json_t *body, ex_mail_compose_mode mode)
{
	ex_mail_compose *compose = state->compose;
	size_t recipients = 0;
	ex_mail_compose_status status;

	if ((status = read_recipients(state, body, &recipients)) != EX_MAIL_COMPOSE_OK)
		return status;
	if (mode != EX_MAIL_COMPOSE_DRAFT && recipients == 0) {
		snprintf(state->field, state->field_size, "to");
		return fail(state, EX_MAIL_COMPOSE_INVALID_RECIPIENT, "the message has no recipient in to, cc or bcc");
	}
	if ((status = read_string(state, body, "subject", EX_MAIL_COMPOSE_MAX_SUBJECT, "\t", &compose->subject)) !=
		    EX_MAIL_COMPOSE_OK ||
	    (status = read_string(state, body, "text", 0, "\t\r\n", &compose->text)) != EX_MAIL_COMPOSE_OK ||
	    (status = read_string(state, body, "html", 0, "\t\r\n", &compose->html)) != EX_MAIL_COMPOSE_OK ||
	    (status = read_threading(state, body)) != EX_MAIL_COMPOSE_OK ||
	    (status = read_string(state, body, "draft_id", 36, "", &compose->draft_id)) != EX_MAIL_COMPOSE_OK ||
	    (status = read_attachments(state, body)) != EX_MAIL_COMPOSE_OK)
		return status;
	if (compose->draft_id != NULL && (mode == EX_MAIL_COMPOSE_DRAFT || !is_uuid(compose->draft_id)))
		return fail(state, EX_MAIL_COMPOSE_INVALID_REQUEST,
			    mode == EX_MAIL_COMPOSE_DRAFT ? "draft_id is only for /send and /send-itip; update a draft with PUT "
							    "/api/v1/mail/drafts/{id}"
							  : "draft_id must be the id of a message in Drafts");
	if (mode == EX_MAIL_COMPOSE_ITIP)
		return read_itip(state, body);
	return EX_MAIL_COMPOSE_OK;
}

ex_mail_compose_status ex_mail_compose_parse(const char *body, size_t length, ex_mail_compose_mode mode,
					     const ex_mail_compose_limits *limits, ex_mail_compose *compose,
					     char *err, size_t errlen, char *field, size_t field_size)
{
	parse_state state = {
		.limits = limits, .compose = compose, .err = err, .errlen = errlen, .field = field, .field_size = field_size,
	};
	json_error_t json_error;

	memset(compose, 0, sizeof(*compose));
	if (field_size > 0)
		field[0] = '\0';
	json_t *root = json_loadb(body, length, JSON_REJECT_DUPLICATES, &json_error);
	if (root == NULL)
		return fail(&state, EX_MAIL_COMPOSE_INVALID_REQUEST, "the body is not valid JSON: %s at line %d",
			    json_error.text, json_error.line);
	ex_mail_compose_status status = json_is_object(root)
						? parse_object(&state, root, mode)
						: fail(&state, EX_MAIL_COMPOSE_INVALID_REQUEST, "the body must be a JSON object");
	json_decref(root);
	if (status == EX_MAIL_COMPOSE_NO_MEMORY)
		snprintf(err, errlen, "out of memory");
	if (status != EX_MAIL_COMPOSE_OK)
		ex_mail_compose_clear(compose);
	return status;
}

size_t ex_mail_compose_envelope(const ex_mail_compose *compose, const char **addresses, size_t size)
{
	size_t count = 0;
	for (int kind = 0; kind < EX_MAIL_RECIPIENT_KINDS; kind++) {
		for (size_t i = 0; i < compose->recipient_count[kind]; i++) {
			const char *address = compose->recipients[kind][i].address;
			bool seen = false;
			for (size_t j = 0; j < count && !seen; j++)
				seen = strcasecmp(addresses[j], address) == 0;
			if (!seen && count < size)
				addresses[count++] = address;
		}
	}
	return count;
}

bool ex_mail_compose_is_filename(const char *text)
{
	return valid_filename(text);
}

bool ex_mail_compose_is_media_type(const char *text)
{
	return text != NULL && is_media_type(text);
}

uint64_t ex_mail_compose_size(const ex_mail_compose *compose)
{
	uint64_t size = 0;
	const char *texts[] = { compose->text, compose->html, compose->calendar };
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		size += texts[i] != NULL ? strlen(texts[i]) : 0;
	for (size_t i = 0; i < compose->attachment_count; i++)
		size += compose->attachments[i].length;
	return size;
}

void ex_mail_compose_clear(ex_mail_compose *compose)
{
	for (int kind = 0; kind < EX_MAIL_RECIPIENT_KINDS; kind++) {
		for (size_t i = 0; i < compose->recipient_count[kind]; i++) {
			free(compose->recipients[kind][i].name);
			free(compose->recipients[kind][i].address);
		}
		free(compose->recipients[kind]);
	}
	for (size_t i = 0; i < compose->attachment_count; i++) {
		free(compose->attachments[i].filename);
		g_free(compose->attachments[i].content_type);
		free(compose->attachments[i].data);
		g_free(compose->attachments[i].drive_file_id);
	}
	free(compose->attachments);
	free(compose->subject);
	free(compose->text);
	free(compose->html);
	free(compose->in_reply_to);
	free(compose->references);
	free(compose->method);
	free(compose->calendar);
	free(compose->draft_id);
	memset(compose, 0, sizeof(*compose));
}
