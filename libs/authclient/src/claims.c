/*
 * Claim checks on a payload whose signature has been verified (RFC 7519
 * section 4.1, RFC 9068 section 4) and extraction of what a handler
 * needs into ex_auth_claims.
 *
 * Time claims: exp is required; the token is expired once
 * now - leeway >= exp. nbf and iat are optional; the token is not yet
 * valid while now + leeway < nbf or now + leeway < iat.
 * Roles come from realm_access.roles and
 * resource_access.<roles_client>.roles; a malformed role structure grants
 * no roles instead of failing the token, so a bad mapper in the identity
 * provider cannot widen access.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authclient_internal.h"

/* Real-valued NumericDate claims outside this range are rejected before
 * conversion to an integer. */
#define NUMERIC_DATE_LIMIT 1e15

bool ex_auth_is_uuid(const char *s)
{
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return s[36] == '\0';
}

void ex_auth_claims_clear(ex_auth_claims *claims)
{
    free(claims->subject);
    free(claims->tenant_id);
    free(claims->issuer);
    free(claims->authorized_party);
    free(claims->email);
    free(claims->preferred_username);
    free(claims->name);
    for (size_t i = 0; i < claims->role_count; i++)
        free(claims->roles[i]);
    free(claims->roles);
    memset(claims, 0, sizeof *claims);
}

bool ex_auth_has_role(const ex_auth_claims *claims, const char *role)
{
    for (size_t i = 0; i < claims->role_count; i++) {
        if (strcmp(claims->roles[i], role) == 0)
            return true;
    }
    return false;
}

/* Reads a NumericDate claim. Returns 1 with *out set, 0 when absent,
 * -1 when present but not a number in range. */
static int numeric_date(const json_t *payload, const char *name, int64_t *out)
{
    const json_t *value = json_object_get(payload, name);
    if (!value)
        return 0;
    if (json_is_integer(value)) {
        *out = (int64_t)json_integer_value(value);
        return 1;
    }
    if (json_is_real(value)) {
        double d = json_real_value(value);
        if (!isfinite(d) || d > NUMERIC_DATE_LIMIT || d < -NUMERIC_DATE_LIMIT)
            return -1;
        *out = (int64_t)floor(d);
        return 1;
    }
    return -1;
}

static ex_auth_status check_times(const ex_auth_verifier *v, const json_t *payload,
                                  int64_t now, ex_auth_claims *out, const char **desc)
{
    int64_t exp = 0, nbf = 0, iat = 0;
    int has_exp = numeric_date(payload, "exp", &exp);
    int has_nbf = numeric_date(payload, "nbf", &nbf);
    int has_iat = numeric_date(payload, "iat", &iat);

    if (has_exp < 0 || has_nbf < 0 || has_iat < 0) {
        *desc = "token has an exp, nbf or iat claim that is not a number";
        return EX_AUTH_ERR_MALFORMED;
    }
    if (!has_exp) {
        *desc = "token has no exp claim";
        return EX_AUTH_ERR_CLAIMS;
    }
    if (now - v->leeway_seconds >= exp) {
        *desc = "token has expired";
        return EX_AUTH_ERR_EXPIRED;
    }
    if (has_nbf && now + v->leeway_seconds < nbf) {
        *desc = "token is not valid yet (nbf is in the future)";
        return EX_AUTH_ERR_NOT_YET_VALID;
    }
    if (has_iat && now + v->leeway_seconds < iat) {
        *desc = "token was issued in the future (iat); check the clocks";
        return EX_AUTH_ERR_NOT_YET_VALID;
    }
    out->expires_at = exp;
    out->issued_at = has_iat ? iat : 0;
    return EX_AUTH_OK;
}

static bool audience_accepted(const ex_auth_verifier *v, const char *aud)
{
    for (size_t i = 0; i < v->audience_count; i++) {
        if (strcmp(v->audiences[i], aud) == 0)
            return true;
    }
    return false;
}

static ex_auth_status check_audience(const ex_auth_verifier *v, const json_t *payload,
                                     const char **desc)
{
    const json_t *aud = json_object_get(payload, "aud");
    const json_t *azp = json_object_get(payload, "azp");

    if (aud && !json_is_string(aud) && !json_is_array(aud)) {
        *desc = "token's aud claim is neither a string nor an array";
        return EX_AUTH_ERR_MALFORMED;
    }
    if (azp && !json_is_string(azp)) {
        *desc = "token's azp claim is not a string";
        return EX_AUTH_ERR_MALFORMED;
    }

    if (json_is_string(aud) && audience_accepted(v, json_string_value(aud)))
        return EX_AUTH_OK;
    if (json_is_array(aud)) {
        size_t i;
        const json_t *entry;
        json_array_foreach(aud, i, entry) {
            if (json_is_string(entry) && audience_accepted(v, json_string_value(entry)))
                return EX_AUTH_OK;
        }
    }
    if (azp && audience_accepted(v, json_string_value(azp)))
        return EX_AUTH_OK;

    *desc = "token is not meant for this service (aud and azp not accepted)";
    return EX_AUTH_ERR_AUDIENCE;
}

/* Copies an optional string claim; returns false only when out of memory. */
static bool copy_optional_string(const json_t *payload, const char *name, char **out)
{
    const json_t *value = json_object_get(payload, name);
    if (!json_is_string(value))
        return true;
    *out = strdup(json_string_value(value));
    return *out != NULL;
}

static ex_auth_status resolve_tenant(const ex_auth_issuer_state *st,
                                     const json_t *payload, ex_auth_claims *out,
                                     const char **desc)
{
    const json_t *claim = json_object_get(payload, "tenant_id");
    if (claim && !json_is_string(claim)) {
        *desc = "token's tenant_id claim is not a string";
        return EX_AUTH_ERR_TENANT;
    }
    const char *from_claim = claim ? json_string_value(claim) : NULL;

    const char *tenant = from_claim;
    if (st->tenant_id) {
        if (from_claim && strcasecmp(from_claim, st->tenant_id) != 0) {
            *desc = "token's tenant_id claim differs from its issuer's tenant";
            return EX_AUTH_ERR_TENANT;
        }
        tenant = st->tenant_id;
    }
    if (!tenant) {
        *desc = "token has no tenant_id claim and its issuer maps to no tenant";
        return EX_AUTH_ERR_TENANT;
    }
    if (!ex_auth_is_uuid(tenant)) {
        *desc = "token's tenant_id claim is not a UUID";
        return EX_AUTH_ERR_TENANT;
    }

    out->tenant_id = strdup(tenant);
    if (!out->tenant_id) {
        *desc = "out of memory";
        return EX_AUTH_ERR_INTERNAL;
    }
    /* Lower case, the form PostgreSQL prints, so callers compare texts. */
    for (char *p = out->tenant_id; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return EX_AUTH_OK;
}

/* Appends the string entries of `roles` (a JSON array) to out->roles,
 * skipping duplicates. Returns false only when out of memory. */
static bool add_roles(const json_t *roles, ex_auth_claims *out)
{
    if (!json_is_array(roles))
        return true;

    size_t extra = json_array_size(roles);
    char **grown = realloc(out->roles, (out->role_count + extra + 1) * sizeof *grown);
    if (!grown)
        return false;
    out->roles = grown;

    size_t i;
    const json_t *role;
    json_array_foreach(roles, i, role) {
        if (!json_is_string(role) || ex_auth_has_role(out, json_string_value(role)))
            continue;
        char *copy = strdup(json_string_value(role));
        if (!copy)
            return false;
        out->roles[out->role_count++] = copy;
    }
    return true;
}

static bool collect_roles(const ex_auth_verifier *v, const json_t *payload,
                          ex_auth_claims *out)
{
    const json_t *realm = json_object_get(payload, "realm_access");
    if (json_is_object(realm) && !add_roles(json_object_get(realm, "roles"), out))
        return false;

    if (!v->roles_client)
        return true;
    const json_t *resource = json_object_get(payload, "resource_access");
    const json_t *client = json_is_object(resource)
                               ? json_object_get(resource, v->roles_client) : NULL;
    if (json_is_object(client) && !add_roles(json_object_get(client, "roles"), out))
        return false;
    return true;
}

ex_auth_status ex_auth_check_claims(const ex_auth_verifier *v,
                                    const ex_auth_issuer_state *st,
                                    json_t *payload, int64_t now,
                                    ex_auth_claims *out, const char **desc)
{
    memset(out, 0, sizeof *out);

    ex_auth_status status = check_times(v, payload, now, out, desc);
    if (status == EX_AUTH_OK)
        status = check_audience(v, payload, desc);
    if (status != EX_AUTH_OK)
        goto failed;

    const json_t *sub = json_object_get(payload, "sub");
    if (!json_is_string(sub) || json_string_length(sub) == 0) {
        *desc = "token has no sub claim";
        status = EX_AUTH_ERR_CLAIMS;
        goto failed;
    }

    status = resolve_tenant(st, payload, out, desc);
    if (status != EX_AUTH_OK)
        goto failed;

    out->subject = strdup(json_string_value(sub));
    out->issuer = strdup(st->issuer);
    if (!out->subject || !out->issuer ||
        !copy_optional_string(payload, "azp", &out->authorized_party) ||
        !copy_optional_string(payload, "email", &out->email) ||
        !copy_optional_string(payload, "preferred_username", &out->preferred_username) ||
        !copy_optional_string(payload, "name", &out->name) ||
        !collect_roles(v, payload, out)) {
        *desc = "out of memory";
        status = EX_AUTH_ERR_INTERNAL;
        goto failed;
    }
    return EX_AUTH_OK;

failed:
    ex_auth_claims_clear(out);
    return status;
}
