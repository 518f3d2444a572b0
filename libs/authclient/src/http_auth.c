/*
 * libmicrohttpd glue: taking the token from a request and queueing the
 * RFC 6750 responses for failed authentication (401) and missing roles
 * (403).
 *
 * The WWW-Authenticate challenge carries error="invalid_token" and an
 * error_description. The exception is a request without any credentials:
 * there RFC 6750 section 3.1 recommends a challenge without an error
 * code. Bodies follow the suite's JSON error shape
 * {"error":{"code":"...","message":"..."}}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authclient_internal.h"

#define AUTH_REALM "expresso"
/* Maximum length of an error_description in a challenge, in bytes.
 * Longer descriptions are cut. */
#define MAX_DESCRIPTION_BYTES 256
/* Room for the challenge: realm, error code and a full description. */
#define CHALLENGE_BYTES (MAX_DESCRIPTION_BYTES + 128)

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Finds the token in an Authorization value of the Bearer scheme (RFC
 * 6750 section 2.1; the scheme name is case-insensitive per RFC 9110
 * section 11.1). Returns false when the scheme is another one. */
static bool bearer_credentials(const char *value, const char **token, size_t *len)
{
    while (is_blank(*value))
        value++;
    if (strncasecmp(value, "Bearer", 6) != 0 || (value[6] != '\0' && !is_blank(value[6])))
        return false;

    const char *start = value + 6;
    while (is_blank(*start))
        start++;
    size_t n = strlen(start);
    while (n > 0 && is_blank(start[n - 1]))
        n--;
    *token = start;
    *len = n;
    return true;
}

ex_auth_status ex_auth_authenticate_connection(ex_auth_verifier *v,
                                               struct MHD_Connection *connection,
                                               ex_auth_claims *out)
{
    const char *token;
    size_t len;
    const char *authorization = MHD_lookup_connection_value(
        connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

    if (authorization && bearer_credentials(authorization, &token, &len)) {
        if (len == 0) {
            memset(out, 0, sizeof *out);
            out->error_description = "Authorization header has the Bearer scheme but no token";
            return EX_AUTH_ERR_MALFORMED;
        }
        return ex_auth_verify(v, token, len, out);
    }

    if (v->session_cookie) {
        const char *cookie = MHD_lookup_connection_value(connection, MHD_COOKIE_KIND,
                                                         v->session_cookie);
        if (cookie && cookie[0])
            return ex_auth_verify(v, cookie, strlen(cookie), out);
    }

    memset(out, 0, sizeof *out);
    out->error_description = ex_auth_status_message(EX_AUTH_ERR_NO_TOKEN);
    return EX_AUTH_ERR_NO_TOKEN;
}

/* Copies description into out, replacing every byte that RFC 6750
 * section 3 does not allow in error_description (only %x20-21, %x23-5B
 * and %x5D-7E are) with '?', and cutting it to MAX_DESCRIPTION_BYTES. */
static void sanitize_description(const char *description, char *out)
{
    size_t length = strnlen(description, MAX_DESCRIPTION_BYTES);
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)description[i];
        bool allowed = c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
        out[i] = allowed ? (char)c : '?';
    }
    out[length] = '\0';
}

static int format_challenge(char *buf, size_t buflen, const char *error,
                            const char *description)
{
    int n;
    if (!error) {
        n = snprintf(buf, buflen, "Bearer realm=\"" AUTH_REALM "\"");
    } else {
        char clean[MAX_DESCRIPTION_BYTES + 1];
        sanitize_description(description ? description : "", clean);
        n = snprintf(buf, buflen,
                     "Bearer realm=\"" AUTH_REALM "\", error=\"%s\", error_description=\"%s\"",
                     error, clean);
    }
    return n < 0 || (size_t)n >= buflen ? -1 : n;
}

int ex_auth_format_www_authenticate(char *buf, size_t buflen, ex_auth_status status,
                                    const char *description)
{
    if (!description)
        description = ex_auth_status_message(status);
    return format_challenge(buf, buflen,
                            status == EX_AUTH_ERR_NO_TOKEN ? NULL : "invalid_token",
                            description);
}

/* Queues a JSON error response with the given status and, when
 * challenge is set, a WWW-Authenticate header. */
static enum MHD_Result queue_json_error(struct MHD_Connection *connection,
                                        unsigned int http_status, const char *challenge,
                                        const char *code, const char *message)
{
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return MHD_NO;

    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
    free(text);
    if (!response)
        return MHD_NO;

    enum MHD_Result rc = MHD_NO;
    if (MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/json") == MHD_YES &&
        MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES &&
        (!challenge || MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                               challenge) == MHD_YES))
        rc = MHD_queue_response(connection, http_status, response);
    MHD_destroy_response(response);
    return rc;
}

enum MHD_Result ex_auth_queue_auth_failure(struct MHD_Connection *connection,
                                           ex_auth_status status,
                                           const char *description)
{
    if (!description)
        description = ex_auth_status_message(status);

    if (status == EX_AUTH_ERR_KEYS_UNAVAILABLE)
        return queue_json_error(connection, MHD_HTTP_SERVICE_UNAVAILABLE, NULL,
                                "auth_unavailable", description);
    if (status == EX_AUTH_ERR_INTERNAL)
        return queue_json_error(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
                                "internal_error", description);

    char challenge[CHALLENGE_BYTES];
    if (ex_auth_format_www_authenticate(challenge, sizeof challenge, status, description) < 0)
        return MHD_NO;
    return queue_json_error(connection, MHD_HTTP_UNAUTHORIZED, challenge,
                            status == EX_AUTH_ERR_NO_TOKEN ? "missing_token" : "invalid_token",
                            description);
}

enum MHD_Result ex_auth_queue_insufficient_role(struct MHD_Connection *connection,
                                                const char *role)
{
    char message[MAX_DESCRIPTION_BYTES];
    snprintf(message, sizeof message, "this request needs the role %s", role);

    char challenge[CHALLENGE_BYTES];
    if (format_challenge(challenge, sizeof challenge, "insufficient_scope", message) < 0)
        return MHD_NO;
    return queue_json_error(connection, MHD_HTTP_FORBIDDEN, challenge,
                            "insufficient_role", message);
}
