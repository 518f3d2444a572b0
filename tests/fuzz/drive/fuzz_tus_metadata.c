/*
 * Fuzzes the Upload-Metadata parser and checks invariants, not only
 * crashes: every accepted header yields unique, well-formed keys whose
 * decoded values lie inside the value buffer and are found by lookup, and
 * the name check never accepts a '/' or a control character.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drive_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ex_tus_metadata metadata;
	static char header[EX_TUS_METADATA_MAX_HEADER + 64];

	if (size >= sizeof(header))
		return 0;
	memcpy(header, data, size);
	header[size] = '\0';

	ex_tus_metadata_status status = ex_tus_metadata_parse(header, &metadata);
	if (status != EX_TUS_METADATA_OK) {
		if (metadata.count != 0)
			abort();
		return 0;
	}
	if (metadata.count > EX_TUS_METADATA_MAX_PAIRS)
		abort();
	for (size_t i = 0; i < metadata.count; i++) {
		const ex_tus_metadata_pair *pair = &metadata.pairs[i];
		size_t key_length = strlen(pair->key);
		if (key_length == 0 || key_length > EX_TUS_METADATA_MAX_KEY || strpbrk(pair->key, " ,") != NULL)
			abort();
		if (pair->value_offset + pair->value_length >= sizeof(metadata.values))
			abort();
		if (metadata.values[pair->value_offset + pair->value_length] != '\0')
			abort();
		for (size_t j = 0; j < i; j++) {
			if (strcmp(metadata.pairs[j].key, pair->key) == 0)
				abort();
		}
		size_t length = 0;
		const char *value = ex_tus_metadata_get(&metadata, pair->key, &length);
		if (value != (const char *)metadata.values + pair->value_offset || length != pair->value_length)
			abort();
		if (ex_drive_name_check(value, length) == EX_DRIVE_NAME_OK) {
			for (size_t k = 0; k < length; k++) {
				unsigned char c = (unsigned char)value[k];
				if (c == '/' || c < 0x20 || c == 0x7f)
					abort();
			}
		}
	}
	return 0;
}
