/*
 * Fuzzes the RCPT parser with the DSN parameters (NOTIFY, ORCPT) and the
 * MAIL parameters RET and ENVID. Checks that accepted values keep their
 * limits and that NOTIFY comes out in canonical form.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[1024];
	ex_smtp_path path;
	ex_smtp_rcpt_parameters rcpt;
	ex_smtp_mail_parameters mail;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (ex_smtp_parse_rcpt_to_dsn(text, true, &path, &rcpt) == EX_SMTP_PATH_OK) {
		if (strlen(rcpt.orcpt) > EX_SMTP_DSN_MAX_ORCPT)
			abort();
		if (rcpt.notify[0] != '\0' && ex_smtp_dsn_parse_notify(rcpt.notify, strlen(rcpt.notify)) == 0)
			abort();
	}
	if (ex_smtp_parse_mail_from(text, &path, &mail) == EX_SMTP_PATH_OK) {
		if (strlen(mail.envid) > EX_SMTP_DSN_MAX_ENVID || !ex_smtp_xtext_is_valid(mail.envid, strlen(mail.envid)))
			abort();
		if (mail.ret[0] != '\0' && strcmp(mail.ret, "FULL") != 0 && strcmp(mail.ret, "HDRS") != 0)
			abort();
	}
	return 0;
}
