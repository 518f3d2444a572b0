/*
 * App passwords for IMAP, SMTP and DAV clients: generation, argon2id
 * hashing (libargon2, encoded form) and the rules for their names. The
 * HTTP endpoints and the SQL live in app_password_routes.c.
 */
#ifndef EXPRESSO_AUTH_APP_PASSWORD_H
#define EXPRESSO_AUTH_APP_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

enum {
	/* Characters of a generated password, each one of 62 letters and
	 * digits: about 143 bits, typed by hand on a phone if need be. */
	EX_RP_APP_PASSWORD_LENGTH = 24,
	/* argon2id cost: the parameters of expresso-migrate's seed, so every
	 * stored hash costs the same to check. */
	EX_RP_ARGON2_TIME_COST = 3,
	EX_RP_ARGON2_MEMORY_KIB = 64 * 1024,
	EX_RP_ARGON2_PARALLELISM = 1,
	EX_RP_ARGON2_SALT_BYTES = 16,
	EX_RP_ARGON2_HASH_BYTES = 32,
	/* Room for the encoded hash with the parameters above. */
	EX_RP_ARGON2_ENCODED_MAX = 160,
	/* Name length in characters (Unicode code points), as the
	 * app_passwords_name_length constraint checks. */
	EX_RP_APP_PASSWORD_NAME_MIN = 1,
	EX_RP_APP_PASSWORD_NAME_MAX = 100,
};

/* Writes a new password of EX_RP_APP_PASSWORD_LENGTH characters into OUT. Returns 0, or -1 when the CSPRNG fails. */
int ex_rp_app_password_generate(char *out, size_t out_size);

/* Writes the encoded argon2id hash of PASSWORD with a random salt into ENCODED. Returns 0, or -1 with a reason. */
int ex_rp_app_password_hash(const char *password, char *encoded, size_t encoded_size, char *error, size_t error_size);

/*
 * Returns true when NAME is valid UTF-8 of EX_RP_APP_PASSWORD_NAME_MIN to
 * EX_RP_APP_PASSWORD_NAME_MAX characters, without control characters,
 * and not only spaces.
 */
bool ex_rp_app_password_name_is_valid(const char *name);

#endif
