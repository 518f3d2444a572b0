/*
 * Stable names and generic sentences for ex_auth_status values. The names
 * are for logs and metrics; the sentences stand in for a more specific
 * error_description when none is at hand.
 */
#include "authclient_internal.h"

const char *ex_auth_status_code(ex_auth_status status)
{
    switch (status) {
    case EX_AUTH_OK: return "ok";
    case EX_AUTH_ERR_NO_TOKEN: return "no_token";
    case EX_AUTH_ERR_TOO_LARGE: return "token_too_large";
    case EX_AUTH_ERR_MALFORMED: return "token_malformed";
    case EX_AUTH_ERR_ALGORITHM: return "algorithm_rejected";
    case EX_AUTH_ERR_UNKNOWN_KEY: return "unknown_key";
    case EX_AUTH_ERR_SIGNATURE: return "bad_signature";
    case EX_AUTH_ERR_EXPIRED: return "token_expired";
    case EX_AUTH_ERR_NOT_YET_VALID: return "token_not_yet_valid";
    case EX_AUTH_ERR_ISSUER: return "issuer_rejected";
    case EX_AUTH_ERR_AUDIENCE: return "audience_rejected";
    case EX_AUTH_ERR_CLAIMS: return "claim_missing";
    case EX_AUTH_ERR_TENANT: return "tenant_invalid";
    case EX_AUTH_ERR_KEYS_UNAVAILABLE: return "keys_unavailable";
    case EX_AUTH_ERR_INTERNAL: return "internal_error";
    }
    return "unknown_status";
}

const char *ex_auth_status_message(ex_auth_status status)
{
    switch (status) {
    case EX_AUTH_OK: return "token is valid";
    case EX_AUTH_ERR_NO_TOKEN: return "request has no bearer token";
    case EX_AUTH_ERR_TOO_LARGE: return "token exceeds the maximum size";
    case EX_AUTH_ERR_MALFORMED: return "token is malformed";
    case EX_AUTH_ERR_ALGORITHM: return "token's signing algorithm is not accepted";
    case EX_AUTH_ERR_UNKNOWN_KEY: return "token's kid is not a signing key of its issuer";
    case EX_AUTH_ERR_SIGNATURE: return "token signature is invalid";
    case EX_AUTH_ERR_EXPIRED: return "token has expired";
    case EX_AUTH_ERR_NOT_YET_VALID: return "token is not valid yet";
    case EX_AUTH_ERR_ISSUER: return "token's issuer is not accepted";
    case EX_AUTH_ERR_AUDIENCE: return "token is not meant for this service";
    case EX_AUTH_ERR_CLAIMS: return "token lacks a required claim";
    case EX_AUTH_ERR_TENANT: return "token has no valid tenant";
    case EX_AUTH_ERR_KEYS_UNAVAILABLE:
        return "signing keys of the token's issuer are unavailable; try again later";
    case EX_AUTH_ERR_INTERNAL: return "internal error while verifying the token";
    }
    return "unknown authentication status";
}
