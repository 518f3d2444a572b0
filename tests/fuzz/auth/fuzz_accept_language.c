/*
 * Fuzzes the Accept-Language parser. Any header text must give one of the
 * two languages without reading past the terminator, and must give the
 * same result twice.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "accept_language.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *header = malloc(size + 1);
	if (header == NULL)
		return 0;
	memcpy(header, data, size);
	header[size] = '\0';

	ex_rp_language first = ex_rp_language_choose(header);
	if (first != EX_RP_LANGUAGE_PT_BR && first != EX_RP_LANGUAGE_EN)
		abort();
	if (ex_rp_language_choose(header) != first)
		abort();
	free(header);
	return 0;
}
