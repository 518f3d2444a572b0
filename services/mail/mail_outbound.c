/*
 * Delivery workers of the outbound queue. One pass over a leased message:
 *   1. read its row, its recipients still queued, and the stored object;
 *   2. past its lifetime, fail the queued recipients with 4.4.7; else
 *      route each domain (transport, relay host or MX) and send;
 *   3. record every recipient's result in one transaction: 2xx delivered,
 *      5xx failed with a DSN pending, 4xx queued with the next attempt
 *      after an exponential backoff;
 *   4. submit one DSN for the recipients pending one (never for the null
 *      reverse path), then clear their flag, and once per recipient a
 *      "delayed" DSN when it is still queued after outbound_delay_notice
 *      (see send_notice for how a crash does not send a notice twice);
 *   5. once no recipient is queued or pending a DSN, delete the rows and
 *      then the object.
 * A lease with a token fences the workers: the lease is renewed, and its
 * token checked, before each remote host and again before the final dot
 * of each transaction, so a worker whose lease ran out stops before
 * sending, or before the remote can take the message. The results of a transaction are written right
 * after the reply to its final dot, before QUIT and before the next
 * domain, so a crash sends a message again only when the remote never
 * answered the final dot or that write did not happen.
 */
#include "mail_outbound.h"

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "expresso/log.h"
#include "mail_dsn.h"
#include "mail_dsn_send.h"
#include "mail_outbound_client.h"
#include "mail_outbound_route.h"
#include "mail_queue.h"
#include "mail_service.h"

enum {
	MAX_WORKERS = 64,
	ACQUIRE_TIMEOUT_MS = 5000,
	/* Added to the reply timeouts of one transaction to form a lease. A transaction that outlasts its
	 * lease (a large message sent slowly) renews it before the final dot, or abandons the transaction when
	 * another worker has taken the message meanwhile. */
	LEASE_EXTRA_SECONDS = 600,
	/* Replies of a transaction besides one per recipient: greeting, EHLO twice, STARTTLS, AUTH, MAIL,
	 * DATA and the final dot. */
	LEASE_REPLIES = 8,
	NUMBER_TEXT = 24,
	DATE_TEXT = 64,
	NOTICE_ID_TEXT = 301, /* mail_queue.failure_notice_id and delay_notice_id hold at most 300 octets */
};

struct ex_mail_outbound {
	ex_mail_service *service;
	unsigned worker_count;
	pthread_t workers[MAX_WORKERS];
	int64_t lifetime_seconds;
	int64_t retry_min_seconds;
	int64_t retry_max_seconds;
	uint64_t poll_ms;
	unsigned timeout_ms;
	ex_outbound_host relayhost;
	bool has_relayhost;
	const char *relay_user;
	const char *relay_password;
	const char *transports;
	const char *resolver;
	uint16_t mx_port;
	int64_t delay_notice_seconds;
	SSL_CTX *tls;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
};

/* One queued recipient as read from the database, and what this attempt made of it. */
typedef struct {
	char position[NUMBER_TEXT];
	char *address;
	char *notify;
	char *original_recipient;
	bool dsn_pending;           /* failed earlier; its DSN was not submitted yet */
	bool delay_notified;        /* a delay notice about it was sent */
	ex_outbound_result result;  /* code 0: not attempted this time */
	char remote_host[EX_OUTBOUND_HOST_NAME];
} queued_recipient;

typedef struct {
	const ex_mail_outbound *outbound;
	const char *tenant_id;
	const char *id;
	const char *lease_token;
	bool lease_lost;            /* the lease ran out or could not be renewed: stop and record nothing more */
	bool delay_due;             /* queued for at least outbound_delay_notice */
	char retry_until[DATE_TEXT];
	char *reverse_path;
	char *storage_key;
	char *envelope_id;
	char *return_content;
	char *session_id;
	char arrival_date[DATE_TEXT];
	bool expired;
	int attempts;
	queued_recipient *recipients;
	size_t count;
} queued_message;

int64_t ex_mail_outbound_lifetime_seconds(const ex_mail_outbound *outbound)
{
	return outbound == NULL ? 5 * 24 * 3600 : outbound->lifetime_seconds;
}

void ex_mail_outbound_wake(ex_mail_outbound *outbound)
{
	if (outbound == NULL)
		return;
	pthread_mutex_lock(&outbound->lock);
	pthread_cond_signal(&outbound->wake);
	pthread_mutex_unlock(&outbound->lock);
}

static char *copy_value(const PGresult *result, int row, int column)
{
	return PQgetisnull(result, row, column) ? NULL : strdup(PQgetvalue(result, row, column));
}

static void free_message(queued_message *message)
{
	for (size_t i = 0; i < message->count; i++) {
		free(message->recipients[i].address);
		free(message->recipients[i].notify);
		free(message->recipients[i].original_recipient);
	}
	free(message->recipients);
	free(message->reverse_path);
	free(message->storage_key);
	free(message->envelope_id);
	free(message->return_content);
	free(message->session_id);
	memset(message, 0, sizeof(*message));
}

static int load_message(PGconn *connection, void *context, ex_db_error *error)
{
	queued_message *message = context;
	const char *params[] = { message->id };
	char delay[NUMBER_TEXT];
	snprintf(delay, sizeof(delay), "%lld", (long long)message->outbound->delay_notice_seconds);
	const char *message_params[] = { message->id, delay };

	PGresult *result = ex_db_exec(connection,
				      "SELECT reverse_path, storage_key, envelope_id, return_content, session_id, "
				      "to_char(created_at AT TIME ZONE 'UTC', 'Dy, DD Mon YYYY HH24:MI:SS \"+0000\"'), "
				      "expires_at <= now(), attempts, "
				      "$2::bigint > 0 AND created_at + make_interval(secs => $2::bigint) <= now(), "
				      "to_char(expires_at AT TIME ZONE 'UTC', 'Dy, DD Mon YYYY HH24:MI:SS \"+0000\"') "
				      "FROM mail_queue WHERE id = $1",
				      2, message_params, error);
	if (result == NULL)
		return -1;
	if (PQntuples(result) != 1) {
		PQclear(result);
		return 0; /* gone: delivered by another worker whose lease ran out */
	}
	message->reverse_path = copy_value(result, 0, 0);
	message->storage_key = copy_value(result, 0, 1);
	message->envelope_id = copy_value(result, 0, 2);
	message->return_content = copy_value(result, 0, 3);
	message->session_id = copy_value(result, 0, 4);
	snprintf(message->arrival_date, sizeof(message->arrival_date), "%s", PQgetvalue(result, 0, 5));
	message->expired = strcmp(PQgetvalue(result, 0, 6), "t") == 0;
	message->attempts = (int)strtol(PQgetvalue(result, 0, 7), NULL, 10);
	message->delay_due = strcmp(PQgetvalue(result, 0, 8), "t") == 0;
	snprintf(message->retry_until, sizeof(message->retry_until), "%s", PQgetvalue(result, 0, 9));
	PQclear(result);

	result = ex_db_exec(connection,
			    "SELECT position, address, notify, original_recipient, dsn_pending, status_code, diagnostic, "
			    "remote_host, status, delay_notified FROM mail_queue_recipients WHERE queue_id = $1 AND (status = 'queued' OR "
			    "dsn_pending) ORDER BY position",
			    1, params, error);
	if (result == NULL)
		return -1;
	int rows = PQntuples(result);
	message->recipients = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*message->recipients));
	if (message->recipients == NULL) {
		PQclear(result);
		snprintf(error->message, sizeof(error->message), "out of memory");
		return -1;
	}
	for (int i = 0; i < rows; i++) {
		queued_recipient *recipient = &message->recipients[i];
		snprintf(recipient->position, sizeof(recipient->position), "%s", PQgetvalue(result, i, 0));
		recipient->address = copy_value(result, i, 1);
		recipient->notify = copy_value(result, i, 2);
		recipient->original_recipient = copy_value(result, i, 3);
		recipient->dsn_pending = strcmp(PQgetvalue(result, i, 4), "t") == 0;
		recipient->delay_notified = strcmp(PQgetvalue(result, i, 9), "t") == 0;
		if (recipient->dsn_pending) {
			/* Kept from the attempt that decided it, for the DSN. */
			recipient->result.code = strcmp(PQgetvalue(result, i, 8), "delivered") == 0 ? 250 : 550;
			snprintf(recipient->result.enhanced, sizeof(recipient->result.enhanced), "%s",
				 PQgetvalue(result, i, 5));
			snprintf(recipient->result.text, sizeof(recipient->result.text), "%s", PQgetvalue(result, i, 6));
			snprintf(recipient->remote_host, sizeof(recipient->remote_host), "%s", PQgetvalue(result, i, 7));
		}
		message->count++;
	}
	PQclear(result);
	return 0;
}

static const char *domain_of(const char *address)
{
	const char *at = strrchr(address, '@');
	return at == NULL ? "" : at + 1;
}

/* Finds the hosts for DOMAIN. Returns the count, or 0 with RESULT set to the failure. */
static size_t route_domain(const ex_mail_outbound *outbound, const char *domain, ex_outbound_host *hosts,
			   ex_outbound_result *result)
{
	if (ex_outbound_transport_lookup(outbound->transports, domain, &hosts[0]) == 1)
		return 1;
	if (outbound->has_relayhost) {
		hosts[0] = outbound->relayhost;
		return 1;
	}
	size_t count = 0;
	switch (ex_outbound_resolve(domain, outbound->resolver, hosts, EX_OUTBOUND_MAX_HOSTS, &count)) {
	case EX_OUTBOUND_ROUTE_OK:
		for (size_t i = 0; i < count; i++)
			hosts[i].port = outbound->mx_port;
		return count;
	case EX_OUTBOUND_ROUTE_NO_DOMAIN:
		ex_outbound_fail_all(result, 1, 550, "5.1.2", "the recipient's domain does not exist");
		return 0;
	case EX_OUTBOUND_ROUTE_NULL_MX:
		ex_outbound_fail_all(result, 1, 556, "5.1.10", "the recipient's domain accepts no mail (null MX)");
		return 0;
	case EX_OUTBOUND_ROUTE_TEMPORARY:
	default:
		ex_outbound_fail_all(result, 1, 451, "4.4.3", "the DNS lookup of the recipient's domain failed");
		return 0;
	}
}

/* Returns true when the recipient's NOTIFY names KIND. Without NOTIFY only failures are reported (RFC 3461 4.1). */
static bool wants_notice(const queued_recipient *recipient, const char *kind)
{
	return recipient->notify != NULL && strstr(recipient->notify, kind) != NULL;
}

/*
 * Writes RECIPIENT's result: 2xx delivered, 5xx failed, else queued, and
 * whether a DSN is pending (kept once set). Returns 0 or -1.
 */
static int write_recipient(PGconn *connection, const queued_message *message, queued_recipient *recipient,
			   ex_db_error *error)
{
	const ex_outbound_result *result = &recipient->result;
	const char *status = "queued";
	bool dsn = recipient->dsn_pending;
	bool has_sender = message->reverse_path[0] != '\0';
	if (result->code / 100 == 2) {
		status = "delivered";
		if (!recipient->dsn_pending)
			dsn = has_sender && wants_notice(recipient, "SUCCESS") && !result->remote_dsn;
	} else if (result->code / 100 == 5) {
		status = "failed";
		if (!recipient->dsn_pending)
			dsn = has_sender && (recipient->notify == NULL || wants_notice(recipient, "FAILURE"));
	}
	recipient->dsn_pending = dsn;

	char diagnostic[EX_SMTP_REPLY_MAX_TEXT + 32];
	snprintf(diagnostic, sizeof(diagnostic), "%d %s%s%s", result->code, result->enhanced,
		 result->enhanced[0] != '\0' ? " " : "", result->text);
	const char *params[] = { message->id, recipient->position, status,
				 result->enhanced[0] != '\0' ? result->enhanced : NULL, diagnostic,
				 recipient->remote_host[0] != '\0' ? recipient->remote_host : NULL,
				 dsn ? "true" : "false" };
	PGresult *updated = ex_db_exec(connection,
				       "UPDATE mail_queue_recipients SET status = $3, status_code = $4, "
				       "diagnostic = $5, remote_host = $6, dsn_pending = $7, updated_at = now() "
				       "WHERE queue_id = $1 AND position = $2",
				       7, params, error);
	if (updated == NULL)
		return -1;
	PQclear(updated);
	return 0;
}

typedef struct {
	queued_message *message;
	const char *seconds;
	bool held;
} lease_renewal;

static int renew_lease(PGconn *connection, void *context, ex_db_error *error)
{
	lease_renewal *renewal = context;
	const char *params[] = { renewal->message->id, renewal->message->lease_token, renewal->seconds };
	PGresult *result = ex_db_exec(connection,
				      "UPDATE mail_queue SET locked_until = now() + make_interval(secs => $3::bigint) "
				      "WHERE id = $1 AND lease_token = $2",
				      3, params, error);
	if (result == NULL)
		return -1;
	renewal->held = strcmp(PQcmdTuples(result), "1") == 0;
	PQclear(result);
	return 0;
}

/* Renews MESSAGE's lease for one transaction with RECIPIENTS. Returns false, with lease_lost set, when it is gone. */
static bool keep_lease(const ex_mail_outbound *outbound, queued_message *message, size_t recipients)
{
	char seconds[NUMBER_TEXT];
	snprintf(seconds, sizeof(seconds), "%llu",
		 (unsigned long long)outbound->timeout_ms / 1000 * (recipients + LEASE_REPLIES) + LEASE_EXTRA_SECONDS);
	lease_renewal renewal = { .message = message, .seconds = seconds };
	ex_db_error error = { 0 };
	if (ex_db_tenant_transaction(outbound->service->database, message->tenant_id, EX_DB_READ_COMMITTED, renew_lease,
				     &renewal, &error) != 0) {
		ex_log(EX_LOG_ERROR, "outbound_lease_failed", "{s:s, s:s}", "queue_id", message->id, "error",
		       error.message);
		message->lease_lost = true;
	} else if (!renewal.held) {
		ex_log(EX_LOG_WARN, "outbound_lease_lost", "{s:s}", "queue_id", message->id);
		message->lease_lost = true;
	}
	return !message->lease_lost;
}

/* The recipients of one transaction with one host, for recording their results after the final dot. */
typedef struct {
	const ex_mail_outbound *outbound;
	queued_message *message;
	const size_t *indexes;
	size_t count;
	const char *host_name;
} transaction_results;

static int write_final_results(PGconn *connection, void *context, ex_db_error *error)
{
	const transaction_results *transaction = context;
	for (size_t j = 0; j < transaction->count; j++) {
		queued_recipient *recipient = &transaction->message->recipients[transaction->indexes[j]];
		int class = recipient->result.code / 100;
		if ((class == 2 || class == 5) && write_recipient(connection, transaction->message, recipient, error) != 0)
			return -1;
	}
	return 0;
}

/* ex_outbound_message.on_final_reply: records the delivered and failed recipients of one transaction. */
static void record_final_reply(void *context, const ex_outbound_result *results, size_t count)
{
	transaction_results *transaction = context;
	queued_message *message = transaction->message;
	for (size_t j = 0; j < count && j < transaction->count; j++) {
		queued_recipient *recipient = &message->recipients[transaction->indexes[j]];
		recipient->result = results[j];
		snprintf(recipient->remote_host, sizeof(recipient->remote_host), "%s", transaction->host_name);
	}
	ex_db_error error = { 0 };
	if (ex_db_tenant_transaction(transaction->outbound->service->database, message->tenant_id,
				     EX_DB_READ_COMMITTED, write_final_results, transaction, &error) != 0)
		ex_log(EX_LOG_ERROR, "outbound_record_failed", "{s:s, s:s}", "queue_id", message->id, "error",
		       error.message);
}

/* ex_outbound_message.before_final_dot: renews the lease, so that a worker that lost it never ends the data. */
static bool lease_still_held(void *context)
{
	transaction_results *transaction = context;
	return keep_lease(transaction->outbound, transaction->message, transaction->count);
}

/* Sends CONTENT to the recipients of MESSAGE in DOMAIN that are still undecided. */
static void send_domain(const ex_mail_outbound *outbound, queued_message *message, const char *domain,
			const char *content, size_t length)
{
	size_t count = 0;
	const char **addresses = calloc(message->count, sizeof(*addresses));
	const char **notify = calloc(message->count, sizeof(*notify));
	const char **original = calloc(message->count, sizeof(*original));
	size_t *indexes = calloc(message->count, sizeof(*indexes));
	ex_outbound_result *results = calloc(message->count, sizeof(*results));
	ex_outbound_host *hosts = calloc(EX_OUTBOUND_MAX_HOSTS, sizeof(*hosts));
	if (addresses == NULL || notify == NULL || original == NULL || indexes == NULL || results == NULL ||
	    hosts == NULL)
		goto done;

	for (size_t i = 0; i < message->count; i++) {
		queued_recipient *recipient = &message->recipients[i];
		if (recipient->result.code != 0 || strcasecmp(domain_of(recipient->address), domain) != 0)
			continue;
		indexes[count] = i;
		addresses[count] = recipient->address;
		notify[count] = recipient->notify;
		original[count] = recipient->original_recipient;
		count++;
	}
	if (count == 0)
		goto done;

	ex_outbound_result route_failure = { 0 };
	size_t host_count = route_domain(outbound, domain, hosts, &route_failure);
	const char *host_name = "";
	if (host_count == 0) {
		for (size_t j = 0; j < count; j++)
			results[j] = route_failure;
	}
	transaction_results transaction = { .outbound = outbound, .message = message, .indexes = indexes, .count = count };
	ex_outbound_message outgoing = {
		.helo = outbound->service->hostname,
		.reverse_path = message->reverse_path,
		.recipients = addresses,
		.recipient_count = count,
		.content = content,
		.length = length,
		.tls = outbound->tls,
		.auth_user = outbound->has_relayhost ? outbound->relay_user : NULL,
		.auth_password = outbound->relay_password,
		.timeout_ms = outbound->timeout_ms,
		.resolver = outbound->resolver,
		.envelope_id = message->envelope_id,
		.return_content = message->return_content,
		.notify = notify,
		.original_recipients = original,
		.on_final_reply = record_final_reply,
		.before_final_dot = lease_still_held,
		.context = &transaction,
	};
	for (size_t h = 0; h < host_count; h++) {
		if (!keep_lease(outbound, message, count))
			goto done;
		host_name = hosts[h].name;
		transaction.host_name = host_name;
		ex_outbound_outcome outcome = ex_outbound_send(&hosts[h], &outgoing, results);
		ex_log(EX_LOG_INFO, "outbound_attempt", "{s:s, s:s, s:s, s:i, s:i, s:s}", "queue_id", message->id, "host",
		       hosts[h].name, "domain", domain, "port", (int)hosts[h].port, "code", results[0].code, "reply",
		       results[0].text);
		if (outcome == EX_OUTBOUND_DONE)
			break;
	}
	for (size_t j = 0; j < count; j++) {
		queued_recipient *recipient = &message->recipients[indexes[j]];
		recipient->result = results[j];
		snprintf(recipient->remote_host, sizeof(recipient->remote_host), "%s", host_name);
	}
done:
	free(addresses);
	free(notify);
	free(original);
	free(indexes);
	free(results);
	free(hosts);
}

typedef struct {
	queued_message *message;
	const ex_mail_outbound *outbound;
	int remaining;        /* recipients still queued after this pass */
	int dsn_pending;
} attempt_update;

static int record_results(PGconn *connection, void *context, ex_db_error *error)
{
	attempt_update *update = context;
	queued_message *message = update->message;

	update->remaining = 0;
	update->dsn_pending = 0;
	for (size_t i = 0; i < message->count; i++) {
		queued_recipient *recipient = &message->recipients[i];
		if (write_recipient(connection, message, recipient, error) != 0)
			return -1;
		int class = recipient->result.code / 100;
		if (class != 2 && class != 5)
			update->remaining++;
		if (recipient->dsn_pending)
			update->dsn_pending++;
	}

	/* Backoff: retry_min * 2^attempts, at most retry_max. */
	int64_t delay = update->outbound->retry_min_seconds;
	for (int i = 0; i < message->attempts && delay < update->outbound->retry_max_seconds; i++)
		delay *= 2;
	if (delay > update->outbound->retry_max_seconds)
		delay = update->outbound->retry_max_seconds;
	char delay_text[NUMBER_TEXT];
	snprintf(delay_text, sizeof(delay_text), "%lld", (long long)delay);
	const char *params[] = { message->id, delay_text, message->lease_token };
	PGresult *result = ex_db_exec(connection,
				      "UPDATE mail_queue SET attempts = attempts + 1, locked_until = NULL, lease_token = NULL, "
				      "next_attempt_at = now() + make_interval(secs => $2::bigint) "
				      "WHERE id = $1 AND lease_token = $3",
				      3, params, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

/* Records the failure DSN as sent: no recipient waits for one, and its Message-ID is no longer reserved. */
static int clear_dsn_pending(PGconn *connection, void *context, ex_db_error *error)
{
	const queued_message *message = context;
	const char *params[] = { message->id };
	PGresult *result = ex_db_exec(connection,
				      "UPDATE mail_queue_recipients SET dsn_pending = false WHERE queue_id = $1", 1,
				      params, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	result = ex_db_exec(connection, "UPDATE mail_queue SET failure_notice_id = NULL WHERE id = $1", 1, params, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

/* Deletes the queue rows and lists the object as garbage, so a crash before its deletion leaves it to the sweep. */
static int delete_message(PGconn *connection, void *context, ex_db_error *error)
{
	const queued_message *message = context;
	const char *params[] = { message->id };
	PGresult *result = ex_db_exec(connection, "DELETE FROM mail_queue WHERE id = $1", 1, params, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	const char *garbage_params[] = { message->tenant_id, message->storage_key };
	result = ex_db_exec(connection,
			    "INSERT INTO mail_object_garbage (tenant_id, storage_key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
			    2, garbage_params, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

/* Writes the Status (STATUS) and Diagnostic-Code (DIAGNOSTIC, "" for none) of RECIPIENT's result. */
static void describe_result(const queued_recipient *recipient, char status[16],
			    char diagnostic[EX_SMTP_REPLY_MAX_TEXT + 32])
{
	const ex_outbound_result *result = &recipient->result;
	int class = result->code / 100;
	const char *fallback = class == 2 ? "2.0.0" : (class == 4 ? "4.0.0" : "5.0.0");
	snprintf(status, 16, "%s", result->enhanced[0] != '\0' ? result->enhanced : fallback);
	diagnostic[0] = '\0';
	if (result->text[0] != '\0' && recipient->remote_host[0] != '\0')
		snprintf(diagnostic, EX_SMTP_REPLY_MAX_TEXT + 32, "%d %s %s", result->code, status, result->text);
	else if (result->text[0] != '\0')
		snprintf(diagnostic, EX_SMTP_REPLY_MAX_TEXT + 32, "%s", result->text);
}

/*
 * Submits one DSN about the recipients for which SELECTED is true: a
 * delay notice when DELAYED, else the failure or success report. Returns
 * 0 when it was accepted or there was no recipient to report.
 */
static int send_report(const ex_mail_outbound *outbound, queued_message *message, const bool *selected, bool delayed,
		       const char *message_id, ex_db_work record, const char *content, size_t length)
{
	if (message->count == 0)
		return 0;
	ex_mail_dsn_recipient *entries = calloc(message->count, sizeof(*entries));
	char (*statuses)[16] = calloc(message->count, sizeof(*statuses));
	char (*diagnostics)[EX_SMTP_REPLY_MAX_TEXT + 32] = calloc(message->count, sizeof(*diagnostics));
	if (entries == NULL || statuses == NULL || diagnostics == NULL) {
		free(entries);
		free(statuses);
		free(diagnostics);
		return -1;
	}
	size_t count = 0;
	for (size_t i = 0; i < message->count; i++) {
		const queued_recipient *recipient = &message->recipients[i];
		if (!selected[i])
			continue;
		describe_result(recipient, statuses[count], diagnostics[count]);
		const char *action = "delayed";
		if (!delayed)
			/* RFC 3461 5.2.2: delivered to a server without DSN, so no further notice follows. */
			action = recipient->result.code / 100 == 2 ? "relayed" : "failed";
		entries[count] = (ex_mail_dsn_recipient){
			.address = recipient->address,
			.original_recipient = recipient->original_recipient,
			.action = action,
			.status = statuses[count],
			.remote_mta = recipient->remote_host[0] != '\0' ? recipient->remote_host : NULL,
			.diagnostic = diagnostics[count][0] != '\0' ? diagnostics[count] : NULL,
			.will_retry_until = delayed ? message->retry_until : NULL,
		};
		count++;
	}
	const ex_mail_dsn_request request = {
		.tenant_id = message->tenant_id,
		.sender = message->reverse_path,
		.envelope_id = message->envelope_id,
		/* RET=FULL applies to failure reports only (RFC 3461 4.3). */
		.return_full = !delayed && message->return_content != NULL && strcmp(message->return_content, "FULL") == 0,
		.arrival_date = message->arrival_date,
		.about_id = message->id,
		.recipients = entries,
		.recipient_count = count,
		.original = content,
		.original_length = length,
		.message_id = message_id,
		.also = record,
		.also_context = message,
	};
	int status = count > 0 ? ex_mail_dsn_send(outbound->service, &request) : 0;
	free(entries);
	free(statuses);
	free(diagnostics);
	return status;
}

/* Records the delay notice as sent for the recipients marked delay_notified, and frees its Message-ID. */
static int mark_delay_notified(PGconn *connection, void *context, ex_db_error *error)
{
	const queued_message *message = context;
	for (size_t i = 0; i < message->count; i++) {
		const queued_recipient *recipient = &message->recipients[i];
		if (!recipient->delay_notified)
			continue;
		const char *params[] = { message->id, recipient->position };
		PGresult *result = ex_db_exec(connection,
					      "UPDATE mail_queue_recipients SET delay_notified = true "
					      "WHERE queue_id = $1 AND position = $2",
					      2, params, error);
		if (result == NULL)
			return -1;
		PQclear(result);
	}
	const char *params[] = { message->id };
	PGresult *result = ex_db_exec(connection, "UPDATE mail_queue SET delay_notice_id = NULL WHERE id = $1", 1, params,
				      error);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

/* Kind of a notice that a pass sends about a message. */
typedef enum { NOTICE_FAILURE, NOTICE_DELAY } notice_kind;

/* Per notice kind: keep the Message-ID the notice already has, or set a new one, and return it. */
static const char *const reserve_queries[] = {
	[NOTICE_FAILURE] = "UPDATE mail_queue SET failure_notice_id = "
			   "COALESCE(failure_notice_id, 'dsn.' || gen_random_uuid() || '@' || $2) "
			   "WHERE id = $1 RETURNING failure_notice_id",
	[NOTICE_DELAY] = "UPDATE mail_queue SET delay_notice_id = "
			 "COALESCE(delay_notice_id, 'dsn.' || gen_random_uuid() || '@' || $2) "
			 "WHERE id = $1 RETURNING delay_notice_id",
};

typedef struct {
	const queued_message *message;
	notice_kind kind;
	const char *hostname;
	char id[NOTICE_ID_TEXT];
	bool delivered;             /* a message with that Message-ID is in the tenant's mailboxes */
} notice_reservation;

static int reserve_notice(PGconn *connection, void *context, ex_db_error *error)
{
	notice_reservation *reservation = context;
	const char *params[] = { reservation->message->id, reservation->hostname };
	PGresult *result = ex_db_exec(connection, reserve_queries[reservation->kind], 2, params, error);
	if (result == NULL)
		return -1;
	if (PQntuples(result) != 1) {
		PQclear(result);
		snprintf(error->message, sizeof(error->message), "queued message %s is gone", reservation->message->id);
		return -1;
	}
	snprintf(reservation->id, sizeof(reservation->id), "%s", PQgetvalue(result, 0, 0));
	PQclear(result);

	char field[NOTICE_ID_TEXT + 2];
	snprintf(field, sizeof(field), "<%s>", reservation->id);
	const char *find_params[] = { reservation->message->tenant_id, field };
	result = ex_db_exec(connection,
			    "SELECT EXISTS (SELECT 1 FROM messages WHERE tenant_id = $1 AND message_id = $2)", 2,
			    find_params, error);
	if (result == NULL)
		return -1;
	reservation->delivered = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
	PQclear(result);
	return 0;
}

/*
 * Sends the notice KIND about the recipients for which SELECTED is true
 * and records it as sent. Returns 0 when it was sent (or not needed) and
 * recorded. The notice's Message-ID is written to the queue row before it
 * is submitted and cleared when it is recorded. When a pass finds an id
 * left by a crash and a message with that id is in the tenant's
 * mailboxes, the notice reached a local sender already and is only
 * recorded. A notice to a remote sender is queued in the transaction that
 * records it, so no crash leaves it both queued and unrecorded.
 */
static int send_notice(const ex_mail_outbound *outbound, queued_message *message, notice_kind kind,
		       const bool *selected, const char *content, size_t length)
{
	ex_mail_service *service = outbound->service;
	ex_db_work record = kind == NOTICE_FAILURE ? clear_dsn_pending : mark_delay_notified;
	notice_reservation reservation = { .message = message, .kind = kind, .hostname = service->hostname };
	ex_db_error error = { 0 };
	if (ex_db_tenant_transaction(service->database, message->tenant_id, EX_DB_READ_COMMITTED, reserve_notice,
				     &reservation, &error) != 0) {
		ex_log(EX_LOG_ERROR, "outbound_notice_failed", "{s:s, s:s}", "queue_id", message->id, "error",
		       error.message);
		return -1;
	}
	if (reservation.delivered)
		ex_log(EX_LOG_INFO, "outbound_notice_found", "{s:s, s:s}", "queue_id", message->id, "message_id",
		       reservation.id);
	else if (send_report(outbound, message, selected, kind == NOTICE_DELAY, reservation.id, record, content,
			     length) != 0)
		return -1;
	if (ex_db_tenant_transaction(service->database, message->tenant_id, EX_DB_READ_COMMITTED, record, message,
				     &error) != 0) {
		ex_log(EX_LOG_ERROR, "outbound_record_failed", "{s:s, s:s}", "queue_id", message->id, "error",
		       error.message);
		return -1;
	}
	return 0;
}

/* Sends one DSN for every recipient with a DSN pending. Returns 0 when it was sent and recorded. */
static int send_dsn(const ex_mail_outbound *outbound, queued_message *message, const char *content, size_t length)
{
	bool *selected = calloc(message->count > 0 ? message->count : 1, sizeof(*selected));
	if (selected == NULL)
		return -1;
	for (size_t i = 0; i < message->count; i++)
		selected[i] = message->recipients[i].dsn_pending;
	int status = send_notice(outbound, message, NOTICE_FAILURE, selected, content, length);
	free(selected);
	return status;
}

/*
 * Sends one "delayed" DSN (RFC 3464) about the recipients still queued
 * after outbound_delay_notice whose NOTIFY includes DELAY or is absent
 * (RFC 3461 4.1 leaves the default to the server), then records that
 * it was sent.
 */
static void send_delay_notice(const ex_mail_outbound *outbound, queued_message *message, const char *content,
			      size_t length)
{
	if (!message->delay_due || message->reverse_path[0] == '\0')
		return;
	bool *selected = calloc(message->count > 0 ? message->count : 1, sizeof(*selected));
	if (selected == NULL)
		return;
	size_t count = 0;
	for (size_t i = 0; i < message->count; i++) {
		queued_recipient *recipient = &message->recipients[i];
		selected[i] = recipient->result.code / 100 == 4 && !recipient->delay_notified &&
			      (recipient->notify == NULL || wants_notice(recipient, "DELAY"));
		if (selected[i]) {
			/* Set before sending: mark_delay_notified records these, possibly while the notice is queued. */
			recipient->delay_notified = true;
			count++;
		}
	}
	if (count > 0) {
		if (send_notice(outbound, message, NOTICE_DELAY, selected, content, length) == 0) {
			ex_log(EX_LOG_INFO, "outbound_delay_notice", "{s:s, s:I}", "queue_id", message->id, "recipients",
			       (json_int_t)count);
		} else {
			for (size_t i = 0; i < message->count; i++)
				if (selected[i])
					message->recipients[i].delay_notified = false;
		}
	}
	free(selected);
}

/* One pass over a leased message (see the top of this file). */
static void process_message(ex_mail_outbound *outbound, const char *tenant_id, const char *id, const char *lease_token)
{
	ex_mail_service *service = outbound->service;
	queued_message message = { .outbound = outbound, .tenant_id = tenant_id, .id = id, .lease_token = lease_token };
	ex_db_error error = { 0 };
	char err[EX_STORAGE_ERROR_MAX] = "";
	char *content = NULL;
	size_t length = 0;

	if (ex_db_tenant_transaction(service->database, tenant_id, EX_DB_READ_COMMITTED, load_message, &message,
				     &error) != 0) {
		ex_log(EX_LOG_ERROR, "outbound_load_failed", "{s:s, s:s}", "queue_id", id, "error", error.message);
		free_message(&message);
		return;
	}
	if (message.storage_key == NULL) {
		free_message(&message);
		return;
	}
	if (ex_storage_read_all(service->storage, tenant_id, message.storage_key, SIZE_MAX / 2, &content, &length, err,
				sizeof(err)) != EX_STORAGE_OK) {
		/* NOTE: the message stays queued and is retried; after its lifetime it fails with 4.4.7 but
		 * without the content in the DSN. */
		ex_log(EX_LOG_ERROR, "outbound_read_failed", "{s:s, s:s, s:s}", "queue_id", id, "key", message.storage_key,
		       "error", err);
		content = NULL;
		length = 0;
	}

	if (message.expired) {
		char text[128];
		snprintf(text, sizeof(text), "message expired: not delivered within %lld hours",
			 (long long)(outbound->lifetime_seconds / 3600));
		for (size_t i = 0; i < message.count; i++) {
			queued_recipient *recipient = &message.recipients[i];
			if (recipient->dsn_pending)
				continue;
			recipient->result.code = 550;
			snprintf(recipient->result.enhanced, sizeof(recipient->result.enhanced), "4.4.7");
			snprintf(recipient->result.text, sizeof(recipient->result.text), "%s", text);
		}
	} else if (content != NULL) {
		for (size_t i = 0; i < message.count && !message.lease_lost; i++) {
			queued_recipient *recipient = &message.recipients[i];
			if (recipient->result.code == 0)
				send_domain(outbound, &message, domain_of(recipient->address), content, length);
		}
	}
	if (message.lease_lost) {
		/* Another worker has the lease, or the database failed: what was sent is recorded already. */
		free(content);
		free_message(&message);
		return;
	}

	attempt_update update = { .message = &message, .outbound = outbound };
	if (ex_db_tenant_transaction(service->database, tenant_id, EX_DB_READ_COMMITTED, record_results, &update,
				     &error) != 0) {
		ex_log(EX_LOG_ERROR, "outbound_record_failed", "{s:s, s:s}", "queue_id", id, "error", error.message);
		free(content);
		free_message(&message);
		return;
	}
	if (update.dsn_pending > 0 && send_dsn(outbound, &message, content != NULL ? content : "", length) == 0)
		update.dsn_pending = 0;
	if (update.remaining > 0)
		send_delay_notice(outbound, &message, content != NULL ? content : "", length);
	if (update.remaining == 0 && update.dsn_pending == 0) {
		if (ex_db_tenant_transaction(service->database, tenant_id, EX_DB_READ_COMMITTED, delete_message, &message,
					     &error) == 0) {
			if (ex_storage_delete(service->storage, tenant_id, message.storage_key, err, sizeof(err)) !=
			    EX_STORAGE_OK)
				ex_log(EX_LOG_WARN, "queue_orphan_left", "{s:s, s:s}", "key", message.storage_key, "error", err);
			ex_log(EX_LOG_INFO, "outbound_done", "{s:s, s:s}", "queue_id", id, "session",
			       message.session_id != NULL ? message.session_id : "");
		} else {
			ex_log(EX_LOG_ERROR, "outbound_delete_failed", "{s:s, s:s}", "queue_id", id, "error", error.message);
		}
	}
	free(content);
	free_message(&message);
}

/* Leases one due message. Returns 1 with TENANT_ID, ID and TOKEN filled, 0 when none is due, -1 on error. */
static int claim_one(ex_mail_outbound *outbound, char tenant_id[EX_SMTP_UUID_TEXT], char id[EX_SMTP_UUID_TEXT],
		     char token[EX_SMTP_UUID_TEXT])
{
	ex_db_error error = { 0 };
	PGconn *connection = ex_db_acquire(outbound->service->database, ACQUIRE_TIMEOUT_MS, &error);
	if (connection == NULL) {
		ex_log(EX_LOG_ERROR, "outbound_claim_failed", "{s:s}", "error", error.message);
		return -1;
	}
	char lease[NUMBER_TEXT];
	snprintf(lease, sizeof(lease), "%u seconds", outbound->timeout_ms / 1000 * LEASE_REPLIES + LEASE_EXTRA_SECONDS);
	const char *params[] = { lease };
	PGresult *result = ex_db_exec(connection,
				      "SELECT tenant_id, id, lease_token FROM ex_mail_queue_lease(1, $1::interval)", 1,
				      params, &error);
	ex_db_release(outbound->service->database, connection);
	if (result == NULL) {
		ex_log(EX_LOG_ERROR, "outbound_claim_failed", "{s:s}", "error", error.message);
		return -1;
	}
	int found = PQntuples(result) == 1;
	if (found) {
		snprintf(tenant_id, EX_SMTP_UUID_TEXT, "%s", PQgetvalue(result, 0, 0));
		snprintf(id, EX_SMTP_UUID_TEXT, "%s", PQgetvalue(result, 0, 1));
		snprintf(token, EX_SMTP_UUID_TEXT, "%s", PQgetvalue(result, 0, 2));
	}
	PQclear(result);
	return found;
}

static void wait_for_work(ex_mail_outbound *outbound)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += (time_t)(outbound->poll_ms / 1000);
	deadline.tv_nsec += (long)(outbound->poll_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&outbound->lock);
	if (!outbound->stopping)
		pthread_cond_timedwait(&outbound->wake, &outbound->lock, &deadline);
	pthread_mutex_unlock(&outbound->lock);
}

static bool stopping(ex_mail_outbound *outbound)
{
	pthread_mutex_lock(&outbound->lock);
	bool value = outbound->stopping;
	pthread_mutex_unlock(&outbound->lock);
	return value;
}

static void *worker_main(void *argument)
{
	ex_mail_outbound *outbound = argument;
	while (!stopping(outbound)) {
		char tenant_id[EX_SMTP_UUID_TEXT];
		char id[EX_SMTP_UUID_TEXT];
		char token[EX_SMTP_UUID_TEXT];
		if (claim_one(outbound, tenant_id, id, token) == 1)
			process_message(outbound, tenant_id, id, token);
		else
			wait_for_work(outbound);
	}
	return NULL;
}

static int invalid(const char *variable, const char *problem)
{
	ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting", variable, "error", problem);
	return -1;
}

static int read_settings(ex_mail_outbound *outbound, const ex_config *config)
{
	int64_t workers = ex_config_int(config, "outbound_workers");
	if (workers < 0 || workers > MAX_WORKERS)
		return invalid("EXPRESSO_OUTBOUND_WORKERS", "must be between 0 and 64");
	outbound->worker_count = (unsigned)workers;
	outbound->lifetime_seconds = (int64_t)(ex_config_duration_ms(config, "outbound_max_lifetime") / 1000);
	outbound->retry_min_seconds = (int64_t)(ex_config_duration_ms(config, "outbound_retry_min") / 1000);
	outbound->retry_max_seconds = (int64_t)(ex_config_duration_ms(config, "outbound_retry_max") / 1000);
	outbound->poll_ms = ex_config_duration_ms(config, "outbound_poll_interval");
	uint64_t timeout = ex_config_duration_ms(config, "outbound_timeout");
	if (outbound->lifetime_seconds < 1)
		return invalid("EXPRESSO_OUTBOUND_MAX_LIFETIME", "must be at least 1s");
	if (outbound->retry_min_seconds < 1 || outbound->retry_max_seconds < outbound->retry_min_seconds)
		return invalid("EXPRESSO_OUTBOUND_RETRY_MIN",
			       "must be at least 1s and at most EXPRESSO_OUTBOUND_RETRY_MAX");
	if (outbound->poll_ms < 10 || outbound->poll_ms > 3600 * 1000)
		return invalid("EXPRESSO_OUTBOUND_POLL_INTERVAL", "must be between 10ms and 1h");
	if (timeout < 1000 || timeout > 3600 * 1000)
		return invalid("EXPRESSO_OUTBOUND_TIMEOUT", "must be between 1s and 1h");
	outbound->timeout_ms = (unsigned)timeout;

	const char *relayhost = ex_config_string(config, "outbound_relayhost");
	if (relayhost != NULL) {
		if (ex_outbound_parse_host_port(relayhost, strlen(relayhost), EX_OUTBOUND_SMTP_PORT, &outbound->relayhost) != 0)
			return invalid("EXPRESSO_OUTBOUND_RELAYHOST", "must be host, host:port or [IPv6]:port");
		outbound->has_relayhost = true;
	}
	outbound->relay_user = ex_config_string(config, "outbound_relayhost_user");
	outbound->relay_password = ex_config_string(config, "outbound_relayhost_password");
	if ((outbound->relay_user == NULL) != (outbound->relay_password == NULL))
		return invalid("EXPRESSO_OUTBOUND_RELAYHOST_USER",
			       "EXPRESSO_OUTBOUND_RELAYHOST_USER and EXPRESSO_OUTBOUND_RELAYHOST_PASSWORD must be set together");
	outbound->transports = ex_config_string(config, "outbound_transports");
	if (outbound->transports != NULL && ex_outbound_transport_check(outbound->transports) != 0)
		return invalid("EXPRESSO_OUTBOUND_TRANSPORTS", "must be a list of domain=host:port separated by commas");
	outbound->resolver = ex_config_string(config, "outbound_resolver");
	int64_t mx_port = ex_config_int(config, "outbound_mx_port");
	if (mx_port < 1 || mx_port > 65535)
		return invalid("EXPRESSO_OUTBOUND_MX_PORT", "must be between 1 and 65535");
	outbound->mx_port = (uint16_t)mx_port;
	outbound->delay_notice_seconds = (int64_t)(ex_config_duration_ms(config, "outbound_delay_notice") / 1000);
	return 0;
}

ex_mail_outbound *ex_mail_outbound_start(void *service, const ex_config *config)
{
	ex_mail_outbound *outbound = calloc(1, sizeof(*outbound));
	if (outbound == NULL)
		return NULL;
	outbound->service = service;
	pthread_mutex_init(&outbound->lock, NULL);
	pthread_cond_init(&outbound->wake, NULL);
	if (read_settings(outbound, config) != 0) {
		ex_mail_outbound_stop(outbound);
		return NULL;
	}
	/* Opportunistic TLS (RFC 7435): encrypt when offered, accept any certificate, since MX names are not
	 * authenticated without DANE or MTA-STS. */
	outbound->tls = SSL_CTX_new(TLS_client_method());
	if (outbound->tls == NULL) {
		ex_mail_outbound_stop(outbound);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(outbound->tls, TLS1_2_VERSION);
	SSL_CTX_set_verify(outbound->tls, SSL_VERIFY_NONE, NULL);

	for (unsigned i = 0; i < outbound->worker_count; i++) {
		if (pthread_create(&outbound->workers[i], NULL, worker_main, outbound) != 0) {
			outbound->worker_count = i;
			ex_mail_outbound_stop(outbound);
			return NULL;
		}
	}
	ex_log(EX_LOG_INFO, "outbound_started", "{s:i, s:s, s:s}", "workers", (int)outbound->worker_count, "relayhost",
	       outbound->has_relayhost ? outbound->relayhost.name : "", "transports",
	       outbound->transports != NULL ? outbound->transports : "");
	return outbound;
}

void ex_mail_outbound_stop(ex_mail_outbound *outbound)
{
	if (outbound == NULL)
		return;
	pthread_mutex_lock(&outbound->lock);
	outbound->stopping = true;
	pthread_cond_broadcast(&outbound->wake);
	pthread_mutex_unlock(&outbound->lock);
	for (unsigned i = 0; i < outbound->worker_count; i++)
		pthread_join(outbound->workers[i], NULL);
	if (outbound->tls != NULL)
		SSL_CTX_free(outbound->tls);
	pthread_cond_destroy(&outbound->wake);
	pthread_mutex_destroy(&outbound->lock);
	free(outbound);
}
