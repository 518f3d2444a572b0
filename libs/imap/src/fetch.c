/*
 * FETCH item parsing. The command parser keeps BODY[HEADER.FIELDS (A B)]<0.10>
 * as one atom, so sections and partials are taken apart here.
 */
#include "expresso/imap_fetch.h"

#include <string.h>

#include "imap_chars.h"

typedef struct {
	const char *text;
	size_t length;
	size_t pos;
} cursor;

static bool at_end(const cursor *cur)
{
	return cur->pos >= cur->length;
}

static bool take_char(cursor *cur, char c)
{
	if (!at_end(cur) && cur->text[cur->pos] == c) {
		cur->pos++;
		return true;
	}
	return false;
}

/* Consumes WORD (ASCII case-insensitive) unless the next letter continues a longer name. */
static bool take_word(cursor *cur, const char *word)
{
	size_t n = strlen(word);
	if (cur->length - cur->pos < n || !ex_imap_ascii_casecmp_n(cur->text + cur->pos, word, n))
		return false;
	cur->pos += n;
	return true;
}

static bool read_number(cursor *cur, uint32_t *value, bool nonzero)
{
	uint64_t number = 0;
	size_t start = cur->pos;
	while (!at_end(cur) && cur->text[cur->pos] >= '0' && cur->text[cur->pos] <= '9') {
		number = number * 10 + (uint64_t)(cur->text[cur->pos] - '0');
		if (number > UINT32_MAX)
			return false;
		cur->pos++;
	}
	if (cur->pos == start)
		return false;
	if (cur->pos - start > 1 && cur->text[start] == '0')
		return false;
	if (nonzero && number == 0)
		return false;
	*value = (uint32_t)number;
	return true;
}

/* Reads "(name name ...)" of HEADER.FIELDS; names are atoms or quoted strings. */
static const char *parse_header_list(ex_imap_arena *arena, cursor *cur, ex_imap_section *section)
{
	if (!take_char(cur, ' ') || !take_char(cur, '('))
		return "Invalid FETCH section: HEADER.FIELDS needs a list of header names";

	size_t capacity = (cur->length - cur->pos) / 2 + 1;
	section->fields = ex_imap_arena_alloc(arena, capacity * sizeof(*section->fields));
	if (section->fields == NULL)
		return "FETCH section too large";

	for (;;) {
		if (take_char(cur, ')'))
			break;
		if (section->field_count > 0 && !take_char(cur, ' '))
			return "Invalid FETCH section: header names must be separated by spaces";

		bool quoted = take_char(cur, '"');
		size_t start = cur->pos;
		while (!at_end(cur)) {
			unsigned char c = (unsigned char)cur->text[cur->pos];
			if (quoted ? c == '"' : (c == ' ' || c == ')'))
				break;
			/* field-name is printable ASCII except ':' (RFC 5322 section 3.6.8) */
			if (c <= 0x20 || c >= 0x7f || c == ':' || c == '\\' || c == '(' || c == '"')
				return "Invalid FETCH section: invalid character in a header name";
			cur->pos++;
		}
		size_t length = cur->pos - start;
		if (quoted && !take_char(cur, '"'))
			return "Invalid FETCH section: missing '\"' after a header name";
		if (length == 0)
			return "Invalid FETCH section: empty header name";
		if (section->field_count >= capacity)
			return "FETCH section too large";
		section->fields[section->field_count] = ex_imap_arena_strndup(arena, cur->text + start, length);
		if (section->fields[section->field_count] == NULL)
			return "FETCH section too large";
		section->field_count++;
	}
	if (section->field_count == 0)
		return "Invalid FETCH section: HEADER.FIELDS needs at least one header name";
	return NULL;
}

/* Parses the inside of [...] up to and including ']'. */
static const char *parse_section(ex_imap_arena *arena, cursor *cur, ex_imap_section *section, bool binary)
{
	while (!at_end(cur) && cur->text[cur->pos] >= '0' && cur->text[cur->pos] <= '9') {
		if (section->part_count >= EX_IMAP_MAX_SECTION_PARTS)
			return "Invalid FETCH section: part numbers nested deeper than 32 levels";
		if (!read_number(cur, &section->parts[section->part_count], true))
			return "Invalid FETCH section: part numbers are 1 to 4294967295";
		section->part_count++;
		if (!take_char(cur, '.'))
			break;
		if (at_end(cur) || cur->text[cur->pos] < '0' || cur->text[cur->pos] > '9') {
			if (binary)
				return "Invalid BINARY section: only part numbers are allowed";
			break;
		}
	}
	bool after_dot = section->part_count > 0 && cur->text[cur->pos - 1] == '.';

	if (take_char(cur, ']')) {
		if (after_dot)
			return "Invalid FETCH section: missing text after '.'";
		return NULL;
	}
	if (binary)
		return "Invalid BINARY section: only part numbers are allowed";
	if (section->part_count > 0 && !after_dot)
		return "Invalid FETCH section: expected '.' or ']' after the part number";

	if (take_word(cur, "HEADER.FIELDS.NOT")) {
		section->text = EX_IMAP_SECTION_HEADER_FIELDS_NOT;
	} else if (take_word(cur, "HEADER.FIELDS")) {
		section->text = EX_IMAP_SECTION_HEADER_FIELDS;
	} else if (take_word(cur, "HEADER")) {
		section->text = EX_IMAP_SECTION_HEADER;
	} else if (take_word(cur, "TEXT")) {
		section->text = EX_IMAP_SECTION_TEXT;
	} else if (take_word(cur, "MIME")) {
		if (section->part_count == 0)
			return "Invalid FETCH section: MIME needs a part number, as in 1.MIME";
		section->text = EX_IMAP_SECTION_MIME;
	} else {
		return "Invalid FETCH section: expected HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT or MIME";
	}

	if (section->text == EX_IMAP_SECTION_HEADER_FIELDS ||
	    section->text == EX_IMAP_SECTION_HEADER_FIELDS_NOT) {
		const char *error = parse_header_list(arena, cur, section);
		if (error != NULL)
			return error;
	}
	if (!take_char(cur, ']'))
		return "Invalid FETCH section: missing ']'";
	return NULL;
}

static const char *parse_partial(cursor *cur, ex_imap_fetch_item *item)
{
	if (!take_char(cur, '<'))
		return NULL;
	if (!read_number(cur, &item->partial_offset, false) || !take_char(cur, '.') ||
	    !read_number(cur, &item->partial_length, true) || !take_char(cur, '>'))
		return "Invalid FETCH partial: expected <offset.length> with a non-zero length";
	item->partial = true;
	return NULL;
}

static const struct {
	const char *name;
	ex_imap_fetch_kind kind;
} simple_items[] = {
	{ "FLAGS", EX_IMAP_FETCH_FLAGS },
	{ "UID", EX_IMAP_FETCH_UID },
	{ "INTERNALDATE", EX_IMAP_FETCH_INTERNALDATE },
	{ "RFC822.SIZE", EX_IMAP_FETCH_RFC822_SIZE },
	{ "RFC822.HEADER", EX_IMAP_FETCH_RFC822_HEADER },
	{ "RFC822.TEXT", EX_IMAP_FETCH_RFC822_TEXT },
	{ "RFC822", EX_IMAP_FETCH_RFC822 },
	{ "ENVELOPE", EX_IMAP_FETCH_ENVELOPE },
	{ "BODYSTRUCTURE", EX_IMAP_FETCH_BODYSTRUCTURE },
	{ "MODSEQ", EX_IMAP_FETCH_MODSEQ },
	{ "BODY", EX_IMAP_FETCH_BODY },
};

static const char *parse_item(ex_imap_arena *arena, const char *text, size_t length,
			      ex_imap_fetch_item *item)
{
	cursor cur = { text, length, 0 };

	for (size_t i = 0; i < sizeof(simple_items) / sizeof(simple_items[0]); i++) {
		size_t n = strlen(simple_items[i].name);
		if (length == n && ex_imap_ascii_casecmp_n(text, simple_items[i].name, n)) {
			item->kind = simple_items[i].kind;
			return NULL;
		}
	}

	bool binary = false;
	if (take_word(&cur, "BINARY.SIZE[")) {
		item->kind = EX_IMAP_FETCH_BINARY_SIZE;
		binary = true;
	} else if (take_word(&cur, "BINARY.PEEK[")) {
		item->kind = EX_IMAP_FETCH_BINARY;
		item->peek = true;
		binary = true;
	} else if (take_word(&cur, "BINARY[")) {
		item->kind = EX_IMAP_FETCH_BINARY;
		binary = true;
	} else if (take_word(&cur, "BODY.PEEK[")) {
		item->kind = EX_IMAP_FETCH_BODY_SECTION;
		item->peek = true;
	} else if (take_word(&cur, "BODY[")) {
		item->kind = EX_IMAP_FETCH_BODY_SECTION;
	} else {
		return "Invalid FETCH item: unknown name";
	}

	const char *error = parse_section(arena, &cur, &item->section, binary);
	if (error != NULL)
		return error;
	if (item->kind != EX_IMAP_FETCH_BINARY_SIZE) {
		error = parse_partial(&cur, item);
		if (error != NULL)
			return error;
	}
	if (!at_end(&cur))
		return "Invalid FETCH item: unexpected text after the section";
	return NULL;
}

static const char *append_item(ex_imap_arena *arena, ex_imap_fetch_list *list,
			       ex_imap_fetch_item **tail, const char *text, size_t length)
{
	ex_imap_fetch_item *item = ex_imap_arena_alloc(arena, sizeof(*item));
	if (item == NULL)
		return "FETCH item list too large";
	const char *error = parse_item(arena, text, length, item);
	if (error != NULL)
		return error;
	if (*tail != NULL)
		(*tail)->next = item;
	else
		list->items = item;
	*tail = item;
	list->count++;
	return NULL;
}

static const char *append_macro(ex_imap_arena *arena, ex_imap_fetch_list *list, const char *const *names)
{
	ex_imap_fetch_item *tail = NULL;
	for (size_t i = 0; names[i] != NULL; i++) {
		const char *error = append_item(arena, list, &tail, names[i], strlen(names[i]));
		if (error != NULL)
			return error;
	}
	return NULL;
}

const char *ex_imap_fetch_parse(ex_imap_arena *arena, const ex_imap_arg *arg, ex_imap_fetch_list *list)
{
	static const char *const fast[] = { "FLAGS", "INTERNALDATE", "RFC822.SIZE", NULL };
	static const char *const all[] = { "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", NULL };
	static const char *const full[] = { "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY", NULL };

	list->items = NULL;
	list->count = 0;
	if (arg == NULL)
		return "Missing FETCH items";

	if (arg->type == EX_IMAP_ARG_ATOM) {
		if (ex_imap_arg_atom_equals(arg, "ALL"))
			return append_macro(arena, list, all);
		if (ex_imap_arg_atom_equals(arg, "FAST"))
			return append_macro(arena, list, fast);
		if (ex_imap_arg_atom_equals(arg, "FULL"))
			return append_macro(arena, list, full);
		ex_imap_fetch_item *tail = NULL;
		return append_item(arena, list, &tail, arg->str, arg->length);
	}
	if (arg->type != EX_IMAP_ARG_LIST)
		return "Invalid FETCH items: expected an item name or a list";
	if (arg->list_count == 0)
		return "Invalid FETCH items: empty list";

	ex_imap_fetch_item *tail = NULL;
	for (const ex_imap_arg *element = arg->list; element != NULL; element = element->next) {
		if (element->type != EX_IMAP_ARG_ATOM)
			return "Invalid FETCH items: a list contains only item names";
		const char *error = append_item(arena, list, &tail, element->str, element->length);
		if (error != NULL)
			return error;
	}
	return NULL;
}
