/*
 * vCard version conversion; see vcard_convert.h for what is converted.
 * Output goes to a growing buffer, one folded content line at a time.
 */
#include "vcard_convert.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { FOLD_OCTETS = 75, MAX_PARAMETERS = EX_VCARD_MAX_PARAMETERS + 1 };

typedef struct {
	char *data;
	size_t length;
	size_t capacity;
	bool failed;
} output;

static void append(output *out, const char *text, size_t length)
{
	if (out->failed)
		return;
	if (out->length + length + 1 > out->capacity) {
		size_t capacity = (out->capacity + length + 1) * 2;
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

static void append_text(output *out, const char *text)
{
	append(out, text, strlen(text));
}

/* Writes LINE folded at FOLD_OCTETS octets, never inside a UTF-8 sequence, then CRLF. */
static void append_folded(output *out, const char *line, size_t length)
{
	size_t start = 0;
	size_t limit = FOLD_OCTETS;
	while (length - start > limit) {
		size_t end = start + limit;
		while (end > start + 1 && ((unsigned char)line[end] & 0xC0) == 0x80)
			end--;
		append(out, line + start, end - start);
		append_text(out, "\r\n ");
		start = end;
		limit = FOLD_OCTETS - 1; /* the leading space counts */
	}
	append(out, line + start, length - start);
	append_text(out, "\r\n");
}

typedef struct {
	const char *name;
	char value[512];
} parameter;

static const char *media_type(const char *type)
{
	if (strcasecmp(type, "JPEG") == 0 || strcasecmp(type, "JPG") == 0)
		return "image/jpeg";
	if (strcasecmp(type, "PNG") == 0)
		return "image/png";
	if (strcasecmp(type, "GIF") == 0)
		return "image/gif";
	return NULL;
}

/* Removes the entry ENTRY (case-insensitive) from the comma-separated LIST; returns true when it was there. */
static bool remove_list_entry(char *list, const char *entry)
{
	char result[512] = "";
	bool found = false;
	char *saveptr = NULL;
	char copy[512];
	snprintf(copy, sizeof(copy), "%s", list);
	for (char *item = strtok_r(copy, ",", &saveptr); item != NULL; item = strtok_r(NULL, ",", &saveptr)) {
		if (strcasecmp(item, entry) == 0) {
			found = true;
			continue;
		}
		size_t used = strlen(result);
		snprintf(result + used, sizeof(result) - used, "%s%s", used ? "," : "", item);
	}
	snprintf(list, 512, "%s", result);
	return found;
}

static bool needs_quotes(const char *value)
{
	return strpbrk(value, ":;") != NULL;
}

/* Writes one property of CARD converted to VERSION. */
static void convert_property(output *out, const ex_vcard_property *property, bool to_v4)
{
	const char *name = property->spelling;
	parameter parameters[MAX_PARAMETERS];
	size_t count = 0;
	const char *encoding = ex_vcard_parameter_value(property, "ENCODING");
	bool quoted_printable = encoding != NULL && strcasecmp(encoding, "QUOTED-PRINTABLE") == 0;
	bool inline_binary = property->binary != NULL;
	const char *binary_type = NULL;

	if (to_v4 && strcmp(property->name, "X-ADDRESSBOOKSERVER-KIND") == 0)
		name = "KIND";
	else if (to_v4 && strcmp(property->name, "X-ADDRESSBOOKSERVER-MEMBER") == 0)
		name = "MEMBER";
	else if (!to_v4 && strcmp(property->name, "KIND") == 0)
		name = "X-ADDRESSBOOKSERVER-KIND";
	else if (!to_v4 && strcmp(property->name, "MEMBER") == 0)
		name = "X-ADDRESSBOOKSERVER-MEMBER";
	if (!to_v4 && strcmp(property->name, "KIND") == 0 && strcasecmp(property->value, "individual") == 0)
		return;

	bool preferred = false;
	for (size_t i = 0; i < property->parameter_count && count < MAX_PARAMETERS - 1; i++) {
		const ex_vcard_parameter *source = &property->parameters[i];
		if (strcmp(source->name, "CHARSET") == 0 || strcmp(source->name, "ENCODING") == 0)
			continue;
		if (strcmp(source->name, "PREF") == 0 && !to_v4) {
			preferred = true;
			continue;
		}
		parameter *target = &parameters[count];
		target->name = source->name;
		snprintf(target->value, sizeof(target->value), "%s", source->value);
		if (strcmp(source->name, "TYPE") == 0) {
			if (inline_binary && to_v4 && binary_type == NULL && media_type(target->value) != NULL) {
				binary_type = media_type(target->value);
				continue;
			}
			if (to_v4 && remove_list_entry(target->value, "pref"))
				preferred = true;
			if (target->value[0] == '\0')
				continue;
		}
		count++;
	}
	if (preferred && to_v4) {
		parameters[count].name = "PREF";
		snprintf(parameters[count++].value, sizeof(parameters[0].value), "1");
	} else if (preferred) {
		parameters[count].name = "TYPE";
		snprintf(parameters[count++].value, sizeof(parameters[0].value), "pref");
	}

	/* 4.0 data: URI to 3.0 inline binary. */
	const char *value = property->value;
	size_t value_length = property->value_length;
	char media_parameter[64] = "";
	if (!to_v4 && strncasecmp(value, "data:", 5) == 0) {
		const char *marker = strstr(value, ";base64,");
		const char *slash = strchr(value, '/');
		if (marker != NULL && slash != NULL && slash < marker && count < MAX_PARAMETERS - 1) {
			snprintf(media_parameter, sizeof(media_parameter), "%.*s", (int)(marker - slash - 1), slash + 1);
			for (char *c = media_parameter; *c != '\0'; c++)
				*c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
			value_length -= (size_t)(marker + 8 - value);
			value = marker + 8;
			parameters[count].name = "ENCODING";
			snprintf(parameters[count++].value, sizeof(parameters[0].value), "b");
			parameters[count].name = "TYPE";
			snprintf(parameters[count++].value, sizeof(parameters[0].value), "%s", media_parameter);
		}
	}
	if (!to_v4 && inline_binary && count < MAX_PARAMETERS) {
		parameters[count].name = "ENCODING";
		snprintf(parameters[count++].value, sizeof(parameters[0].value), "b");
	}

	output line = { 0 };
	if (property->group != NULL) {
		append_text(&line, property->group);
		append_text(&line, ".");
	}
	append_text(&line, name);
	for (size_t i = 0; i < count; i++) {
		append_text(&line, ";");
		append_text(&line, parameters[i].name);
		append_text(&line, needs_quotes(parameters[i].value) ? "=\"" : "=");
		append_text(&line, parameters[i].value);
		if (needs_quotes(parameters[i].value))
			append_text(&line, "\"");
	}
	append_text(&line, ":");
	if (inline_binary && to_v4) {
		append_text(&line, "data:");
		append_text(&line, binary_type ? binary_type : "application/octet-stream");
		append_text(&line, ";base64,");
	}
	for (size_t i = 0; i < value_length; i++) {
		char c = value[i];
		if (inline_binary && (c == ' ' || c == '\t' || c == '\r' || c == '\n'))
			continue;
		if (quoted_printable && c == '\r')
			continue;
		if (quoted_printable && c == '\n')
			append_text(&line, "\\n");
		else
			append(&line, &c, 1);
	}
	if (line.failed)
		out->failed = true;
	else
		append_folded(out, line.data, line.length);
	free(line.data);
}

char *ex_vcard_convert(const ex_vcard *card, const char *version, size_t *length)
{
	bool to_v4 = strcmp(version, "4.0") == 0;
	if (!to_v4 && strcmp(version, "3.0") != 0)
		return NULL;

	output out = { 0 };
	append_text(&out, "BEGIN:VCARD\r\nVERSION:");
	append_text(&out, version);
	append_text(&out, "\r\n");
	for (size_t i = 0; i < card->property_count; i++) {
		if (strcmp(card->properties[i].name, "VERSION") != 0)
			convert_property(&out, &card->properties[i], to_v4);
	}
	append_text(&out, "END:VCARD\r\n");
	if (out.failed) {
		free(out.data);
		return NULL;
	}
	*length = out.length;
	return out.data;
}
