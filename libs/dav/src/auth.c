/*
 * Basic (app password) and Bearer (JWT) authentication for DAV requests;
 * see dav_auth.h for the rules.
 */
#include "expresso/dav_auth.h"

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "expresso/dav_http.h"
#include "expresso/log.h"

enum {
	MAX_LOGIN = 255,
	MAX_PASSWORD = 256,
	DB_ACQUIRE_TIMEOUT_MS = 5000,
	KEY_BYTES = 32,
};

typedef struct {
	unsigned char digest[EVP_MAX_MD_SIZE];
	ex_dav_principal principal;
	time_t expires;
} cache_entry;

struct ex_dav_authenticator {
	ex_auth_verifier *verifier;
	ex_db_pool *database;
	unsigned char key[KEY_BYTES];
	pthread_mutex_t lock;
	cache_entry cache[EX_DAV_AUTH_CACHE_ENTRIES];
	size_t next_slot;
};

ex_dav_authenticator *ex_dav_authenticator_new(ex_auth_verifier *verifier, ex_db_pool *database)
{
	ex_dav_authenticator *authenticator = calloc(1, sizeof(*authenticator));
	if (authenticator == NULL)
		return NULL;
	if (RAND_bytes(authenticator->key, KEY_BYTES) != 1) {
		free(authenticator);
		return NULL;
	}
	authenticator->verifier = verifier;
	authenticator->database = database;
	pthread_mutex_init(&authenticator->lock, NULL);
	return authenticator;
}

void ex_dav_authenticator_free(ex_dav_authenticator *authenticator)
{
	if (authenticator == NULL)
		return;
	pthread_mutex_destroy(&authenticator->lock);
	OPENSSL_cleanse(authenticator, sizeof(*authenticator));
	free(authenticator);
}

int ex_dav_parse_basic(const char *header, char *login, size_t login_size, char *password, size_t password_size)
{
	if (header == NULL || strncasecmp(header, "Basic ", 6) != 0)
		return -1;
	const char *encoded = header + 6;
	while (*encoded == ' ')
		encoded++;
	size_t length = strlen(encoded);
	while (length > 0 && encoded[length - 1] == ' ')
		length--;
	if (length == 0 || length % 4 != 0 || length > EX_DAV_MAX_AUTHORIZATION)
		return -1;

	unsigned char decoded[EX_DAV_MAX_AUTHORIZATION];
	int decoded_length = EVP_DecodeBlock(decoded, (const unsigned char *)encoded, (int)length);
	if (decoded_length < 0)
		return -1;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	if (encoded[length - 1] == '=')
		decoded_length--;
	if (encoded[length - 2] == '=')
		decoded_length--;

	const unsigned char *colon = memchr(decoded, ':', (size_t)decoded_length);
	if (colon == NULL || memchr(decoded, '\0', (size_t)decoded_length) != NULL)
		return -1;
	size_t login_length = (size_t)(colon - decoded);
	size_t password_length = (size_t)decoded_length - login_length - 1;
	if (login_length == 0 || login_length >= login_size || password_length >= password_size)
		return -1;
	memcpy(login, decoded, login_length);
	login[login_length] = '\0';
	memcpy(password, colon + 1, password_length);
	password[password_length] = '\0';
	OPENSSL_cleanse(decoded, sizeof(decoded));
	return 0;
}

static void credentials_digest(const ex_dav_authenticator *authenticator, const char *login, const char *password,
			       unsigned char digest[EVP_MAX_MD_SIZE])
{
	unsigned char message[MAX_LOGIN + MAX_PASSWORD + 2];
	size_t login_length = strlen(login);
	size_t password_length = strlen(password);
	unsigned int digest_length = 0;

	memset(digest, 0, EVP_MAX_MD_SIZE);
	memcpy(message, login, login_length);
	message[login_length] = '\0';
	memcpy(message + login_length + 1, password, password_length);
	HMAC(EVP_sha256(), authenticator->key, KEY_BYTES, message, login_length + 1 + password_length, digest,
	     &digest_length);
	OPENSSL_cleanse(message, sizeof(message));
}

static bool cache_lookup(ex_dav_authenticator *authenticator, const unsigned char *digest,
			 ex_dav_principal *principal)
{
	bool found = false;
	time_t now = time(NULL);

	pthread_mutex_lock(&authenticator->lock);
	for (size_t i = 0; i < EX_DAV_AUTH_CACHE_ENTRIES && !found; i++) {
		cache_entry *entry = &authenticator->cache[i];
		if (entry->expires > now && CRYPTO_memcmp(entry->digest, digest, EVP_MAX_MD_SIZE) == 0) {
			*principal = entry->principal;
			found = true;
		}
	}
	pthread_mutex_unlock(&authenticator->lock);
	return found;
}

static void cache_store(ex_dav_authenticator *authenticator, const unsigned char *digest,
			const ex_dav_principal *principal)
{
	pthread_mutex_lock(&authenticator->lock);
	cache_entry *entry = &authenticator->cache[authenticator->next_slot];
	authenticator->next_slot = (authenticator->next_slot + 1) % EX_DAV_AUTH_CACHE_ENTRIES;
	memcpy(entry->digest, digest, EVP_MAX_MD_SIZE);
	entry->principal = *principal;
	entry->expires = time(NULL) + EX_DAV_AUTH_CACHE_SECONDS;
	pthread_mutex_unlock(&authenticator->lock);
}

/* Finds the tenant and user of LOGIN through the SECURITY DEFINER lookup. Returns 1 found, 0 not, -1 error. */
static int lookup_login(ex_db_pool *database, const char *login, ex_dav_principal *principal)
{
	ex_db_error error;
	PGconn *connection = ex_db_acquire(database, DB_ACQUIRE_TIMEOUT_MS, &error);
	if (connection == NULL) {
		ex_log(EX_LOG_ERROR, "dav_login_lookup_failed", "{s:s}", "error", error.message);
		return -1;
	}
	const char *params[] = { login };
	PGresult *result = ex_db_exec(connection, "SELECT tenant_id::text, user_id::text FROM ex_tenant_for_login($1)",
				      1, params, &error);
	ex_db_release(database, connection);
	/* Class 22 (data exception), such as a login that is not valid UTF-8, names no user. */
	if (result == NULL && strncmp(error.sqlstate, "22", 2) == 0)
		return 0;
	if (result == NULL) {
		ex_log(EX_LOG_ERROR, "dav_login_lookup_failed", "{s:s}", "error", error.message);
		return -1;
	}
	int found = PQntuples(result) == 1;
	if (found) {
		snprintf(principal->tenant_id, sizeof(principal->tenant_id), "%s", PQgetvalue(result, 0, 0));
		snprintf(principal->user_id, sizeof(principal->user_id), "%s", PQgetvalue(result, 0, 1));
	}
	PQclear(result);
	return found;
}

typedef struct {
	const char *user_id;
	const char *password;
	int matched;
} password_check;

/* Verifies the password against each active app password of the user and records the use of the one that matched. */
static int check_app_passwords(PGconn *connection, void *context, ex_db_error *error)
{
	password_check *check = context;
	const char *params[] = { check->user_id };

	check->matched = 0;
	PGresult *result = ex_db_exec(connection,
				      "SELECT id::text, hash FROM app_passwords WHERE user_id = $1 AND revoked_at IS NULL "
				      "ORDER BY last_used_at DESC NULLS LAST LIMIT 50",
				      1, params, error);
	if (result == NULL)
		return -1;
	char matched_id[EX_DAV_UUID_TEXT] = "";
	for (int row = 0; row < PQntuples(result) && !check->matched; row++) {
		if (argon2id_verify(PQgetvalue(result, row, 1), check->password, strlen(check->password)) == ARGON2_OK) {
			check->matched = 1;
			snprintf(matched_id, sizeof(matched_id), "%s", PQgetvalue(result, row, 0));
		}
	}
	PQclear(result);
	if (!check->matched)
		return 0;

	const char *update_params[] = { matched_id };
	result = ex_db_exec(connection,
			    "UPDATE app_passwords SET last_used_at = now() WHERE id = $1 "
			    "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
			    1, update_params, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

static ex_dav_auth_status authenticate_basic(ex_dav_authenticator *authenticator, const char *header,
					     ex_dav_principal *principal)
{
	char login[MAX_LOGIN + 1];
	char password[MAX_PASSWORD + 1];
	unsigned char digest[EVP_MAX_MD_SIZE];

	if (ex_dav_parse_basic(header, login, sizeof(login), password, sizeof(password)) != 0)
		return EX_DAV_AUTH_INVALID;
	credentials_digest(authenticator, login, password, digest);
	if (cache_lookup(authenticator, digest, principal)) {
		OPENSSL_cleanse(password, sizeof(password));
		return EX_DAV_AUTH_OK;
	}

	ex_dav_auth_status status = EX_DAV_AUTH_INVALID;
	int found = lookup_login(authenticator->database, login, principal);
	if (found < 0)
		status = EX_DAV_AUTH_UNAVAILABLE;
	if (found == 1) {
		password_check check = { .user_id = principal->user_id, .password = password };
		ex_db_error error;
		if (ex_db_tenant_transaction(authenticator->database, principal->tenant_id, EX_DB_READ_COMMITTED,
					     check_app_passwords, &check, &error) != 0) {
			ex_log(EX_LOG_ERROR, "dav_app_password_check_failed", "{s:s, s:s}", "user",
			       principal->user_id, "error", error.message);
			status = EX_DAV_AUTH_UNAVAILABLE;
		} else if (check.matched) {
			status = EX_DAV_AUTH_OK;
			cache_store(authenticator, digest, principal);
		}
	}
	OPENSSL_cleanse(password, sizeof(password));
	return status;
}

static ex_dav_auth_status authenticate_bearer(ex_dav_authenticator *authenticator, ex_http_request *request,
					      ex_dav_principal *principal)
{
	ex_auth_claims claims;
	ex_auth_status status = ex_auth_authenticate_connection(authenticator->verifier, ex_http_connection(request),
								 &claims);
	ex_dav_auth_status result = EX_DAV_AUTH_INVALID;

	if (status == EX_AUTH_OK && strlen(claims.subject) == 36 && strlen(claims.tenant_id) == 36) {
		snprintf(principal->tenant_id, sizeof(principal->tenant_id), "%s", claims.tenant_id);
		snprintf(principal->user_id, sizeof(principal->user_id), "%s", claims.subject);
		result = EX_DAV_AUTH_OK;
	} else if (status == EX_AUTH_ERR_KEYS_UNAVAILABLE || status == EX_AUTH_ERR_INTERNAL) {
		result = EX_DAV_AUTH_UNAVAILABLE;
	}
	if (status != EX_AUTH_OK)
		ex_log(EX_LOG_INFO, "dav_token_rejected", "{s:s}", "reason", ex_auth_status_code(status));
	ex_auth_claims_clear(&claims);
	return result;
}

ex_dav_auth_status ex_dav_authenticate(ex_dav_authenticator *authenticator, ex_http_request *request,
				       ex_dav_principal *principal)
{
	const char *header = ex_http_header(request, "Authorization");

	memset(principal, 0, sizeof(*principal));
	if (header == NULL)
		return EX_DAV_AUTH_MISSING;
	if (strncasecmp(header, "Basic ", 6) == 0)
		return authenticate_basic(authenticator, header, principal);
	if (strncasecmp(header, "Bearer ", 7) == 0)
		return authenticate_bearer(authenticator, request, principal);
	return EX_DAV_AUTH_INVALID;
}

void ex_dav_respond_unauthorized(ex_http_request *request, ex_dav_auth_status status)
{
	if (status == EX_DAV_AUTH_UNAVAILABLE) {
		ex_dav_respond_message(request, 503, "authentication is unavailable for now; retry in a few seconds");
		ex_http_add_header(request, "Retry-After", "5");
		return;
	}
	ex_dav_respond_message(request, 401,
			       status == EX_DAV_AUTH_MISSING
				       ? "log in with your email address and an app password, or with a bearer token"
				       : "the credentials were not accepted; check the email address and app password");
	ex_http_add_header(request, "WWW-Authenticate", "Basic realm=\"Expresso\", charset=\"UTF-8\"");
	ex_http_add_header(request, "WWW-Authenticate", "Bearer realm=\"expresso\"");
}
