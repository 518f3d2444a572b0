/*
 * vCard parser: physical lines are joined into logical lines (folding and
 * quoted-printable soft breaks), each logical line is split into group,
 * name, parameters and value, and BEGIN/END pairs delimit the cards.
 * Memory comes from an arena of blocks owned by the list.
 */
#include "vcard.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { ARENA_BLOCK = 64 * 1024 };

typedef struct arena_block {
	struct arena_block *next;
	size_t used;
	size_t size;
	max_align_t data[];
} arena_block;

typedef struct {
	size_t first;
	size_t count;
	const char *version;
	const char *uid;
} card_range;

struct ex_vcard_list {
	arena_block *blocks;
	ex_vcard_property *properties;
	size_t property_count;
	size_t property_capacity;
	card_range *ranges;
	ex_vcard *cards;
	size_t card_count;
	size_t card_capacity;
};

static void *arena_alloc(ex_vcard_list *list, size_t size)
{
	size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	arena_block *block = list->blocks;
	if (block == NULL || block->size - block->used < size) {
		size_t block_size = size > ARENA_BLOCK ? size : ARENA_BLOCK;
		block = malloc(sizeof(*block) + block_size);
		if (block == NULL)
			return NULL;
		block->next = list->blocks;
		block->used = 0;
		block->size = block_size;
		list->blocks = block;
	}
	void *memory = (char *)block->data + block->used;
	block->used += size;
	return memory;
}

static char *arena_copy(ex_vcard_list *list, const char *text, size_t length)
{
	char *copy = arena_alloc(list, length + 1);
	if (copy != NULL) {
		memcpy(copy, text, length);
		copy[length] = '\0';
	}
	return copy;
}

void ex_vcard_list_free(ex_vcard_list *list)
{
	if (list == NULL)
		return;
	while (list->blocks != NULL) {
		arena_block *next = list->blocks->next;
		free(list->blocks);
		list->blocks = next;
	}
	free(list->properties);
	free(list->ranges);
	free(list->cards);
	free(list);
}

size_t ex_vcard_count(const ex_vcard_list *list)
{
	return list->card_count;
}

const ex_vcard *ex_vcard_at(const ex_vcard_list *list, size_t index)
{
	return index < list->card_count ? &list->cards[index] : NULL;
}

const char *ex_vcard_parameter_value(const ex_vcard_property *property, const char *name)
{
	for (size_t i = 0; i < property->parameter_count; i++) {
		if (strcmp(property->parameters[i].name, name) == 0)
			return property->parameters[i].value;
	}
	return NULL;
}

/* Physical line reader: returns the line without its CRLF or LF, or NULL at the end. */
typedef struct {
	const char *text;
	size_t length;
	size_t position;
	unsigned line;
} line_reader;

static const char *peek_line(const line_reader *reader, size_t *length)
{
	if (reader->position >= reader->length)
		return NULL;
	const char *start = reader->text + reader->position;
	const char *newline = memchr(start, '\n', reader->length - reader->position);
	size_t line_length = newline ? (size_t)(newline - start) : reader->length - reader->position;
	*length = line_length;
	return start;
}

static void skip_line(line_reader *reader, size_t length)
{
	reader->position += length;
	if (reader->position < reader->length)
		reader->position++; /* the LF */
	reader->line++;
}

static size_t strip_cr(const char *line, size_t length)
{
	return length > 0 && line[length - 1] == '\r' ? length - 1 : length;
}

/* Returns 1 when the property part of LINE (before the first ':') declares quoted-printable. */
static int declares_quoted_printable(const char *line, size_t length)
{
	const char *colon = memchr(line, ':', length);
	size_t head = colon ? (size_t)(colon - line) : length;
	static const char needle[] = "QUOTED-PRINTABLE";
	for (size_t i = 0; i + sizeof(needle) - 1 <= head; i++) {
		if (strncasecmp(line + i, needle, sizeof(needle) - 1) == 0)
			return 1;
	}
	return 0;
}

/*
 * Reads one logical line into OUT (capacity READER->length + 1). Returns
 * its length, or -1 at the end of the input.
 */
static long read_logical_line(line_reader *reader, char *out, unsigned *first_line)
{
	size_t length;
	const char *line;
	size_t used = 0;

	/* Blank lines between properties are skipped. */
	for (;;) {
		line = peek_line(reader, &length);
		if (line == NULL)
			return -1;
		if (strip_cr(line, length) > 0)
			break;
		skip_line(reader, length);
	}
	*first_line = reader->line;
	size_t content = strip_cr(line, length);
	memcpy(out, line, content);
	used = content;
	skip_line(reader, length);

	int quoted_printable = declares_quoted_printable(out, used);
	for (;;) {
		line = peek_line(reader, &length);
		if (line == NULL)
			break;
		content = strip_cr(line, length);
		if (content > 0 && (line[0] == ' ' || line[0] == '\t')) {
			memcpy(out + used, line + 1, content - 1);
			used += content - 1;
		} else if (quoted_printable && used > 0 && out[used - 1] == '=' &&
			   !(content >= 9 && strncasecmp(line, "END:VCARD", 9) == 0)) {
			/* A soft line break: the value goes on in the next line, unless that line ends the card. */
			used--;
			memcpy(out + used, line, content);
			used += content;
		} else {
			break;
		}
		skip_line(reader, length);
	}
	out[used] = '\0';
	return (long)used;
}

static int is_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes quoted-printable IN into OUT (at least LENGTH + 1 bytes); invalid escapes stay literal. */
static size_t decode_quoted_printable(const char *in, size_t length, char *out)
{
	size_t used = 0;
	for (size_t i = 0; i < length; i++) {
		if (in[i] == '=' && i + 2 < length && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
			out[used++] = (char)(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
			i += 2;
		} else {
			out[used++] = in[i];
		}
	}
	out[used] = '\0';
	return used;
}

static int base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes base64 IN into OUT, skipping white space. Returns the length, or -1 on an invalid character. */
static long decode_base64(const char *in, size_t length, unsigned char *out)
{
	uint32_t accumulator = 0;
	int bits = 0;
	size_t used = 0;
	int padding = 0;

	for (size_t i = 0; i < length; i++) {
		char c = in[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			padding = 1;
			continue;
		}
		int value = base64_value(c);
		if (value < 0 || padding)
			return -1;
		accumulator = (accumulator << 6) | (uint32_t)value;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[used++] = (unsigned char)(accumulator >> bits);
		}
	}
	return (long)used;
}

/* Maps a bare vCard 2.1 parameter to its name. */
static const char *bare_parameter_name(const char *value)
{
	static const char *const encodings[] = { "BASE64", "B", "QUOTED-PRINTABLE", "8BIT", "7BIT" };
	for (size_t i = 0; i < sizeof(encodings) / sizeof(encodings[0]); i++) {
		if (strcasecmp(value, encodings[i]) == 0)
			return "ENCODING";
	}
	return "TYPE";
}

static char *upper_copy(ex_vcard_list *list, const char *text, size_t length)
{
	char *copy = arena_copy(list, text, length);
	for (size_t i = 0; copy != NULL && i < length; i++)
		copy[i] = (char)toupper((unsigned char)copy[i]);
	return copy;
}

/* Parses the parameters after the name; *cursor points at ';' and ends at ':'. */
static int parse_parameters(ex_vcard_list *list, const char *line, size_t *cursor, ex_vcard_property *property,
			    char *err, size_t errlen)
{
	ex_vcard_parameter parameters[EX_VCARD_MAX_PARAMETERS];
	size_t count = 0;
	size_t i = *cursor;

	while (line[i] == ';') {
		i++;
		size_t name_start = i;
		while (is_name_char(line[i]))
			i++;
		size_t name_length = i - name_start;
		if (name_length == 0 || name_length > EX_VCARD_MAX_NAME) {
			snprintf(err, errlen, "a parameter of %s has an invalid name", property->name);
			return -1;
		}
		if (count == EX_VCARD_MAX_PARAMETERS) {
			snprintf(err, errlen, "%s has more than %d parameters", property->name, EX_VCARD_MAX_PARAMETERS);
			return -1;
		}

		if (line[i] != '=') {
			char *value = arena_copy(list, line + name_start, name_length);
			parameters[count].name = value ? bare_parameter_name(value) : NULL;
			parameters[count].value = value;
		} else {
			i++;
			size_t value_start = i;
			int quoted = 0;
			while (line[i] != '\0' && (quoted || (line[i] != ';' && line[i] != ':'))) {
				if (line[i] == '"')
					quoted = !quoted;
				i++;
			}
			if (quoted) {
				snprintf(err, errlen, "a parameter of %s has an unclosed double quote", property->name);
				return -1;
			}
			size_t value_length = i - value_start;
			const char *value = line + value_start;
			if (value_length >= 2 && value[0] == '"' && value[value_length - 1] == '"') {
				value++;
				value_length -= 2;
			}
			parameters[count].name = upper_copy(list, line + name_start, name_length);
			parameters[count].value = arena_copy(list, value, value_length);
		}
		if (parameters[count].name == NULL || parameters[count].value == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		count++;
	}

	ex_vcard_parameter *stored = arena_alloc(list, sizeof(*stored) * (count ? count : 1));
	if (stored == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(stored, parameters, sizeof(*stored) * count);
	property->parameters = stored;
	property->parameter_count = count;
	*cursor = i;
	return 0;
}

/* Decodes the value of PROPERTY according to its ENCODING parameter. */
static int decode_value(ex_vcard_list *list, const char *value, size_t length, ex_vcard_property *property,
			char *err, size_t errlen)
{
	const char *encoding = ex_vcard_parameter_value(property, "ENCODING");

	if (encoding != NULL && strcasecmp(encoding, "QUOTED-PRINTABLE") == 0) {
		char *decoded = arena_alloc(list, length + 1);
		if (decoded == NULL)
			return -1;
		property->value_length = decode_quoted_printable(value, length, decoded);
		property->value = decoded;
		return 0;
	}
	property->value = arena_copy(list, value, length);
	property->value_length = length;
	if (property->value == NULL)
		return -1;
	if (encoding != NULL && (strcasecmp(encoding, "B") == 0 || strcasecmp(encoding, "BASE64") == 0)) {
		unsigned char *binary = arena_alloc(list, length + 1);
		long binary_length = binary ? decode_base64(value, length, binary) : -1;
		if (binary_length < 0) {
			snprintf(err, errlen, "the base64 value of %s is invalid", property->name);
			return -1;
		}
		property->binary = binary;
		property->binary_length = (size_t)binary_length;
	}
	return 0;
}

/* Splits one logical line into PROPERTY. */
static int parse_property(ex_vcard_list *list, const char *line, size_t length, ex_vcard_property *property,
			  char *err, size_t errlen)
{
	size_t i = 0;
	memset(property, 0, sizeof(*property));

	while (is_name_char(line[i]))
		i++;
	if (line[i] == '.') {
		property->group = arena_copy(list, line, i);
		i++;
	}
	size_t name_start = property->group ? i : 0;
	while (is_name_char(line[i]))
		i++;
	size_t name_length = i - name_start;
	if (name_length == 0 || name_length > EX_VCARD_MAX_NAME || (property->group && name_start > EX_VCARD_MAX_NAME + 1)) {
		snprintf(err, errlen, "a property has an invalid name");
		return -1;
	}
	property->name = upper_copy(list, line + name_start, name_length);
	property->spelling = arena_copy(list, line + name_start, name_length);
	if (property->name == NULL || property->spelling == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (parse_parameters(list, line, &i, property, err, errlen) != 0)
		return -1;
	if (line[i] != ':') {
		snprintf(err, errlen, "%s has no ':' before its value", property->name);
		return -1;
	}
	i++;
	if (decode_value(list, line + i, length - i, property, err, errlen) != 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int append_property(ex_vcard_list *list, const ex_vcard_property *property)
{
	if (list->property_count == list->property_capacity) {
		if (list->property_capacity >= EX_VCARD_MAX_PROPERTIES)
			return -1;
		size_t capacity = list->property_capacity ? list->property_capacity * 2 : 64;
		ex_vcard_property *grown = realloc(list->properties, capacity * sizeof(*grown));
		if (grown == NULL)
			return -1;
		list->properties = grown;
		list->property_capacity = capacity;
	}
	list->properties[list->property_count++] = *property;
	return 0;
}

static int append_card(ex_vcard_list *list, const card_range *range)
{
	if (list->card_count == list->card_capacity) {
		if (list->card_capacity >= EX_VCARD_MAX_CARDS)
			return -1;
		size_t capacity = list->card_capacity ? list->card_capacity * 2 : 4;
		card_range *grown = realloc(list->ranges, capacity * sizeof(*grown));
		if (grown == NULL)
			return -1;
		list->ranges = grown;
		list->card_capacity = capacity;
	}
	list->ranges[list->card_count++] = *range;
	return 0;
}

/* Builds the public card array once every property is in place (the property array may have moved). */
static int finish_cards(ex_vcard_list *list)
{
	list->cards = calloc(list->card_count ? list->card_count : 1, sizeof(*list->cards));
	if (list->cards == NULL)
		return -1;
	for (size_t i = 0; i < list->card_count; i++) {
		/* A file of empty vCards has no property array, and NULL plus an offset is undefined. */
		list->cards[i].properties = list->properties != NULL ? list->properties + list->ranges[i].first : NULL;
		list->cards[i].property_count = list->ranges[i].count;
		list->cards[i].version = list->ranges[i].version;
		list->cards[i].uid = list->ranges[i].uid;
	}
	return 0;
}

static int fail(char *err, size_t errlen, unsigned line, const char *message)
{
	char copy[256];
	snprintf(copy, sizeof(copy), "%s", message);
	snprintf(err, errlen, "line %u: %s", line, copy);
	return -1;
}

/* Parses every logical line of READER into LIST. */
static int parse_lines(ex_vcard_list *list, line_reader *reader, char *line, char *err, size_t errlen)
{
	card_range current = { 0 };
	int inside = 0;
	unsigned line_number = 1;
	long length;

	while ((length = read_logical_line(reader, line, &line_number)) >= 0) {
		ex_vcard_property property;
		err[0] = '\0';
		if (parse_property(list, line, (size_t)length, &property, err, errlen) != 0)
			return fail(err, errlen, line_number, err);
		property.line = line_number;

		int is_begin = strcmp(property.name, "BEGIN") == 0 && strcasecmp(property.value, "VCARD") == 0;
		int is_end = strcmp(property.name, "END") == 0 && strcasecmp(property.value, "VCARD") == 0;
		if (is_begin) {
			if (inside)
				return fail(err, errlen, line_number, "BEGIN:VCARD inside a vCard; nested vCards are not supported");
			inside = 1;
			current = (card_range){ .first = list->property_count };
			continue;
		}
		if (is_end) {
			if (!inside)
				return fail(err, errlen, line_number, "END:VCARD without BEGIN:VCARD");
			inside = 0;
			current.count = list->property_count - current.first;
			if (append_card(list, &current) != 0)
				return fail(err, errlen, line_number, "too many vCards in one body");
			continue;
		}
		if (!inside)
			return fail(err, errlen, line_number, "a property outside BEGIN:VCARD ... END:VCARD");
		if (strcmp(property.name, "VERSION") == 0 && current.version == NULL)
			current.version = property.value;
		if (strcmp(property.name, "UID") == 0 && current.uid == NULL)
			current.uid = property.value;
		if (append_property(list, &property) != 0)
			return fail(err, errlen, line_number, "too many properties in one body");
	}
	if (inside)
		return fail(err, errlen, line_number, "the last vCard has no END:VCARD");
	if (list->card_count == 0)
		return fail(err, errlen, line_number, "the body contains no vCard");
	return 0;
}

ex_vcard_list *ex_vcard_parse(const char *text, size_t length, char *err, size_t errlen)
{
	ex_vcard_list *list = calloc(1, sizeof(*list));
	char *line = malloc(length + 1);
	if (list == NULL || line == NULL) {
		free(line);
		free(list);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (memchr(text, '\0', length) != NULL) {
		free(line);
		free(list);
		snprintf(err, errlen, "the body contains a NUL byte");
		return NULL;
	}

	line_reader reader = { .text = text, .length = length, .line = 1 };
	if (length >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		reader.position = 3;
	int status = parse_lines(list, &reader, line, err, errlen);
	free(line);
	if (status != 0 || finish_cards(list) != 0) {
		ex_vcard_list_free(list);
		return NULL;
	}
	return list;
}
