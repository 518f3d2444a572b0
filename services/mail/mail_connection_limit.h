/*
 * Connections open on a mail listener, counted in total and per client
 * address, with a maximum for each. SMTP, IMAP and ManageSieve admit a
 * connection here before they greet it and release it when it closes;
 * each protocol turns a rejection into its own refusal line.
 */
#ifndef EXPRESSO_MAIL_CONNECTION_LIMIT_H
#define EXPRESSO_MAIL_CONNECTION_LIMIT_H

#include <arpa/inet.h>
#include <pthread.h>

enum { EX_MAIL_ADDRESS_TEXT = INET6_ADDRSTRLEN };

typedef enum {
	EX_MAIL_ADMITTED,
	EX_MAIL_REJECTED_TOTAL,   /* max_connections reached */
	EX_MAIL_REJECTED_ADDRESS, /* max_connections_per_address reached for this address */
} ex_mail_admission;

typedef struct ex_mail_address_count ex_mail_address_count;

typedef struct {
	pthread_mutex_t lock;
	unsigned max_connections;
	unsigned max_connections_per_address;
	unsigned connections;
	ex_mail_address_count *addresses; /* max_connections slots */
} ex_mail_connection_limit;

/*
 * Sets up LIMIT for MAX_CONNECTIONS in total and MAX_PER_ADDRESS from one
 * address; MAX_PER_ADDRESS 0 means no limit of its own. Returns 0, or -1
 * when memory runs out.
 */
int ex_mail_connection_limit_init(ex_mail_connection_limit *limit, unsigned max_connections, unsigned max_per_address);

void ex_mail_connection_limit_destroy(ex_mail_connection_limit *limit);

/* Counts a new connection from ADDRESS unless a maximum is reached. */
ex_mail_admission ex_mail_connection_limit_admit(ex_mail_connection_limit *limit, const char *address);

/* Releases a connection that ex_mail_connection_limit_admit() admitted. */
void ex_mail_connection_limit_release(ex_mail_connection_limit *limit, const char *address);

/* Connections admitted and not yet released. */
unsigned ex_mail_connection_limit_count(ex_mail_connection_limit *limit);

/* Connections from ADDRESS admitted and not yet released. */
unsigned ex_mail_connection_limit_count_address(ex_mail_connection_limit *limit, const char *address);

#endif
