/*
 * base64url (RFC 4648, section 5, without padding), random tokens and the
 * PKCE S256 code challenge, on OpenSSL.
 */
#include "pkce.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int ex_rp_base64url_encode(const unsigned char *data, size_t length, char *out, size_t out_size)
{
	size_t needed = (length / 3) * 4 + (length % 3 ? length % 3 + 1 : 0);
	if (out_size <= needed)
		return -1;

	size_t used = 0;
	size_t i = 0;
	for (; i + 3 <= length; i += 3) {
		unsigned long group = ((unsigned long)data[i] << 16) | ((unsigned long)data[i + 1] << 8) | data[i + 2];
		out[used++] = alphabet[(group >> 18) & 63];
		out[used++] = alphabet[(group >> 12) & 63];
		out[used++] = alphabet[(group >> 6) & 63];
		out[used++] = alphabet[group & 63];
	}
	if (length - i == 1) {
		unsigned long group = (unsigned long)data[i] << 16;
		out[used++] = alphabet[(group >> 18) & 63];
		out[used++] = alphabet[(group >> 12) & 63];
	} else if (length - i == 2) {
		unsigned long group = ((unsigned long)data[i] << 16) | ((unsigned long)data[i + 1] << 8);
		out[used++] = alphabet[(group >> 18) & 63];
		out[used++] = alphabet[(group >> 12) & 63];
		out[used++] = alphabet[(group >> 6) & 63];
	}
	out[used] = '\0';
	return (int)used;
}

static int sextet(char c)
{
	const char *found = c ? strchr(alphabet, c) : NULL;
	return found ? (int)(found - alphabet) : -1;
}

int ex_rp_base64url_decode(const char *text, size_t length, unsigned char *out, size_t out_size)
{
	if (length % 4 == 1)
		return -1;
	size_t needed = (length / 4) * 3 + (length % 4 ? length % 4 - 1 : 0);
	if (needed > out_size)
		return -1;

	size_t used = 0;
	unsigned long group = 0;
	int bits = 0;
	for (size_t i = 0; i < length; i++) {
		int value = sextet(text[i]);
		if (value < 0)
			return -1;
		group = (group << 6) | (unsigned long)value;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[used++] = (unsigned char)(group >> bits);
			group &= (1ul << bits) - 1;
		}
	}
	/* Leftover bits must be zero, so each byte string has one encoding. */
	if (group != 0)
		return -1;
	return (int)used;
}

int ex_rp_random_token(char *out, size_t out_size)
{
	unsigned char bytes[EX_RP_RANDOM_BYTES];

	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		return -1;
	return ex_rp_base64url_encode(bytes, sizeof(bytes), out, out_size) < 0 ? -1 : 0;
}

int ex_rp_pkce_challenge(const char *verifier, char *out, size_t out_size)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_length = 0;

	if (EVP_Digest(verifier, strlen(verifier), digest, &digest_length, EVP_sha256(), NULL) != 1)
		return -1;
	return ex_rp_base64url_encode(digest, digest_length, out, out_size) < 0 ? -1 : 0;
}
