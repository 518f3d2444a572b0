/*
 * `expresso-migrate seed FILE`: creates or updates the tenants, domains,
 * users, one app password per user (named "seed") and each user's default
 * mailboxes from an accounts file. Each tenant is one transaction with the
 * tenant bound through app.tenant_id, because row-level security is forced
 * on the owner role too. Running it again changes nothing: rows are
 * compared before they are written, and a stored app password hash that
 * still verifies is kept. Rows that are not in the file are left alone.
 */
#include "migrate_seed.h"

#include "migrate_accounts.h"
#include "migrate_db.h"
#include "migrate_log.h"
#include "migrate_password.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ERROR_TEXT_MAX = 4096 };

/* Name of the app password the seed manages for each user. */
static const char seed_app_password_name[] = "seed";

static const struct {
	const char *name;
	const char *special_use;
} default_mailboxes[] = {
	{ "INBOX", NULL },	  { "Sent", "\\Sent" }, { "Drafts", "\\Drafts" },
	{ "Trash", "\\Trash" }, { "Junk", "\\Junk" }, { "Archive", "\\Archive" },
};

typedef struct {
	int tenant_created;
	int tenant_updated;
	int domains_created;
	int users_created;
	int users_updated;
	int app_passwords_set;
	int mailboxes_created;
} seed_counts;

static int counts_changed(const seed_counts *counts)
{
	return counts->tenant_created || counts->tenant_updated || counts->domains_created || counts->users_created
	       || counts->users_updated || counts->app_passwords_set || counts->mailboxes_created;
}

/* Runs a statement and returns its row count, or -1 with the error set. */
static int run(PGconn *connection, const char *sql, int count, const char *const *params, char *error,
	       size_t error_size)
{
	PGresult *result = ex_migrate_db_query(connection, sql, count, params, error, error_size);
	if (result == NULL)
		return -1;

	int rows = PQntuples(result);
	PQclear(result);
	return rows;
}

static int seed_tenant_row(PGconn *connection, const ex_seed_tenant *tenant, seed_counts *counts, char *error,
			   size_t error_size)
{
	const char *params[] = { tenant->id, tenant->slug, tenant->name };
	PGresult *result = ex_migrate_db_query(
		connection,
		"INSERT INTO tenants (id, slug, name) VALUES ($1::uuid, $2, $3)"
		" ON CONFLICT (id) DO UPDATE SET slug = EXCLUDED.slug, name = EXCLUDED.name"
		" WHERE (tenants.slug, tenants.name) IS DISTINCT FROM (EXCLUDED.slug, EXCLUDED.name)"
		" RETURNING xmax = 0",
		3, params, error, error_size);
	if (result == NULL)
		return -1;
	if (PQntuples(result) == 1) {
		if (strcmp(PQgetvalue(result, 0, 0), "t") == 0)
			counts->tenant_created = 1;
		else
			counts->tenant_updated = 1;
	}
	PQclear(result);
	return 0;
}

/* Adds a domain to the tenant unless it is there; fails if another tenant has it. */
static int seed_domain(PGconn *connection, const ex_seed_tenant *tenant, const char *domain, seed_counts *counts,
		       char *error, size_t error_size)
{
	const char *params[] = { tenant->id, domain };
	PGresult *result = ex_migrate_db_query(
		connection,
		"WITH inserted AS ("
		"  INSERT INTO domains (tenant_id, name) VALUES ($1::uuid, lower($2))"
		"  ON CONFLICT (name) DO NOTHING RETURNING tenant_id)"
		" SELECT 'created' FROM inserted"
		" UNION ALL"
		" SELECT CASE WHEN d.tenant_id = $1::uuid THEN 'kept' ELSE d.tenant_id::text END"
		"   FROM domains d WHERE d.name = lower($2) AND NOT EXISTS (SELECT 1 FROM inserted)",
		2, params, error, error_size);
	if (result == NULL)
		return -1;

	const char *outcome = PQntuples(result) == 1 ? PQgetvalue(result, 0, 0) : "";
	int status = 0;
	if (strcmp(outcome, "created") == 0) {
		counts->domains_created++;
	} else if (strcmp(outcome, "kept") != 0) {
		snprintf(error, error_size, "domain %s already belongs to tenant %s; remove it there or from the "
			 "accounts file", domain, outcome[0] ? outcome : "(not visible)");
		status = -1;
	}
	PQclear(result);
	return status;
}

/* Rejects a user whose id or email is already taken in a way the file contradicts. */
static int check_user_conflicts(PGconn *connection, const ex_seed_user *user, const ex_seed_tenant *tenant,
				char *error, size_t error_size)
{
	const char *params[] = { user->id, user->email };
	PGresult *result = ex_migrate_db_query(connection,
					       "SELECT id::text, tenant_id::text FROM users"
					       " WHERE id = $1::uuid OR email = lower($2)",
					       2, params, error, error_size);
	if (result == NULL)
		return -1;

	int status = 0;
	for (int i = 0; i < PQntuples(result) && status == 0; i++) {
		const char *id = PQgetvalue(result, i, 0);
		const char *tenant_id = PQgetvalue(result, i, 1);

		if (strcmp(id, user->id) != 0) {
			snprintf(error, error_size, "email %s already belongs to user %s, not to %s as the accounts "
				 "file says", user->email, id, user->id);
			status = -1;
		} else if (strcmp(tenant_id, tenant->id) != 0) {
			snprintf(error, error_size, "user %s (%s) belongs to tenant %s in the database but to %s "
				 "(%s) in the accounts file", user->id, user->email, tenant_id, tenant->id,
				 tenant->slug);
			status = -1;
		}
	}
	PQclear(result);
	return status;
}

static int seed_user_row(PGconn *connection, const ex_seed_user *user, const ex_seed_tenant *tenant,
			 seed_counts *counts, char *error, size_t error_size)
{
	if (check_user_conflicts(connection, user, tenant, error, error_size) != 0)
		return -1;

	const char *params[] = { user->id, tenant->id, user->email, user->username, user->display_name };
	PGresult *result = ex_migrate_db_query(
		connection,
		"INSERT INTO users (id, tenant_id, email, username, display_name)"
		" VALUES ($1::uuid, $2::uuid, lower($3), $4, $5)"
		" ON CONFLICT (id) DO UPDATE"
		" SET email = EXCLUDED.email, username = EXCLUDED.username, display_name = EXCLUDED.display_name"
		" WHERE (users.email, users.username, users.display_name)"
		"   IS DISTINCT FROM (EXCLUDED.email, EXCLUDED.username, EXCLUDED.display_name)"
		" RETURNING xmax = 0",
		5, params, error, error_size);
	if (result == NULL)
		return -1;
	if (PQntuples(result) == 1) {
		if (strcmp(PQgetvalue(result, 0, 0), "t") == 0)
			counts->users_created++;
		else
			counts->users_updated++;
	}
	PQclear(result);
	return 0;
}

/* Stores a new hash unless the active "seed" app password already verifies. */
static int seed_app_password(PGconn *connection, const ex_seed_user *user, const ex_seed_tenant *tenant,
			     seed_counts *counts, char *error, size_t error_size)
{
	const char *lookup[] = { user->id, seed_app_password_name };
	PGresult *result = ex_migrate_db_query(connection,
					       "SELECT id::text, hash FROM app_passwords"
					       " WHERE user_id = $1::uuid AND name = $2 AND revoked_at IS NULL",
					       2, lookup, error, error_size);
	if (result == NULL)
		return -1;

	char existing_id[64] = "";
	int verified = 0;
	if (PQntuples(result) == 1) {
		snprintf(existing_id, sizeof(existing_id), "%s", PQgetvalue(result, 0, 0));
		verified = ex_seed_password_verify(PQgetvalue(result, 0, 1), user->app_password);
	}
	PQclear(result);
	if (verified)
		return 0;

	char hash[EX_SEED_ARGON2_ENCODED_MAX];
	if (ex_seed_password_hash(user->app_password, hash, sizeof(hash), error, error_size) != 0)
		return -1;

	int rows;
	if (existing_id[0] != '\0') {
		const char *params[] = { existing_id, hash };
		rows = run(connection, "UPDATE app_passwords SET hash = $2 WHERE id = $1::uuid", 2, params, error,
			   error_size);
	} else {
		const char *params[] = { tenant->id, user->id, seed_app_password_name, hash };
		rows = run(connection,
			   "INSERT INTO app_passwords (tenant_id, user_id, name, hash)"
			   " VALUES ($1::uuid, $2::uuid, $3, $4)",
			   4, params, error, error_size);
	}
	if (rows < 0)
		return -1;
	counts->app_passwords_set++;
	return 0;
}

/*
 * Creates the default mailboxes a user lacks. A mailbox is skipped when the
 * user has one of that name or another mailbox with the same special-use
 * attribute (a client may have made "Sent Items" the \Sent mailbox).
 */
static int seed_mailboxes(PGconn *connection, const ex_seed_user *user, const ex_seed_tenant *tenant,
			  seed_counts *counts, char *error, size_t error_size)
{
	for (size_t i = 0; i < sizeof(default_mailboxes) / sizeof(default_mailboxes[0]); i++) {
		const char *params[] = { tenant->id, user->id, default_mailboxes[i].name,
					 default_mailboxes[i].special_use };
		int rows = run(connection,
			       "INSERT INTO mailboxes (tenant_id, user_id, name, special_use)"
			       " SELECT $1::uuid, $2::uuid, $3::text, $4::text"
			       "  WHERE NOT EXISTS (SELECT 1 FROM mailboxes m WHERE m.user_id = $2::uuid"
			       "                    AND (m.name = $3::text OR m.special_use = $4::text))"
			       " ON CONFLICT DO NOTHING RETURNING id",
			       4, params, error, error_size);
		if (rows < 0)
			return -1;
		counts->mailboxes_created += rows;
	}
	return 0;
}

/* Records what the seed changed in the tenant's audit log. */
static int audit_seed(PGconn *connection, const ex_seed_tenant *tenant, const seed_counts *counts, char *error,
		      size_t error_size)
{
	json_t *detail = json_pack("{s:b, s:b, s:i, s:i, s:i, s:i, s:i}", "tenant_created", counts->tenant_created,
				   "tenant_updated", counts->tenant_updated, "domains_created",
				   counts->domains_created, "users_created", counts->users_created, "users_updated",
				   counts->users_updated, "app_passwords_set", counts->app_passwords_set,
				   "mailboxes_created", counts->mailboxes_created);
	char *detail_text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	json_decref(detail);
	if (detail_text == NULL) {
		snprintf(error, error_size, "out of memory writing the audit row");
		return -1;
	}

	char resource[128];
	snprintf(resource, sizeof(resource), "tenant/%s", tenant->slug);
	const char *params[] = { tenant->id, "expresso-migrate", "seed.applied", resource, NULL, NULL, detail_text };
	int rows = run(connection,
		       "INSERT INTO audit_log (tenant_id, actor, action, resource, address, request_id, detail)"
		       " VALUES ($1::uuid, $2, $3, $4, $5, $6, $7::jsonb)",
		       7, params, error, error_size);
	free(detail_text);
	return rows < 0 ? -1 : 0;
}

/* The statements of one tenant's transaction, after the tenant is bound. */
static int seed_tenant_contents(PGconn *connection, const ex_seed_accounts *accounts, size_t tenant_index,
				seed_counts *counts, char *error, size_t error_size)
{
	const ex_seed_tenant *tenant = &accounts->tenants[tenant_index];

	if (seed_tenant_row(connection, tenant, counts, error, error_size) != 0)
		return -1;
	for (size_t d = 0; d < json_array_size(tenant->domains); d++) {
		const char *domain = json_string_value(json_array_get(tenant->domains, d));
		if (seed_domain(connection, tenant, domain, counts, error, error_size) != 0)
			return -1;
	}

	for (size_t u = 0; u < accounts->user_count; u++) {
		const ex_seed_user *user = &accounts->users[u];
		if (user->tenant != tenant_index)
			continue;
		if (seed_user_row(connection, user, tenant, counts, error, error_size) != 0
		    || seed_app_password(connection, user, tenant, counts, error, error_size) != 0
		    || seed_mailboxes(connection, user, tenant, counts, error, error_size) != 0) {
			/* Room for the email prefix and the whole message; the copy back truncates. */
			char context[ERROR_TEXT_MAX + 512];
			snprintf(context, sizeof(context), "user %.400s: %s", user->email, error);
			size_t length = strnlen(context, error_size - 1);
			memcpy(error, context, length);
			error[length] = '\0';
			return -1;
		}
	}

	if (counts_changed(counts))
		return audit_seed(connection, tenant, counts, error, error_size);
	return 0;
}

static int seed_tenant(PGconn *connection, const ex_seed_accounts *accounts, size_t tenant_index,
		       seed_counts *counts, char *error, size_t error_size)
{
	const ex_seed_tenant *tenant = &accounts->tenants[tenant_index];
	const char *bind[] = { tenant->id };

	if (ex_migrate_db_exec(connection, "BEGIN", error, error_size) != 0)
		return -1;
	if (run(connection, "SELECT set_config('app.tenant_id', $1, true)", 1, bind, error, error_size) < 0
	    || seed_tenant_contents(connection, accounts, tenant_index, counts, error, error_size) != 0
	    || ex_migrate_db_exec(connection, "COMMIT", error, error_size) != 0) {
		ex_migrate_db_rollback(connection);
		return -1;
	}
	return 0;
}

/* Checks that the tables the seed writes exist; the error names the first missing one and points at apply. */
static int check_schema(PGconn *connection, char *error, size_t error_size)
{
	const char *tables[] = { "{tenants,domains,users,app_passwords,mailboxes,audit_log}" };
	PGresult *result = ex_migrate_db_query(connection,
					       "SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NULL",
					       1, tables, error, error_size);
	if (result == NULL)
		return -1;

	int status = 0;
	if (PQntuples(result) > 0) {
		snprintf(error, error_size, "table %s does not exist; run `expresso-migrate apply` first",
			 PQgetvalue(result, 0, 0));
		status = -1;
	}
	PQclear(result);
	return status;
}

static int seed_all(PGconn *connection, const ex_seed_accounts *accounts)
{
	char error[ERROR_TEXT_MAX];
	int changed = 0;

	if (check_schema(connection, error, sizeof(error)) != 0) {
		ex_migrate_log(EX_MIGRATE_LOG_ERROR, "seed_failed", "{s:s}", "message", error);
		return EX_MIGRATE_EXIT_FAILURE;
	}

	for (size_t t = 0; t < accounts->tenant_count; t++) {
		const ex_seed_tenant *tenant = &accounts->tenants[t];
		seed_counts counts = { 0 };

		if (seed_tenant(connection, accounts, t, &counts, error, sizeof(error)) != 0) {
			ex_migrate_log(EX_MIGRATE_LOG_ERROR, "seed_failed", "{s:s, s:s, s:s}", "tenant", tenant->slug,
				       "tenant_id", tenant->id, "message", error);
			return EX_MIGRATE_EXIT_FAILURE;
		}
		changed |= counts_changed(&counts);
		ex_migrate_log(EX_MIGRATE_LOG_INFO, "seed_tenant", "{s:s, s:s, s:b, s:b, s:i, s:i, s:i, s:i, s:i}",
			       "tenant", tenant->slug, "tenant_id", tenant->id, "tenant_created",
			       counts.tenant_created, "tenant_updated", counts.tenant_updated, "domains_created",
			       counts.domains_created, "users_created", counts.users_created, "users_updated",
			       counts.users_updated, "app_passwords_set", counts.app_passwords_set,
			       "mailboxes_created", counts.mailboxes_created);
	}

	ex_migrate_log(EX_MIGRATE_LOG_INFO, "seed_finished", "{s:I, s:I, s:b, s:s}", "tenants",
		       (json_int_t)accounts->tenant_count, "users", (json_int_t)accounts->user_count, "changed",
		       changed, "message", changed ? "accounts seeded" : "accounts already up to date; nothing changed");
	return EX_MIGRATE_EXIT_OK;
}

int ex_migrate_seed(const ex_migrate_options *options, const char *accounts_path)
{
	char error[ERROR_TEXT_MAX];
	ex_seed_accounts accounts;

	if (ex_seed_accounts_load(accounts_path, &accounts, error, sizeof(error)) != 0) {
		ex_migrate_log(EX_MIGRATE_LOG_ERROR, "seed_failed", "{s:s, s:s}", "file", accounts_path, "message",
			       error);
		return EX_MIGRATE_EXIT_FAILURE;
	}

	PGconn *connection = ex_migrate_db_open(&options->db);
	if (connection == NULL) {
		ex_seed_accounts_free(&accounts);
		return EX_MIGRATE_EXIT_FAILURE;
	}

	int status = EX_MIGRATE_EXIT_FAILURE;
	if (ex_migrate_db_lock(connection, options->db.lock_timeout_s, error, sizeof(error)) != 0) {
		ex_migrate_log(EX_MIGRATE_LOG_ERROR, "lock_failed", "{s:s}", "message", error);
	} else {
		status = seed_all(connection, &accounts);
		ex_migrate_db_unlock(connection);
	}

	PQfinish(connection);
	ex_seed_accounts_free(&accounts);
	return status;
}
