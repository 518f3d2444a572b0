/*
 * The libmicrohttpd helpers, tested through a real server on 127.0.0.1
 * and a libcurl client. The tests cover where the token is read from
 * (Bearer header in any case, session cookie), the 401 challenge and JSON
 * body with and without credentials, and the 403 for a missing role.
 * The challenge formatter is also tested on its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "expresso/authclient.h"
#include "token_factory.h"

#define SESSION_COOKIE "expresso_session"

static test_key *rsa;
static ex_auth_verifier *verifier;
static struct MHD_Daemon *daemon_handle;
static char base_url[64];
static char *valid_token;
static char *expired_token;

/* Responds 200 with the subject, or the library's 401/403. /admin needs
 * the superadmin role. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *connection, const char *url,
                              const char *method, const char *version,
                              const char *upload_data, size_t *upload_data_size,
                              void **req_cls)
{
    (void)cls;
    (void)method;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;

    ex_auth_claims claims;
    ex_auth_status status = ex_auth_authenticate_connection(verifier, connection, &claims);
    enum MHD_Result rc;
    if (status != EX_AUTH_OK) {
        rc = ex_auth_queue_auth_failure(connection, status, claims.error_description);
    } else if (strcmp(url, "/admin") == 0 && !ex_auth_has_role(&claims, "superadmin")) {
        rc = ex_auth_queue_insufficient_role(connection, "superadmin");
    } else {
        struct MHD_Response *response = MHD_create_response_from_buffer(
            strlen(claims.subject), claims.subject, MHD_RESPMEM_MUST_COPY);
        rc = MHD_queue_response(connection, MHD_HTTP_OK, response);
        MHD_destroy_response(response);
    }
    ex_auth_claims_clear(&claims);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    rsa = test_key_rsa("rsa-1", 2048);
    const test_key *keys[] = {rsa};
    char *jwks = test_jwks_text(keys, 1);
    ex_auth_issuer issuer = {.issuer = TEST_ISSUER, .jwks_json = jwks};
    const char *audiences[] = {TEST_AUDIENCE};
    ex_auth_config config;
    ex_auth_config_init(&config);
    config.issuers = &issuer;
    config.issuer_count = 1;
    config.audiences = audiences;
    config.audience_count = 1;
    config.session_cookie = SESSION_COOKIE;
    char err[256];
    verifier = ex_auth_verifier_new(&config, err, sizeof err);
    free(jwks);
    if (!verifier)
        return -1;

    json_t *payload = test_payload();
    valid_token = test_sign(rsa, "RS256", NULL, payload);
    json_object_set_new(payload, "exp", json_integer(test_now() - 3600));
    expired_token = test_sign(rsa, "RS256", NULL, payload);
    json_decref(payload);

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon_handle = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
                                     NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR,
                                     (struct sockaddr *)&addr, MHD_OPTION_END);
    if (!daemon_handle)
        return -1;
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(daemon_handle, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%u", (unsigned)info->port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(daemon_handle);
    ex_auth_verifier_free(verifier);
    test_key_free(rsa);
    free(valid_token);
    free(expired_token);
    return 0;
}

typedef struct reply {
    long status;
    char challenge[512]; /* WWW-Authenticate value, "" when absent */
    char body[2048];
    size_t body_len;
} reply;

static size_t on_header(char *data, size_t size, size_t count, void *userdata)
{
    reply *r = userdata;
    size_t len = size * count;
    static const char name[] = "WWW-Authenticate:";
    if (len > sizeof name && strncasecmp(data, name, sizeof name - 1) == 0) {
        const char *value = data + sizeof name - 1;
        size_t n = len - (sizeof name - 1);
        while (n && (*value == ' '))
            value++, n--;
        while (n && (value[n - 1] == '\r' || value[n - 1] == '\n'))
            n--;
        snprintf(r->challenge, sizeof r->challenge, "%.*s", (int)n, value);
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t count, void *userdata)
{
    reply *r = userdata;
    size_t len = size * count;
    size_t room = sizeof r->body - 1 - r->body_len;
    size_t n = len < room ? len : room;
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return len;
}

/* GETs path with an optional Authorization value and Cookie header. */
static reply request(const char *path, const char *authorization, const char *cookie)
{
    reply r = {0};
    char url[128];
    snprintf(url, sizeof url, "%s%s", base_url, path);

    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    struct curl_slist *headers = NULL;
    char line[8192];
    if (authorization) {
        snprintf(line, sizeof line, "Authorization: %s", authorization);
        headers = curl_slist_append(headers, line);
    }
    if (cookie) {
        snprintf(line, sizeof line, "Cookie: %s", cookie);
        headers = curl_slist_append(headers, line);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return r;
}

static char *bearer(const char *scheme, const char *token)
{
    static char value[8192];
    snprintf(value, sizeof value, "%s %s", scheme, token);
    return value;
}

static void test_no_credentials(void **state)
{
    (void)state;
    reply r = request("/", NULL, NULL);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.challenge, "Bearer realm=\"expresso\"");
    assert_string_equal(r.body,
                        "{\"error\":{\"code\":\"missing_token\",\"message\":\"request has no bearer token\"}}");
}

static void test_valid_bearer(void **state)
{
    (void)state;
    reply r = request("/", bearer("Bearer", valid_token), NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, TEST_SUBJECT);
    assert_string_equal(r.challenge, "");
}

static void test_bearer_scheme_any_case(void **state)
{
    (void)state;
    assert_int_equal(request("/", bearer("bearer", valid_token), NULL).status, 200);
    assert_int_equal(request("/", bearer("BEARER", valid_token), NULL).status, 200);
    assert_int_equal(request("/", bearer("BeArEr ", valid_token), NULL).status, 200);
}

static void test_expired_token_challenge(void **state)
{
    (void)state;
    reply r = request("/", bearer("Bearer", expired_token), NULL);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.challenge, "Bearer realm=\"expresso\", error=\"invalid_token\", "
                                     "error_description=\"token has expired\"");
    assert_string_equal(r.body,
                        "{\"error\":{\"code\":\"invalid_token\",\"message\":\"token has expired\"}}");
    assert_null(strstr(r.body, strrchr(expired_token, '.') + 1));
}

static void test_other_scheme_is_no_credentials(void **state)
{
    (void)state;
    reply r = request("/", "Basic YWxpY2U6c2VjcmV0", NULL);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.challenge, "Bearer realm=\"expresso\"");
}

static void test_bearer_without_token(void **state)
{
    (void)state;
    reply r = request("/", "Bearer", NULL);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.challenge, "error=\"invalid_token\""));
}

static void test_scheme_prefix_not_bearer(void **state)
{
    (void)state;
    reply r = request("/", bearer("Bearerx", valid_token), NULL);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.challenge, "Bearer realm=\"expresso\"");
}

static void test_session_cookie(void **state)
{
    (void)state;
    char cookie[8192];
    snprintf(cookie, sizeof cookie, "theme=dark; " SESSION_COOKIE "=%s", valid_token);
    reply r = request("/", NULL, cookie);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, TEST_SUBJECT);
}

static void test_other_cookie_ignored(void **state)
{
    (void)state;
    char cookie[8192];
    snprintf(cookie, sizeof cookie, "other_session=%s", valid_token);
    reply r = request("/", NULL, cookie);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.challenge, "Bearer realm=\"expresso\"");
}

static void test_header_wins_over_cookie(void **state)
{
    (void)state;
    char cookie[8192];
    snprintf(cookie, sizeof cookie, SESSION_COOKIE "=%s", valid_token);
    reply r = request("/", bearer("Bearer", expired_token), cookie);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.challenge, "token has expired"));
}

static void test_missing_role_forbidden(void **state)
{
    (void)state;
    reply r = request("/admin", bearer("Bearer", valid_token), NULL);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.challenge, "Bearer realm=\"expresso\", error=\"insufficient_scope\", "
                                     "error_description=\"this request needs the role superadmin\"");
    assert_string_equal(r.body, "{\"error\":{\"code\":\"insufficient_role\",\"message\":"
                                "\"this request needs the role superadmin\"}}");
}

static void test_format_sanitises_description(void **state)
{
    (void)state;
    char buf[256];
    int n = ex_auth_format_www_authenticate(buf, sizeof buf, EX_AUTH_ERR_MALFORMED,
                                            "bad \"quote\" \\ and\nnewline\xc3\xa9");
    assert_int_equal(n, (int)strlen(buf));
    assert_string_equal(buf, "Bearer realm=\"expresso\", error=\"invalid_token\", "
                             "error_description=\"bad ?quote? ? and?newline??\"");
}

static void test_format_default_description(void **state)
{
    (void)state;
    char buf[256];
    assert_true(ex_auth_format_www_authenticate(buf, sizeof buf, EX_AUTH_ERR_SIGNATURE, NULL) > 0);
    assert_string_equal(buf, "Bearer realm=\"expresso\", error=\"invalid_token\", "
                             "error_description=\"token signature is invalid\"");
}

static void test_format_buffer_too_small(void **state)
{
    (void)state;
    char buf[16];
    assert_int_equal(ex_auth_format_www_authenticate(buf, sizeof buf, EX_AUTH_ERR_EXPIRED, NULL),
                     -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_credentials),
        cmocka_unit_test(test_valid_bearer),
        cmocka_unit_test(test_bearer_scheme_any_case),
        cmocka_unit_test(test_expired_token_challenge),
        cmocka_unit_test(test_other_scheme_is_no_credentials),
        cmocka_unit_test(test_bearer_without_token),
        cmocka_unit_test(test_scheme_prefix_not_bearer),
        cmocka_unit_test(test_session_cookie),
        cmocka_unit_test(test_other_cookie_ignored),
        cmocka_unit_test(test_header_wins_over_cookie),
        cmocka_unit_test(test_missing_role_forbidden),
        cmocka_unit_test(test_format_sanitises_description),
        cmocka_unit_test(test_format_default_description),
        cmocka_unit_test(test_format_buffer_too_small),
    };
    return cmocka_run_group_tests_name("authclient_http_auth", tests, setup, teardown);
}
