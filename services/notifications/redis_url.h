/*
 * Parses redis://[:password@]host[:port][/db] for the subscriber's own
 * connection (libexpresso-core keeps its parser private).
 */
#ifndef EX_NOTIFY_REDIS_URL_H
#define EX_NOTIFY_REDIS_URL_H

#include <stddef.h>

enum {
	EX_NOTIFY_REDIS_HOST_MAX = 256,
	EX_NOTIFY_REDIS_PASSWORD_MAX = 256,
};

typedef struct {
	char host[EX_NOTIFY_REDIS_HOST_MAX];
	int port;
	char password[EX_NOTIFY_REDIS_PASSWORD_MAX]; /* empty: none */
} ex_notify_redis_url;

/* Returns 0, or -1 with the reason in err. The database number is ignored: pub/sub spans databases. */
int ex_notify_redis_url_parse(const char *url, ex_notify_redis_url *out, char *err, size_t errlen);

#endif
