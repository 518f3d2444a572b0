/*
 * Checks the DSN extension's parameter values (RFC 3461 4). Values are
 * kept in their xtext form: they are passed on to the next server as
 * received and shown in DSNs, whose fields allow the same characters.
 */
#include "smtp_dsn.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_upper_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

bool ex_smtp_xtext_is_valid(const char *value, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c == '+') {
			if (i + 2 >= length)
				return false;
			if (!is_upper_hex(value[i + 1]) || !is_upper_hex(value[i + 2]))
				return false;
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return false;
		}
	}
	return true;
}

unsigned ex_smtp_dsn_parse_notify(const char *value, size_t length)
{
	static const struct {
		const char *word;
		unsigned bit;
	} words[] = {
		{ "NEVER", EX_SMTP_NOTIFY_NEVER },
		{ "SUCCESS", EX_SMTP_NOTIFY_SUCCESS },
		{ "FAILURE", EX_SMTP_NOTIFY_FAILURE },
		{ "DELAY", EX_SMTP_NOTIFY_DELAY },
	};
	unsigned bits = 0;
	size_t start = 0;
	if (length == 0)
		return 0;
	while (start <= length) {
		const char *comma = memchr(value + start, ',', length - start);
		size_t end = comma == NULL ? length : (size_t)(comma - value);
		unsigned bit = 0;
		for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
			size_t word_length = strlen(words[i].word);
			if (end - start == word_length && strncasecmp(value + start, words[i].word, word_length) == 0)
				bit = words[i].bit;
		}
		if (bit == 0 || (bits & bit) != 0)
			return 0;
		bits |= bit;
		if (comma == NULL)
			break;
		start = end + 1;
		if (start == length)
			return 0; /* a trailing comma */
	}
	/* RFC 3461 4.1: NEVER must appear alone. */
	if ((bits & EX_SMTP_NOTIFY_NEVER) != 0 && bits != EX_SMTP_NOTIFY_NEVER)
		return 0;
	return bits;
}

void ex_smtp_dsn_format_notify(unsigned notify, char out[EX_SMTP_DSN_NOTIFY_TEXT])
{
	out[0] = '\0';
	if ((notify & EX_SMTP_NOTIFY_NEVER) != 0) {
		snprintf(out, EX_SMTP_DSN_NOTIFY_TEXT, "NEVER");
		return;
	}
	const char *names[] = { "SUCCESS", "FAILURE", "DELAY" };
	const unsigned bits[] = { EX_SMTP_NOTIFY_SUCCESS, EX_SMTP_NOTIFY_FAILURE, EX_SMTP_NOTIFY_DELAY };
	size_t used = 0;
	for (size_t i = 0; i < 3; i++) {
		if ((notify & bits[i]) == 0)
			continue;
		int written = snprintf(out + used, EX_SMTP_DSN_NOTIFY_TEXT - used, "%s%s", used > 0 ? "," : "", names[i]);
		if (written > 0)
			used += (size_t)written;
	}
}

int ex_smtp_dsn_parse_orcpt(const char *value, size_t length, char *out, size_t size)
{
	const char *semicolon = memchr(value, ';', length);
	if (semicolon == NULL || semicolon == value || length > EX_SMTP_DSN_MAX_ORCPT || length >= size)
		return -1;
	for (const char *p = value; p < semicolon; p++) {
		if (!isalnum((unsigned char)*p) && *p != '-')
			return -1;
	}
	size_t address_length = length - (size_t)(semicolon + 1 - value);
	if (address_length == 0 || !ex_smtp_xtext_is_valid(semicolon + 1, address_length))
		return -1;
	memcpy(out, value, length);
	out[length] = '\0';
	return 0;
}
