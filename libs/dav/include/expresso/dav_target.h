/*
 * The URL layout shared by the CalDAV and CardDAV daemons, and the parser
 * and href writer for it. Below the DAV root /dav/:
 *   principals/<user id>/                      the user's principal
 *   <home>/<user id>/                          the home, a container of collections
 *   <home>/<user id>/<collection>/             a collection
 *   <home>/<user id>/<collection>/<resource>   one resource
 * <home> is the daemon's home segment ("calendars", "addressbooks"). A
 * path naming another user than the authenticated one is not found.
 */
#ifndef EXPRESSO_DAV_TARGET_H
#define EXPRESSO_DAV_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#define EX_DAV_ROOT "/dav/"
#define EX_DAV_PRINCIPALS "principals"

enum {
	EX_DAV_MAX_COLLECTION_NAME = 64, /* bytes of a collection name */
	EX_DAV_MAX_RESOURCE_NAME = 255,  /* bytes of a resource name */
	EX_DAV_MAX_HREF = 1024,          /* bytes of an href, with its terminating NUL */
	EX_DAV_MAX_USER_ID = 63,         /* bytes of the user id segment */
};

typedef enum {
	EX_DAV_TARGET_NOT_FOUND,
	EX_DAV_TARGET_DAV_ROOT,   /* /dav/ */
	EX_DAV_TARGET_PRINCIPALS, /* /dav/principals/ */
	EX_DAV_TARGET_PRINCIPAL,
	EX_DAV_TARGET_HOME,
	EX_DAV_TARGET_COLLECTION,
	EX_DAV_TARGET_RESOURCE,
} ex_dav_target_kind;

typedef struct {
	ex_dav_target_kind kind;
	char collection[EX_DAV_MAX_COLLECTION_NAME + 1]; /* "" unless kind is COLLECTION or RESOURCE */
	char resource[EX_DAV_MAX_RESOURCE_NAME + 1];     /* "" unless kind is RESOURCE */
} ex_dav_target;

/*
 * Returns true when NAME may name a collection: 1 to 64 bytes of ASCII
 * letters, digits, '.', '_' and '-', starting with a letter or digit.
 */
bool ex_dav_collection_name_is_valid(const char *name);

/* Returns true when NAME may name a resource: 1 to 255 bytes without control characters, and not "." or "..". */
bool ex_dav_resource_name_is_valid(const char *name);

/*
 * Parses PATH, percent-decoded and relative to the DAV root, into TARGET
 * for the daemon whose homes sit below HOME. A path of another user than
 * USER_ID, an invalid name or a deeper path gives EX_DAV_TARGET_NOT_FOUND.
 */
void ex_dav_parse_target(const char *path, const char *home, const char *user_id, ex_dav_target *target);

/*
 * Writes EX_DAV_ROOT SEGMENT "/" USER_ID "/" [COLLECTION "/" [RESOURCE]]
 * into OUT (EX_DAV_MAX_HREF bytes), percent-encoding COLLECTION and
 * RESOURCE. SEGMENT is EX_DAV_PRINCIPALS or the home segment; COLLECTION
 * and RESOURCE may be NULL. Returns 0, or -1 when the href does not fit.
 */
int ex_dav_format_href(char *out, const char *segment, const char *user_id, const char *collection,
		       const char *resource);

/*
 * Writes the key under which the dead properties of TARGET are stored
 * (the path below the DAV root, not encoded) into OUT. Returns 0, or -1
 * when it does not fit or TARGET has no dead properties.
 */
int ex_dav_property_path(char *out, size_t size, const char *home, const char *user_id, const ex_dav_target *target);

/*
 * Returns the name of the resource that HREF (a path or an absolute URL,
 * percent-encoded) names inside COLLECTION of USER_ID below HOME, copied
 * into NAME, or NULL when HREF names anything else.
 */
const char *ex_dav_resource_name_of_href(const char *href, const char *home, const char *user_id,
					 const char *collection, char *name, size_t size);

#endif
