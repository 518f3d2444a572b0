/*
 * Sender addresses of a user, read inside the user's tenant.
 */
#include "mail_alias.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expresso/log.h"

typedef struct {
	const char *user_id;
	char **addresses;
	size_t count;
} sender_lookup;

static int read_addresses(PGconn *connection, void *context, ex_db_error *error)
{
	sender_lookup *lookup = context;
	const char *params[] = { lookup->user_id };
	PGresult *result = ex_db_exec(connection,
				      "SELECT email FROM users WHERE id = $1 AND NOT disabled "
				      "UNION SELECT a.address FROM mail_aliases AS a JOIN users AS u ON u.id = a.user_id "
				      "WHERE a.user_id = $1 AND NOT u.disabled AND a.address NOT LIKE '@%'",
				      1, params, error);
	if (result == NULL)
		return -1;
	/* The transaction may be retried: drop what an earlier attempt read. */
	ex_mail_alias_free(lookup->addresses, lookup->count);
	lookup->addresses = NULL;
	lookup->count = 0;
	int rows = PQntuples(result);
	lookup->addresses = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*lookup->addresses));
	if (lookup->addresses == NULL) {
		PQclear(result);
		snprintf(error->message, sizeof(error->message), "out of memory");
		return -1;
	}
	for (int i = 0; i < rows; i++) {
		lookup->addresses[i] = strdup(PQgetvalue(result, i, 0));
		if (lookup->addresses[i] == NULL)
			break;
		lookup->count++;
	}
	PQclear(result);
	return 0;
}

int ex_mail_alias_sender_addresses(ex_mail_service *service, const ex_smtp_identity *identity, char ***addresses)
{
	sender_lookup lookup = { .user_id = identity->user_id };
	ex_db_error error = { 0 };
	*addresses = NULL;
	if (ex_db_tenant_transaction(service->database, identity->tenant_id, EX_DB_READ_COMMITTED, read_addresses,
				     &lookup, &error) != 0) {
		ex_log(EX_LOG_ERROR, "sender_lookup_failed", "{s:s, s:s, s:s}", "tenant", identity->tenant_id, "user",
		       identity->user_id, "error", error.message);
		ex_mail_alias_free(lookup.addresses, lookup.count);
		return -1;
	}
	*addresses = lookup.addresses;
	return (int)lookup.count;
}

void ex_mail_alias_free(char **addresses, size_t count)
{
	if (addresses == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		free(addresses[i]);
	free(addresses);
}

ex_smtp_sender_status ex_mail_alias_check_sender(void *context, const ex_smtp_identity *identity, const char *address)
{
	char **addresses = NULL;
	int count = ex_mail_alias_sender_addresses(context, identity, &addresses);
	if (count < 0)
		return EX_SMTP_SENDER_TEMPORARY_FAILURE;
	ex_smtp_sender_status status = EX_SMTP_SENDER_REJECTED;
	for (int i = 0; i < count; i++)
		if (strcasecmp(addresses[i], address) == 0)
			status = EX_SMTP_SENDER_ALLOWED;
	ex_mail_alias_free(addresses, (size_t)count);
	return status;
}
