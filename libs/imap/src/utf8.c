/*
 * UTF-8 validation (RFC 3629): the parser checks quoted strings with it and
 * the mailbox code checks names.
 */
#include "expresso/imap_mailbox.h"

#include "imap_utf8.h"

size_t ex_imap_utf8_decode_one(const unsigned char *s, size_t length, unsigned *code_point)
{
	unsigned char c = s[0];
	size_t need;
	unsigned value;
	unsigned minimum;

	if (c < 0x80) {
		*code_point = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		value = c & 0x1f;
		minimum = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		value = c & 0x0f;
		minimum = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		value = c & 0x07;
		minimum = 0x10000;
	} else {
		return 0;
	}
	if (length < need + 1)
		return 0;
	for (size_t i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		value = (value << 6) | (s[i] & 0x3f);
	}
	if (value < minimum || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff))
		return 0;
	*code_point = value;
	return need + 1;
}

bool ex_imap_utf8_valid(const char *s, size_t length)
{
	const unsigned char *bytes = (const unsigned char *)s;
	size_t i = 0;

	while (i < length) {
		if (bytes[i] < 0x80) {
			i++;
			continue;
		}
		unsigned code_point;
		size_t used = ex_imap_utf8_decode_one(bytes + i, length - i, &code_point);
		if (used == 0)
			return false;
		i += used;
	}
	return true;
}
