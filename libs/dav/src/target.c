/* Parsing of DAV request paths into targets, and the hrefs and dead-property keys written for them. */
#include "expresso/dav_target.h"

#include <stdio.h>
#include <string.h>

#include "expresso/dav_http.h"
#include "expresso/router.h"

bool ex_dav_collection_name_is_valid(const char *name)
{
	size_t length = strlen(name);
	if (length == 0 || length > EX_DAV_MAX_COLLECTION_NAME)
		return false;
	for (size_t i = 0; i < length; i++) {
		char c = name[i];
		bool letter_or_digit = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!letter_or_digit && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

bool ex_dav_resource_name_is_valid(const char *name)
{
	size_t length = strlen(name);
	if (length == 0 || length > EX_DAV_MAX_RESOURCE_NAME || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < length; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return false;
	}
	return true;
}

/* Copies the next segment of *PATH into OUT; returns its length or -1 when it does not fit. */
static long next_segment(const char **path, char *out, size_t size)
{
	const char *slash = strchr(*path, '/');
	size_t length = slash ? (size_t)(slash - *path) : strlen(*path);
	if (length >= size)
		return -1;
	memcpy(out, *path, length);
	out[length] = '\0';
	*path += length + (slash ? 1 : 0);
	return (long)length;
}

void ex_dav_parse_target(const char *path, const char *home, const char *user_id, ex_dav_target *target)
{
	char segment[32];
	char user[EX_DAV_MAX_USER_ID + 1];

	memset(target, 0, sizeof(*target));
	target->kind = EX_DAV_TARGET_NOT_FOUND;
	if (path[0] == '\0') {
		target->kind = EX_DAV_TARGET_DAV_ROOT;
		return;
	}
	if (next_segment(&path, segment, sizeof(segment)) < 0)
		return;
	bool principals = strcmp(segment, EX_DAV_PRINCIPALS) == 0;
	if (principals && path[0] == '\0') {
		target->kind = EX_DAV_TARGET_PRINCIPALS;
		return;
	}
	if (next_segment(&path, user, sizeof(user)) <= 0 || strcmp(user, user_id) != 0)
		return;
	if (principals) {
		if (path[0] == '\0')
			target->kind = EX_DAV_TARGET_PRINCIPAL;
		return;
	}
	if (strcmp(segment, home) != 0)
		return;
	if (path[0] == '\0') {
		target->kind = EX_DAV_TARGET_HOME;
		return;
	}
	if (next_segment(&path, target->collection, sizeof(target->collection)) <= 0 ||
	    !ex_dav_collection_name_is_valid(target->collection)) {
		target->collection[0] = '\0';
		return;
	}
	if (path[0] == '\0') {
		target->kind = EX_DAV_TARGET_COLLECTION;
		return;
	}
	if (next_segment(&path, target->resource, sizeof(target->resource)) <= 0 || path[0] != '\0' ||
	    !ex_dav_resource_name_is_valid(target->resource)) {
		target->collection[0] = '\0';
		target->resource[0] = '\0';
		return;
	}
	target->kind = EX_DAV_TARGET_RESOURCE;
}

int ex_dav_format_href(char *out, const char *segment, const char *user_id, const char *collection,
		       const char *resource)
{
	char encoded_collection[EX_DAV_MAX_HREF] = "";
	char encoded_resource[EX_DAV_MAX_HREF] = "";

	if ((collection != NULL &&
	     ex_dav_encode_segment(collection, encoded_collection, sizeof(encoded_collection)) != 0) ||
	    (resource != NULL && ex_dav_encode_segment(resource, encoded_resource, sizeof(encoded_resource)) != 0))
		return -1;
	int written = snprintf(out, EX_DAV_MAX_HREF, "%s%s/%s/%s%s%s", EX_DAV_ROOT, segment, user_id,
			       encoded_collection, collection != NULL ? "/" : "", encoded_resource);
	return written > 0 && written < EX_DAV_MAX_HREF ? 0 : -1;
}

int ex_dav_property_path(char *out, size_t size, const char *home, const char *user_id, const ex_dav_target *target)
{
	int written;
	switch (target->kind) {
	case EX_DAV_TARGET_PRINCIPAL:
		written = snprintf(out, size, EX_DAV_PRINCIPALS "/%s/", user_id);
		break;
	case EX_DAV_TARGET_HOME:
		written = snprintf(out, size, "%s/%s/", home, user_id);
		break;
	case EX_DAV_TARGET_COLLECTION:
		written = snprintf(out, size, "%s/%s/%s/", home, user_id, target->collection);
		break;
	case EX_DAV_TARGET_RESOURCE:
		written = snprintf(out, size, "%s/%s/%s/%s", home, user_id, target->collection, target->resource);
		break;
	default:
		return -1;
	}
	return written > 0 && (size_t)written < size ? 0 : -1;
}

const char *ex_dav_resource_name_of_href(const char *href, const char *home, const char *user_id,
					 const char *collection, char *name, size_t size)
{
	char decoded[EX_DAV_MAX_HREF];
	ex_dav_target target;

	const char *path = href;
	const char *scheme = strstr(href, "://");
	if (scheme != NULL) {
		path = strchr(scheme + 3, '/');
		if (path == NULL)
			return NULL;
	}
	if (ex_percent_decode(path, strlen(path), decoded, sizeof(decoded), 0) != 0 ||
	    strncmp(decoded, EX_DAV_ROOT, strlen(EX_DAV_ROOT)) != 0)
		return NULL;
	ex_dav_parse_target(decoded + strlen(EX_DAV_ROOT), home, user_id, &target);
	if (target.kind != EX_DAV_TARGET_RESOURCE || strcmp(target.collection, collection) != 0)
		return NULL;
	snprintf(name, size, "%s", target.resource);
	return name;
}
