/*
 * Redis URL parsing for the pub/sub connection. Accepts IPv6 hosts in
 * brackets; rejects user names (Redis 5 style AUTH takes a password only).
 */
#include "redis_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *message)
{
	snprintf(err, errlen, "invalid EXPRESSO_REDIS_URL: %s", message);
	return -1;
}

static int parse_port(const char *text, size_t length, int *port)
{
	int value = 0;
	if (length == 0 || length > 5)
		return -1;
	for (size_t i = 0; i < length; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		value = value * 10 + (text[i] - '0');
	}
	if (value < 1 || value > 65535)
		return -1;
	*port = value;
	return 0;
}

int ex_notify_redis_url_parse(const char *url, ex_notify_redis_url *out, char *err, size_t errlen)
{
	static const char scheme[] = "redis://";

	memset(out, 0, sizeof(*out));
	out->port = 6379;
	if (url == NULL || strncmp(url, scheme, sizeof(scheme) - 1) != 0)
		return fail(err, errlen, "expected redis://[:password@]host[:port][/db]");
	const char *authority = url + sizeof(scheme) - 1;
	size_t authority_length = strcspn(authority, "/");

	const char *at = memchr(authority, '@', authority_length);
	if (at != NULL) {
		if (authority[0] != ':')
			return fail(err, errlen, "a user name is not supported; use redis://:password@host");
		size_t password_length = (size_t)(at - authority - 1);
		if (password_length >= sizeof(out->password))
			return fail(err, errlen, "the password is too long");
		memcpy(out->password, authority + 1, password_length);
		authority_length -= (size_t)(at + 1 - authority);
		authority = at + 1;
	}

	const char *host = authority;
	size_t host_length;
	const char *port = NULL;
	if (authority_length > 0 && authority[0] == '[') {
		const char *close = memchr(authority, ']', authority_length);
		if (close == NULL)
			return fail(err, errlen, "an IPv6 host lacks its closing bracket");
		host = authority + 1;
		host_length = (size_t)(close - host);
		if (close + 1 < authority + authority_length) {
			if (close[1] != ':')
				return fail(err, errlen, "unexpected text after the IPv6 host");
			port = close + 2;
		}
	} else {
		const char *colon = memchr(authority, ':', authority_length);
		host_length = colon ? (size_t)(colon - authority) : authority_length;
		port = colon ? colon + 1 : NULL;
	}
	if (host_length == 0 || host_length >= sizeof(out->host))
		return fail(err, errlen, "the host is missing or too long");
	memcpy(out->host, host, host_length);
	if (port != NULL && parse_port(port, (size_t)(authority + authority_length - port), &out->port) != 0)
		return fail(err, errlen, "the port is not a number from 1 to 65535");
	return 0;
}
