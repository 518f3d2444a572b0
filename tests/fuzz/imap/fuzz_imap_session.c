/*
 * libFuzzer target: drives a whole IMAP session of expresso-mail
 * (services/mail/imap_session.c) from arbitrary client bytes, with no
 * network and no database. The first input byte sets the chunk size, so
 * commands and literals arrive split the way a socket delivers them. The
 * login "user" with password "pass" is accepted, so the authenticated
 * commands run too; without a database they end in NO [UNAVAILABLE].
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "imap_session.h"
#include "mail_envelope.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ex_smtp_auth_status check_login(void *context, const char *login, const char *password,
				       const char *client_address, ex_smtp_identity *identity)
{
	(void)context;
	(void)client_address;
	memset(identity, 0, sizeof(*identity));
	if (strcmp(login, "user") != 0 || strcmp(password, "pass") != 0)
		return EX_SMTP_AUTH_REJECTED;
	strcpy(identity->tenant_id, "00000000-0000-0000-0000-000000000001");
	strcpy(identity->user_id, "00000000-0000-0000-0000-000000000002");
	strcpy(identity->email, "user@example.org");
	return EX_SMTP_AUTH_ACCEPTED;
}

static ex_smtp_auth_status check_token(void *context, const char *authzid, const char *token,
				       const char *client_address, ex_smtp_identity *identity)
{
	(void)authzid;
	return check_login(context, "user", strcmp(token, "good") == 0 ? "pass" : "", client_address, identity);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	ex_mail_envelope_library_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const ex_imap_auth_backend auth = { .authenticate = check_login, .authenticate_token = check_token };
	if (size < 1)
		return 0;
	size_t chunk = (size_t)data[0] % 64 + 1;
	bool tls = (data[0] & 0x80) != 0;
	data++;
	size--;

	const ex_imap_session_options options = {
		.session_id = "fuzz",
		.client_address = "127.0.0.1",
		.hostname = "imap.example.org",
		.tls_available = true,
		.implicit_tls = tls,
		.max_append_size = 64 * 1024,
		.auth = &auth,
	};
	ex_imap_session *session = ex_imap_session_new(&options);
	if (session == NULL)
		return 0;
	ex_imap_session_greet(session);
	size_t offset = 0;
	while (offset < size) {
		size_t length = size - offset < chunk ? size - offset : chunk;
		size_t consumed = 0;
		ex_imap_next next = ex_imap_session_feed(session, (const char *)data + offset, length, &consumed);
		ex_imap_session_clear_output(session);
		if (next == EX_IMAP_NEXT_CLOSE)
			break;
		if (next == EX_IMAP_NEXT_START_TLS)
			ex_imap_session_tls_started(session);
		/* A session that consumed nothing is waiting for more input than this chunk holds. */
		offset += consumed > 0 ? consumed : length;
		if (ex_imap_session_idling(session))
			ex_imap_session_keepalive(session);
	}
	ex_imap_session_free(session);
	return 0;
}
