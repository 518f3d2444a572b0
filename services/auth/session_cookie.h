/*
 * Set-Cookie values (RFC 6265) for the session cookies that
 * expresso-auth sets:
 *   expresso_session  the access token, Path=/, read by every daemon
 *                     through authclient's session_cookie option;
 *   expresso_refresh  the refresh token, Path=/auth;
 *   expresso_id       the ID token (for logout's id_token_hint), Path=/auth.
 * All are HttpOnly and SameSite=Lax, and Secure unless the deployment
 * serves plain HTTP (the local stack).
 */
#ifndef EXPRESSO_AUTH_SESSION_COOKIE_H
#define EXPRESSO_AUTH_SESSION_COOKIE_H

#include <stdbool.h>
#include <stddef.h>

#define EX_RP_COOKIE_SESSION "expresso_session"
#define EX_RP_COOKIE_REFRESH "expresso_refresh"
#define EX_RP_COOKIE_ID_TOKEN "expresso_id"
#define EX_RP_COOKIE_PATH_ALL "/"
#define EX_RP_COOKIE_PATH_AUTH "/auth"

enum {
	/* RFC 6265, section 6.1 only requires browsers to keep cookies of up
	 * to 4096 bytes, so longer ones are refused here instead of being
	 * dropped silently by a browser. NOTE: this counts name and value
	 * only, while the RFC's minimum also counts the attributes (about 70
	 * bytes here), so a strictly minimal browser may still drop a cookie
	 * close to the limit. */
	EX_RP_COOKIE_NAME_VALUE_MAX = 4096,
	/* Room for a whole Set-Cookie value: name, value and attributes. */
	EX_RP_SET_COOKIE_MAX = EX_RP_COOKIE_NAME_VALUE_MAX + 256,
	/* max_age value for a cookie that ends with the browser session. */
	EX_RP_COOKIE_SESSION_ONLY = -1,
};

typedef struct {
	const char *name;
	const char *value; /* "" together with max_age 0 deletes the cookie */
	const char *path;
	bool secure;
	long max_age;      /* seconds; 0 deletes; EX_RP_COOKIE_SESSION_ONLY omits it */
} ex_rp_cookie;

/*
 * Writes the Set-Cookie value of COOKIE (always HttpOnly and
 * SameSite=Lax) into OUT. Returns its length, or -1 when the name is not
 * an RFC 6265 token, the value or path has a character a cookie cannot
 * carry, name and value exceed EX_RP_COOKIE_NAME_VALUE_MAX, or OUT is too
 * small.
 */
int ex_rp_cookie_format(char *out, size_t out_size, const ex_rp_cookie *cookie);

/* Writes the Set-Cookie value that deletes cookie NAME at PATH. Same returns. */
int ex_rp_cookie_format_deletion(char *out, size_t out_size, const char *name, const char *path, bool secure);

#endif
