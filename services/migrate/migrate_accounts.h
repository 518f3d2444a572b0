/*
 * The accounts file read by `expresso-migrate seed`: tenants with their
 * domains, and users with their tenant slug and app password. Parsing
 * checks every field and limit before any of it reaches the database.
 *
 *   {"tenants": [{"id": UUID, "slug": "demo", "name": "Demo",
 *                 "domains": ["demo.expresso.test"]}],
 *    "users": [{"id": UUID, "tenant": "demo", "email": "...", "username": "...",
 *               "name": "...", "app_password": "..."}]}
 *
 * Other members (a user's "password" and "roles", which belong to the
 * identity provider) are ignored.
 */
#ifndef EXPRESSO_MIGRATE_ACCOUNTS_H
#define EXPRESSO_MIGRATE_ACCOUNTS_H

#include <jansson.h>
#include <stddef.h>

enum {
	/* Largest accepted accounts file, in bytes (4 MiB). */
	EX_ACCOUNTS_FILE_BYTES_MAX = 4 * 1024 * 1024,
	EX_ACCOUNTS_TENANTS_MAX = 1000,
	EX_ACCOUNTS_USERS_MAX = 10000,
	/* Most domains of one tenant. */
	EX_ACCOUNTS_DOMAINS_MAX = 100,
	/* Longest accepted app password, in bytes. */
	EX_ACCOUNTS_APP_PASSWORD_MAX = 1024,
	/* Canonical UUID text length, e.g. 6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11. */
	EX_ACCOUNTS_UUID_LEN = 36,
};

typedef struct {
	/* Lower-case canonical UUID. */
	char id[EX_ACCOUNTS_UUID_LEN + 1];
	const char *slug;
	const char *name;
	/* JSON array of domain name strings, each checked. */
	json_t *domains;
} ex_seed_tenant;

typedef struct {
	/* Lower-case canonical UUID: the OIDC sub. */
	char id[EX_ACCOUNTS_UUID_LEN + 1];
	/* Index into ex_seed_accounts.tenants. */
	size_t tenant;
	const char *email;
	const char *username;
	/* "" when the file has no "name". */
	const char *display_name;
	const char *app_password;
} ex_seed_user;

/* Strings point into root, which the accounts own. */
typedef struct {
	json_t *root;
	ex_seed_tenant *tenants;
	size_t tenant_count;
	ex_seed_user *users;
	size_t user_count;
} ex_seed_accounts;

/*
 * Writes the lower-case canonical form of a UUID written as 8-4-4-4-12 hex
 * digits. Returns 1, or 0 when text is not such a UUID.
 */
int ex_seed_uuid_canonical(const char *text, char out[EX_ACCOUNTS_UUID_LEN + 1]);

/* Parses and checks accounts JSON. Returns 0, or -1 with a message in error. */
int ex_seed_accounts_parse(const char *text, size_t length, ex_seed_accounts *accounts, char *error,
			   size_t error_size);

/* Reads and parses an accounts file of at most EX_ACCOUNTS_FILE_BYTES_MAX bytes. */
int ex_seed_accounts_load(const char *path, ex_seed_accounts *accounts, char *error, size_t error_size);

/* Frees the accounts; safe on a zeroed struct. */
void ex_seed_accounts_free(ex_seed_accounts *accounts);

#endif
