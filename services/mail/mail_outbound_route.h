/*
 * Where the outbound client sends mail for a domain: a per-domain
 * transport from the outbound_transports setting, else the relay host,
 * else the domain's MX records (RFC 5321 5.1), falling back to the
 * domain itself when it has no MX record.
 */
#ifndef EXPRESSO_MAIL_OUTBOUND_ROUTE_H
#define EXPRESSO_MAIL_OUTBOUND_ROUTE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum {
	EX_OUTBOUND_MAX_HOSTS = 16,
	EX_OUTBOUND_HOST_NAME = 256,
	EX_OUTBOUND_SMTP_PORT = 25,
	EX_OUTBOUND_MAX_ADDRESSES = 16,
};

/* One address of a mail host, ready for connect(). */
typedef struct {
	struct sockaddr_storage address;
	socklen_t length;
} ex_outbound_address;

typedef struct {
	char name[EX_OUTBOUND_HOST_NAME];
	uint16_t port;
	unsigned preference;
} ex_outbound_host;

typedef enum {
	EX_OUTBOUND_ROUTE_OK = 0,         /* hosts to try in order */
	EX_OUTBOUND_ROUTE_TEMPORARY,      /* the DNS lookup failed: try again later */
	EX_OUTBOUND_ROUTE_NO_DOMAIN,      /* the domain does not exist (NXDOMAIN) */
	EX_OUTBOUND_ROUTE_NULL_MX,        /* RFC 7505: the domain accepts no mail */
} ex_outbound_route_status;

/*
 * Parses "host:port", "[IPv6]:port" or "host" (then DEFAULT_PORT) into
 * HOST. Returns 0, or -1 when TEXT is not of that form.
 */
int ex_outbound_parse_host_port(const char *text, size_t length, uint16_t default_port, ex_outbound_host *host);

/*
 * Looks DOMAIN up in MAP, a list "domain=host:port" separated by commas
 * or spaces (domains compared case-insensitively). Returns 1 and fills
 * HOST when found, 0 when not, -1 when MAP is malformed.
 */
int ex_outbound_transport_lookup(const char *map, const char *domain, ex_outbound_host *host);

/* Returns 0 when MAP is a well-formed transport list, -1 otherwise. */
int ex_outbound_transport_check(const char *map);

/*
 * Reads the MX records of a DNS answer (a reply to an MX query, as
 * res_query returns it) into HOSTS, at most MAX, sorted by preference.
 * Returns the count, 0 when the answer holds no MX record, -1 when it is
 * malformed, -2 for a null MX (a single record with the root as target).
 */
int ex_outbound_mx_from_answer(const unsigned char *answer, size_t length, ex_outbound_host *hosts, size_t max);

/* Sorts HOSTS by preference, keeping the DNS order of equal ones. */
void ex_outbound_sort_hosts(ex_outbound_host *hosts, size_t count);

/*
 * Finds the hosts for DOMAIN by DNS: its MX records, or the domain itself
 * when it has none. RESOLVER is an IPv4 address (optionally ":port") of
 * the DNS server to ask, or NULL for /etc/resolv.conf. Fills *COUNT.
 */
ex_outbound_route_status ex_outbound_resolve(const char *domain, const char *resolver, ex_outbound_host *hosts,
					     size_t max, size_t *count);

/*
 * Reads the records of TYPE (ns_t_a or ns_t_aaaa) in a DNS answer into
 * ADDRESSES, at most MAX, each with PORT. Returns the count, 0 when the
 * answer holds none, -1 when it is malformed or TYPE is neither.
 */
int ex_outbound_addresses_from_answer(const unsigned char *answer, size_t length, int type, uint16_t port,
				      ex_outbound_address *addresses, size_t max);

/*
 * Looks up the A, then the AAAA records of the host NAME through RESOLVER
 * (as for ex_outbound_resolve). Returns the count of ADDRESSES filled, 0
 * when the name has no address, -1 when the lookup failed.
 */
int ex_outbound_resolve_host(const char *name, uint16_t port, const char *resolver, ex_outbound_address *addresses,
			     size_t max);

#endif
