/*
 * The submission queue. Local recipients are delivered at once through
 * the same path as SMTP (ex_mail_deliver: storage, fsync, one transaction,
 * mail.delivered event), so a submission to local users is durable when
 * this returns.
 */
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"
#include "mail_queue.h"
#include "smtp_address.h"

ex_mail_queue_status ex_mail_queue_submit(ex_mail_service *service, const ex_mail_submission *submission,
					  char *queue_id, size_t queue_id_size, long *failed_recipient)
{
	if (failed_recipient != NULL)
		*failed_recipient = -1;
	if (submission->recipient_count == 0)
		return EX_MAIL_QUEUE_INVALID_RECIPIENT;

	ex_smtp_recipient *recipients = calloc(submission->recipient_count, sizeof(*recipients));
	if (recipients == NULL)
		return EX_MAIL_QUEUE_TEMPORARY_FAILURE;

	ex_mail_queue_status status = EX_MAIL_QUEUE_ACCEPTED;
	for (size_t i = 0; i < submission->recipient_count && status == EX_MAIL_QUEUE_ACCEPTED; i++) {
		const char *address = submission->recipients[i];
		ex_smtp_path path;
		if (ex_smtp_parse_mailbox(address, strlen(address), true, &path) != EX_SMTP_PATH_OK) {
			status = EX_MAIL_QUEUE_INVALID_RECIPIENT;
		} else {
			switch (ex_mail_lookup_recipient(service, &path, &recipients[i])) {
			case EX_SMTP_LOOKUP_LOCAL:
				break;
			case EX_SMTP_LOOKUP_NO_MAILBOX:
				status = EX_MAIL_QUEUE_INVALID_RECIPIENT;
				break;
			case EX_SMTP_LOOKUP_OVER_QUOTA:
				status = EX_MAIL_QUEUE_OVER_QUOTA;
				break;
			case EX_SMTP_LOOKUP_NOT_LOCAL:
				/* TODO: queue remote recipients for outbound delivery (MX lookup, retries, bounces). */
				status = EX_MAIL_QUEUE_REMOTE_UNAVAILABLE;
				break;
			case EX_SMTP_LOOKUP_TEMPORARY_FAILURE:
			default:
				status = EX_MAIL_QUEUE_TEMPORARY_FAILURE;
				break;
			}
		}
		if (status != EX_MAIL_QUEUE_ACCEPTED && failed_recipient != NULL)
			*failed_recipient = (long)i;
	}

	if (status == EX_MAIL_QUEUE_ACCEPTED) {
		const ex_smtp_envelope envelope = {
			.session_id = submission->session_id,
			.helo = service->hostname,
			.client_address = "127.0.0.1",
			.listener = EX_SMTP_LISTENER_SUBMISSION,
			.tls = true,
			.esmtp = true,
			.reverse_path = submission->reverse_path,
			.smtputf8 = true,
			.recipients = recipients,
			.recipient_count = submission->recipient_count,
			.content = submission->content,
			.length = submission->length,
		};
		switch (ex_mail_deliver(service, &envelope, queue_id, queue_id_size)) {
		case EX_SMTP_DELIVERY_STORED:
			break;
		case EX_SMTP_DELIVERY_OVER_QUOTA:
			status = EX_MAIL_QUEUE_OVER_QUOTA;
			break;
		default:
			status = EX_MAIL_QUEUE_TEMPORARY_FAILURE;
			break;
		}
	}
	if (status != EX_MAIL_QUEUE_ACCEPTED)
		ex_log(EX_LOG_WARN, "mail_submission_refused", "{s:s, s:i, s:I}", "session",
		       submission->session_id != NULL ? submission->session_id : "", "status", (int)status,
		       "failed_recipient", (json_int_t)(failed_recipient != NULL ? *failed_recipient : -1));
	free(recipients);
	return status;
}
