/*
 * Set-Cookie formatting with RFC 6265's character rules: a name is a
 * token, a value is cookie-octets (no control characters, whitespace,
 * DQUOTE, comma, semicolon or backslash) and a path has no control
 * character or semicolon.
 */
#include "session_cookie.h"

#include <stdio.h>
#include <string.h>

static bool is_token_character(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

static bool is_cookie_octet(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) || (c >= 0x3c && c <= 0x5b) ||
	       (c >= 0x5d && c <= 0x7e);
}

static bool name_is_valid(const char *name)
{
	if (name == NULL || name[0] == '\0')
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (!is_token_character(*p))
			return false;
	}
	return true;
}

static bool value_is_valid(const char *value)
{
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (!is_cookie_octet(*p))
			return false;
	}
	return true;
}

static bool path_is_valid(const char *path)
{
	if (path == NULL || path[0] != '/')
		return false;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == ';')
			return false;
	}
	return true;
}

int ex_rp_cookie_format(char *out, size_t out_size, const ex_rp_cookie *cookie)
{
	if (!name_is_valid(cookie->name) || cookie->value == NULL || !value_is_valid(cookie->value) ||
	    !path_is_valid(cookie->path))
		return -1;
	if (strlen(cookie->name) + strlen(cookie->value) > EX_RP_COOKIE_NAME_VALUE_MAX)
		return -1;

	char lifetime[96] = "";
	if (cookie->max_age == 0)
		snprintf(lifetime, sizeof(lifetime), "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
	else if (cookie->max_age > 0)
		snprintf(lifetime, sizeof(lifetime), "; Max-Age=%ld", cookie->max_age);

	int length = snprintf(out, out_size, "%s=%s; Path=%s%s; HttpOnly%s; SameSite=Lax", cookie->name,
			      cookie->value, cookie->path, lifetime, cookie->secure ? "; Secure" : "");
	if (length < 0 || (size_t)length >= out_size)
		return -1;
	return length;
}

int ex_rp_cookie_format_deletion(char *out, size_t out_size, const char *name, const char *path, bool secure)
{
	ex_rp_cookie cookie = { .name = name, .value = "", .path = path, .secure = secure, .max_age = 0 };
	return ex_rp_cookie_format(out, out_size, &cookie);
}
