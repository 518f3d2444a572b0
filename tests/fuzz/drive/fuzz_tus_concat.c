/*
 * Fuzzes the Upload-Concat parser: an accepted final header names between
 * one and EX_TUS_CONCAT_MAX_PARTS distinct upload ids, each a UUID.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "drive_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char header[EX_TUS_CONCAT_MAX_HEADER + 64];
	static ex_tus_concat concat;

	if (size >= sizeof(header))
		return 0;
	memcpy(header, data, size);
	header[size] = '\0';

	if (ex_tus_concat_parse(header, &concat) != EX_TUS_CONCAT_OK)
		return 0;
	if (concat.kind == EX_TUS_CONCAT_PARTIAL)
		return 0;
	if (concat.kind != EX_TUS_CONCAT_FINAL || concat.count == 0 || concat.count > EX_TUS_CONCAT_MAX_PARTS)
		abort();
	for (size_t i = 0; i < concat.count; i++) {
		if (strlen(concat.part_ids[i]) != EX_TUS_CONCAT_ID_TEXT)
			abort();
		for (size_t j = 0; j < i; j++) {
			if (strcasecmp(concat.part_ids[i], concat.part_ids[j]) == 0)
				abort();
		}
	}
	return 0;
}
