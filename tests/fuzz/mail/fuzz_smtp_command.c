/*
 * Fuzzes the SMTP input path as a connection drives it: bytes go through
 * the command line reader into the session, or through the DATA decoder
 * while a message is being read. The backend accepts every local
 * recipient and login and stores nothing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "smtp_line.h"
#include "smtp_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ex_smtp_lookup_status lookup(void *context, const ex_smtp_path *path, ex_smtp_recipient *recipient)
{
	(void)context;
	(void)recipient;
	return strcmp(ex_smtp_path_domain(path), "demo.test") == 0 ? EX_SMTP_LOOKUP_LOCAL : EX_SMTP_LOOKUP_NOT_LOCAL;
}

static ex_smtp_auth_status authenticate(void *context, const char *login, const char *password, const char *address,
					ex_smtp_identity *identity)
{
	(void)context;
	(void)password;
	(void)address;
	snprintf(identity->email, sizeof(identity->email), "%s", login);
	return EX_SMTP_AUTH_ACCEPTED;
}

static ex_smtp_auth_status authenticate_token(void *context, const char *authzid, const char *token,
					      const char *address, ex_smtp_identity *identity)
{
	(void)context;
	(void)authzid;
	(void)address;
	snprintf(identity->email, sizeof(identity->email), "%s@demo.test", token[0] == 'x' ? "x" : "y");
	return token[0] == 'x' ? EX_SMTP_AUTH_ACCEPTED : EX_SMTP_AUTH_REJECTED;
}

static ex_smtp_delivery_status deliver(void *context, const ex_smtp_envelope *envelope, char *queue_id, size_t size)
{
	(void)context;
	(void)envelope;
	snprintf(queue_id, size, "fuzz");
	return EX_SMTP_DELIVERY_STORED;
}

static const ex_smtp_backend backend = {
	.lookup_recipient = lookup,
	.authenticate = authenticate,
	.authenticate_token = authenticate_token,
	.deliver = deliver,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The first byte picks the listener and whether TLS is on, so AUTH paths are reached. */
	if (size < 1)
		return 0;
	const ex_smtp_session_options options = {
		.hostname = "mx.demo.test",
		.session_id = "fuzz",
		.client_address = "192.0.2.1",
		.listener = (data[0] & 1) ? EX_SMTP_LISTENER_SUBMISSION : EX_SMTP_LISTENER_MX,
		.tls_available = true,
		.limits = { .max_message_bytes = 4096, .max_recipients = 4, .max_errors = 50 },
		.backend = &backend,
	};
	ex_smtp_session *session = ex_smtp_session_new(&options);
	ex_smtp_line_reader reader;
	if (session == NULL || ex_smtp_line_init(&reader, 1024) != 0) {
		ex_smtp_session_free(session);
		return 0;
	}
	if (data[0] & 2)
		ex_smtp_session_tls_started(session);

	const char *input = (const char *)data + 1;
	size_t remaining = size - 1;
	ex_smtp_next next = EX_SMTP_NEXT_LINE;
	while (remaining > 0 && next != EX_SMTP_NEXT_CLOSE) {
		size_t consumed = 0;
		if (ex_smtp_session_state(session) == EX_SMTP_STATE_BDAT) {
			next = ex_smtp_session_chunk(session, input, remaining, &consumed);
		} else if (ex_smtp_session_state(session) == EX_SMTP_STATE_DATA) {
			if (ex_smtp_data_feed(ex_smtp_session_data(session), input, remaining, &consumed) == EX_SMTP_DATA_DONE)
				next = ex_smtp_session_data_end(session);
		} else {
			ex_smtp_line_status status = ex_smtp_line_feed(&reader, input, remaining, &consumed);
			if (status == EX_SMTP_LINE_DONE)
				next = ex_smtp_session_line(session, ex_smtp_line_text(&reader), ex_smtp_line_length(&reader));
			else if (status != EX_SMTP_LINE_NEED_MORE)
				next = ex_smtp_session_line_error(session, "invalid line");
		}
		ex_smtp_session_clear_output(session);
		input += consumed;
		remaining -= consumed;
	}
	ex_smtp_line_free(&reader);
	ex_smtp_session_free(session);
	return 0;
}
