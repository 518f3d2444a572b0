/*
 * Fuzzes Sieve scripts through the wrapper: validation, then execution
 * against a fixed message. Checks the wrapper's promise on top of "no
 * crash": whatever the script, the result names at least one action, so
 * a delivery always knows what to do with the message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expresso/sieve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const subject[] = { "Relatório URGENTE [SEI]", NULL };
static const char *const from[] = { "Carol <carol@acme.expresso.test>", NULL };
static const char *const to[] = { "alice@demo.expresso.test", NULL };

static const char *const *lookup(void *context, const char *name)
{
	(void)context;
	if (strcasecmp(name, "Subject") == 0)
		return subject;
	if (strcasecmp(name, "From") == 0)
		return from;
	if (strcasecmp(name, "To") == 0)
		return to;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ex_sieve_errors errors;
	ex_sieve_result result;
	ex_sieve_message message = {
		.envelope_from = "carol@acme.expresso.test",
		.envelope_to = "alice+compras@demo.expresso.test",
		.size = 4096,
		.get_header = lookup,
	};

	ex_sieve_validate((const char *)data, size, 0, &errors);
	ex_sieve_execute((const char *)data, size, 0, &message, &result);
	if (result.count == 0)
		abort();
	ex_sieve_result_clear(&result);
	return 0;
}
