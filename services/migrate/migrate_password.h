/*
 * argon2id hashing of app passwords for `expresso-migrate seed`, in the
 * encoded form "$argon2id$v=19$m=65536,t=3,p=1$SALT$HASH" that libargon2
 * and libsodium both verify.
 */
#ifndef EXPRESSO_MIGRATE_PASSWORD_H
#define EXPRESSO_MIGRATE_PASSWORD_H

#include <stddef.h>

enum {
	/* Passes over memory (argon2 t). */
	EX_SEED_ARGON2_TIME_COST = 3,
	/* Memory in KiB (argon2 m): 64 MiB. */
	EX_SEED_ARGON2_MEMORY_KIB = 64 * 1024,
	/* Lanes (argon2 p). */
	EX_SEED_ARGON2_PARALLELISM = 1,
	EX_SEED_ARGON2_SALT_BYTES = 16,
	EX_SEED_ARGON2_HASH_BYTES = 32,
	/* Room for the encoded hash with the parameters above. */
	EX_SEED_ARGON2_ENCODED_MAX = 160,
};

/*
 * Hashes password with a random salt into encoded. Returns 0, or -1 with a
 * message in error.
 */
int ex_seed_password_hash(const char *password, char *encoded, size_t encoded_size, char *error,
			  size_t error_size);

/* Returns 1 when encoded is an argon2id hash of password; 0 otherwise, also for a malformed hash. */
int ex_seed_password_verify(const char *encoded, const char *password);

#endif
