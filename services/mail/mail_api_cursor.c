/*
 * Keyset cursors of the message list: validation of sort keys and the
 * base64url text form. No I/O; the SQL that uses a cursor is in
 * mail_api_messages.c.
 */
#include "mail_api_cursor.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static const char *const sort_names[EX_MAIL_SORT_COUNT] = { "date", "from", "subject", "size" };

int ex_mail_sort_parse(const char *name, ex_mail_sort *sort)
{
	for (int i = 0; i < EX_MAIL_SORT_COUNT; i++) {
		if (strcmp(name, sort_names[i]) == 0) {
			*sort = (ex_mail_sort)i;
			return 0;
		}
	}
	return -1;
}

const char *ex_mail_sort_name(ex_mail_sort sort)
{
	return sort >= 0 && sort < EX_MAIL_SORT_COUNT ? sort_names[sort] : "";
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool ex_mail_is_uuid(const char *text)
{
	for (size_t i = 0; i < EX_MAIL_CURSOR_UUID_TEXT; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? text[i] != '-' : !is_hex(text[i]))
			return false;
	}
	return text[EX_MAIL_CURSOR_UUID_TEXT] == '\0';
}

/* Returns true when TEXT[0..count) are digits. */
static bool digits(const char *text, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (!is_digit(text[i]))
			return false;
	}
	return true;
}

/* "YYYY-MM-DD HH:MM:SS[.ffffff](+|-)HH[:MM]", the timestamptz output of PostgreSQL with DateStyle ISO. */
static bool is_timestamp(const char *key)
{
	size_t length = strlen(key);
	if (length < 22 || length > 35)
		return false;
	if (!digits(key, 4) || key[4] != '-' || !digits(key + 5, 2) || key[7] != '-' || !digits(key + 8, 2) ||
	    key[10] != ' ' || !digits(key + 11, 2) || key[13] != ':' || !digits(key + 14, 2) || key[16] != ':' ||
	    !digits(key + 17, 2))
		return false;

	const char *p = key + 19;
	if (*p == '.') {
		p++;
		size_t fraction = 0;
		while (is_digit(p[fraction]))
			fraction++;
		if (fraction < 1 || fraction > 6)
			return false;
		p += fraction;
	}
	if ((*p != '+' && *p != '-') || !digits(p + 1, 2))
		return false;
	p += 3;
	if (*p == ':') {
		if (!digits(p + 1, 2))
			return false;
		p += 3;
	}
	return *p == '\0';
}

/* Returns true when TEXT is valid UTF-8 without C0 controls or DEL. */
static bool is_clean_utf8(const unsigned char *text)
{
	while (*text != '\0') {
		unsigned char c = *text;
		size_t extra = 0;
		unsigned minimum = 0;
		unsigned code_point = 0;
		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			text++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			extra = 1;
			minimum = 0x80;
			code_point = c & 0x1fu;
		} else if (c >= 0xe0 && c <= 0xef) {
			extra = 2;
			minimum = 0x800;
			code_point = c & 0x0fu;
		} else if (c >= 0xf0 && c <= 0xf4) {
			extra = 3;
			minimum = 0x10000;
			code_point = c & 0x07u;
		} else {
			return false;
		}
		for (size_t i = 1; i <= extra; i++) {
			if ((text[i] & 0xc0) != 0x80)
				return false;
			code_point = (code_point << 6) | (text[i] & 0x3fu);
		}
		if (code_point < minimum || code_point > 0x10ffff || (code_point >= 0xd800 && code_point <= 0xdfff))
			return false;
		text += extra + 1;
	}
	return true;
}

bool ex_mail_sort_key_is_valid(ex_mail_sort sort, const char *key)
{
	size_t length = strlen(key);
	if (length > EX_MAIL_CURSOR_MAX_KEY)
		return false;
	switch (sort) {
	case EX_MAIL_SORT_SIZE:
		return length >= 1 && length <= 18 && digits(key, length);
	case EX_MAIL_SORT_DATE:
		return is_timestamp(key);
	case EX_MAIL_SORT_FROM:
	case EX_MAIL_SORT_SUBJECT:
		return is_clean_utf8((const unsigned char *)key);
	default:
		return false;
	}
}

int ex_mail_cursor_encode(const ex_mail_cursor *cursor, char *out, size_t size)
{
	char plain[EX_MAIL_CURSOR_MAX_KEY + 64];
	unsigned char encoded[EX_MAIL_CURSOR_MAX_TEXT + 4];

	if (cursor->sort < 0 || cursor->sort >= EX_MAIL_SORT_COUNT || !ex_mail_is_uuid(cursor->id) ||
	    !ex_mail_sort_key_is_valid(cursor->sort, cursor->key))
		return -1;
	int length = snprintf(plain, sizeof(plain), "1\n%s\n%c\n%s\n%s", sort_names[cursor->sort],
			      cursor->descending ? 'd' : 'a', cursor->id, cursor->key);
	if (length < 0 || (size_t)length >= sizeof(plain))
		return -1;

	int written = EVP_EncodeBlock(encoded, (const unsigned char *)plain, length);
	while (written > 0 && encoded[written - 1] == '=')
		written--;
	if ((size_t)written >= size)
		return -1;
	for (int i = 0; i < written; i++) {
		char c = (char)encoded[i];
		if (c == '+')
			c = '-';
		else if (c == '/')
			c = '_';
		out[i] = c;
	}
	out[written] = '\0';
	return 0;
}

/* Decodes base64url without padding into OUT; returns the byte count or -1. */
static int decode_base64url(const char *text, unsigned char *out, size_t size)
{
	char padded[EX_MAIL_CURSOR_MAX_TEXT + 4];
	size_t length = strlen(text);

	if (length == 0 || length > EX_MAIL_CURSOR_MAX_TEXT || length % 4 == 1)
		return -1;
	for (size_t i = 0; i < length; i++) {
		char c = text[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c)))
			return -1;
		padded[i] = c;
	}
	size_t padding = (4 - length % 4) % 4;
	memset(padded + length, '=', padding);
	if ((length + padding) / 4 * 3 > size)
		return -1;

	int decoded = EVP_DecodeBlock(out, (const unsigned char *)padded, (int)(length + padding));
	if (decoded < 0)
		return -1;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	return decoded - (int)padding;
}

int ex_mail_cursor_decode(const char *text, ex_mail_cursor *cursor)
{
	unsigned char plain[EX_MAIL_CURSOR_MAX_TEXT];
	char *fields[5];

	int length = decode_base64url(text, plain, sizeof(plain) - 1);
	if (length < 0)
		return -1;
	plain[length] = '\0';
	if (memchr(plain, '\0', (size_t)length) != NULL)
		return -1;

	/* Split on the first four line feeds; the key may not contain one, so a fifth is an error. */
	char *p = (char *)plain;
	for (int i = 0; i < 4; i++) {
		fields[i] = p;
		p = strchr(p, '\n');
		if (p == NULL)
			return -1;
		*p++ = '\0';
	}
	fields[4] = p;

	ex_mail_sort sort;
	if (strcmp(fields[0], "1") != 0 || ex_mail_sort_parse(fields[1], &sort) != 0)
		return -1;
	if (strcmp(fields[2], "a") != 0 && strcmp(fields[2], "d") != 0)
		return -1;
	if (!ex_mail_is_uuid(fields[3]) || !ex_mail_sort_key_is_valid(sort, fields[4]))
		return -1;

	cursor->sort = sort;
	cursor->descending = fields[2][0] == 'd';
	snprintf(cursor->id, sizeof(cursor->id), "%s", fields[3]);
	snprintf(cursor->key, sizeof(cursor->key), "%s", fields[4]);
	return 0;
}
