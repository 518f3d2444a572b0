/*
 * Fuzzes the MAIL and RCPT argument parser and checks what it promises:
 * an accepted mailbox fits the RFC 5321 limits and has a domain part.
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
	ex_smtp_mail_parameters parameters;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (ex_smtp_parse_mail_from(text, &path, &parameters) == EX_SMTP_PATH_OK && path.mailbox[0] != '\0') {
		if (strlen(path.mailbox) > EX_SMTP_MAX_PATH - 2 || path.local_length > EX_SMTP_MAX_LOCAL_PART)
			abort();
		if (path.mailbox[path.local_length] != '@' || ex_smtp_path_domain(&path)[0] == '\0')
			abort();
	}
	if (ex_smtp_parse_rcpt_to(text, (size & 1) != 0, &path) == EX_SMTP_PATH_OK) {
		if (path.mailbox[0] == '\0' || (path.non_ascii && (size & 1) == 0))
			abort();
	}
	ex_smtp_parse_mailbox((const char *)data, size, true, &path);
	return 0;
}
