/*
 * Fuzzes the relay payload and channel parsers, which read what any Redis
 * client can publish. An accepted payload must give an SSE frame.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay_message.h"
#include "sse_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ex_notify_relay relay;
	char tenant[EX_NOTIFY_MAX_TOKEN + 1], user[EX_NOTIFY_MAX_TOKEN + 1];

	if (ex_notify_relay_parse((const char *)data, size, &relay) == 0) {
		char body[EX_NOTIFY_MAX_DATA + 1];
		size_t length;
		memcpy(body, relay.data, relay.data_length);
		body[relay.data_length] = '\0';
		char *frame = ex_notify_sse_frame(relay.id_text, relay.event, body, &length);
		if (frame == NULL)
			abort();
		free(frame);
	}
	if (ex_notify_channel_parse((const char *)data, size, tenant, user) == 0 &&
	    (!ex_notify_token_valid(tenant) || !ex_notify_token_valid(user)))
		abort();
	return 0;
}
