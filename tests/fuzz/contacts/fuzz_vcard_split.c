/*
 * Feeds arbitrary bytes to the vCard splitter of the import API, then
 * parses each block it finds with the vCard parser, as an import does
 * before storing each vCard.
 */
#include <stddef.h>
#include <stdint.h>

#include "vcard.h"
#include "vcard_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ex_vcard_span spans[64];
	size_t count = 0;
	char err[256];
	const char *text = (const char *)data;

	if (ex_vcard_split(text, size, spans, 64, &count, err, sizeof(err)) != EX_VCARD_SPLIT_OK)
		return 0;
	for (size_t i = 0; i < count; i++) {
		if (spans[i].offset > size || spans[i].length > size - spans[i].offset)
			__builtin_trap();
		ex_vcard_list_free(ex_vcard_parse(text + spans[i].offset, spans[i].length, err, sizeof(err)));
	}
	return 0;
}
