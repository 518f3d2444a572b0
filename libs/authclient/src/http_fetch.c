/*
 * HTTP GET of the issuer's discovery document and JWKS with libcurl.
 *
 * Each request is bounded: http and https only (also for redirects, which
 * are not followed anyway), a total timeout, a connect timeout, and a cap
 * on the response body that aborts the transfer once exceeded. Signals
 * are disabled so it is safe from worker threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "authclient_internal.h"

/* The connect phase gets at most this share of the total timeout. */
#define CONNECT_TIMEOUT_MAX_MS 2000

typedef struct response_buffer {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
    bool too_large;
} response_buffer;

static size_t write_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    response_buffer *buf = userdata;
    size_t n = size * nmemb;

    if (n > buf->max - buf->len) {
        buf->too_large = true;
        return 0; /* makes libcurl abort with CURLE_WRITE_ERROR */
    }
    if (buf->len + n + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 4096;
        while (cap < buf->len + n + 1)
            cap *= 2;
        char *data = realloc(buf->data, cap);
        if (!data)
            return 0;
        buf->data = data;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, ptr, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
    return n;
}

bool ex_auth_url_is_http(const char *url)
{
    if (strncasecmp(url, "http://", 7) == 0)
        return url[7] != '\0';
    if (strncasecmp(url, "https://", 8) == 0)
        return url[8] != '\0';
    return false;
}

int ex_auth_http_get(const ex_auth_http_limits *limits, const char *url,
                     char **body, size_t *body_len, char *err, size_t errlen)
{
    *body = NULL;
    *body_len = 0;
    if (!ex_auth_url_is_http(url)) {
        snprintf(err, errlen, "URL %s is not http or https", url);
        return -1;
    }

    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(err, errlen, "libcurl could not create a handle");
        return -1;
    }

    response_buffer buf = {.max = limits->max_bytes};
    char curl_err[CURL_ERROR_SIZE] = "";
    long connect_ms = limits->timeout_ms < CONNECT_TIMEOUT_MAX_MS
                          ? limits->timeout_ms : CONNECT_TIMEOUT_MAX_MS;

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, limits->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)limits->max_bytes);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "libexpresso-authclient");
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
    if (limits->ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, limits->ca_file);

    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);

    if (buf.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(err, errlen, "response from %s exceeds %zu bytes", url, limits->max_bytes);
    } else if (rc != CURLE_OK) {
        snprintf(err, errlen, "GET %s failed: %s", url,
                 curl_err[0] ? curl_err : curl_easy_strerror(rc));
    } else if (status != 200) {
        snprintf(err, errlen, "GET %s returned HTTP status %ld, expected 200", url, status);
    } else if (!buf.data) {
        snprintf(err, errlen, "GET %s returned an empty body", url);
    } else {
        *body = buf.data;
        *body_len = buf.len;
        return 0;
    }
    free(buf.data);
    return -1;
}
