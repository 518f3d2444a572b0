/*
 * ID token validation for the authorization code flow (OpenID Connect
 * Core 1.0, section 3.1.3.7). authclient checks the signature against the
 * issuer's JWKS, the algorithm, exp, iat and nbf. This module then checks
 * what is specific to an ID token. `iss` must be the configured issuer and
 * `aud` must name this client, as must `azp` when present or when there
 * are several audiences. `nonce` must equal the one sent in the
 * authorization request.
 */
#ifndef EXPRESSO_AUTH_ID_TOKEN_H
#define EXPRESSO_AUTH_ID_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include "expresso/authclient.h"

typedef struct {
	const char *issuer;
	const char *client_id;
	const char *nonce; /* NULL skips the nonce check (ID tokens from a refresh) */
} ex_rp_id_token_expectations;

/*
 * Validates ID_TOKEN with VERIFIER (whose audience is the client id) and
 * EXPECTED. On success returns true with the verified claims in *CLAIMS;
 * otherwise false with a sentence in REASON (never any part of the
 * token). *CLAIMS must be cleared with ex_auth_claims_clear() either way.
 */
bool ex_rp_id_token_validate(ex_auth_verifier *verifier, const char *id_token,
			     const ex_rp_id_token_expectations *expected, ex_auth_claims *claims, char *reason,
			     size_t reason_size);

/*
 * Checks the decoded payload of an ID token (a JSON object) against
 * EXPECTED: iss, aud, azp and nonce. Returns true or false with REASON;
 * split out so that the rules are unit-tested without signing tokens.
 */
bool ex_rp_id_token_check_payload(const char *payload_json, size_t length,
				  const ex_rp_id_token_expectations *expected, char *reason, size_t reason_size);

#endif
