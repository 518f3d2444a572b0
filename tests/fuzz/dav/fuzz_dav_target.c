/*
 * Feeds arbitrary bytes as a request path to the DAV target parser, then
 * writes the href and dead-property key of what it parsed, as the
 * CalDAV and CardDAV handlers do.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = malloc(size + 1);
	if (path == NULL)
		return 0;
	memcpy(path, data, size);
	path[size] = '\0';

	ex_dav_target target;
	ex_dav_parse_target(path, "calendars", "u-1", &target);
	if (target.kind == EX_DAV_TARGET_NOT_FOUND && (target.collection[0] != '\0' || target.resource[0] != '\0'))
		abort();

	char href[EX_DAV_MAX_HREF];
	char key[EX_DAV_MAX_HREF];
	if (target.kind == EX_DAV_TARGET_RESOURCE &&
	    ex_dav_format_href(href, "calendars", "u-1", target.collection, target.resource) == 0 &&
	    strncmp(href, EX_DAV_ROOT "calendars/u-1/", strlen(EX_DAV_ROOT "calendars/u-1/")) != 0)
		abort();
	(void)ex_dav_property_path(key, sizeof(key), "calendars", "u-1", &target);
	free(path);
	return 0;
}
