/*
 * Builds a DSN with a random MIME boundary and the Message-ID asked for,
 * or a random one, and submits it.
 */
#include "mail_dsn_send.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expresso/log.h"
#include "mail_queue.h"

enum { DATE_TEXT = 64, RANDOM_OCTETS = 12 };

int ex_mail_dsn_send(ex_mail_service *service, const ex_mail_dsn_request *request)
{
	char date[DATE_TEXT];
	char boundary[64];
	char message_id[64 + sizeof(service->hostname)];
	unsigned char random[RANDOM_OCTETS];
	struct tm utc;
	time_t now = time(NULL);

	if (request->sender == NULL || request->sender[0] == '\0')
		return 0; /* RFC 3461 6.2: never a DSN for the null reverse path */
	gmtime_r(&now, &utc);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &utc);
	if (RAND_bytes(random, sizeof(random)) != 1)
		return -1;
	int used = snprintf(boundary, sizeof(boundary), "=_dsn_");
	for (size_t i = 0; i < sizeof(random); i++)
		used += snprintf(boundary + used, sizeof(boundary) - (size_t)used, "%02x", random[i]);
	if (request->message_id != NULL)
		snprintf(message_id, sizeof(message_id), "%s", request->message_id);
	else
		snprintf(message_id, sizeof(message_id), "dsn.%s@%s", boundary + 6, service->hostname);

	const ex_mail_dsn dsn = {
		.reporting_mta = service->hostname,
		.sender = request->sender,
		.envelope_id = request->envelope_id,
		.arrival_date = request->arrival_date,
		.date = date,
		.message_id = message_id,
		.boundary = boundary,
		.recipients = request->recipients,
		.recipient_count = request->recipient_count,
		.original = request->original,
		.original_length = request->original_length,
		.return_full = request->return_full,
	};
	size_t length = 0;
	char *report = ex_mail_dsn_build(&dsn, &length);
	if (report == NULL)
		return -1;

	const char *to[] = { request->sender };
	const ex_mail_submission submission = {
		.tenant_id = request->tenant_id,
		.reverse_path = "",
		.recipients = to,
		.recipient_count = 1,
		.content = report,
		.length = length,
		.session_id = request->about_id,
		.also = request->also,
		.also_context = request->also_context,
	};
	char queue_id[EX_SMTP_UUID_TEXT];
	ex_mail_queue_status status = ex_mail_queue_submit(service, &submission, queue_id, sizeof(queue_id), NULL);
	free(report);
	ex_log(status == EX_MAIL_QUEUE_ACCEPTED ? EX_LOG_INFO : EX_LOG_WARN, "dsn_submitted", "{s:s, s:s, s:s, s:I, s:i}",
	       "about", request->about_id != NULL ? request->about_id : "", "sender", request->sender, "action",
	       request->recipients[0].action, "recipients", (json_int_t)request->recipient_count, "status", (int)status);
	/* A local sender that no longer exists cannot get the DSN; retrying would not help. */
	return status == EX_MAIL_QUEUE_ACCEPTED || status == EX_MAIL_QUEUE_INVALID_RECIPIENT ? 0 : -1;
}
