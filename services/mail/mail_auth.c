/*
 * SMTP AUTH against app passwords: the login (an email address) names the
 * tenant and user through the SECURITY DEFINER function
 * ex_tenant_for_login(), then each active app password of that user is
 * checked with argon2id_verify(). Failures are audited in the user's
 * tenant. A login that matches no user is only logged, because the audit
 * log needs a tenant.
 *
 * OAUTHBEARER and XOAUTH2 carry an access token instead, which
 * libexpresso-authclient verifies; the token's sub and tenant_id name the
 * user, who must exist and be enabled.
 */
#include <argon2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "expresso/audit.h"
#include "expresso/log.h"
#include "mail_service.h"

enum { ACQUIRE_TIMEOUT_MS = 5000, MAX_LOGIN = 254 };

typedef struct {
	const char *user_id;
	PGresult *candidates; /* id, hash, email of each active app password */
} password_candidates;

typedef struct {
	const char *app_password_id;
	bool still_active;
} password_use;

/* Looks up the tenant and user of LOGIN outside any tenant. Returns 1 found, 0 not found, -1 error. */
static int tenant_for_login(ex_db_pool *pool, const char *login, ex_smtp_identity *identity)
{
	ex_db_error error = { 0 };
	PGconn *connection = ex_db_acquire(pool, ACQUIRE_TIMEOUT_MS, &error);
	if (connection == NULL) {
		ex_log(EX_LOG_ERROR, "smtp_auth_lookup_failed", "{s:s}", "error", error.message);
		return -1;
	}
	const char *params[] = { login };
	PGresult *result = ex_db_exec(connection, "SELECT tenant_id, user_id FROM ex_tenant_for_login($1)", 1, params,
				      &error);
	ex_db_release(pool, connection);
	if (result == NULL) {
		ex_log(EX_LOG_ERROR, "smtp_auth_lookup_failed", "{s:s}", "error", error.message);
		return -1;
	}
	int found = PQntuples(result) == 1;
	if (found) {
		snprintf(identity->tenant_id, sizeof(identity->tenant_id), "%s", PQgetvalue(result, 0, 0));
		snprintf(identity->user_id, sizeof(identity->user_id), "%s", PQgetvalue(result, 0, 1));
	}
	PQclear(result);
	return found;
}

/*
 * Transaction body: reads the user's active app passwords. The rows
 * outlive the transaction, so argon2id runs after the connection went
 * back to the pool, because each check costs tens of milliseconds of CPU and
 * holding a pooled connection meanwhile made logins beyond the pool size
 * time out.
 */
static int read_app_passwords(PGconn *connection, void *context, ex_db_error *error)
{
	password_candidates *candidates = context;
	const char *params[] = { candidates->user_id };

	PQclear(candidates->candidates);
	candidates->candidates = ex_db_exec(connection,
					    "SELECT a.id, a.hash, u.email FROM app_passwords AS a JOIN users AS u ON u.id = a.user_id "
					    "WHERE a.user_id = $1 AND a.revoked_at IS NULL AND NOT u.disabled",
					    1, params, error);
	return candidates->candidates == NULL ? -1 : 0;
}

/* Transaction body: records the use of the matched app password, unless it was revoked or its user disabled since. */
static int record_app_password_use(PGconn *connection, void *context, ex_db_error *error)
{
	password_use *use = context;
	const char *params[] = { use->app_password_id };
	PGresult *result = ex_db_exec(connection,
				      "UPDATE app_passwords AS a SET last_used_at = now() FROM users AS u "
				      "WHERE a.id = $1 AND a.revoked_at IS NULL AND u.id = a.user_id AND NOT u.disabled",
				      1, params, error);
	if (result == NULL)
		return -1;
	use->still_active = strcmp(PQcmdTuples(result), "1") == 0;
	PQclear(result);
	return 0;
}

/* Returns the row of CANDIDATES whose hash PASSWORD matches, or -1. Uses no database connection. */
static int matching_app_password(PGresult *candidates, const char *password)
{
	for (int row = 0; row < PQntuples(candidates); row++)
		if (argon2id_verify(PQgetvalue(candidates, row, 1), password, strlen(password)) == ARGON2_OK)
			return row;
	return -1;
}

/*
 * Verifies PASSWORD against the active app passwords of IDENTITY's user:
 * one transaction reads the hashes, argon2id runs without a connection,
 * and a second transaction records the use. Returns 1 matched (EMAIL
 * set), 0 no match, -1 database error (logged).
 */
static int check_app_passwords(ex_mail_service *service, const ex_smtp_identity *identity, const char *password,
			       char *email, size_t email_size)
{
	password_candidates candidates = { .user_id = identity->user_id };
	ex_db_error error = { 0 };
	if (ex_db_tenant_transaction(service->database, identity->tenant_id, EX_DB_READ_COMMITTED, read_app_passwords,
				     &candidates, &error) != 0) {
		PQclear(candidates.candidates);
		ex_log(EX_LOG_ERROR, "smtp_auth_check_failed", "{s:s, s:s}", "user", identity->user_id, "error",
		       error.message);
		return -1;
	}

	int row = matching_app_password(candidates.candidates, password);
	if (row < 0) {
		PQclear(candidates.candidates);
		return 0;
	}

	password_use use = { .app_password_id = PQgetvalue(candidates.candidates, row, 0) };
	snprintf(email, email_size, "%s", PQgetvalue(candidates.candidates, row, 2));
	int status = ex_db_tenant_transaction(service->database, identity->tenant_id, EX_DB_READ_COMMITTED,
					      record_app_password_use, &use, &error);
	PQclear(candidates.candidates);
	if (status != 0) {
		ex_log(EX_LOG_ERROR, "smtp_auth_check_failed", "{s:s, s:s}", "user", identity->user_id, "error",
		       error.message);
		return -1;
	}
	return use.still_active ? 1 : 0;
}

static void audit_failure(ex_mail_service *service, const ex_smtp_identity *identity, const char *client_address)
{
	ex_db_error error = { 0 };
	const ex_audit_entry entry = {
		.tenant_id = identity->tenant_id,
		.actor = identity->user_id,
		.action = "smtp.auth_failed",
		.resource = "app_password",
		.address = client_address,
	};
	if (ex_audit_record(service->database, &entry, &error) != 0)
		ex_log(EX_LOG_ERROR, "audit_write_failed", "{s:s, s:s}", "action", entry.action, "error", error.message);
}

static uint64_t monotonic_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

/* Counts a failure against the client address and the account. */
static void count_failure(ex_mail_service *service, const char *address_key, const char *account_key)
{
	uint64_t now = monotonic_ms();
	ex_counter_add(service->auth_failures, 1);
	ex_auth_limiter_fail(service->auth_limiter, address_key, now);
	ex_auth_limiter_fail(service->auth_limiter, account_key, now);
}

ex_smtp_auth_status ex_mail_authenticate(void *context, const char *login, const char *password,
					 const char *client_address, ex_smtp_identity *identity)
{
	ex_mail_service *service = context;
	char address_key[EX_AUTH_LIMITER_MAX_KEY];
	char account_key[EX_AUTH_LIMITER_MAX_KEY];

	*identity = (ex_smtp_identity){ 0 };
	if (strlen(login) > MAX_LOGIN) {
		ex_counter_add(service->auth_failures, 1);
		return EX_SMTP_AUTH_REJECTED;
	}
	snprintf(address_key, sizeof(address_key), "address:%s", client_address);
	snprintf(account_key, sizeof(account_key), "account:%s", login);
	for (char *p = account_key; *p != '\0'; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);

	uint64_t now = monotonic_ms();
	if (ex_auth_limiter_blocked(service->auth_limiter, address_key, now) ||
	    ex_auth_limiter_blocked(service->auth_limiter, account_key, now)) {
		ex_counter_add(service->auth_failures, 1);
		ex_log(EX_LOG_WARN, "smtp_auth_rate_limited", "{s:s}", "address", client_address);
		return EX_SMTP_AUTH_RATE_LIMITED;
	}

	int found = tenant_for_login(service->database, login, identity);
	if (found < 0)
		return EX_SMTP_AUTH_TEMPORARY_FAILURE;
	if (found == 0) {
		count_failure(service, address_key, account_key);
		ex_log(EX_LOG_WARN, "smtp_auth_failed", "{s:s, s:s}", "reason", "unknown login", "address", client_address);
		return EX_SMTP_AUTH_REJECTED;
	}

	char email[EX_SMTP_MAX_PATH + 1] = "";
	int matched = check_app_passwords(service, identity, password, email, sizeof(email));
	if (matched < 0)
		return EX_SMTP_AUTH_TEMPORARY_FAILURE;
	if (matched == 0) {
		count_failure(service, address_key, account_key);
		ex_log(EX_LOG_WARN, "smtp_auth_failed", "{s:s, s:s, s:s}", "reason", "wrong app password", "user",
		       identity->user_id, "address", client_address);
		audit_failure(service, identity, client_address);
		return EX_SMTP_AUTH_REJECTED;
	}
	snprintf(identity->email, sizeof(identity->email), "%s", email);
	/* A success clears both counts, so people behind one address are not locked out by a typo of a neighbour. */
	ex_auth_limiter_reset(service->auth_limiter, account_key);
	ex_auth_limiter_reset(service->auth_limiter, address_key);
	ex_log(EX_LOG_INFO, "smtp_auth_succeeded", "{s:s, s:s}", "user", identity->user_id, "address", client_address);
	return EX_SMTP_AUTH_ACCEPTED;
}

typedef struct {
	const char *user_id;
	char email[EX_SMTP_MAX_PATH + 1];
	bool found;
} token_user;

/* Counts a rejected token against the client address; a rejected token names no account to count against. */
static void count_token_failure(ex_mail_service *service, const char *address_key)
{
	ex_counter_add(service->auth_failures, 1);
	ex_auth_limiter_fail(service->auth_limiter, address_key, monotonic_ms());
}

/* Transaction body: reads the email of an enabled user. */
static int read_token_user(PGconn *connection, void *context, ex_db_error *error)
{
	token_user *user = context;
	const char *params[] = { user->user_id };
	PGresult *result = ex_db_exec(connection, "SELECT email FROM users WHERE id = $1 AND NOT disabled", 1, params,
				      error);
	if (result == NULL)
		return -1;
	user->found = PQntuples(result) == 1;
	if (user->found)
		snprintf(user->email, sizeof(user->email), "%s", PQgetvalue(result, 0, 0));
	PQclear(result);
	return 0;
}

ex_smtp_auth_status ex_mail_authenticate_token(void *context, const char *authzid, const char *token,
					       const char *client_address, ex_smtp_identity *identity)
{
	ex_mail_service *service = context;
	char address_key[EX_AUTH_LIMITER_MAX_KEY];
	ex_auth_claims claims;

	*identity = (ex_smtp_identity){ 0 };
	snprintf(address_key, sizeof(address_key), "address:%s", client_address);
	if (ex_auth_limiter_blocked(service->auth_limiter, address_key, monotonic_ms())) {
		ex_counter_add(service->auth_failures, 1);
		ex_log(EX_LOG_WARN, "smtp_auth_rate_limited", "{s:s}", "address", client_address);
		return EX_SMTP_AUTH_RATE_LIMITED;
	}

	ex_auth_status status = ex_auth_verify(service->verifier, token, strlen(token), &claims);
	if (status == EX_AUTH_ERR_KEYS_UNAVAILABLE || status == EX_AUTH_ERR_INTERNAL) {
		ex_log(EX_LOG_ERROR, "smtp_token_check_failed", "{s:s}", "error", ex_auth_status_code(status));
		ex_auth_claims_clear(&claims);
		return EX_SMTP_AUTH_TEMPORARY_FAILURE;
	}
	if (status != EX_AUTH_OK) {
		ex_log(EX_LOG_WARN, "smtp_auth_failed", "{s:s, s:s}", "reason", ex_auth_status_code(status), "address",
		       client_address);
		ex_auth_claims_clear(&claims);
		count_token_failure(service, address_key);
		return EX_SMTP_AUTH_REJECTED;
	}
	snprintf(identity->tenant_id, sizeof(identity->tenant_id), "%s", claims.tenant_id);
	snprintf(identity->user_id, sizeof(identity->user_id), "%s", claims.subject);
	ex_auth_claims_clear(&claims);

	token_user user = { .user_id = identity->user_id };
	ex_db_error error = { 0 };
	if (ex_db_tenant_transaction(service->database, identity->tenant_id, EX_DB_READ_COMMITTED, read_token_user, &user,
				     &error) != 0) {
		ex_log(EX_LOG_ERROR, "smtp_auth_check_failed", "{s:s, s:s}", "user", identity->user_id, "error",
		       error.message);
		return EX_SMTP_AUTH_TEMPORARY_FAILURE;
	}
	/* An authzid, when given, must be the token owner's own address, because no user may act for another. */
	if (!user.found || (authzid[0] != '\0' && strcasecmp(authzid, user.email) != 0)) {
		ex_log(EX_LOG_WARN, "smtp_auth_failed", "{s:s, s:s, s:s}", "reason",
		       user.found ? "authzid is not the token's user" : "user not found or disabled", "user",
		       identity->user_id, "address", client_address);
		count_token_failure(service, address_key);
		if (user.found)
			audit_failure(service, identity, client_address);
		return EX_SMTP_AUTH_REJECTED;
	}
	snprintf(identity->email, sizeof(identity->email), "%s", user.email);
	ex_auth_limiter_reset(service->auth_limiter, address_key);
	ex_log(EX_LOG_INFO, "smtp_auth_succeeded", "{s:s, s:s, s:s}", "user", identity->user_id, "address", client_address,
	       "mechanism", "oauth");
	return EX_SMTP_AUTH_ACCEPTED;
}
