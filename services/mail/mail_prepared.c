/*
 * The named statements of local delivery and the database pool hook that
 * prepares them. Each delivery sends them in libpq pipelines with
 * PQsendQueryPrepared, so the server parses them once per connection,
 * and plans them once per connection when it settles on a generic plan.
 */
#include "mail_prepared.h"

#include <stdio.h>

#include "mail_sieve_routes.h"

const char ex_mail_usage_sql[] =
	"SELECT u.id, u.quota_bytes IS NOT NULL AND "
	"  COALESCE((SELECT sum(s.bytes) FROM mailbox_stats AS s JOIN mailboxes AS m ON m.id = s.mailbox_id "
	"            WHERE m.user_id = u.id), 0) + $2::bigint > u.quota_bytes "
	"FROM users AS u JOIN ("
	"  SELECT id AS user_id, 0 AS rank FROM users WHERE email = lower($1) "
	"  UNION ALL SELECT user_id, 1 FROM mail_aliases WHERE address = lower($1) "
	"  UNION ALL SELECT user_id, 2 FROM mail_aliases WHERE address = '@' || split_part(lower($1), '@', 2)"
	") AS target ON target.user_id = u.id "
	"WHERE NOT u.disabled ORDER BY target.rank LIMIT 1";

const char ex_mail_fast_insert_sql[] =
	"WITH target AS ("
	"  SELECT m.id FROM mailboxes AS m JOIN users AS u ON u.id = m.user_id "
	"  WHERE m.user_id = $19 AND m.name = $2 AND NOT ($20::boolean AND u.quota_bytes IS NOT NULL AND "
	"    COALESCE((SELECT sum(s.bytes) FROM mailbox_stats AS s JOIN mailboxes AS b ON b.id = s.mailbox_id "
	"              WHERE b.user_id = u.id), 0) + $3::bigint > u.quota_bytes)"
	"), inserted AS ("
	"  INSERT INTO messages (tenant_id, mailbox_id, uid, size, storage_key, flags, date, subject, \"from\", "
	"  sender, reply_to, \"to\", cc, bcc, in_reply_to, message_id, \"references\", imap_envelope, "
	"  imap_bodystructure) "
	"  SELECT $1::uuid, target.id, NULL, $3::bigint, $4::text, $5::text[], $6::timestamptz, $7::text, $8::text, "
	"  $9::text, $10::text, $11::text, $12::text, $13::text, $14::text, $15::text, $16::text, $17::bytea, "
	"  $18::bytea FROM target RETURNING mailbox_id, uid"
	"), forgotten AS ("
	"  DELETE FROM mail_object_garbage WHERE $20::boolean AND tenant_id = $1::uuid AND storage_key = $4::text "
	"  AND EXISTS (SELECT 1 FROM inserted)"
	"), reserved AS ("
	"  INSERT INTO mail_object_garbage (tenant_id, storage_key) SELECT $1::uuid, $21::text "
	"  WHERE $21::text IS NOT NULL ON CONFLICT DO NOTHING"
	") SELECT mailbox_id, uid FROM inserted";

const char ex_mail_sieve_load_sql[] =
	"SELECT s.id, s.content, s.name = '" EX_MAIL_VACATION_SCRIPT "' AND v.user_id IS NOT NULL AND "
	"  ((now() AT TIME ZONE 'UTC')::date < v.start_date OR (now() AT TIME ZONE 'UTC')::date > v.end_date) "
	"FROM sieve_scripts AS s LEFT JOIN sieve_vacation_settings AS v ON v.user_id = s.user_id "
	"WHERE s.user_id = $1 AND s.active";

typedef struct {
	const char *name;
	const char *sql;
	int param_count;
} named_statement;

static const named_statement statements[] = {
	{ EX_MAIL_STATEMENT_BIND_TENANT, "SELECT set_config('app.tenant_id', $1, true)", 1 },
	{ EX_MAIL_STATEMENT_BIND_DOMAIN,
	  "SELECT set_config('app.tenant_id', COALESCE(ex_tenant_for_domain($1)::text, ''), true)", 1 },
	{ EX_MAIL_STATEMENT_USAGE, ex_mail_usage_sql, 2 },
	{ EX_MAIL_STATEMENT_FAST_INSERT, ex_mail_fast_insert_sql, EX_MAIL_FAST_INSERT_PARAMS },
	{ EX_MAIL_STATEMENT_GARBAGE_INSERT,
	  "INSERT INTO mail_object_garbage (tenant_id, storage_key) VALUES ($1, $2) ON CONFLICT DO NOTHING", 2 },
	{ EX_MAIL_STATEMENT_SIEVE_LOAD, ex_mail_sieve_load_sql, 1 },
};

int ex_mail_prepare_statements(PGconn *connection, void *context, ex_db_error *error)
{
	(void)context;
	for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++) {
		PGresult *result = PQprepare(connection, statements[i].name, statements[i].sql, statements[i].param_count,
					     NULL);
		if (PQresultStatus(result) != PGRES_COMMAND_OK) {
			ex_db_error_from_result(connection, result, error);
			PQclear(result);
			return -1;
		}
		PQclear(result);
	}
	return 0;
}
