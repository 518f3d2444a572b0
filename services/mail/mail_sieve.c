/*
 * Sieve at local delivery: loads the recipient's active script, runs it in
 * a worker process of libexpresso-sieve's pool, turns the actions into the rows to
 * insert, and after the commit sends redirects, vacation replies and
 * rejection bounces through ex_mail_queue_submit.
 *
 * Redirect loops stop in two ways. A message that already carries an
 * X-Sieve-Redirected-By field naming this recipient, or
 * EX_MAIL_SIEVE_MAX_REDIRECT_HOPS of them, is kept instead of redirected.
 * And each user may redirect at most sieve_max_redirects_per_day messages
 * per UTC day. A stopped redirect turns into a keep with an error in
 * last_error, so the message is not lost.
 */
#include "mail_sieve.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expresso/log.h"
#include "mail_commit_group.h"
#include "mail_prepared.h"
#include "mail_queue.h"
#include "mail_sieve_headers.h"
#include "mail_sieve_routes.h"
#include "mail_vacation.h"

enum { ACQUIRE_TIMEOUT_MS = 5000, REDIRECT_FIELD_MAX = 400 };

static const char redirect_field[] = "X-Sieve-Redirected-By";

typedef struct {
	const char *user_id;
	bool found;
	char script_id[EX_SMTP_UUID_TEXT];
	char *content;
	size_t length;
	bool vacation_paused; /* the managed vacation script outside its start and end dates */
} script_load;

/* Copies the script row of RESULT, if any, into LOAD. Returns 0, or -1 when out of memory. */
static int keep_script(const PGresult *result, script_load *load, ex_db_error *error)
{
	load->found = result != NULL && PQntuples(result) == 1;
	if (!load->found)
		return 0;
	snprintf(load->script_id, sizeof(load->script_id), "%s", PQgetvalue(result, 0, 0));
	load->vacation_paused = strcmp(PQgetvalue(result, 0, 2), "t") == 0;
	load->length = (size_t)PQgetlength(result, 0, 1);
	load->content = malloc(load->length + 1);
	if (load->content == NULL) {
		snprintf(error->message, sizeof(error->message), "out of memory loading a Sieve script");
		return -1;
	}
	memcpy(load->content, PQgetvalue(result, 0, 1), load->length + 1);
	return 0;
}

/*
 * Reads the user's active script in one round trip: BEGIN, the tenant
 * binding, the prepared ex_mail_sieve_load_sql and COMMIT go in one libpq
 * pipeline. Returns 0, or -1 with ERROR filled in.
 */
static int load_active_script(ex_mail_service *service, const char *tenant_id, script_load *load,
			      ex_db_error *error)
{
	PGconn *connection = ex_db_acquire(service->database, ACQUIRE_TIMEOUT_MS, error);
	if (connection == NULL)
		return -1;
	if (PQenterPipelineMode(connection) != 1) {
		ex_db_error_from_result(connection, NULL, error);
		ex_db_release(service->database, connection);
		return -1;
	}
	const char *tenant_params[] = { tenant_id };
	const char *load_params[] = { load->user_id };
	bool sent = PQsendQueryParams(connection, "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY", 0, NULL, NULL, NULL,
				      NULL, 0) == 1 &&
		    PQsendQueryPrepared(connection, EX_MAIL_STATEMENT_BIND_TENANT, 1, tenant_params, NULL, NULL, 0) == 1 &&
		    PQsendQueryPrepared(connection, EX_MAIL_STATEMENT_SIEVE_LOAD, 1, load_params, NULL, NULL, 0) == 1 &&
		    PQsendQueryParams(connection, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) == 1 &&
		    PQpipelineSync(connection) == 1;
	if (!sent) {
		ex_db_error_from_result(connection, NULL, error);
		ex_mail_pipeline_abandon(connection, 4);
		ex_db_release(service->database, connection);
		return -1;
	}

	PGresult *script = NULL;
	int failed = ex_db_pipeline_read(connection, NULL, error);
	failed |= ex_db_pipeline_read(connection, NULL, error);
	failed |= ex_db_pipeline_read(connection, &script, error);
	failed |= ex_db_pipeline_read(connection, NULL, error);
	PGresult *sync = PQgetResult(connection);
	if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC || PQexitPipelineMode(connection) != 1) {
		if (failed == 0)
			ex_db_error_from_result(connection, NULL, error);
		failed = -1;
	}
	PQclear(sync);
	/* After a failure the connection may be inside the aborted transaction: release rolls it back. */
	ex_db_release(service->database, connection);
	if (failed == 0)
		failed = keep_script(script, load, error);
	PQclear(script);
	return failed;
}

/* The message's header fields as the script sees them, and the array the last lookup returned. */
typedef struct {
	const ex_mail_sieve_headers *headers;
	const char **last;
} header_lookup;

/* Header lookup for the script. The Sieve pool copies each answer before the next lookup, so only the last array is kept. */
static const char *const *script_header(void *context, const char *name)
{
	header_lookup *lookup = context;
	free(lookup->last);
	lookup->last = ex_mail_sieve_headers_all(lookup->headers, name);
	return lookup->last;
}

static void set_error(ex_mail_sieve_plan *plan, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Records FORMAT in the plan's error unless an earlier problem is there: the first is the one the user needs. */
static void set_error(ex_mail_sieve_plan *plan, const char *format, ...)
{
	if (plan->error[0] != '\0')
		return;
	va_list arguments;
	va_start(arguments, format);
	vsnprintf(plan->error, sizeof(plan->error), format, arguments);
	va_end(arguments);
}

/* Formats the flags of ACTION as a PostgreSQL array literal with every element quoted. */
static char *flags_literal(const ex_sieve_action *action)
{
	size_t size = 3;
	for (char **flag = action->flags; flag != NULL && *flag != NULL; flag++)
		size += strlen(*flag) * 2 + 3;
	char *literal = malloc(size);
	if (literal == NULL)
		return NULL;

	size_t used = 0;
	literal[used++] = '{';
	for (char **flag = action->flags; flag != NULL && *flag != NULL; flag++) {
		/* imap4flags (RFC 5232) lists may hold several space-separated flags in one string. */
		for (const char *p = *flag; *p != '\0';) {
			size_t length = strcspn(p, " ");
			if (length > 0) {
				if (used > 1)
					literal[used++] = ',';
				literal[used++] = '"';
				for (size_t i = 0; i < length; i++) {
					if (p[i] == '"' || p[i] == '\\')
						literal[used++] = '\\';
					literal[used++] = p[i];
				}
				literal[used++] = '"';
			}
			p += length;
			while (*p == ' ')
				p++;
		}
	}
	literal[used++] = '}';
	literal[used] = '\0';
	return literal;
}

/* Folder names in scripts are IMAP names: "inbox" in any case is INBOX. */
static int add_target(ex_mail_sieve_plan *plan, const char *mailbox, const ex_sieve_action *action)
{
	if (mailbox == NULL || mailbox[0] == '\0' || strcasecmp(mailbox, "INBOX") == 0)
		mailbox = "INBOX";
	for (size_t i = 0; i < plan->target_count; i++) {
		if (strcmp(plan->targets[i].mailbox, mailbox) == 0)
			return 0; /* RFC 5228 section 4.1: filing twice into one mailbox files once */
	}
	if (plan->target_count == EX_MAIL_SIEVE_MAX_TARGETS) {
		set_error(plan, "too many fileinto actions; \"%s\" and later ones were ignored", mailbox);
		return 0;
	}
	ex_mail_sieve_target *target = &plan->targets[plan->target_count];
	target->mailbox = strdup(mailbox);
	target->flags = action != NULL ? flags_literal(action) : strdup("{}");
	if (target->mailbox == NULL || target->flags == NULL) {
		free(target->mailbox);
		free(target->flags);
		return -1;
	}
	plan->target_count++;
	return 0;
}

typedef struct {
	const char *tenant_id;
	const char *user_id;
	long long cap;
	bool allowed;
} redirect_count;

/*
 * Counts one redirect for today; allowed stays false once the cap is reached.
 * NOTE: the count is taken before the delivery commits, so a delivery that
 * fails and is retried by the client counts its redirects twice.
 */
static int count_redirect(PGconn *connection, void *context, ex_db_error *error)
{
	redirect_count *count = context;
	const char *params[] = { count->tenant_id, count->user_id };
	PGresult *result = ex_db_exec(
		connection,
		"INSERT INTO sieve_redirect_counts AS c (tenant_id, user_id, day, redirects) "
		"VALUES ($1, $2, (now() AT TIME ZONE 'UTC')::date, 1) "
		"ON CONFLICT (user_id, day) DO UPDATE SET redirects = c.redirects + 1 RETURNING redirects",
		2, params, error);
	if (result == NULL)
		return -1;
	count->allowed = PQntuples(result) == 1 && strtoll(PQgetvalue(result, 0, 0), NULL, 10) <= count->cap;
	PQclear(result);
	return 0;
}

/* Decides whether redirect ACTION may run: not a loop, not past the daily cap. */
static int check_redirect(ex_mail_service *service, const ex_smtp_recipient *recipient,
			  const ex_mail_sieve_headers *headers, const ex_sieve_action *action,
			  ex_mail_sieve_plan *plan, bool *allowed)
{
	*allowed = false;
	if (action->address == NULL || action->address[0] == '\0') {
		set_error(plan, "redirect without an address; the message was kept");
		return 0;
	}
	if (strcasecmp(action->address, recipient->address) == 0) {
		set_error(plan, "redirect to %s, the recipient itself, was ignored; the message was kept",
			  action->address);
		return 0;
	}
	if (ex_mail_sieve_headers_count(headers, redirect_field) >= EX_MAIL_SIEVE_MAX_REDIRECT_HOPS) {
		set_error(plan, "redirect loop: the message was already redirected %d times; it was kept",
			  EX_MAIL_SIEVE_MAX_REDIRECT_HOPS);
		return 0;
	}
	for (size_t i = 0; i < headers->count; i++) {
		if (strcasecmp(headers->names[i], redirect_field) == 0 &&
		    strcasecmp(headers->values[i], recipient->address) == 0) {
			set_error(plan, "redirect loop: the message was already redirected by %s; it was kept",
				  recipient->address);
			return 0;
		}
	}

	redirect_count count = { .tenant_id = recipient->tenant_id, .user_id = recipient->user_id,
				 .cap = service->sieve_max_redirects_per_day };
	ex_db_error error = { 0 };
	if (ex_db_tenant_transaction(service->database, recipient->tenant_id, EX_DB_READ_COMMITTED, count_redirect,
				     &count, &error) != 0) {
		ex_log(EX_LOG_ERROR, "sieve_redirect_count_failed", "{s:s, s:s}", "user", recipient->user_id, "error",
		       error.message);
		return -1;
	}
	if (!count.allowed) {
		set_error(plan, "redirect limit of %lld messages per day reached; the message was kept",
			  service->sieve_max_redirects_per_day);
		return 0;
	}
	*allowed = true;
	return 0;
}

static void format_script_error(ex_mail_sieve_plan *plan, ex_sieve_status status)
{
	const ex_sieve_errors *errors = &plan->result.errors;
	const char *kind = status == EX_SIEVE_TOO_LARGE	      ? "script too large"
			   : status == EX_SIEVE_INVALID	      ? "script invalid"
			   : status == EX_SIEVE_INTERNAL      ? "script failed"
							      : "script run-time error";
	if (errors->count > 0 && errors->items[0].line > 0)
		snprintf(plan->error, sizeof(plan->error), "%s at line %d: %s; the message was kept in INBOX", kind,
			 errors->items[0].line, errors->items[0].message);
	else
		snprintf(plan->error, sizeof(plan->error), "%s: %s; the message was kept in INBOX", kind,
			 errors->count > 0 ? errors->items[0].message : "unknown error");
}

/* Turns the script's actions into targets; redirects are checked here because a stopped one must keep. */
static int build_targets(ex_mail_service *service, const ex_smtp_recipient *recipient,
			 const ex_mail_sieve_headers *headers, ex_mail_sieve_plan *plan)
{
	bool keep_needed = false;
	for (size_t i = 0; i < plan->result.count; i++) {
		const ex_sieve_action *action = &plan->result.actions[i];
		plan->allowed[i] = true;
		switch (action->type) {
		case EX_SIEVE_ACTION_KEEP:
			if (add_target(plan, "INBOX", action) != 0)
				return -1;
			break;
		case EX_SIEVE_ACTION_FILEINTO:
			if (add_target(plan, action->mailbox, action) != 0)
				return -1;
			break;
		case EX_SIEVE_ACTION_REDIRECT:
			if (check_redirect(service, recipient, headers, action, plan, &plan->allowed[i]) != 0)
				return -1;
			keep_needed |= !plan->allowed[i];
			break;
		case EX_SIEVE_ACTION_REJECT:
			plan->rejected = true;
			plan->reject_reason = action->message;
			break;
		case EX_SIEVE_ACTION_DISCARD:
		case EX_SIEVE_ACTION_VACATION:
		case EX_SIEVE_ACTION_NOTIFY:
			break;
		}
	}
	if (keep_needed && add_target(plan, "INBOX", NULL) != 0)
		return -1;
	return 0;
}

int ex_mail_sieve_plan_copy(ex_mail_service *service, const ex_smtp_envelope *envelope,
			    const ex_smtp_recipient *recipient, ex_mail_sieve_plan *plan)
{
	memset(plan, 0, sizeof(*plan));

	script_load load = { .user_id = recipient->user_id };
	ex_db_error error = { 0 };
	if (load_active_script(service, recipient->tenant_id, &load, &error) != 0) {
		free(load.content);
		ex_log(EX_LOG_ERROR, "sieve_script_load_failed", "{s:s, s:s}", "user", recipient->user_id, "error",
		       error.message);
		return -1;
	}
	if (!load.found) {
		free(load.content); /* NULL: only a found script has content */
		return add_target(plan, "INBOX", NULL);
	}

	plan->has_script = true;
	plan->vacation_paused = load.vacation_paused;
	snprintf(plan->script_id, sizeof(plan->script_id), "%s", load.script_id);

	ex_mail_sieve_headers headers;
	if (ex_mail_sieve_headers_parse(envelope->content, envelope->length, &headers) != 0) {
		free(load.content);
		return -1;
	}
	header_lookup lookup = { .headers = &headers };
	const ex_sieve_message message = {
		.envelope_from = envelope->reverse_path,
		.envelope_to = recipient->address,
		.size = envelope->length,
		.get_header = script_header,
		.context = &lookup,
	};
	ex_sieve_status status =
		ex_sieve_execute(load.content, load.length, service->sieve_max_script_size, &message, &plan->result);
	free(lookup.last);
	free(load.content);
	if (status != EX_SIEVE_OK) {
		format_script_error(plan, status);
		ex_log(EX_LOG_WARN, "sieve_script_failed", "{s:s, s:s, s:s, s:s}", "session", envelope->session_id, "user",
		       recipient->user_id, "script", plan->script_id, "error", plan->error);
	}

	int rc = -1;
	plan->allowed = calloc(plan->result.count + 1, sizeof(bool));
	if (plan->allowed != NULL)
		rc = build_targets(service, recipient, &headers, plan);
	ex_mail_sieve_headers_clear(&headers);
	return rc;
}

bool ex_mail_sieve_refuse_in_session(const ex_smtp_envelope *envelope)
{
	/* ex_mail_queue_submit delivers as the submission listener without an identity. */
	bool from_session = envelope->listener == EX_SMTP_LISTENER_MX || envelope->identity != NULL;
	return envelope->recipient_count == 1 && from_session;
}

int ex_mail_sieve_fall_back_to_inbox(ex_mail_sieve_plan *plan, size_t index)
{
	ex_mail_sieve_target *target = &plan->targets[index];
	set_error(plan, "fileinto: mailbox \"%s\" does not exist; the message was filed in INBOX", target->mailbox);
	for (size_t i = 0; i < plan->target_count; i++) {
		if (i != index && strcmp(plan->targets[i].mailbox, "INBOX") == 0)
			return 1; /* INBOX gets its row from that target */
	}
	char *inbox = strdup("INBOX");
	if (inbox == NULL)
		return -1;
	free(target->mailbox);
	target->mailbox = inbox;
	return 0;
}

typedef struct {
	const char *script_id;
	const char *error;
} error_record;

static int record_error(PGconn *connection, void *context, ex_db_error *error)
{
	error_record *record = context;
	const char *params[] = { record->script_id, record->error };
	PGresult *result = ex_db_exec(connection,
				      "UPDATE sieve_scripts SET last_error = $2, last_error_at = now() WHERE id = $1", 2,
				      params, error);
	if (result == NULL)
		return -1;
	PQclear(result);
	return 0;
}

typedef struct {
	const char *tenant_id;
	const char *user_id;
	const char *sender;
	int days;
	bool send;
} vacation_claim;

/* Claims the right to reply to SENDER: send is true when no reply went to it in the last DAYS days. */
static int claim_vacation_reply(PGconn *connection, void *context, ex_db_error *error)
{
	vacation_claim *claim = context;
	char days[16];
	snprintf(days, sizeof(days), "%d", claim->days);
	const char *params[] = { claim->tenant_id, claim->user_id, claim->sender, days };
	PGresult *result = ex_db_exec(
		connection,
		"INSERT INTO sieve_vacation_replies AS r (tenant_id, user_id, sender) VALUES ($1, $2, lower($3)) "
		"ON CONFLICT (user_id, sender) DO UPDATE SET sent_at = now() "
		"WHERE r.sent_at <= now() - make_interval(days => $4::int) RETURNING 1",
		4, params, error);
	if (result == NULL)
		return -1;
	claim->send = PQntuples(result) == 1;
	PQclear(result);
	return 0;
}

static void submit(ex_mail_service *service, const ex_smtp_envelope *envelope, const char *what,
		   const char *reverse_path, const char *recipient, const char *content, size_t length)
{
	const char *recipients[] = { recipient };
	const ex_mail_submission submission = {
		.reverse_path = reverse_path,
		.recipients = recipients,
		.recipient_count = 1,
		.content = content,
		.length = length,
		.session_id = envelope->session_id,
	};
	char queue_id[64] = "";
	ex_mail_queue_status status = ex_mail_queue_submit(service, &submission, queue_id, sizeof(queue_id), NULL);
	if (status == EX_MAIL_QUEUE_ACCEPTED)
		ex_log(EX_LOG_INFO, "sieve_message_sent", "{s:s, s:s, s:s, s:s}", "session", envelope->session_id, "kind",
		       what, "to", recipient, "queue_id", queue_id);
	else
		ex_log(EX_LOG_WARN, "sieve_message_not_sent", "{s:s, s:s, s:s, s:i}", "session", envelope->session_id,
		       "kind", what, "to", recipient, "status", (int)status);
}

static void send_redirect(ex_mail_service *service, const ex_smtp_envelope *envelope,
			  const ex_smtp_recipient *recipient, const char *target)
{
	char field[REDIRECT_FIELD_MAX];
	int field_length = snprintf(field, sizeof(field), "%s: %s\r\n", redirect_field, recipient->address);
	if (field_length < 0 || (size_t)field_length >= sizeof(field))
		return;
	char *content = malloc((size_t)field_length + envelope->length);
	if (content == NULL)
		return;
	memcpy(content, field, (size_t)field_length);
	memcpy(content + field_length, envelope->content, envelope->length);
	/* RFC 5228 section 4.2: the envelope sender stays the original one. */
	submit(service, envelope, "redirect", envelope->reverse_path, target, content,
	       (size_t)field_length + envelope->length);
	free(content);
}

static void send_vacation(ex_mail_service *service, const ex_smtp_envelope *envelope,
			  const ex_smtp_recipient *recipient, const ex_sieve_action *action,
			  const ex_mail_sieve_headers *headers)
{
	const char *sender = envelope->reverse_path;
	const char *reason = ex_mail_vacation_suppressed(sender, recipient->address, headers);
	if (reason != NULL) {
		ex_log(EX_LOG_INFO, "sieve_vacation_skipped", "{s:s, s:s, s:s}", "session", envelope->session_id, "user",
		       recipient->user_id, "reason", reason);
		return;
	}

	int days = action->days;
	if (days < 1)
		days = EX_MAIL_VACATION_DEFAULT_DAYS;
	if (days > EX_MAIL_VACATION_MAX_DAYS)
		days = EX_MAIL_VACATION_MAX_DAYS;
	vacation_claim claim = { .tenant_id = recipient->tenant_id, .user_id = recipient->user_id, .sender = sender,
				 .days = days };
	ex_db_error error = { 0 };
	if (ex_db_tenant_transaction(service->database, recipient->tenant_id, EX_DB_READ_COMMITTED,
				     claim_vacation_reply, &claim, &error) != 0) {
		ex_log(EX_LOG_ERROR, "sieve_vacation_failed", "{s:s, s:s}", "user", recipient->user_id, "error",
		       error.message);
		return;
	}
	if (!claim.send) {
		ex_log(EX_LOG_INFO, "sieve_vacation_skipped", "{s:s, s:s, s:s}", "session", envelope->session_id, "user",
		       recipient->user_id, "reason", "already answered within :days");
		return;
	}

	const ex_mail_vacation_reply reply = {
		.hostname = service->hostname,
		.from = action->from != NULL && action->from[0] != '\0' ? action->from : recipient->address,
		.to = sender,
		.subject = action->subject,
		.text = action->message,
		.mime = action->mime,
		.original = headers,
	};
	size_t length = 0;
	char *content = ex_mail_vacation_build(&reply, &length);
	if (content == NULL)
		return;
	submit(service, envelope, "vacation", "", sender, content, length);
	free(content);
}

static void send_rejection(ex_mail_service *service, const ex_smtp_envelope *envelope,
			   const ex_smtp_recipient *recipient, const char *reason,
			   const ex_mail_sieve_headers *headers)
{
	if (envelope->reverse_path == NULL || envelope->reverse_path[0] == '\0')
		return; /* never bounce to the null sender */
	size_t length = 0;
	char *content = ex_mail_vacation_build_rejection(service->hostname, envelope->reverse_path, recipient->address,
							 reason, headers, &length);
	if (content == NULL)
		return;
	submit(service, envelope, "rejection", "", envelope->reverse_path, content, length);
	free(content);
}

void ex_mail_sieve_after_commit(ex_mail_service *service, const ex_smtp_envelope *envelope,
				const ex_smtp_recipient *recipient, ex_mail_sieve_plan *plan)
{
	if (!plan->has_script)
		return;

	ex_mail_sieve_headers headers;
	if (ex_mail_sieve_headers_parse(envelope->content, envelope->length, &headers) == 0) {
		for (size_t i = 0; i < plan->result.count; i++) {
			const ex_sieve_action *action = &plan->result.actions[i];
			if (action->type == EX_SIEVE_ACTION_REDIRECT && plan->allowed[i])
				send_redirect(service, envelope, recipient, action->address);
			else if (action->type == EX_SIEVE_ACTION_VACATION && !plan->vacation_paused)
				send_vacation(service, envelope, recipient, action, &headers);
		}
		/* A rejection refused in the SMTP reply needs no bounce. */
		if (plan->rejected && !ex_mail_sieve_refuse_in_session(envelope))
			send_rejection(service, envelope, recipient, plan->reject_reason, &headers);
		ex_mail_sieve_headers_clear(&headers);
	}

	if (plan->error[0] != '\0') {
		error_record record = { .script_id = plan->script_id, .error = plan->error };
		ex_db_error error = { 0 };
		if (ex_db_tenant_transaction(service->database, recipient->tenant_id, EX_DB_READ_COMMITTED, record_error,
					     &record, &error) != 0)
			ex_log(EX_LOG_ERROR, "sieve_error_record_failed", "{s:s, s:s}", "script", plan->script_id, "error",
			       error.message);
	}
}

void ex_mail_sieve_plan_clear(ex_mail_sieve_plan *plan)
{
	for (size_t i = 0; i < plan->target_count; i++) {
		free(plan->targets[i].mailbox);
		free(plan->targets[i].flags);
	}
	plan->target_count = 0;
	if (plan->has_script)
		ex_sieve_result_clear(&plan->result);
	free(plan->allowed);
	plan->allowed = NULL;
}
