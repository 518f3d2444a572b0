/*
 * Fuzzes the keyset cursor decoder of the mail API's message list and
 * checks its promise: a cursor that decodes has a valid id and key, and
 * encodes back to the same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail_api_cursor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[EX_MAIL_CURSOR_MAX_TEXT + 2];
	char again[EX_MAIL_CURSOR_MAX_TEXT + 2];
	ex_mail_cursor cursor;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (ex_mail_cursor_decode(text, &cursor) != 0)
		return 0;
	if (!ex_mail_is_uuid(cursor.id) || !ex_mail_sort_key_is_valid(cursor.sort, cursor.key))
		abort();
	if (ex_mail_cursor_encode(&cursor, again, sizeof(again)) != 0)
		abort();
	/* Trailing bits of the last base64 character may differ; the decoded values may not. */
	ex_mail_cursor decoded;
	if (ex_mail_cursor_decode(again, &decoded) != 0 || decoded.sort != cursor.sort ||
	    decoded.descending != cursor.descending || strcmp(decoded.id, cursor.id) != 0 ||
	    strcmp(decoded.key, cursor.key) != 0)
		abort();
	return 0;
}
