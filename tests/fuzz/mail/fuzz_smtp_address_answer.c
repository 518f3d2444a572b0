/*
 * Fuzzes the reader of A and AAAA records in a DNS answer with arbitrary
 * packets. Checks that every address it returns has the family, length
 * and port asked for.
 */
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>

#include "mail_outbound_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ex_outbound_address addresses[EX_OUTBOUND_MAX_ADDRESSES];
	const int types[] = { ns_t_a, ns_t_aaaa };
	for (size_t t = 0; t < 2; t++) {
		int count = ex_outbound_addresses_from_answer(data, size, types[t], 2525, addresses,
							      EX_OUTBOUND_MAX_ADDRESSES);
		if (count > EX_OUTBOUND_MAX_ADDRESSES)
			abort();
		for (int i = 0; i < count; i++) {
			if (types[t] == ns_t_a) {
				const struct sockaddr_in *ipv4 = (const struct sockaddr_in *)&addresses[i].address;
				if (ipv4->sin_family != AF_INET || addresses[i].length != sizeof(*ipv4) ||
				    ipv4->sin_port != htons(2525))
					abort();
			} else {
				const struct sockaddr_in6 *ipv6 = (const struct sockaddr_in6 *)&addresses[i].address;
				if (ipv6->sin6_family != AF_INET6 || addresses[i].length != sizeof(*ipv6) ||
				    ipv6->sin6_port != htons(2525))
					abort();
			}
		}
	}
	return 0;
}
