/*
 * The test issuer (see jwks_server.h): GET <issuer>/.well-known/
 * openid-configuration and GET <issuer>/certs, nothing else.
 */
#include "jwks_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#define ISSUER_PATH "/realms/test"

struct jwks_server {
    struct MHD_Daemon *daemon;
    char issuer[128];
    pthread_mutex_t lock;
    char *jwks;              /* guarded by lock */
    char *discovery_issuer;  /* guarded by lock; NULL: the real one */
    bool failing;            /* guarded by lock */
    unsigned jwks_requests;  /* guarded by lock */
    unsigned discovery_requests;
};

static enum MHD_Result respond(struct MHD_Connection *connection, unsigned status,
                               const char *body)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result rc = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *connection, const char *url,
                              const char *method, const char *version,
                              const char *upload_data, size_t *upload_data_size,
                              void **req_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    jwks_server *server = cls;
    if (strcmp(method, "GET") != 0)
        return respond(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "{}");

    char body[16384];
    unsigned status = MHD_HTTP_OK;
    pthread_mutex_lock(&server->lock);
    if (strcmp(url, ISSUER_PATH "/.well-known/openid-configuration") == 0) {
        server->discovery_requests++;
        snprintf(body, sizeof body, "{\"issuer\":\"%s\",\"jwks_uri\":\"%s/certs\"}",
                 server->discovery_issuer ? server->discovery_issuer : server->issuer,
                 server->issuer);
    } else if (strcmp(url, ISSUER_PATH "/certs") == 0) {
        server->jwks_requests++;
        snprintf(body, sizeof body, "%s", server->jwks ? server->jwks : "{\"keys\":[]}");
    } else {
        status = MHD_HTTP_NOT_FOUND;
        snprintf(body, sizeof body, "{}");
    }
    if (server->failing) {
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        snprintf(body, sizeof body, "{}");
    }
    pthread_mutex_unlock(&server->lock);
    return respond(connection, status, body);
}

jwks_server *jwks_server_start(void)
{
    jwks_server *server = calloc(1, sizeof *server);
    if (!server)
        abort();
    pthread_mutex_init(&server->lock, NULL);

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    server->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, server,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_END);
    if (!server->daemon) {
        fprintf(stderr, "jwks_server: MHD_start_daemon failed\n");
        abort();
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(server->issuer, sizeof server->issuer, "http://127.0.0.1:%u" ISSUER_PATH,
             (unsigned)info->port);
    return server;
}

void jwks_server_stop(jwks_server *server)
{
    if (server->daemon) {
        MHD_stop_daemon(server->daemon);
        server->daemon = NULL;
    }
}

void jwks_server_free(jwks_server *server)
{
    if (!server)
        return;
    jwks_server_stop(server);
    free(server->jwks);
    free(server->discovery_issuer);
    pthread_mutex_destroy(&server->lock);
    free(server);
}

const char *jwks_server_issuer(const jwks_server *server)
{
    return server->issuer;
}

void jwks_server_set_jwks(jwks_server *server, const char *jwks_json)
{
    char *copy = strdup(jwks_json);
    pthread_mutex_lock(&server->lock);
    free(server->jwks);
    server->jwks = copy;
    pthread_mutex_unlock(&server->lock);
}

void jwks_server_set_discovery_issuer(jwks_server *server, const char *issuer)
{
    char *copy = issuer ? strdup(issuer) : NULL;
    pthread_mutex_lock(&server->lock);
    free(server->discovery_issuer);
    server->discovery_issuer = copy;
    pthread_mutex_unlock(&server->lock);
}

void jwks_server_set_failing(jwks_server *server, bool failing)
{
    pthread_mutex_lock(&server->lock);
    server->failing = failing;
    pthread_mutex_unlock(&server->lock);
}

unsigned jwks_server_jwks_requests(jwks_server *server)
{
    pthread_mutex_lock(&server->lock);
    unsigned n = server->jwks_requests;
    pthread_mutex_unlock(&server->lock);
    return n;
}

unsigned jwks_server_discovery_requests(jwks_server *server)
{
    pthread_mutex_lock(&server->lock);
    unsigned n = server->discovery_requests;
    pthread_mutex_unlock(&server->lock);
    return n;
}
