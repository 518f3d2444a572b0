/*
 * Routing of outbound mail: the transport list, MX answers, and the MX,
 * A and AAAA lookups through glibc's thread-safe resolver (res_nquery in
 * libresolv).
 */
#include "mail_outbound_route.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { DNS_ANSWER_MAX = 8192 };

int ex_outbound_parse_host_port(const char *text, size_t length, uint16_t default_port, ex_outbound_host *host)
{
	const char *name = text;
	size_t name_length = length;
	const char *port_text = NULL;
	size_t port_length = 0;

	if (length > 0 && text[0] == '[') {
		const char *close = memchr(text, ']', length);
		if (close == NULL)
			return -1;
		name = text + 1;
		name_length = (size_t)(close - name);
		size_t rest = length - (size_t)(close + 1 - text);
		if (rest > 0) {
			if (close[1] != ':')
				return -1;
			port_text = close + 2;
			port_length = rest - 1;
		}
	} else {
		const char *colon = memchr(text, ':', length);
		if (colon != NULL) {
			name_length = (size_t)(colon - text);
			port_text = colon + 1;
			port_length = length - name_length - 1;
		}
	}
	if (name_length == 0 || name_length >= sizeof(host->name))
		return -1;
	for (size_t i = 0; i < name_length; i++) {
		char c = name[i];
		bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
			       c == '-' || c == '_' || c == ':';
		if (!allowed)
			return -1;
	}
	unsigned long port = default_port;
	if (port_text != NULL) {
		if (port_length == 0 || port_length > 5)
			return -1;
		port = 0;
		for (size_t i = 0; i < port_length; i++) {
			if (port_text[i] < '0' || port_text[i] > '9')
				return -1;
			port = port * 10 + (unsigned long)(port_text[i] - '0');
		}
		if (port == 0 || port > 65535)
			return -1;
	}
	memcpy(host->name, name, name_length);
	host->name[name_length] = '\0';
	host->port = (uint16_t)port;
	host->preference = 0;
	return 0;
}

static bool is_separator(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

/* Walks MAP; with DOMAIN NULL only checks it. Returns as ex_outbound_transport_lookup. */
static int walk_transports(const char *map, const char *domain, ex_outbound_host *host)
{
	const char *p = map;
	while (*p != '\0') {
		while (is_separator(*p))
			p++;
		if (*p == '\0')
			break;
		const char *start = p;
		while (*p != '\0' && !is_separator(*p))
			p++;
		const char *equals = memchr(start, '=', (size_t)(p - start));
		if (equals == NULL || equals == start)
			return -1;
		ex_outbound_host parsed;
		if (ex_outbound_parse_host_port(equals + 1, (size_t)(p - equals - 1), EX_OUTBOUND_SMTP_PORT, &parsed) != 0)
			return -1;
		size_t domain_length = (size_t)(equals - start);
		if (domain != NULL && strlen(domain) == domain_length && strncasecmp(domain, start, domain_length) == 0) {
			*host = parsed;
			return 1;
		}
	}
	return 0;
}

int ex_outbound_transport_lookup(const char *map, const char *domain, ex_outbound_host *host)
{
	if (map == NULL)
		return 0;
	return walk_transports(map, domain, host);
}

int ex_outbound_transport_check(const char *map)
{
	return walk_transports(map, NULL, NULL) < 0 ? -1 : 0;
}

void ex_outbound_sort_hosts(ex_outbound_host *hosts, size_t count)
{
	/* Insertion sort: stable, and count is at most EX_OUTBOUND_MAX_HOSTS. */
	for (size_t i = 1; i < count; i++) {
		ex_outbound_host current = hosts[i];
		size_t j = i;
		while (j > 0 && hosts[j - 1].preference > current.preference) {
			hosts[j] = hosts[j - 1];
			j--;
		}
		hosts[j] = current;
	}
}

int ex_outbound_mx_from_answer(const unsigned char *answer, size_t length, ex_outbound_host *hosts, size_t max)
{
	ns_msg message;
	if (length > DNS_ANSWER_MAX || ns_initparse(answer, (int)length, &message) != 0)
		return -1;

	size_t count = 0;
	bool null_mx = false;
	int records = ns_msg_count(message, ns_s_an);
	for (int i = 0; i < records; i++) {
		ns_rr record;
		if (ns_parserr(&message, ns_s_an, i, &record) != 0)
			return -1;
		if (ns_rr_type(record) != ns_t_mx || ns_rr_class(record) != ns_c_in)
			continue;
		if (ns_rr_rdlen(record) < 3)
			return -1;
		const unsigned char *data = ns_rr_rdata(record);
		unsigned preference = ((unsigned)data[0] << 8) | data[1];
		char name[NS_MAXDNAME];
		if (ns_name_uncompress(ns_msg_base(message), ns_msg_end(message), data + 2, name, sizeof(name)) < 0)
			return -1;
		if (name[0] == '\0' || strcmp(name, ".") == 0) {
			null_mx = true;
			continue;
		}
		size_t name_length = strlen(name);
		if (count < max && name_length < sizeof(hosts[count].name)) {
			memcpy(hosts[count].name, name, name_length + 1);
			hosts[count].port = EX_OUTBOUND_SMTP_PORT;
			hosts[count].preference = preference;
			count++;
		}
	}
	/* RFC 7505 3: a null MX is the only record; with others beside it, it is ignored. */
	if (null_mx && count == 0)
		return -2;
	ex_outbound_sort_hosts(hosts, count);
	return (int)count;
}

/* Points STATE at RESOLVER ("a.b.c.d" or "a.b.c.d:port"). Returns 0 or -1. */
static int use_resolver(res_state state, const char *resolver)
{
	ex_outbound_host parsed;
	struct in_addr address;
	if (ex_outbound_parse_host_port(resolver, strlen(resolver), 53, &parsed) != 0 ||
	    inet_pton(AF_INET, parsed.name, &address) != 1)
		return -1;
	state->nscount = 1;
	state->nsaddr_list[0].sin_family = AF_INET;
	state->nsaddr_list[0].sin_addr = address;
	state->nsaddr_list[0].sin_port = htons(parsed.port);
	return 0;
}

/* Opens STATE for RESOLVER, or for /etc/resolv.conf when RESOLVER is NULL. Returns 0 or -1. */
static int open_resolver(res_state state, const char *resolver)
{
	memset(state, 0, sizeof(*state));
	if (res_ninit(state) != 0)
		return -1;
	if (resolver != NULL && use_resolver(state, resolver) != 0) {
		res_nclose(state);
		return -1;
	}
	return 0;
}

int ex_outbound_addresses_from_answer(const unsigned char *answer, size_t length, int type, uint16_t port,
				      ex_outbound_address *addresses, size_t max)
{
	ns_msg message;
	if ((type != ns_t_a && type != ns_t_aaaa) || length > DNS_ANSWER_MAX ||
	    ns_initparse(answer, (int)length, &message) != 0)
		return -1;

	size_t count = 0;
	int records = ns_msg_count(message, ns_s_an);
	for (int i = 0; i < records; i++) {
		ns_rr record;
		if (ns_parserr(&message, ns_s_an, i, &record) != 0)
			return -1;
		/* CNAME records of the chain are skipped; the resolver puts the target's records beside them. */
		if ((int)ns_rr_type(record) != type || ns_rr_class(record) != ns_c_in || count >= max)
			continue;
		ex_outbound_address *out = &addresses[count];
		memset(out, 0, sizeof(*out));
		if (type == ns_t_a) {
			struct sockaddr_in *ipv4 = (struct sockaddr_in *)&out->address;
			if (ns_rr_rdlen(record) != sizeof(ipv4->sin_addr))
				return -1;
			ipv4->sin_family = AF_INET;
			ipv4->sin_port = htons(port);
			memcpy(&ipv4->sin_addr, ns_rr_rdata(record), sizeof(ipv4->sin_addr));
			out->length = sizeof(*ipv4);
		} else {
			struct sockaddr_in6 *ipv6 = (struct sockaddr_in6 *)&out->address;
			if (ns_rr_rdlen(record) != sizeof(ipv6->sin6_addr))
				return -1;
			ipv6->sin6_family = AF_INET6;
			ipv6->sin6_port = htons(port);
			memcpy(&ipv6->sin6_addr, ns_rr_rdata(record), sizeof(ipv6->sin6_addr));
			out->length = sizeof(*ipv6);
		}
		count++;
	}
	return (int)count;
}

/* Adds the records of TYPE for NAME to ADDRESSES after *COUNT. Returns 0, or -1 when the lookup failed. */
static int query_addresses(res_state state, const char *name, int type, uint16_t port, ex_outbound_address *addresses,
			   size_t max, size_t *count)
{
	unsigned char answer[DNS_ANSWER_MAX];
	int length = res_nquery(state, name, ns_c_in, type, answer, sizeof(answer));
	if (length < 0)
		return state->res_h_errno == HOST_NOT_FOUND || state->res_h_errno == NO_DATA ? 0 : -1;
	int found = ex_outbound_addresses_from_answer(answer, (size_t)length, type, port, addresses + *count,
						      max - *count);
	if (found < 0)
		return -1;
	*count += (size_t)found;
	return 0;
}

int ex_outbound_resolve_host(const char *name, uint16_t port, const char *resolver, ex_outbound_address *addresses,
			     size_t max)
{
	struct __res_state state;
	if (open_resolver(&state, resolver) != 0)
		return -1;

	/* IPv4 first: a host with an AAAA record but no IPv6 route would otherwise cost a connection timeout. */
	size_t count = 0;
	int status = query_addresses(&state, name, ns_t_a, port, addresses, max, &count);
	if (status == 0 && count < max)
		status = query_addresses(&state, name, ns_t_aaaa, port, addresses, max, &count);
	res_nclose(&state);
	/* Addresses of one family are enough, since the server of the other may fail. */
	return count > 0 ? (int)count : status;
}

ex_outbound_route_status ex_outbound_resolve(const char *domain, const char *resolver, ex_outbound_host *hosts,
					     size_t max, size_t *count)
{
	struct __res_state state;
	unsigned char answer[DNS_ANSWER_MAX];

	*count = 0;
	if (open_resolver(&state, resolver) != 0)
		return EX_OUTBOUND_ROUTE_TEMPORARY;
	int length = res_nquery(&state, domain, ns_c_in, ns_t_mx, answer, sizeof(answer));
	int error = state.res_h_errno;
	res_nclose(&state);

	if (length < 0) {
		if (error == HOST_NOT_FOUND)
			return EX_OUTBOUND_ROUTE_NO_DOMAIN;
		if (error != NO_DATA)
			return EX_OUTBOUND_ROUTE_TEMPORARY;
		length = 0;
	}
	int found = length > 0 ? ex_outbound_mx_from_answer(answer, (size_t)length, hosts, max) : 0;
	if (found == -2)
		return EX_OUTBOUND_ROUTE_NULL_MX;
	if (found < 0)
		return EX_OUTBOUND_ROUTE_TEMPORARY;
	if (found == 0) {
		/* RFC 5321 5.1: without MX records the domain itself is the implicit MX; its A or AAAA record is used. */
		if (strlen(domain) >= sizeof(hosts[0].name) || max == 0)
			return EX_OUTBOUND_ROUTE_NO_DOMAIN;
		snprintf(hosts[0].name, sizeof(hosts[0].name), "%s", domain);
		hosts[0].port = EX_OUTBOUND_SMTP_PORT;
		hosts[0].preference = 0;
		found = 1;
	}
	*count = (size_t)found;
	return EX_OUTBOUND_ROUTE_OK;
}
