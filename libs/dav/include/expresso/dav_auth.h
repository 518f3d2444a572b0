/*
 * Authentication of DAV clients. Phones and DAVx5 send HTTP Basic with
 * the user's email address and an app password; browsers and tools send a
 * Bearer JWT. The tenant and user always come from the credentials: the
 * JWT's tenant_id and sub, or for Basic the ex_tenant_for_login() lookup
 * followed by an argon2id check against the user's active app passwords
 * inside that tenant.
 *
 * A successful Basic check is remembered for EX_DAV_AUTH_CACHE_SECONDS
 * under an HMAC of the credentials with a per-process key, because one
 * argon2id check costs about 64 MiB and tens of milliseconds and a sync
 * sends many requests. A revoked app password therefore keeps working for
 * at most that long.
 */
#ifndef EXPRESSO_DAV_AUTH_H
#define EXPRESSO_DAV_AUTH_H

#include "expresso/authclient.h"
#include "expresso/db.h"
#include "expresso/http.h"

enum {
	EX_DAV_UUID_TEXT = 37,             /* 36 characters and NUL */
	EX_DAV_MAX_AUTHORIZATION = 1024,   /* bytes of a Basic Authorization header */
	EX_DAV_MAX_APP_PASSWORDS = 50,     /* active app passwords checked per login */
	EX_DAV_AUTH_CACHE_ENTRIES = 64,
	EX_DAV_AUTH_CACHE_SECONDS = 60,
};

typedef struct {
	char tenant_id[EX_DAV_UUID_TEXT];
	char user_id[EX_DAV_UUID_TEXT];
} ex_dav_principal;

typedef enum {
	EX_DAV_AUTH_OK = 0,
	EX_DAV_AUTH_MISSING,     /* no Authorization header: 401 */
	EX_DAV_AUTH_INVALID,     /* wrong or malformed credentials: 401 */
	EX_DAV_AUTH_UNAVAILABLE, /* database or key set unreachable: 503 */
} ex_dav_auth_status;

typedef struct ex_dav_authenticator ex_dav_authenticator;

/* Creates an authenticator on VERIFIER and DATABASE (both borrowed). */
ex_dav_authenticator *ex_dav_authenticator_new(ex_auth_verifier *verifier, ex_db_pool *database);
void ex_dav_authenticator_free(ex_dav_authenticator *authenticator);

/* Checks the request's credentials and fills *principal on success. */
ex_dav_auth_status ex_dav_authenticate(ex_dav_authenticator *authenticator, ex_http_request *request,
				       ex_dav_principal *principal);

/* Sends 401 with WWW-Authenticate for Basic and Bearer, or 503 for EX_DAV_AUTH_UNAVAILABLE. */
void ex_dav_respond_unauthorized(ex_http_request *request, ex_dav_auth_status status);

/*
 * Decodes the value of a "Basic" Authorization header into LOGIN and
 * PASSWORD. Returns 0, or -1 when the header is not Basic, not base64, has
 * no colon, contains NUL or does not fit.
 */
int ex_dav_parse_basic(const char *header, char *login, size_t login_size, char *password, size_t password_size);

#endif
