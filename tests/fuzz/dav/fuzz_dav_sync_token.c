/* Feeds arbitrary bytes as a DAV:sync-token to the sync-token parser, and as an href to the multiget href parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_sync.h"
#include "expresso/dav_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	long long sequence = ex_dav_parse_sync_token(text, "c-1", 1000, 10);
	if (sequence != EX_DAV_SYNC_INITIAL && sequence != EX_DAV_SYNC_INVALID && (sequence < 10 || sequence > 1000))
		abort();

	char name[EX_DAV_MAX_RESOURCE_NAME + 1];
	const char *found = ex_dav_resource_name_of_href(text, "addressbooks", "u-1", "default", name, sizeof(name));
	if (found != NULL && !ex_dav_resource_name_is_valid(found))
		abort();
	free(text);
	return 0;
}
