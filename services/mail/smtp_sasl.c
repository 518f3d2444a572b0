/*
 * Base64 and SASL PLAIN for SMTP AUTH.
 */
#include "smtp_sasl.h"

#include <string.h>
#include <strings.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int sextet(char c)
{
	const char *found = c == '\0' ? NULL : strchr(alphabet, c);
	return found == NULL ? -1 : (int)(found - alphabet);
}

int ex_sasl_base64_decode(const char *text, size_t text_length, char *out, size_t out_size, size_t *length)
{
	size_t written = 0;

	if (text_length % 4 != 0 || out_size == 0)
		return -1;
	for (size_t i = 0; i < text_length; i += 4) {
		int values[4];
		int padding = 0;
		for (int j = 0; j < 4; j++) {
			char c = text[i + (size_t)j];
			if (c == '=' && i + 4 == text_length && j >= 2) {
				padding++;
				values[j] = 0;
				continue;
			}
			if (padding > 0)
				return -1;
			values[j] = sextet(c);
			if (values[j] < 0)
				return -1;
		}
		unsigned long group = ((unsigned long)values[0] << 18) | ((unsigned long)values[1] << 12) |
				      ((unsigned long)values[2] << 6) | (unsigned long)values[3];
		size_t bytes = 3 - (size_t)padding;
		if (written + bytes >= out_size)
			return -1;
		out[written++] = (char)(group >> 16);
		if (bytes > 1)
			out[written++] = (char)((group >> 8) & 0xff);
		if (bytes > 2)
			out[written++] = (char)(group & 0xff);
	}
	out[written] = '\0';
	*length = written;
	return 0;
}

int ex_sasl_base64_encode(const char *data, size_t length, char *out, size_t out_size)
{
	const unsigned char *bytes = (const unsigned char *)data;
	size_t written = 0;

	if ((length + 2) / 3 * 4 + 1 > out_size)
		return -1;
	for (size_t i = 0; i < length; i += 3) {
		unsigned long group = (unsigned long)bytes[i] << 16;
		if (i + 1 < length)
			group |= (unsigned long)bytes[i + 1] << 8;
		if (i + 2 < length)
			group |= bytes[i + 2];
		out[written++] = alphabet[(group >> 18) & 63];
		out[written++] = alphabet[(group >> 12) & 63];
		out[written++] = i + 1 < length ? alphabet[(group >> 6) & 63] : '=';
		out[written++] = i + 2 < length ? alphabet[group & 63] : '=';
	}
	out[written] = '\0';
	return 0;
}

int ex_sasl_plain_split(const char *message, size_t length, const char **authcid, const char **password)
{
	const char *first = memchr(message, '\0', length);
	if (first == NULL)
		return -1;
	const char *second = memchr(first + 1, '\0', length - (size_t)(first + 1 - message));
	if (second == NULL)
		return -1;
	/* The password runs to the end and must not contain a third NUL. */
	if (memchr(second + 1, '\0', length - (size_t)(second + 1 - message)) != NULL)
		return -1;

	*authcid = first + 1;
	*password = second + 1;
	if (**authcid == '\0' || **password == '\0')
		return -1;
	if (first != message && strcmp(message, *authcid) != 0)
		return -1;
	return 0;
}

/* Decodes the saslname escapes "=2C" (",") and "=3D" ("=") in place; returns -1 for any other "=". */
static int unescape_saslname(char *name)
{
	char *out = name;
	for (const char *in = name; *in != '\0'; in++) {
		if (*in == '=') {
			if (strncmp(in, "=2C", 3) == 0)
				*out++ = ',';
			else if (strncmp(in, "=3D", 3) == 0)
				*out++ = '=';
			else
				return -1;
			in += 2;
		} else {
			*out++ = *in;
		}
	}
	*out = '\0';
	return 0;
}

/* Splits the "key=value" ^A ... ^A pairs at PAIRS; sets *user and *token when present. */
static int parse_pairs(char *pairs, const char **user, const char **token)
{
	char *cursor = pairs;
	*token = NULL;

	for (;;) {
		char *end = strchr(cursor, '\x01');
		if (end == NULL)
			return -1;
		if (end == cursor)
			return end[1] == '\0' && *token != NULL ? 0 : -1; /* the final ^A ends the message */
		*end = '\0';
		if (strncmp(cursor, "auth=", 5) == 0) {
			if (strncasecmp(cursor + 5, "Bearer ", 7) != 0 || cursor[12] == '\0')
				return -1;
			*token = cursor + 12;
		} else if (user != NULL && strncmp(cursor, "user=", 5) == 0) {
			*user = cursor + 5;
		}
		cursor = end + 1;
	}
}

int ex_sasl_oauth_parse(char *message, size_t length, bool xoauth2, const char **authzid, const char **token)
{
	if (memchr(message, '\0', length) != NULL)
		return -1;
	*authzid = "";
	if (xoauth2)
		return parse_pairs(message, authzid, token);

	/* gs2-header: "n," or "y," then an optional "a=authzid", then ",". */
	if ((message[0] != 'n' && message[0] != 'y') || message[1] != ',')
		return -1;
	char *rest = message + 2;
	if (strncmp(rest, "a=", 2) == 0) {
		char *comma = strchr(rest, ',');
		if (comma == NULL)
			return -1;
		*comma = '\0';
		if (unescape_saslname(rest + 2) != 0)
			return -1;
		*authzid = rest + 2;
		rest = comma + 1;
	} else if (rest[0] == ',') {
		rest++;
	} else {
		return -1;
	}
	if (rest[0] != '\x01')
		return -1;
	return parse_pairs(rest + 1, NULL, token);
}
