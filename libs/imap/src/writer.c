/*
 * IMAP response writer: string form selection and bounded output.
 */
#include "expresso/imap_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/imap_flags.h"
#include "expresso/imap_mailbox.h"
#include "imap_chars.h"

void ex_imap_writer_init(ex_imap_writer *writer, size_t max_size, bool utf8)
{
	memset(writer, 0, sizeof(*writer));
	writer->max_size = max_size;
	writer->utf8 = utf8;
}

void ex_imap_writer_free(ex_imap_writer *writer)
{
	free(writer->data);
	writer->data = NULL;
	writer->length = 0;
	writer->capacity = 0;
}

void ex_imap_writer_reset(ex_imap_writer *writer)
{
	writer->length = 0;
	writer->overflow = false;
}

static bool reserve(ex_imap_writer *writer, size_t extra)
{
	if (writer->overflow)
		return false;
	if (extra > SIZE_MAX - writer->length - 1 ||
	    (writer->max_size != 0 && writer->length + extra > writer->max_size)) {
		writer->overflow = true;
		return false;
	}
	size_t needed = writer->length + extra + 1;
	if (needed <= writer->capacity)
		return true;
	size_t capacity = writer->capacity == 0 ? 256 : writer->capacity;
	while (capacity < needed)
		capacity = capacity > SIZE_MAX / 2 ? needed : capacity * 2;
	char *grown = realloc(writer->data, capacity);
	if (grown == NULL) {
		writer->overflow = true;
		return false;
	}
	writer->data = grown;
	writer->capacity = capacity;
	return true;
}

void ex_imap_write_raw(ex_imap_writer *writer, const char *data, size_t length)
{
	if (!reserve(writer, length))
		return;
	if (length > 0)
		memcpy(writer->data + writer->length, data, length);
	writer->length += length;
	writer->data[writer->length] = '\0';
}

void ex_imap_write_text(ex_imap_writer *writer, const char *text)
{
	ex_imap_write_raw(writer, text, strlen(text));
}

void ex_imap_write_number(ex_imap_writer *writer, uint64_t number)
{
	char digits[24];
	int length = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)number);
	ex_imap_write_raw(writer, digits, (size_t)length);
}

ex_imap_string_form ex_imap_string_form_for(const char *string, size_t length, bool utf8,
					    bool allow_atom)
{
	const unsigned char *bytes = (const unsigned char *)string;
	bool atom = allow_atom && length > 0 &&
		    !(length == 3 && ex_imap_ascii_casecmp_n(string, "NIL", 3));
	bool has_8bit = false;

	for (size_t i = 0; i < length; i++) {
		unsigned char c = bytes[i];
		if (c == '\0')
			return EX_IMAP_FORM_LITERAL8;
		if (c == '\r' || c == '\n')
			return EX_IMAP_FORM_LITERAL;
		if (c >= 0x80)
			has_8bit = true;
		/* '[' is an ATOM-CHAR, but the parser reads [...] inside an atom as a FETCH section */
		if ((!ex_imap_is_strict_atom_char(c) && c != ']') || c == '[')
			atom = false;
	}
	if (has_8bit && (!utf8 || !ex_imap_utf8_valid(string, length)))
		return EX_IMAP_FORM_LITERAL;
	if (length > EX_IMAP_MAX_QUOTED_LENGTH)
		return EX_IMAP_FORM_LITERAL;
	for (size_t i = 0; i < length; i++) {
		if (bytes[i] < 0x20 || bytes[i] == 0x7f)
			return EX_IMAP_FORM_LITERAL;
	}
	return atom ? EX_IMAP_FORM_ATOM : EX_IMAP_FORM_QUOTED;
}

static void write_quoted(ex_imap_writer *writer, const char *string, size_t length)
{
	ex_imap_write_raw(writer, "\"", 1);
	size_t start = 0;
	for (size_t i = 0; i < length; i++) {
		if (string[i] != '"' && string[i] != '\\')
			continue;
		ex_imap_write_raw(writer, string + start, i - start);
		ex_imap_write_raw(writer, "\\", 1);
		start = i;
	}
	ex_imap_write_raw(writer, string + start, length - start);
	ex_imap_write_raw(writer, "\"", 1);
}

void ex_imap_write_literal(ex_imap_writer *writer, const char *data, size_t length)
{
	ex_imap_write_raw(writer, "{", 1);
	ex_imap_write_number(writer, length);
	ex_imap_write_raw(writer, "}\r\n", 3);
	ex_imap_write_raw(writer, data, length);
}

void ex_imap_write_literal8(ex_imap_writer *writer, const char *data, size_t length)
{
	ex_imap_write_raw(writer, "~", 1);
	ex_imap_write_literal(writer, data, length);
}

static void write_in_form(ex_imap_writer *writer, const char *string, size_t length, bool allow_atom)
{
	switch (ex_imap_string_form_for(string, length, writer->utf8, allow_atom)) {
	case EX_IMAP_FORM_ATOM:
		ex_imap_write_raw(writer, string, length);
		break;
	case EX_IMAP_FORM_QUOTED:
		write_quoted(writer, string, length);
		break;
	case EX_IMAP_FORM_LITERAL:
	case EX_IMAP_FORM_LITERAL8:
		/* NOTE: NUL cannot appear in a string outside BINARY; a literal carries it, and
		 * clients that reject NUL in literals must be served through BINARY. */
		ex_imap_write_literal(writer, string, length);
		break;
	}
}

void ex_imap_write_string(ex_imap_writer *writer, const char *string, size_t length)
{
	write_in_form(writer, string, length, false);
}

void ex_imap_write_astring(ex_imap_writer *writer, const char *string, size_t length)
{
	write_in_form(writer, string, length, true);
}

void ex_imap_write_nstring(ex_imap_writer *writer, const char *string, size_t length)
{
	if (string == NULL)
		ex_imap_write_raw(writer, "NIL", 3);
	else
		write_in_form(writer, string, length, false);
}

void ex_imap_write_mailbox(ex_imap_writer *writer, const char *name)
{
	/* modified UTF-7 grows a name by at most 8/3 plus the '&' and '-' of each run */
	size_t size = strlen(name) * 3 + 16;
	char *wire = malloc(size);
	if (wire == NULL) {
		writer->overflow = true;
		return;
	}
	if (ex_imap_mailbox_to_wire(name, writer->utf8, wire, size) != NULL)
		writer->overflow = true;
	else
		write_in_form(writer, wire, strlen(wire), true);
	free(wire);
}

void ex_imap_write_flags(ex_imap_writer *writer, unsigned system, const char *const *keywords,
			 size_t keyword_count, bool star)
{
	bool first = true;

	ex_imap_write_raw(writer, "(", 1);
	for (unsigned bit = EX_IMAP_FLAG_SEEN; bit <= EX_IMAP_FLAG_RECENT; bit <<= 1) {
		if ((system & bit) == 0)
			continue;
		if (!first)
			ex_imap_write_raw(writer, " ", 1);
		ex_imap_write_text(writer, ex_imap_flag_name(bit));
		first = false;
	}
	for (size_t i = 0; i < keyword_count; i++) {
		if (!first)
			ex_imap_write_raw(writer, " ", 1);
		ex_imap_write_text(writer, keywords[i]);
		first = false;
	}
	if (star)
		ex_imap_write_text(writer, first ? "\\*" : " \\*");
	ex_imap_write_raw(writer, ")", 1);
}

void ex_imap_write_status(ex_imap_writer *writer, const char *tag, const char *status,
			  const char *code, const char *text)
{
	ex_imap_write_text(writer, tag != NULL ? tag : "*");
	ex_imap_write_raw(writer, " ", 1);
	ex_imap_write_text(writer, status);
	if (code != NULL) {
		ex_imap_write_raw(writer, " [", 2);
		ex_imap_write_text(writer, code);
		ex_imap_write_raw(writer, "]", 1);
	}
	ex_imap_write_raw(writer, " ", 1);

	size_t start = writer->length;
	ex_imap_write_text(writer, text);
	if (!writer->overflow) {
		for (size_t i = start; i < writer->length; i++) {
			if (writer->data[i] == '\r' || writer->data[i] == '\n' || writer->data[i] == '\0')
				writer->data[i] = ' ';
		}
	}
	ex_imap_write_raw(writer, "\r\n", 2);
}
