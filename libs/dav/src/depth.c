/* The Depth request header of RFC 4918 section 10.2. */
#include "expresso/dav_request.h"

#include <string.h>
#include <strings.h>

ex_dav_depth ex_dav_parse_depth(const char *header, ex_dav_depth default_depth)
{
	if (header == 0)
		return default_depth;
	if (strcmp(header, "0") == 0)
		return EX_DAV_DEPTH_0;
	if (strcmp(header, "1") == 0)
		return EX_DAV_DEPTH_1;
	if (strcasecmp(header, "infinity") == 0)
		return EX_DAV_DEPTH_INFINITY;
	return EX_DAV_DEPTH_INVALID;
}
