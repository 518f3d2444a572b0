/*
 * ID token checks beyond what authclient verifies. The payload is decoded
 * a second time here, after authclient accepted the signature, because
 * authclient's claims struct does not carry `aud` or `nonce`.
 */
#include "id_token.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkce.h"

static bool strings_equal_constant_time(const char *a, const char *b)
{
	size_t length = strlen(a);
	return length == strlen(b) && CRYPTO_memcmp(a, b, length) == 0;
}

/* Checks `aud` and `azp` as OpenID Connect Core 1.0, section 3.1.3.7, items 3 to 5 ask. */
static bool audience_is_valid(json_t *payload, const char *client_id, char *reason, size_t reason_size)
{
	json_t *audience = json_object_get(payload, "aud");
	const char *authorized_party = json_string_value(json_object_get(payload, "azp"));
	size_t audience_count = 0;
	bool names_client = false;

	if (json_is_string(audience)) {
		audience_count = 1;
		names_client = strcmp(json_string_value(audience), client_id) == 0;
	} else if (json_is_array(audience)) {
		size_t index;
		json_t *entry;
		json_array_foreach(audience, index, entry) {
			if (!json_is_string(entry)) {
				snprintf(reason, reason_size, "the ID token's aud array holds a non-string");
				return false;
			}
			audience_count++;
			if (strcmp(json_string_value(entry), client_id) == 0)
				names_client = true;
		}
	}
	if (!names_client) {
		snprintf(reason, reason_size, "the ID token's aud does not name client %s", client_id);
		return false;
	}
	if (json_object_get(payload, "azp") != NULL && authorized_party == NULL) {
		snprintf(reason, reason_size, "the ID token's azp is not a string");
		return false;
	}
	if ((audience_count > 1 || authorized_party != NULL) &&
	    (authorized_party == NULL || strcmp(authorized_party, client_id) != 0)) {
		snprintf(reason, reason_size, "the ID token's azp is %s, expected %s",
			 authorized_party ? authorized_party : "missing", client_id);
		return false;
	}
	return true;
}

bool ex_rp_id_token_check_payload(const char *payload_json, size_t length,
				  const ex_rp_id_token_expectations *expected, char *reason, size_t reason_size)
{
	json_error_t error;
	json_t *payload = json_loadb(payload_json, length, JSON_REJECT_DUPLICATES, &error);
	bool valid = false;

	if (!json_is_object(payload)) {
		snprintf(reason, reason_size, "the ID token's payload is not a JSON object");
		json_decref(payload);
		return false;
	}
	const char *issuer = json_string_value(json_object_get(payload, "iss"));
	const char *nonce = json_string_value(json_object_get(payload, "nonce"));
	if (issuer == NULL || strcmp(issuer, expected->issuer) != 0) {
		snprintf(reason, reason_size, "the ID token's iss is not the configured issuer %s", expected->issuer);
	} else if (!audience_is_valid(payload, expected->client_id, reason, reason_size)) {
		/* reason set */
	} else if (expected->nonce != NULL && nonce == NULL) {
		snprintf(reason, reason_size, "the ID token has no nonce");
	} else if (expected->nonce != NULL && !strings_equal_constant_time(nonce, expected->nonce)) {
		snprintf(reason, reason_size, "the ID token's nonce does not match the login request");
	} else {
		valid = true;
	}
	json_decref(payload);
	return valid;
}

bool ex_rp_id_token_validate(ex_auth_verifier *verifier, const char *id_token,
			     const ex_rp_id_token_expectations *expected, ex_auth_claims *claims, char *reason,
			     size_t reason_size)
{
	ex_auth_status status = ex_auth_verify(verifier, id_token, strlen(id_token), claims);
	if (status != EX_AUTH_OK) {
		snprintf(reason, reason_size, "the ID token was rejected: %s (%s)",
			 claims->error_description ? claims->error_description : ex_auth_status_message(status),
			 ex_auth_status_code(status));
		return false;
	}

	/* authclient accepted three well-formed segments, so both dots exist. */
	const char *payload_start = strchr(id_token, '.') + 1;
	const char *payload_end = strchr(payload_start, '.');
	size_t encoded_length = (size_t)(payload_end - payload_start);
	size_t decoded_size = encoded_length / 4 * 3 + 3;
	unsigned char *payload = malloc(decoded_size);
	if (payload == NULL) {
		snprintf(reason, reason_size, "out of memory decoding the ID token");
		return false;
	}
	int decoded = ex_rp_base64url_decode(payload_start, encoded_length, payload, decoded_size);
	bool valid = decoded >= 0 &&
		     ex_rp_id_token_check_payload((const char *)payload, (size_t)decoded, expected, reason, reason_size);
	if (decoded < 0)
		snprintf(reason, reason_size, "the ID token's payload is not base64url");
	OPENSSL_cleanse(payload, decoded_size);
	free(payload);
	return valid;
}
