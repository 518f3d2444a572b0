/*
 * Bounded string building with percent-encoding for URLs and
 * application/x-www-form-urlencoded bodies.
 */
#include "url_text.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void ex_rp_url_text_init(ex_rp_url_text *text, size_t max)
{
	memset(text, 0, sizeof(*text));
	text->max = max ? max : EX_RP_URL_TEXT_DEFAULT_MAX;
}

/* Makes room for EXTRA more bytes plus the terminator; false on failure. */
static bool reserve(ex_rp_url_text *text, size_t extra)
{
	if (text->failed)
		return false;
	if (extra > text->max - text->length) {
		text->failed = true;
		return false;
	}
	size_t needed = text->length + extra + 1;
	if (needed <= text->capacity)
		return true;

	size_t capacity = text->capacity ? text->capacity : 256;
	while (capacity < needed)
		capacity *= 2;
	char *grown = malloc(capacity);
	if (grown == NULL) {
		text->failed = true;
		return false;
	}
	if (text->data != NULL) {
		memcpy(grown, text->data, text->length + 1);
		OPENSSL_cleanse(text->data, text->capacity);
		free(text->data);
	}
	text->data = grown;
	text->capacity = capacity;
	return true;
}

static void append_bytes(ex_rp_url_text *text, const char *bytes, size_t length)
{
	if (!reserve(text, length))
		return;
	memcpy(text->data + text->length, bytes, length);
	text->length += length;
	text->data[text->length] = '\0';
}

void ex_rp_url_text_append(ex_rp_url_text *text, const char *literal)
{
	append_bytes(text, literal, strlen(literal));
}

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
	       c == '_' || c == '~';
}

void ex_rp_url_text_append_encoded(ex_rp_url_text *text, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (is_unreserved(*p)) {
			append_bytes(text, (const char *)p, 1);
		} else {
			char escape[3] = { '%', hex[*p >> 4], hex[*p & 0x0f] };
			append_bytes(text, escape, sizeof(escape));
		}
	}
}

void ex_rp_url_text_append_parameter(ex_rp_url_text *text, char separator, const char *name, const char *value)
{
	if (text->length > 0)
		append_bytes(text, &separator, 1);
	ex_rp_url_text_append_encoded(text, name);
	append_bytes(text, "=", 1);
	ex_rp_url_text_append_encoded(text, value);
}

char *ex_rp_url_text_steal(ex_rp_url_text *text)
{
	if (text->failed) {
		ex_rp_url_text_free(text);
		return NULL;
	}
	if (text->data == NULL && !reserve(text, 0))
		return NULL;
	char *result = text->data;
	text->data = NULL;
	text->length = 0;
	text->capacity = 0;
	return result;
}

void ex_rp_url_text_free(ex_rp_url_text *text)
{
	if (text->data != NULL) {
		OPENSSL_cleanse(text->data, text->capacity);
		free(text->data);
	}
	text->data = NULL;
	text->length = 0;
	text->capacity = 0;
}
