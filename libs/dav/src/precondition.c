/* If-Match and If-None-Match with strong comparison (RFC 9110 sections 13.1.1, 13.1.2). */
#include "expresso/dav_http.h"

#include <stdio.h>
#include <string.h>

/* Returns true when the comma-separated entity-tag LIST contains ETAG or "*" (with ETAG present). */
static bool list_matches(const char *list, const char *etag)
{
	const char *p = list;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		const char *start = p;
		if (*p == '*') {
			p++;
		} else {
			if (p[0] == 'W' && p[1] == '/')
				p += 2;
			if (*p == '"') {
				const char *close = strchr(p + 1, '"');
				p = close ? close + 1 : p + strlen(p);
			}
			while (*p != '\0' && *p != ',')
				p++;
		}
		size_t length = (size_t)(p - start);
		while (length > 0 && (start[length - 1] == ' ' || start[length - 1] == '\t'))
			length--;
		if (etag != NULL && length == 1 && start[0] == '*')
			return true;
		if (etag != NULL && start[0] == '"' && length == strlen(etag) && memcmp(start, etag, length) == 0)
			return true;
	}
	return false;
}

ex_dav_condition ex_dav_evaluate_conditions(const char *if_match, const char *if_none_match,
					    const char *current_etag, bool read_only)
{
	if (if_match != NULL && !list_matches(if_match, current_etag))
		return EX_DAV_CONDITION_FAILED;
	if (if_none_match != NULL && list_matches(if_none_match, current_etag))
		return read_only ? EX_DAV_CONDITION_NOT_MODIFIED : EX_DAV_CONDITION_FAILED;
	return EX_DAV_CONDITION_PASSED;
}

unsigned ex_dav_check_conditions(const char *if_match, const char *if_none_match, const char *current_etag,
				 bool read_only, const char *noun, char *message, size_t size)
{
	ex_dav_condition condition = ex_dav_evaluate_conditions(if_match, if_none_match, current_etag, read_only);
	if (condition == EX_DAV_CONDITION_NOT_MODIFIED)
		return 304;
	if (condition == EX_DAV_CONDITION_PASSED)
		return 0;
	if (current_etag != NULL)
		snprintf(message, size, "the %s has changed (its ETag is %s); fetch it again before writing", noun,
			 current_etag);
	else
		snprintf(message, size, "the %s does not exist", noun);
	return 412;
}
