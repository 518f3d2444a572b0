/*
 * Fuzzes the reader of MX records in a DNS answer with arbitrary packets.
 * Checks that the hosts it returns are sorted by preference, fit their
 * buffer and are not the root.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail_outbound_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ex_outbound_host hosts[EX_OUTBOUND_MAX_HOSTS];
	int count = ex_outbound_mx_from_answer(data, size, hosts, EX_OUTBOUND_MAX_HOSTS);
	if (count > EX_OUTBOUND_MAX_HOSTS)
		abort();
	for (int i = 0; i < count; i++) {
		if (memchr(hosts[i].name, '\0', sizeof(hosts[i].name)) == NULL || hosts[i].name[0] == '\0')
			abort();
		if (i > 0 && hosts[i - 1].preference > hosts[i].preference)
			abort();
	}
	return 0;
}
