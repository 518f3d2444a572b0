/*
 * The post-login redirect check: a browser is only ever sent back to a
 * local path of this site, never to another origin (open redirect). A
 * candidate that fails the check is replaced by "/".
 */
#ifndef EXPRESSO_AUTH_SAFE_REDIRECT_H
#define EXPRESSO_AUTH_SAFE_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>

enum {
	/* Maximum length of a redirect path, in bytes before any encoding. */
	EX_RP_REDIRECT_MAX = 2048,
	/* Percent-decoding passes applied to find doubly encoded tricks. */
	EX_RP_REDIRECT_DECODE_ROUNDS = 4,
	/* Room for the Location value: every byte may become %XX. */
	EX_RP_REDIRECT_LOCATION_MAX = 3 * EX_RP_REDIRECT_MAX + 1,
};

/*
 * Returns true when CANDIDATE (LENGTH bytes, not NUL-terminated) is a safe
 * local path:
 *   - 1 to EX_RP_REDIRECT_MAX bytes, starting with a single "/" that is not
 *     followed by "/" or "\" (a browser reads "//host" and "/\host" as
 *     another origin);
 *   - no backslash, control character (below 0x20, 0x7f) or NUL anywhere;
 *   - percent escapes well formed ("%" and two hex digits);
 *   - after decoding up to EX_RP_REDIRECT_DECODE_ROUNDS times, still no
 *     control character anywhere and no "/" or "\" right after the first
 *     slash, so a proxy or application that decodes the path once more
 *     cannot turn it into "//host".
 * A path that starts with "/" cannot carry a scheme, so "https://x" and
 * "javascript:..." fail the first rule.
 */
bool ex_rp_redirect_is_safe(const char *candidate, size_t length);

/*
 * Writes the Location value for CANDIDATE into OUT: the candidate itself
 * when it is safe, with bytes above 0x7e and spaces percent-encoded, else
 * "/". OUT needs EX_RP_REDIRECT_LOCATION_MAX bytes. Returns true when the
 * candidate was kept. A NULL candidate gives "/".
 */
bool ex_rp_redirect_location(const char *candidate, size_t length, char *out, size_t out_size);

#endif
