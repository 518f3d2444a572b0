/*
 * argon2id through libargon2, with salts from OpenSSL's CSPRNG.
 */
#include "migrate_password.h"

#include <argon2.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

int ex_seed_password_hash(const char *password, char *encoded, size_t encoded_size, char *error,
			  size_t error_size)
{
	unsigned char salt[EX_SEED_ARGON2_SALT_BYTES];

	size_t needed = argon2_encodedlen(EX_SEED_ARGON2_TIME_COST, EX_SEED_ARGON2_MEMORY_KIB,
					  EX_SEED_ARGON2_PARALLELISM, sizeof(salt), EX_SEED_ARGON2_HASH_BYTES,
					  Argon2_id);
	if (needed > encoded_size) {
		snprintf(error, error_size, "argon2id hash needs %zu bytes, buffer has %zu", needed, encoded_size);
		return -1;
	}
	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		snprintf(error, error_size, "cannot read random bytes for the password salt from OpenSSL");
		return -1;
	}

	int status = argon2id_hash_encoded(EX_SEED_ARGON2_TIME_COST, EX_SEED_ARGON2_MEMORY_KIB,
					   EX_SEED_ARGON2_PARALLELISM, password, strlen(password), salt, sizeof(salt),
					   EX_SEED_ARGON2_HASH_BYTES, encoded, encoded_size);
	if (status != ARGON2_OK) {
		snprintf(error, error_size, "argon2id hashing failed: %s", argon2_error_message(status));
		return -1;
	}
	return 0;
}

int ex_seed_password_verify(const char *encoded, const char *password)
{
	if (strncmp(encoded, "$argon2id$", strlen("$argon2id$")) != 0)
		return 0;
	return argon2id_verify(encoded, password, strlen(password)) == ARGON2_OK;
}
