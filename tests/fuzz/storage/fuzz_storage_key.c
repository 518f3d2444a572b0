/*
 * Fuzzes the object-name checks of libexpresso-storage: an accepted key
 * must never be able to leave the tenant's directory, so no segment may be
 * empty or start with '.' (which rules out "." and ".."), and only the
 * allowed bytes may appear.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/storage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *key = malloc(size + 1);
	if (key == NULL)
		return 0;
	memcpy(key, data, size);
	key[size] = '\0';

	if (ex_storage_key_is_valid(key)) {
		if (key[0] == '/' || strstr(key, "//") != NULL || strstr(key, "/.") != NULL ||
		    key[0] == '.' || key[strlen(key) - 1] == '/')
			abort();
		for (const char *p = key; *p; p++) {
			if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e || *p == '\\')
				abort();
		}
	}
	ex_storage_tenant_is_valid(key);
	free(key);
	return 0;
}
