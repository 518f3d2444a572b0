/*
 * A small OIDC issuer for the authclient tests: a libmicrohttpd server on
 * 127.0.0.1 (port chosen by the kernel) that serves a discovery document
 * and a JWKS the test can replace at any time, and counts requests.
 */
#ifndef EXPRESSO_TEST_JWKS_SERVER_H
#define EXPRESSO_TEST_JWKS_SERVER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct jwks_server jwks_server;

/* Starts the server; aborts the test program when it cannot. */
jwks_server *jwks_server_start(void);

/* Stops listening; the issuer then refuses connections. */
void jwks_server_stop(jwks_server *server);

void jwks_server_free(jwks_server *server);

/* The issuer URL, http://127.0.0.1:<port>/realms/test. */
const char *jwks_server_issuer(const jwks_server *server);

/* Replaces the JWKS document served from now on (copied). */
void jwks_server_set_jwks(jwks_server *server, const char *jwks_json);

/* Makes the discovery document name this issuer instead of the real one
 * (NULL restores the real one). */
void jwks_server_set_discovery_issuer(jwks_server *server, const char *issuer);

/* Makes every response 503 while true. */
void jwks_server_set_failing(jwks_server *server, bool failing);

unsigned jwks_server_jwks_requests(jwks_server *server);
unsigned jwks_server_discovery_requests(jwks_server *server);

#endif
