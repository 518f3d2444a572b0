/*
 * Fuzzes the parser of remote SMTP replies: the input is split into lines
 * at LF and fed as one reply. Checks that a complete reply has a code in
 * 200..599 and that its text holds no control characters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ex_smtp_reply reply;
	const char *text = (const char *)data;
	size_t start = 0;

	ex_smtp_reply_init(&reply);
	while (start < size) {
		const char *newline = memchr(text + start, '\n', size - start);
		size_t end = newline == NULL ? size : (size_t)(newline - text);
		ex_smtp_reply_status status = ex_smtp_reply_line(&reply, text + start, end - start);
		if (status == EX_SMTP_REPLY_COMPLETE) {
			if (reply.code < 200 || reply.code > 599)
				abort();
			for (const char *p = reply.text; *p != '\0'; p++)
				if ((unsigned char)*p < 0x20)
					abort();
			ex_smtp_reply_init(&reply);
		} else if (status == EX_SMTP_REPLY_MALFORMED) {
			ex_smtp_reply_init(&reply);
		}
		start = end + 1;
	}
	return 0;
}
