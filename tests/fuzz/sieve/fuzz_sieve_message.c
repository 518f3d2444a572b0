/*
 * Fuzzes script and message pairs through the delivery path's pure parts:
 * the input is a Sieve script, a NUL byte, then a message. The message's
 * header is parsed as at delivery (mail_sieve_headers.c), the script runs
 * against it in a worker of the wrapper's pool, and a vacation action is
 * turned into a reply (mail_vacation.c). The result must always name at
 * least one action.
 */
#include <gmime/gmime.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/sieve.h"
#include "mail_sieve_headers.h"
#include "mail_vacation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The header fields and the array the last lookup returned, freed at the next one as in mail_sieve.c. */
typedef struct {
	const ex_mail_sieve_headers *headers;
	const char **last;
} header_lookup;

static const char *const *lookup(void *context, const char *name)
{
	header_lookup *state = context;
	free(state->last);
	state->last = ex_mail_sieve_headers_all(state->headers, name);
	return state->last;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool initialized;
	if (!initialized) {
		g_mime_init();
		initialized = true;
	}
	const char *input = (const char *)data;
	const char *separator = memchr(input, '\0', size);
	if (separator == NULL)
		return 0;
	size_t script_length = (size_t)(separator - input);
	const char *message_text = separator + 1;
	size_t message_length = size - script_length - 1;

	ex_mail_sieve_headers headers;
	if (ex_mail_sieve_headers_parse(message_text, message_length, &headers) != 0)
		return 0;
	header_lookup state = { .headers = &headers };
	const ex_sieve_message message = {
		.envelope_from = "carol@acme.expresso.test",
		.envelope_to = "alice@demo.expresso.test",
		.size = message_length,
		.get_header = lookup,
		.context = &state,
	};
	ex_sieve_result result;
	ex_sieve_execute(input, script_length, 0, &message, &result);
	free(state.last);
	if (result.count == 0)
		abort();

	for (size_t i = 0; i < result.count; i++) {
		const ex_sieve_action *action = &result.actions[i];
		if (action->type != EX_SIEVE_ACTION_VACATION)
			continue;
		ex_mail_vacation_suppressed(message.envelope_from, message.envelope_to, &headers);
		const ex_mail_vacation_reply reply = {
			.hostname = "mx.test.invalid",
			.from = message.envelope_to,
			.to = message.envelope_from,
			.subject = action->subject,
			.text = action->message,
			.mime = action->mime,
			.original = &headers,
		};
		size_t length = 0;
		free(ex_mail_vacation_build(&reply, &length));
	}
	ex_sieve_result_clear(&result);
	ex_mail_sieve_headers_clear(&headers);
	return 0;
}
