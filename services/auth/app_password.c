/*
 * App password generation and hashing. Characters are drawn from OpenSSL's
 * CSPRNG by rejection sampling, so each of the 62 is equally likely.
 */
#include "app_password.h"

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

static const char password_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

int ex_rp_app_password_generate(char *out, size_t out_size)
{
	/* 62 * 4 = 248: bytes from 248 up are drawn again so none is favoured. */
	enum { ALPHABET_SIZE = sizeof(password_alphabet) - 1, ACCEPT_BELOW = ALPHABET_SIZE * 4 };
	unsigned char random_bytes[64];
	size_t used = 0;

	if (out_size <= EX_RP_APP_PASSWORD_LENGTH)
		return -1;
	/* Each byte is accepted with probability 248/256, so one or two
	 * batches suffice; the bound only stops a broken generator. */
	for (int batch = 0; batch < 16 && used < EX_RP_APP_PASSWORD_LENGTH; batch++) {
		if (RAND_bytes(random_bytes, sizeof(random_bytes)) != 1)
			break;
		for (size_t i = 0; i < sizeof(random_bytes) && used < EX_RP_APP_PASSWORD_LENGTH; i++) {
			if (random_bytes[i] < ACCEPT_BELOW)
				out[used++] = password_alphabet[random_bytes[i] % ALPHABET_SIZE];
		}
	}
	OPENSSL_cleanse(random_bytes, sizeof(random_bytes));
	if (used < EX_RP_APP_PASSWORD_LENGTH) {
		OPENSSL_cleanse(out, out_size);
		return -1;
	}
	out[used] = '\0';
	return 0;
}

int ex_rp_app_password_hash(const char *password, char *encoded, size_t encoded_size, char *error, size_t error_size)
{
	unsigned char salt[EX_RP_ARGON2_SALT_BYTES];

	size_t needed = argon2_encodedlen(EX_RP_ARGON2_TIME_COST, EX_RP_ARGON2_MEMORY_KIB, EX_RP_ARGON2_PARALLELISM,
					  sizeof(salt), EX_RP_ARGON2_HASH_BYTES, Argon2_id);
	if (needed > encoded_size) {
		snprintf(error, error_size, "the argon2id hash needs %zu bytes, the buffer has %zu", needed, encoded_size);
		return -1;
	}
	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		snprintf(error, error_size, "OpenSSL could not supply random bytes for the salt");
		return -1;
	}
	int status = argon2id_hash_encoded(EX_RP_ARGON2_TIME_COST, EX_RP_ARGON2_MEMORY_KIB, EX_RP_ARGON2_PARALLELISM,
					   password, strlen(password), salt, sizeof(salt), EX_RP_ARGON2_HASH_BYTES,
					   encoded, encoded_size);
	if (status != ARGON2_OK) {
		snprintf(error, error_size, "argon2id hashing failed: %s", argon2_error_message(status));
		return -1;
	}
	return 0;
}

/* Decodes one UTF-8 sequence at TEXT; returns its length (0 when invalid) and the code point. */
static size_t utf8_decode(const unsigned char *text, unsigned long *code_point)
{
	/* Sequence length, payload bits of the lead byte, and the smallest
	 * code point of that length (anything lower is an overlong form). */
	static const struct {
		unsigned char mask, lead;
		size_t length;
		unsigned long minimum;
	} forms[] = {
		{ 0xe0, 0xc0, 2, 0x80 },
		{ 0xf0, 0xe0, 3, 0x800 },
		{ 0xf8, 0xf0, 4, 0x10000 },
	};
	unsigned char lead = text[0];

	if (lead < 0x80) {
		*code_point = lead;
		return 1;
	}
	size_t length = 0;
	unsigned long value = 0;
	unsigned long minimum = 0;
	for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
		if ((lead & forms[f].mask) == forms[f].lead) {
			length = forms[f].length;
			value = lead & (unsigned char)~forms[f].mask;
			minimum = forms[f].minimum;
		}
	}
	if (length == 0)
		return 0;
	for (size_t i = 1; i < length; i++) {
		if ((text[i] & 0xc0) != 0x80)
			return 0;
		value = (value << 6) | (text[i] & 0x3f);
	}
	if (value < minimum || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff))
		return 0;
	*code_point = value;
	return length;
}

bool ex_rp_app_password_name_is_valid(const char *name)
{
	size_t characters = 0;
	bool has_visible = false;

	if (name == NULL)
		return false;
	const unsigned char *p = (const unsigned char *)name;
	while (*p != '\0') {
		unsigned long code_point;
		size_t length = utf8_decode(p, &code_point);
		if (length == 0)
			return false;
		/* C0 and C1 controls and DEL */
		if (code_point < 0x20 || (code_point >= 0x7f && code_point < 0xa0))
			return false;
		if (code_point != ' ')
			has_visible = true;
		characters++;
		if (characters > EX_RP_APP_PASSWORD_NAME_MAX)
			return false;
		p += length;
	}
	return characters >= EX_RP_APP_PASSWORD_NAME_MIN && has_visible;
}
