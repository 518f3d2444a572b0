/*
 * Random values of the login request and PKCE (RFC 7636). The `state`,
 * the `nonce` and the code verifier are 32 bytes from OpenSSL's CSPRNG in
 * base64url (43 characters). The code challenge is the S256 transform,
 * base64url(SHA-256(verifier)).
 */
#ifndef EXPRESSO_AUTH_PKCE_H
#define EXPRESSO_AUTH_PKCE_H

#include <stddef.h>

enum {
	EX_RP_RANDOM_BYTES = 32,
	/* base64url of 32 bytes without padding, plus the terminator. */
	EX_RP_RANDOM_TOKEN_SIZE = 44,
	/* base64url of a SHA-256 digest, plus the terminator. */
	EX_RP_CODE_CHALLENGE_SIZE = 44,
};

/*
 * Encodes LENGTH bytes as base64url without padding into OUT. Returns the
 * text length, or -1 when OUT is too small.
 */
int ex_rp_base64url_encode(const unsigned char *data, size_t length, char *out, size_t out_size);

/*
 * Decodes base64url text (no padding, no other characters) into OUT.
 * Returns the byte count, or -1 when the text is invalid or OUT too small.
 */
int ex_rp_base64url_decode(const char *text, size_t length, unsigned char *out, size_t out_size);

/* Writes 32 random bytes as base64url into OUT. Returns 0, or -1 when the CSPRNG fails. */
int ex_rp_random_token(char *out, size_t out_size);

/* Writes the S256 code challenge of VERIFIER into OUT. Returns 0 or -1. */
int ex_rp_pkce_challenge(const char *verifier, char *out, size_t out_size);

#endif
