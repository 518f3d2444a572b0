/*
 * Fuzzes the ticket checks and the stored owner parser: a ticket that is
 * accepted must have a key, and an accepted owner must be two valid ids.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ticket_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	char key[EX_NOTIFY_TICKET_KEY_MAX];
	char tenant[EX_NOTIFY_MAX_TOKEN + 1], user[EX_NOTIFY_MAX_TOKEN + 1];
	int64_t expires_at;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	int valid = ex_notify_ticket_valid(text);
	if ((ex_notify_ticket_key(text, key) == 0) != valid)
		abort();
	if (ex_notify_ticket_owner_parse((const char *)data, size, tenant, user, &expires_at) == 0 &&
	    (!ex_notify_token_valid(tenant) || !ex_notify_token_valid(user) || expires_at < 0))
		abort();
	free(text);
	return 0;
}
