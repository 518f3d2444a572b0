/*
 * ENVELOPE and BODYSTRUCTURE from the raw octets of a message. The MIME
 * tree is found here rather than with GMime because the IMAP values must
 * be the octets as sent: GMime decodes phrases and parameters and
 * rewrites the parts it returns, which changes sizes and line counts.
 *
 * A part is its header up to the first empty line and the body after
 * it. A multipart's children lie between lines that start with "--" and
 * the boundary, and the line end before such a line belongs to it (RFC
 * 2046 5.1.1). The size of a body is its octets and its line count is
 * the number of LF octets in it, as in Dovecot.
 */
#include "imap_structure.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_address.h"

enum {
	EXTENSION_MARK = 0x01,
	/* Maximum parameters kept from one Content-Type or Content-Disposition field. */
	MAX_PARAMS = 64,
};

typedef struct {
	const char *data;
	size_t length;
} span;

typedef struct {
	ex_imap_writer *out;
	int parts;
} builder;

/* ---- header fields ---------------------------------------------------------------------- */

static const char *line_end(const char *p, const char *end)
{
	const char *newline = memchr(p, '\n', (size_t)(end - p));
	return newline != NULL ? newline + 1 : end;
}

/* Finds the first field NAME in the header [P, END): its value after the colon, continuation lines included. */
static bool find_field(const char *p, const char *end, const char *name, span *value)
{
	size_t name_length = strlen(name);
	while (p < end) {
		const char *next = line_end(p, end);
		while (next < end && (*next == ' ' || *next == '\t'))
			next = line_end(next, end);
		const char *colon = memchr(p, ':', (size_t)(next - p));
		if (colon != NULL && *p != ' ' && *p != '\t') {
			const char *name_end = colon;
			while (name_end > p && (name_end[-1] == ' ' || name_end[-1] == '\t'))
				name_end--;
			if ((size_t)(name_end - p) == name_length && strncasecmp(p, name, name_length) == 0) {
				const char *value_end = next;
				while (value_end > colon + 1 && (value_end[-1] == '\n' || value_end[-1] == '\r'))
					value_end--;
				*value = (span){ colon + 1, (size_t)(value_end - colon - 1) };
				return true;
			}
		}
		p = next;
	}
	return false;
}

/* Returns a malloc'd copy of VALUE unfolded (CR and LF removed), without white space before its first octet. */
static char *unfold(span value, size_t *length)
{
	char *out = malloc(value.length + 1);
	if (out == NULL)
		return NULL;
	size_t i = 0;
	while (i < value.length && (value.data[i] == ' ' || value.data[i] == '\t'))
		i++;
	size_t written = 0;
	for (; i < value.length; i++)
		if (value.data[i] != '\r' && value.data[i] != '\n')
			out[written++] = value.data[i];
	out[written] = '\0';
	*length = written;
	return out;
}

void imap_structure_put_string(ex_imap_writer *value, const char *string, size_t length)
{
	char prefix[32];
	int written = snprintf(prefix, sizeof(prefix), "{%zu}\r\n", length);
	ex_imap_write_raw(value, prefix, (size_t)written);
	ex_imap_write_raw(value, string, length);
}

/* Writes the unfolded field NAME of the header as an nstring. HUMAN also makes white space runs one space. */
static void put_field(builder *b, const char *header, const char *header_end, const char *name, bool human)
{
	span value;
	size_t length = 0;
	char *text = find_field(header, header_end, name, &value) ? unfold(value, &length) : NULL;
	if (text == NULL) {
		ex_imap_write_text(b->out, "NIL");
		return;
	}
	if (human) {
		size_t kept = 0;
		for (size_t i = 0; i < length; i++) {
			char c = text[i] == '\t' ? ' ' : text[i];
			if (c == ' ' && (kept == 0 || text[kept - 1] == ' '))
				continue;
			text[kept++] = c;
		}
		while (kept > 0 && text[kept - 1] == ' ')
			kept--;
		length = kept;
	}
	imap_structure_put_string(b->out, text, length);
	free(text);
}

static void put_upper(builder *b, const char *text, size_t length)
{
	char buffer[256];
	if (length > sizeof(buffer))
		length = sizeof(buffer);
	for (size_t i = 0; i < length; i++)
		buffer[i] = (char)(text[i] >= 'a' && text[i] <= 'z' ? text[i] - 'a' + 'A' : text[i]);
	imap_structure_put_string(b->out, buffer, length);
}

/* ---- Content-Type and Content-Disposition ------------------------------------------------------ */

typedef struct {
	span name;
	const char *value;     /* unquoted; malloc'd */
	size_t value_length;
} param;

typedef struct {
	span type;
	span subtype;
	param params[MAX_PARAMS];
	size_t count;
} content_field;

static bool is_separator(char c)
{
	return c == ';' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *skip_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* Reads a parameter value: a quoted-string without its quoting, or every octet up to ";" or white space. */
static const char *read_value(const char *p, const char *end, param *item)
{
	char *value = malloc((size_t)(end - p) + 1);
	size_t length = 0;
	if (value == NULL)
		return end;
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			if (*p != '\r' && *p != '\n')
				value[length++] = *p;
		}
		if (p < end)
			p++;
	} else {
		while (p < end && !is_separator(*p))
			value[length++] = *p++;
	}
	value[length] = '\0';
	item->value = value;
	item->value_length = length;
	return p;
}

/* Parses "type/subtype; name=value; ..." (or "type; ..." for a disposition) from VALUE. */
static void parse_content_field(span value, bool has_subtype, content_field *field)
{
	const char *p = skip_space(value.data, value.data + value.length);
	const char *end = value.data + value.length;
	*field = (content_field){ 0 };

	const char *start = p;
	while (p < end && !is_separator(*p) && (!has_subtype || *p != '/'))
		p++;
	field->type = (span){ start, (size_t)(p - start) };
	if (has_subtype && p < end && *p == '/') {
		start = ++p;
		while (p < end && !is_separator(*p))
			p++;
		field->subtype = (span){ start, (size_t)(p - start) };
	}

	while (p < end && field->count < MAX_PARAMS) {
		const char *semicolon = memchr(p, ';', (size_t)(end - p));
		if (semicolon == NULL)
			break;
		p = skip_space(semicolon + 1, end);
		start = p;
		while (p < end && *p != '=' && !is_separator(*p))
			p++;
		span name = { start, (size_t)(p - start) };
		p = skip_space(p, end);
		if (name.length == 0 || p >= end || *p != '=')
			continue;
		p = skip_space(p + 1, end);
		param *item = &field->params[field->count];
		item->name = name;
		p = read_value(p, end, item);
		if (item->value != NULL)
			field->count++;
	}
}

static void content_field_clear(content_field *field)
{
	for (size_t i = 0; i < field->count; i++)
		free((char *)field->params[i].value);
	field->count = 0;
}

static bool span_equals(span s, const char *text)
{
	return s.length == strlen(text) && strncasecmp(s.data, text, s.length) == 0;
}

/* An RFC 2231 parameter "name*", "name*N" or "name*N*": its base name, section number and whether it is extended. */
typedef struct {
	const param *item;
	span base;
	unsigned section;
	bool extended;
} section_param;

static bool parse_section_name(const param *item, section_param *out)
{
	const char *name = item->name.data;
	const char *end = name + item->name.length;
	const char *star = memchr(name, '*', item->name.length);
	if (star == NULL || star == name)
		return false;
	/* "name*" is section 0 of an extended value, "name*N" a plain section, "name*N*" an extended one. */
	const char *p = star + 1;
	unsigned section = 0;
	bool extended = p == end;
	while (p < end && *p >= '0' && *p <= '9' && section < 100000)
		section = section * 10 + (unsigned)(*p++ - '0');
	if (p < end && *p == '*' && p > star + 1) {
		extended = true;
		p++;
	}
	if (p != end)
		return false;
	*out = (section_param){ item, { name, (size_t)(star - name) }, section, extended };
	return true;
}

static int compare_sections(const void *left, const void *right)
{
	const section_param *a = left;
	const section_param *b = right;
	size_t common = a->base.length < b->base.length ? a->base.length : b->base.length;
	int order = memcmp(a->base.data, b->base.data, common);
	if (order == 0 && a->base.length != b->base.length)
		order = a->base.length < b->base.length ? -1 : 1;
	if (order == 0)
		order = a->section < b->section ? -1 : (a->section > b->section ? 1 : 0);
	return order;
}

static void put_param(builder *b, bool *any, const char *name, size_t name_length, const char *value, size_t length)
{
	if (*any)
		ex_imap_write_text(b->out, " ");
	put_upper(b, name, name_length);
	ex_imap_write_text(b->out, " ");
	imap_structure_put_string(b->out, value, length);
	*any = true;
}

/*
 * Writes the RFC 2231 parameters of one base name, SECTIONS[0..COUNT), in
 * section order. Complete sections 0..n are joined into one value and
 * left encoded: "name*" when any section is extended, with the plain
 * sections' "%" escaped and "''" in front when section 0 is plain. With a
 * section missing each is written on its own, as Dovecot 2.3 does.
 */
static void put_sections(builder *b, bool *any, const section_param *sections, size_t count)
{
	bool complete = true;
	bool extended = false;
	size_t total = 2;
	for (size_t i = 0; i < count; i++) {
		complete = complete && sections[i].section == i;
		extended = extended || sections[i].extended;
		total += sections[i].item->value_length * 3;
	}
	char name[160];
	if (!complete) {
		for (size_t i = 0; i < count; i++) {
			int length = snprintf(name, sizeof(name), "%.*s*%u%s", (int)(sections[i].base.length > 100 ? 100 : sections[i].base.length),
					      sections[i].base.data, sections[i].section, sections[i].extended ? "*" : "");
			put_param(b, any, name, (size_t)length, sections[i].item->value, sections[i].item->value_length);
		}
		return;
	}

	char *value = malloc(total);
	if (value == NULL)
		return;
	size_t length = 0;
	if (extended && !sections[0].extended) {
		value[length++] = '\'';
		value[length++] = '\'';
	}
	for (size_t i = 0; i < count; i++) {
		const param *item = sections[i].item;
		for (size_t j = 0; j < item->value_length; j++) {
			if (extended && !sections[i].extended && item->value[j] == '%') {
				value[length++] = '%';
				value[length++] = '2';
				value[length++] = '5';
			} else {
				value[length++] = item->value[j];
			}
		}
	}
	size_t base_length = sections[0].base.length > 100 ? 100 : sections[0].base.length;
	memcpy(name, sections[0].base.data, base_length);
	if (extended)
		name[base_length++] = '*';
	put_param(b, any, name, base_length, value, length);
	free(value);
}

/*
 * Writes the parameter list: plain parameters in their order, then the
 * RFC 2231 ones sorted by name and joined, then CHARSET us-ascii when
 * DEFAULT_CHARSET and no charset was given (RFC 2046 4.1.2).
 */
static void put_params(builder *b, const content_field *field, bool default_charset)
{
	section_param sections[MAX_PARAMS] = { 0 };
	size_t section_count = 0;
	bool any = false;
	bool charset = false;

	ex_imap_write_text(b->out, "(");
	for (size_t i = 0; i < field->count; i++) {
		if (parse_section_name(&field->params[i], &sections[section_count])) {
			section_count++;
			continue;
		}
		put_param(b, &any, field->params[i].name.data, field->params[i].name.length, field->params[i].value,
			  field->params[i].value_length);
		charset = charset || span_equals(field->params[i].name, "charset");
	}

	qsort(sections, section_count, sizeof(sections[0]), compare_sections);
	for (size_t i = 0; i < section_count;) {
		size_t next = i + 1;
		while (next < section_count && sections[next].base.length == sections[i].base.length &&
		       strncasecmp(sections[next].base.data, sections[i].base.data, sections[i].base.length) == 0)
			next++;
		put_sections(b, &any, sections + i, next - i);
		charset = charset || (sections[i].base.length == 7 && strncasecmp(sections[i].base.data, "charset", 7) == 0);
		i = next;
	}

	if (default_charset && !charset)
		put_param(b, &any, "CHARSET", 7, "us-ascii", 8);
	if (!any) {
		/* Nothing after the "(" written above: the list is NIL. */
		b->out->length--;
		ex_imap_write_text(b->out, "NIL");
		return;
	}
	ex_imap_write_text(b->out, ")");
}

static void put_disposition(builder *b, const char *header, const char *header_end)
{
	span value;
	content_field field;
	if (!find_field(header, header_end, "Content-Disposition", &value)) {
		ex_imap_write_text(b->out, "NIL");
		return;
	}
	parse_content_field(value, false, &field);
	if (field.type.length == 0) {
		content_field_clear(&field);
		ex_imap_write_text(b->out, "NIL");
		return;
	}
	ex_imap_write_text(b->out, "(");
	put_upper(b, field.type.data, field.type.length);
	ex_imap_write_text(b->out, " ");
	put_params(b, &field, false);
	ex_imap_write_text(b->out, ")");
	content_field_clear(&field);
}

/* Content-Language as a list of tags (RFC 3282), or NIL. */
static void put_language(builder *b, const char *header, const char *header_end)
{
	span value;
	if (!find_field(header, header_end, "Content-Language", &value)) {
		ex_imap_write_text(b->out, "NIL");
		return;
	}
	const char *p = value.data;
	const char *end = value.data + value.length;
	bool any = false;
	while (p < end) {
		while (p < end && (*p == ',' || *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
			p++;
		const char *start = p;
		while (p < end && *p != ',' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			p++;
		if (p == start)
			continue;
		ex_imap_write_text(b->out, any ? " " : "(");
		imap_structure_put_string(b->out, start, (size_t)(p - start));
		any = true;
	}
	ex_imap_write_text(b->out, any ? ")" : "NIL");
}

static void put_common_extensions(builder *b, const char *header, const char *header_end)
{
	ex_imap_write_text(b->out, " ");
	put_disposition(b, header, header_end);
	ex_imap_write_text(b->out, " ");
	put_language(b, header, header_end);
	ex_imap_write_text(b->out, " ");
	put_field(b, header, header_end, "Content-Location", false);
}

/* ---- the MIME tree ----------------------------------------------------------------------------- */

/* Finds the end of the header of [START, END): the first empty line. *BODY is where the body starts. */
static const char *find_header_end(const char *start, const char *end, const char **body)
{
	for (const char *p = start; p < end; p = line_end(p, end)) {
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) {
			*body = line_end(p, end);
			return p;
		}
	}
	*body = end;
	return end;
}

static uint64_t count_lines(const char *p, const char *end)
{
	uint64_t lines = 0;
	while (p < end) {
		const char *newline = memchr(p, '\n', (size_t)(end - p));
		if (newline == NULL)
			break;
		lines++;
		p = newline + 1;
	}
	return lines;
}

static void put_envelope(builder *b, const char *header, const char *header_end);
static void put_part(builder *b, const char *start, const char *end, bool digest_child, int depth);

static void put_empty_part(builder *b)
{
	ex_imap_write_text(b->out, "(");
	imap_structure_put_string(b->out, "TEXT", 4);
	ex_imap_write_text(b->out, " ");
	imap_structure_put_string(b->out, "PLAIN", 5);
	ex_imap_write_text(b->out, " (");
	imap_structure_put_string(b->out, "CHARSET", 7);
	ex_imap_write_text(b->out, " ");
	imap_structure_put_string(b->out, "us-ascii", 8);
	ex_imap_write_text(b->out, ") NIL NIL ");
	imap_structure_put_string(b->out, "7BIT", 4);
	ex_imap_write_text(b->out, " 0 0\x01 NIL NIL NIL NIL)");
}

/* Returns true when LINE is "--" BOUNDARY, a close delimiter when followed by "--" (*CLOSE). */
static bool is_boundary_line(const char *line, const char *end, const char *boundary, size_t length, bool *close)
{
	if ((size_t)(end - line) < length + 2 || line[0] != '-' || line[1] != '-' ||
	    memcmp(line + 2, boundary, length) != 0)
		return false;
	const char *after = line + 2 + length;
	*close = after + 1 < end && after[0] == '-' && after[1] == '-';
	if (*close || after == end)
		return true;
	return *after == ' ' || *after == '\t' || *after == '\r' || *after == '\n';
}

static void put_children(builder *b, const char *body, const char *end, const char *boundary, size_t length,
			 bool digest, int depth)
{
	const char *part_start = NULL;
	int children = 0;
	for (const char *line = body; line < end; line = line_end(line, end)) {
		bool close = false;
		if (!is_boundary_line(line, end, boundary, length, &close))
			continue;
		if (part_start != NULL) {
			/* The line end before the delimiter line belongs to the delimiter. */
			const char *part_end = line;
			if (part_end > part_start && part_end[-1] == '\n')
				part_end--;
			if (part_end > part_start && part_end[-1] == '\r')
				part_end--;
			put_part(b, part_start, part_end, digest, depth + 1);
			children++;
		}
		part_start = close ? NULL : line_end(line, end);
		if (close)
			break;
	}
	if (part_start != NULL) {
		put_part(b, part_start, end, digest, depth + 1);
		children++;
	}
	if (children == 0)
		put_empty_part(b);
}

static void put_multipart(builder *b, const content_field *type, const char *header, const char *header_end,
			  const char *body, const char *end, int depth)
{
	const param *boundary = NULL;
	for (size_t i = 0; i < type->count && boundary == NULL; i++)
		if (span_equals(type->params[i].name, "boundary") && type->params[i].value_length > 0)
			boundary = &type->params[i];

	ex_imap_write_text(b->out, "(");
	if (boundary != NULL)
		put_children(b, body, end, boundary->value, boundary->value_length, span_equals(type->subtype, "digest"),
			     depth);
	else
		put_empty_part(b);
	ex_imap_write_text(b->out, " ");
	put_upper(b, type->subtype.data, type->subtype.length);
	ex_imap_write_text(b->out, "\x01 ");
	put_params(b, type, false);
	put_common_extensions(b, header, header_end);
	ex_imap_write_text(b->out, ")");
}

/* The Content-Transfer-Encoding token, or NULL when the field is absent or empty. */
static span transfer_encoding(const char *header, const char *header_end)
{
	span value;
	if (!find_field(header, header_end, "Content-Transfer-Encoding", &value))
		return (span){ NULL, 0 };
	const char *p = skip_space(value.data, value.data + value.length);
	const char *end = value.data + value.length;
	const char *start = p;
	while (p < end && !is_separator(*p) && *p != '(')
		p++;
	return (span){ start, (size_t)(p - start) };
}

static void put_leaf(builder *b, const content_field *type, const char *header,
		     const char *header_end, const char *body, const char *end, int depth)
{
	span encoding = transfer_encoding(header, header_end);
	bool text = span_equals(type->type, "text");
	bool encoded = span_equals(encoding, "base64") || span_equals(encoding, "quoted-printable");
	bool message = span_equals(type->type, "message") && span_equals(type->subtype, "rfc822") && !encoded;

	ex_imap_write_text(b->out, "(");
	put_upper(b, type->type.data, type->type.length);
	ex_imap_write_text(b->out, " ");
	put_upper(b, type->subtype.data, type->subtype.length);
	ex_imap_write_text(b->out, " ");
	put_params(b, type, text);
	ex_imap_write_text(b->out, " ");
	put_field(b, header, header_end, "Content-ID", false);
	ex_imap_write_text(b->out, " ");
	put_field(b, header, header_end, "Content-Description", false);
	ex_imap_write_text(b->out, " ");
	if (encoding.length > 0)
		put_upper(b, encoding.data, encoding.length);
	else
		imap_structure_put_string(b->out, "7BIT", 4);
	char number[32];
	snprintf(number, sizeof(number), " %zu", (size_t)(end - body));
	ex_imap_write_text(b->out, number);

	if (message) {
		const char *embedded_body = NULL;
		const char *embedded_header_end = find_header_end(body, end, &embedded_body);
		ex_imap_write_text(b->out, " ");
		put_envelope(b, body, embedded_header_end);
		ex_imap_write_text(b->out, " ");
		put_part(b, body, end, false, depth + 1);
	}
	if (text || message) {
		snprintf(number, sizeof(number), " %llu", (unsigned long long)count_lines(body, end));
		ex_imap_write_text(b->out, number);
	}
	ex_imap_write_text(b->out, "\x01 ");
	put_field(b, header, header_end, "Content-MD5", false);
	put_common_extensions(b, header, header_end);
	ex_imap_write_text(b->out, ")");
}

/* Writes the body structure of the part [START, END): its header, an empty line, its body. */
static void put_part(builder *b, const char *start, const char *end, bool digest_child, int depth)
{
	if (depth > IMAP_STRUCTURE_MAX_DEPTH || ++b->parts > IMAP_STRUCTURE_MAX_PARTS || b->out->overflow) {
		put_empty_part(b);
		return;
	}
	const char *body = NULL;
	const char *header_end = find_header_end(start, end, &body);
	span value;
	content_field type;
	bool declared = find_field(start, header_end, "Content-Type", &value);
	if (declared)
		parse_content_field(value, true, &type);
	if (!declared || type.type.length == 0 || type.subtype.length == 0) {
		/* RFC 2045 5.2: text/plain; charset=us-ascii, or message/rfc822 inside multipart/digest (RFC 2046 5.1.5). */
		if (declared)
			content_field_clear(&type);
		type = (content_field){ .type = { digest_child ? "message" : "text", digest_child ? 7 : 4 },
					.subtype = { digest_child ? "rfc822" : "plain", digest_child ? 6 : 5 } };
	}

	if (span_equals(type.type, "multipart"))
		put_multipart(b, &type, start, header_end, body, end, depth);
	else
		put_leaf(b, &type, start, header_end, body, end, depth);
	content_field_clear(&type);
}

/* ---- ENVELOPE ------------------------------------------------------------------------------------ */

/* Writes the address list of field NAME, or of FALLBACK when NAME is absent or empty. */
static void put_addresses(builder *b, const char *header, const char *header_end, const char *name,
			  const char *fallback)
{
	span value;
	bool found = find_field(header, header_end, name, &value);
	if (found && fallback != NULL) {
		const char *p = skip_space(value.data, value.data + value.length);
		found = p < value.data + value.length;
	}
	if (!found && fallback != NULL)
		found = find_field(header, header_end, fallback, &value);
	if (!found)
		ex_imap_write_text(b->out, "NIL");
	else
		imap_address_list_put(b->out, value.data, value.length);
}

static void put_envelope(builder *b, const char *header, const char *header_end)
{
	ex_imap_write_text(b->out, "(");
	put_field(b, header, header_end, "Date", false);
	ex_imap_write_text(b->out, " ");
	put_field(b, header, header_end, "Subject", true);
	ex_imap_write_text(b->out, " ");
	put_addresses(b, header, header_end, "From", NULL);
	ex_imap_write_text(b->out, " ");
	put_addresses(b, header, header_end, "Sender", "From");
	ex_imap_write_text(b->out, " ");
	put_addresses(b, header, header_end, "Reply-To", "From");
	ex_imap_write_text(b->out, " ");
	put_addresses(b, header, header_end, "To", NULL);
	ex_imap_write_text(b->out, " ");
	put_addresses(b, header, header_end, "Cc", NULL);
	ex_imap_write_text(b->out, " ");
	put_addresses(b, header, header_end, "Bcc", NULL);
	ex_imap_write_text(b->out, " ");
	put_field(b, header, header_end, "In-Reply-To", false);
	ex_imap_write_text(b->out, " ");
	put_field(b, header, header_end, "Message-ID", false);
	ex_imap_write_text(b->out, ")");
}

/* ---- building and writing ----------------------------------------------------------------------- */

static char *steal(ex_imap_writer *writer, size_t *length)
{
	char *data = writer->data;
	*length = writer->length;
	writer->data = NULL;
	writer->length = 0;
	writer->capacity = 0;
	return data;
}

int imap_structure_build(const char *data, size_t length, imap_structure *structure)
{
	ex_imap_writer envelope;
	ex_imap_writer body;
	*structure = (imap_structure){ 0 };
	ex_imap_writer_init(&envelope, IMAP_STRUCTURE_MAX_SIZE, false);
	ex_imap_writer_init(&body, IMAP_STRUCTURE_MAX_SIZE, false);

	const char *end = data + length;
	const char *body_start = NULL;
	const char *header_end = find_header_end(data, end, &body_start);
	char version[2] = { IMAP_STRUCTURE_VERSION, '\0' };

	builder b = { .out = &envelope };
	ex_imap_write_text(&envelope, version);
	put_envelope(&b, data, header_end);
	b = (builder){ .out = &body };
	ex_imap_write_text(&body, version);
	put_part(&b, data, end, false, 0);

	if (envelope.overflow || body.overflow || envelope.data == NULL || body.data == NULL) {
		ex_imap_writer_free(&envelope);
		ex_imap_writer_free(&body);
		return -1;
	}
	structure->envelope = steal(&envelope, &structure->envelope_length);
	structure->bodystructure = steal(&body, &structure->bodystructure_length);
	return 0;
}

char *imap_structure_bytea_text(const char *value, size_t length)
{
	static const char digits[] = "0123456789abcdef";
	char *text = malloc(length * 2 + 3);
	if (text == NULL)
		return NULL;
	text[0] = '\\';
	text[1] = 'x';
	for (size_t i = 0; i < length; i++) {
		text[2 + i * 2] = digits[(unsigned char)value[i] >> 4];
		text[3 + i * 2] = digits[(unsigned char)value[i] & 0x0f];
	}
	text[2 + length * 2] = '\0';
	return text;
}

void imap_structure_clear(imap_structure *structure)
{
	free(structure->envelope);
	free(structure->bodystructure);
	*structure = (imap_structure){ 0 };
}

/* Reads the literal "{N}\r\n" at P. Returns the octets after it, or NULL when it is not one. */
static const char *read_literal(const char *p, const char *end, size_t *length)
{
	size_t n = 0;
	p++;
	while (p < end && *p >= '0' && *p <= '9') {
		if (n > (size_t)(end - p))
			return NULL;
		n = n * 10 + (size_t)(*p++ - '0');
	}
	if (end - p < 3 || p[0] != '}' || p[1] != '\r' || p[2] != '\n' || (size_t)(end - p - 3) < n)
		return NULL;
	*length = n;
	return p + 3;
}

/*
 * Response text staged in a local buffer and copied to the writer in
 * large pieces, because a cached value is made of many short parts and
 * each ex_imap_write_raw() call checks and terminates the whole buffer.
 */
typedef struct {
	ex_imap_writer *out;
	size_t length;
	char data[8192];
} render_buffer;

static void render_flush(render_buffer *buffer)
{
	if (buffer->length > 0)
		ex_imap_write_raw(buffer->out, buffer->data, buffer->length);
	buffer->length = 0;
}

static void render_put(render_buffer *buffer, const char *data, size_t length)
{
	if (length > sizeof(buffer->data) - buffer->length) {
		render_flush(buffer);
		if (length > sizeof(buffer->data)) {
			ex_imap_write_raw(buffer->out, data, length);
			return;
		}
	}
	memcpy(buffer->data + buffer->length, data, length);
	buffer->length += length;
}

/*
 * Writes a string of a cached value. Printable US-ASCII up to
 * EX_IMAP_MAX_QUOTED_LENGTH octets, which is nearly every header value,
 * is quoted here, as ex_imap_write_string() would quote it. Anything else
 * (8-bit text, control characters, longer strings) goes through
 * ex_imap_write_string(), which picks the form the client needs.
 */
static void render_string(render_buffer *buffer, const char *string, size_t length)
{
	bool needs_escape = false;
	bool printable = length <= EX_IMAP_MAX_QUOTED_LENGTH;
	for (size_t i = 0; i < length && printable; i++) {
		unsigned char c = (unsigned char)string[i];
		printable = c >= 0x20 && c < 0x7f;
		needs_escape = needs_escape || c == '"' || c == '\\';
	}
	if (!printable) {
		render_flush(buffer);
		ex_imap_write_string(buffer->out, string, length);
		return;
	}
	/* At most two octets per character plus the quotes, which fit in the buffer. */
	if (2 * length + 2 > sizeof(buffer->data) - buffer->length)
		render_flush(buffer);
	char *p = buffer->data + buffer->length;
	*p++ = '"';
	if (!needs_escape) {
		memcpy(p, string, length);
		p += length;
	} else {
		for (size_t i = 0; i < length; i++) {
			if (string[i] == '"' || string[i] == '\\')
				*p++ = '\\';
			*p++ = string[i];
		}
	}
	*p++ = '"';
	buffer->length = (size_t)(p - buffer->data);
}

bool imap_structure_render(ex_imap_writer *out, const char *value, size_t length, bool extended)
{
	if (length == 0 || value[0] != IMAP_STRUCTURE_VERSION)
		return false;
	render_buffer buffer;
	buffer.out = out;
	buffer.length = 0;
	const char *p = value + 1;
	const char *end = value + length;
	int skip_depth = -1;
	int depth = 0;
	bool valid = true;
	while (p < end) {
		const char *run = p;
		while (p < end && *p != '{' && *p != EXTENSION_MARK && *p != '(' && *p != ')')
			p++;
		if (skip_depth < 0 && p > run)
			render_put(&buffer, run, (size_t)(p - run));
		if (p >= end)
			break;
		if (*p == '{') {
			size_t n = 0;
			const char *octets = read_literal(p, end, &n);
			if (octets == NULL) {
				valid = false;
				break;
			}
			if (skip_depth < 0)
				render_string(&buffer, octets, n);
			p = octets + n;
			continue;
		}
		if (*p == EXTENSION_MARK) {
			if (!extended && skip_depth < 0)
				skip_depth = depth;
		} else if (*p == '(') {
			depth++;
			if (skip_depth < 0)
				render_put(&buffer, p, 1);
		} else {
			if (skip_depth == depth)
				skip_depth = -1;
			depth--;
			if (skip_depth < 0)
				render_put(&buffer, p, 1);
		}
		p++;
	}
	render_flush(&buffer);
	return valid && depth == 0;
}
