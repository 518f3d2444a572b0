/*
 * ManageSieve (RFC 5804): a listener for Sieve script clients such as
 * Thunderbird's Sieve add-on, Roundcube's managesieve plugin and
 * sieve-connect. STARTTLS is required before AUTHENTICATE PLAIN (app
 * passwords) or OAUTHBEARER (access tokens). One thread per connection.
 */
#ifndef EXPRESSO_MANAGESIEVE_H
#define EXPRESSO_MANAGESIEVE_H

#include <stddef.h>

#include "mail_service.h"

typedef struct ex_managesieve_server ex_managesieve_server;

typedef struct {
	const char *bind_address;
	int port;
	unsigned max_connections;
	unsigned max_connections_per_address;
	uint64_t idle_timeout_ms;
} ex_managesieve_options;

/* Starts listening. Returns NULL with a reason in ERR. */
ex_managesieve_server *ex_managesieve_start(ex_mail_service *service, const ex_managesieve_options *options,
					    char *err, size_t errlen);

/* Stops accepting, closes open sessions and waits for their threads. NULL is allowed. */
void ex_managesieve_stop(ex_managesieve_server *server);

#endif
