/*
 * ex_auth_verify takes the JWS compact serialisation (RFC 7515 section
 * 7.1) apart and checks it step by step, the cheapest and least trusting
 * checks first. The order is size, shape, base64url, header JSON,
 * algorithm allowlist, payload JSON, issuer, key, signature, and only
 * then the claims.
 *
 * Nothing from the token is trusted before the signature verifies,
 * except `iss` and `kid`, which are only used to pick a key among the
 * configured issuers' keys. Error descriptions are static strings, so no
 * part of a token ever reaches a response or a log through them.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "authclient_internal.h"

/* The three segments of a compact JWS, still encoded. */
typedef struct jws_segments {
    const char *header;
    size_t header_len;
    const char *payload;
    size_t payload_len;
    const char *signature;
    size_t signature_len;
} jws_segments;

/* The values taken from a parsed header. */
typedef struct jws_header {
    ex_auth_alg alg;
    const char *kid; /* points into the header JSON */
    size_t kid_len;
} jws_header;

static ex_auth_status split_segments(const char *token, size_t len,
                                     jws_segments *seg, const char **desc)
{
    const char *end = token + len;
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1))) {
        *desc = "token is not three dot-separated segments (a signed JWT)";
        return EX_AUTH_ERR_MALFORMED;
    }

    seg->header = token;
    seg->header_len = (size_t)(dot1 - token);
    seg->payload = dot1 + 1;
    seg->payload_len = (size_t)(dot2 - dot1 - 1);
    seg->signature = dot2 + 1;
    seg->signature_len = (size_t)(end - dot2 - 1);
    /* An empty signature is rejected after the header check, so that an
     * unsecured JWT (alg "none") is reported as a rejected algorithm. */
    if (seg->header_len == 0 || seg->payload_len == 0) {
        *desc = "token has an empty header or payload segment";
        return EX_AUTH_ERR_MALFORMED;
    }
    return EX_AUTH_OK;
}

/* Decodes a base64url segment that contains a JSON object. */
static json_t *decode_json_segment(const char *text, size_t len, unsigned char *buf,
                                   size_t cap)
{
    long n = ex_auth_b64url_decode(text, len, buf, cap);
    if (n < 0)
        return NULL;
    json_t *obj = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    if (obj && !json_is_object(obj)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* Like decode_json_segment, through the verifier's cache of parsed
 * segments: only successful parses are cached, and the cached object is
 * never modified. */
static json_t *cached_json_segment(ex_auth_verifier *v, const char *text, size_t len,
                                   unsigned char *buf, size_t cap)
{
    json_t *obj = ex_auth_parse_cache_get(&v->parse_cache, text, len);
    if (obj)
        return obj;
    obj = decode_json_segment(text, len, buf, cap);
    if (obj)
        ex_auth_parse_cache_put(&v->parse_cache, text, len, obj);
    return obj;
}

/* Media types for `typ`, compared case-insensitively (RFC 7515 section
 * 4.1.9): plain JWTs and RFC 9068 access tokens. */
static bool typ_accepted(const char *typ)
{
    static const char *const accepted[] = {
        "JWT", "application/jwt", "at+jwt", "application/at+jwt",
    };
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        if (strcasecmp(typ, accepted[i]) == 0)
            return true;
    }
    return false;
}

static ex_auth_status check_header(const json_t *header, jws_header *out,
                                   const char **desc)
{
    const json_t *alg = json_object_get(header, "alg");
    if (!json_is_string(alg)) {
        *desc = "token header has no alg";
        return EX_AUTH_ERR_MALFORMED;
    }
    out->alg = ex_auth_alg_from_name(json_string_value(alg), json_string_length(alg));
    if (out->alg == EX_AUTH_ALG_INVALID) {
        *desc = "token's alg is not accepted (RS256, RS384, RS512, PS256, ES256, ES384 are)";
        return EX_AUTH_ERR_ALGORITHM;
    }

    const json_t *typ = json_object_get(header, "typ");
    if (typ && (!json_is_string(typ) || !typ_accepted(json_string_value(typ)))) {
        *desc = "token's typ is not JWT or at+jwt";
        return EX_AUTH_ERR_MALFORMED;
    }

    /* RFC 7515 section 4.1.11: extensions listed in crit must be
     * understood, and this verifier understands none. */
    if (json_object_get(header, "crit")) {
        *desc = "token header has a crit parameter, which is not supported";
        return EX_AUTH_ERR_MALFORMED;
    }

    const json_t *kid = json_object_get(header, "kid");
    if (!json_is_string(kid)) {
        *desc = "token header has no kid";
        return EX_AUTH_ERR_MALFORMED;
    }
    out->kid = json_string_value(kid);
    out->kid_len = json_string_length(kid);
    return EX_AUTH_OK;
}

static ex_auth_issuer_state *token_issuer(ex_auth_verifier *v, const json_t *payload,
                                          ex_auth_status *status, const char **desc)
{
    const json_t *iss = json_object_get(payload, "iss");
    if (!json_is_string(iss)) {
        *desc = "token has no iss claim";
        *status = EX_AUTH_ERR_ISSUER;
        return NULL;
    }
    ex_auth_issuer_state *st = ex_auth_find_issuer(v, json_string_value(iss),
                                                   json_string_length(iss));
    if (!st) {
        *desc = "token's issuer is not accepted";
        *status = EX_AUTH_ERR_ISSUER;
    }
    return st;
}

static ex_auth_status get_key(ex_auth_verifier *v, ex_auth_issuer_state *st,
                              const jws_header *hdr, ex_auth_key *key,
                              const char **desc)
{
    ex_auth_key_type needed = ex_auth_alg_key_type(hdr->alg);
    ex_auth_status status = ex_auth_acquire_key(v, st, hdr->kid, hdr->kid_len,
                                                needed, key);
    if (status == EX_AUTH_ERR_UNKNOWN_KEY) {
        *desc = "token's kid is not a signing key of its issuer";
        return status;
    }
    if (status != EX_AUTH_OK) {
        *desc = "signing keys of the token's issuer are unavailable; try again later";
        return status;
    }
    if (key->type != needed) {
        *desc = "token's alg does not fit the type or curve of its key";
        return EX_AUTH_ERR_ALGORITHM;
    }
    if (key->alg != EX_AUTH_ALG_INVALID && key->alg != hdr->alg) {
        *desc = "token's alg differs from the alg of its key";
        return EX_AUTH_ERR_ALGORITHM;
    }
    return EX_AUTH_OK;
}

static ex_auth_status verify_token(ex_auth_verifier *v, const char *token, size_t len,
                                   ex_auth_claims *out, const char **desc)
{
    if (len > v->max_token_bytes) {
        *desc = "token exceeds the maximum size";
        return EX_AUTH_ERR_TOO_LARGE;
    }
    if (!token || len == 0) {
        *desc = "token is empty";
        return EX_AUTH_ERR_MALFORMED;
    }

    jws_segments seg;
    ex_auth_status status = split_segments(token, len, &seg, desc);
    if (status != EX_AUTH_OK)
        return status;

    /* One buffer for the three decoded segments; `len` bounds it. */
    size_t header_cap = ex_auth_b64url_decoded_max(seg.header_len);
    size_t payload_cap = ex_auth_b64url_decoded_max(seg.payload_len);
    size_t sig_cap = ex_auth_b64url_decoded_max(seg.signature_len);
    unsigned char *buf = malloc(header_cap + payload_cap + sig_cap);
    if (!buf) {
        *desc = "out of memory";
        return EX_AUTH_ERR_INTERNAL;
    }
    unsigned char *sig = buf + header_cap + payload_cap;

    json_t *header = NULL, *payload = NULL;
    ex_auth_key key = {0};
    jws_header hdr;

    header = cached_json_segment(v, seg.header, seg.header_len, buf, header_cap);
    if (!header) {
        *desc = "token header is not base64url of a JSON object without duplicate keys";
        status = EX_AUTH_ERR_MALFORMED;
        goto done;
    }
    if ((status = check_header(header, &hdr, desc)) != EX_AUTH_OK)
        goto done;
    if (seg.signature_len == 0) {
        *desc = "token has no signature";
        status = EX_AUTH_ERR_MALFORMED;
        goto done;
    }

    payload = cached_json_segment(v, seg.payload, seg.payload_len, buf + header_cap,
                                  payload_cap);
    if (!payload) {
        *desc = "token payload is not base64url of a JSON object without duplicate keys";
        status = EX_AUTH_ERR_MALFORMED;
        goto done;
    }
    long sig_len = ex_auth_b64url_decode(seg.signature, seg.signature_len, sig, sig_cap);
    if (sig_len < 0) {
        *desc = "token signature is not base64url";
        status = EX_AUTH_ERR_MALFORMED;
        goto done;
    }

    ex_auth_issuer_state *st = token_issuer(v, payload, &status, desc);
    if (!st)
        goto done;
    if ((status = get_key(v, st, &hdr, &key, desc)) != EX_AUTH_OK)
        goto done;

    /* The signing input is the encoded header, the dot and the encoded
     * payload, exactly as they appear in the token. */
    status = ex_auth_verify_signature(hdr.alg, key.pkey, (const unsigned char *)token,
                                      seg.header_len + 1 + seg.payload_len, sig,
                                      (size_t)sig_len);
    if (status != EX_AUTH_OK) {
        *desc = status == EX_AUTH_ERR_SIGNATURE ? "token signature is invalid"
                                                : "signature verification failed inside OpenSSL";
        goto done;
    }

    status = ex_auth_check_claims(v, st, payload, (int64_t)time(NULL), out, desc);

done:
    EVP_PKEY_free(key.pkey);
    json_decref(header);
    json_decref(payload);
    free(buf);
    return status;
}

ex_auth_status ex_auth_verify(ex_auth_verifier *v, const char *token, size_t len,
                              ex_auth_claims *out)
{
    memset(out, 0, sizeof *out);
    const char *desc = NULL;

    ex_auth_status status = verify_token(v, token, len, out, &desc);
    if (status != EX_AUTH_OK) {
        ex_auth_claims_clear(out);
        out->error_description = desc ? desc : ex_auth_status_message(status);
    }
    return status;
}
