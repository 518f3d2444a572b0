/*
 * Tests of outbound routing without the network: host:port parsing, the
 * transport list, and MX records read from hand-built DNS answers (RFC
 * 1035 wire format), including preference order and null MX (RFC 7505),
 * and A and AAAA records behind a CNAME.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <string.h>

#include "mail_outbound_route.h"

typedef struct {
	unsigned char data[512];
	size_t length;
} packet;

static void put(packet *p, const void *bytes, size_t length)
{
	memcpy(p->data + p->length, bytes, length);
	p->length += length;
}

static void put16(packet *p, unsigned value)
{
	unsigned char bytes[] = { (unsigned char)(value >> 8), (unsigned char)value };
	put(p, bytes, 2);
}

/* Writes NAME ("a.b" or "" for the root) as DNS labels. */
static void put_name(packet *p, const char *name)
{
	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t length = dot == NULL ? strlen(name) : (size_t)(dot - name);
		unsigned char label = (unsigned char)length;
		put(p, &label, 1);
		put(p, name, length);
		name += length + (dot != NULL ? 1 : 0);
	}
	unsigned char end = 0;
	put(p, &end, 1);
}

/* An answer to "example.org MX" with COUNT records of PREFERENCES and NAMES. */
static packet mx_answer(const unsigned *preferences, const char *const *names, size_t count)
{
	packet p = { .length = 0 };
	put16(&p, 0x1234);
	put16(&p, 0x8180);
	put16(&p, 1);
	put16(&p, (unsigned)count);
	put16(&p, 0);
	put16(&p, 0);
	put_name(&p, "example.org");
	put16(&p, 15);
	put16(&p, 1);
	for (size_t i = 0; i < count; i++) {
		put16(&p, 0xc00c); /* pointer to the question name */
		put16(&p, 15);
		put16(&p, 1);
		put16(&p, 0);
		put16(&p, 300);
		packet rdata = { .length = 0 };
		put16(&rdata, preferences[i]);
		put_name(&rdata, names[i]);
		put16(&p, (unsigned)rdata.length);
		put(&p, rdata.data, rdata.length);
	}
	return p;
}

/*
 * An answer to "mail.example.org TYPE": a CNAME to "host.example.org",
 * then one record of TYPE per entry of RDATA, each RDATA_LENGTH bytes.
 */
static packet address_answer(unsigned type, const unsigned char (*rdata)[16], size_t rdata_length, size_t count)
{
	packet p = { .length = 0 };
	put16(&p, 0x1234);
	put16(&p, 0x8180);
	put16(&p, 1);
	put16(&p, (unsigned)count + 1);
	put16(&p, 0);
	put16(&p, 0);
	put_name(&p, "mail.example.org");
	put16(&p, type);
	put16(&p, 1);

	packet target = { .length = 0 };
	put_name(&target, "host.example.org");
	put16(&p, 0xc00c);
	put16(&p, 5);
	put16(&p, 1);
	put16(&p, 0);
	put16(&p, 300);
	put16(&p, (unsigned)target.length);
	put(&p, target.data, target.length);
	for (size_t i = 0; i < count; i++) {
		put_name(&p, "host.example.org");
		put16(&p, type);
		put16(&p, 1);
		put16(&p, 0);
		put16(&p, 300);
		put16(&p, (unsigned)rdata_length);
		put(&p, rdata[i], rdata_length);
	}
	return p;
}

static void test_a_records_behind_cname(void **state)
{
	(void)state;
	const unsigned char rdata[][16] = { { 192, 0, 2, 10 }, { 198, 51, 100, 7 } };
	packet p = address_answer(ns_t_a, rdata, 4, 2);
	ex_outbound_address addresses[4];
	assert_int_equal(ex_outbound_addresses_from_answer(p.data, p.length, ns_t_a, 2525, addresses, 4), 2);
	const struct sockaddr_in *first = (const struct sockaddr_in *)&addresses[0].address;
	const struct sockaddr_in *second = (const struct sockaddr_in *)&addresses[1].address;
	char text[INET_ADDRSTRLEN];
	assert_int_equal(first->sin_family, AF_INET);
	assert_int_equal(ntohs(first->sin_port), 2525);
	assert_int_equal(addresses[0].length, sizeof(struct sockaddr_in));
	assert_string_equal(inet_ntop(AF_INET, &first->sin_addr, text, sizeof(text)), "192.0.2.10");
	assert_string_equal(inet_ntop(AF_INET, &second->sin_addr, text, sizeof(text)), "198.51.100.7");
}

static void test_aaaa_record(void **state)
{
	(void)state;
	const unsigned char rdata[][16] = { { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 } };
	packet p = address_answer(ns_t_aaaa, rdata, 16, 1);
	ex_outbound_address addresses[4];
	assert_int_equal(ex_outbound_addresses_from_answer(p.data, p.length, ns_t_aaaa, 25, addresses, 4), 1);
	const struct sockaddr_in6 *address = (const struct sockaddr_in6 *)&addresses[0].address;
	char text[INET6_ADDRSTRLEN];
	assert_int_equal(address->sin6_family, AF_INET6);
	assert_int_equal(addresses[0].length, sizeof(struct sockaddr_in6));
	assert_string_equal(inet_ntop(AF_INET6, &address->sin6_addr, text, sizeof(text)), "2001:db8::1");
	/* Asked for A, the same answer has none. */
	assert_int_equal(ex_outbound_addresses_from_answer(p.data, p.length, ns_t_a, 25, addresses, 4), 0);
}

static void test_address_answer_limits(void **state)
{
	(void)state;
	const unsigned char rdata[][16] = { { 192, 0, 2, 1 }, { 192, 0, 2, 2 }, { 192, 0, 2, 3 } };
	packet p = address_answer(ns_t_a, rdata, 4, 3);
	ex_outbound_address addresses[2];
	assert_int_equal(ex_outbound_addresses_from_answer(p.data, p.length, ns_t_a, 25, addresses, 2), 2);
	assert_int_equal(ex_outbound_addresses_from_answer(p.data, p.length - 2, ns_t_a, 25, addresses, 2), -1);
	assert_int_equal(ex_outbound_addresses_from_answer(p.data, p.length, ns_t_mx, 25, addresses, 2), -1);

	/* An A record of 5 bytes is malformed. */
	const unsigned char wrong[][16] = { { 192, 0, 2, 1, 9 } };
	packet bad = address_answer(ns_t_a, wrong, 5, 1);
	assert_int_equal(ex_outbound_addresses_from_answer(bad.data, bad.length, ns_t_a, 25, addresses, 2), -1);
}

static void test_mx_sorted_by_preference(void **state)
{
	(void)state;
	const unsigned preferences[] = { 20, 10, 20, 5 };
	const char *names[] = { "b.example.org", "a.example.org", "c.example.org", "first.example.org" };
	packet p = mx_answer(preferences, names, 4);
	ex_outbound_host hosts[EX_OUTBOUND_MAX_HOSTS];
	assert_int_equal(ex_outbound_mx_from_answer(p.data, p.length, hosts, EX_OUTBOUND_MAX_HOSTS), 4);
	assert_string_equal(hosts[0].name, "first.example.org");
	assert_string_equal(hosts[1].name, "a.example.org");
	assert_string_equal(hosts[2].name, "b.example.org");
	assert_string_equal(hosts[3].name, "c.example.org");
	assert_int_equal(hosts[0].port, 25);
	assert_int_equal(hosts[3].preference, 20);
}

static void test_mx_limit(void **state)
{
	(void)state;
	const unsigned preferences[] = { 1, 2, 3 };
	const char *names[] = { "a.example.org", "b.example.org", "c.example.org" };
	packet p = mx_answer(preferences, names, 3);
	ex_outbound_host hosts[2];
	assert_int_equal(ex_outbound_mx_from_answer(p.data, p.length, hosts, 2), 2);
	assert_string_equal(hosts[1].name, "b.example.org");
}

static void test_null_mx(void **state)
{
	(void)state;
	const unsigned preferences[] = { 0 };
	const char *names[] = { "" };
	packet p = mx_answer(preferences, names, 1);
	ex_outbound_host hosts[4];
	assert_int_equal(ex_outbound_mx_from_answer(p.data, p.length, hosts, 4), -2);
}

static void test_null_mx_beside_others_ignored(void **state)
{
	(void)state;
	const unsigned preferences[] = { 0, 10 };
	const char *names[] = { "", "mx.example.org" };
	packet p = mx_answer(preferences, names, 2);
	ex_outbound_host hosts[4];
	assert_int_equal(ex_outbound_mx_from_answer(p.data, p.length, hosts, 4), 1);
	assert_string_equal(hosts[0].name, "mx.example.org");
}

static void test_no_answer_records(void **state)
{
	(void)state;
	packet p = mx_answer(NULL, NULL, 0);
	ex_outbound_host hosts[4];
	assert_int_equal(ex_outbound_mx_from_answer(p.data, p.length, hosts, 4), 0);
}

static void test_truncated_answer(void **state)
{
	(void)state;
	const unsigned preferences[] = { 10 };
	const char *names[] = { "mx.example.org" };
	packet p = mx_answer(preferences, names, 1);
	ex_outbound_host hosts[4];
	assert_int_equal(ex_outbound_mx_from_answer(p.data, p.length - 3, hosts, 4), -1);
	assert_int_equal(ex_outbound_mx_from_answer(p.data, 5, hosts, 4), -1);
}

static void test_host_port(void **state)
{
	(void)state;
	ex_outbound_host host;
	assert_int_equal(ex_outbound_parse_host_port("127.0.0.1:2525", 14, 25, &host), 0);
	assert_string_equal(host.name, "127.0.0.1");
	assert_int_equal(host.port, 2525);
	assert_int_equal(ex_outbound_parse_host_port("relay.example", 13, 25, &host), 0);
	assert_int_equal(host.port, 25);
	assert_int_equal(ex_outbound_parse_host_port("[::1]:587", 9, 25, &host), 0);
	assert_string_equal(host.name, "::1");
	assert_int_equal(host.port, 587);
	assert_int_equal(ex_outbound_parse_host_port("host:65535", 10, 25, &host), 0);
	assert_int_equal(ex_outbound_parse_host_port("host:65536", 10, 25, &host), -1);
	assert_int_equal(ex_outbound_parse_host_port("host:0", 6, 25, &host), -1);
	assert_int_equal(ex_outbound_parse_host_port("host:", 5, 25, &host), -1);
	assert_int_equal(ex_outbound_parse_host_port(":25", 3, 25, &host), -1);
	assert_int_equal(ex_outbound_parse_host_port("bad host", 8, 25, &host), -1);
	assert_int_equal(ex_outbound_parse_host_port("[::1", 4, 25, &host), -1);
}

static void test_transport_lookup(void **state)
{
	(void)state;
	ex_outbound_host host;
	const char *map = "remote.test=127.0.0.1:2525, other.test=[::1]:26";
	assert_int_equal(ex_outbound_transport_check(map), 0);
	assert_int_equal(ex_outbound_transport_lookup(map, "REMOTE.test", &host), 1);
	assert_string_equal(host.name, "127.0.0.1");
	assert_int_equal(host.port, 2525);
	assert_int_equal(ex_outbound_transport_lookup(map, "other.test", &host), 1);
	assert_int_equal(host.port, 26);
	assert_int_equal(ex_outbound_transport_lookup(map, "remote.tes", &host), 0);
	assert_int_equal(ex_outbound_transport_lookup(map, "sub.remote.test", &host), 0);
	assert_int_equal(ex_outbound_transport_lookup(NULL, "remote.test", &host), 0);
	assert_int_equal(ex_outbound_transport_check("remote.test"), -1);
	assert_int_equal(ex_outbound_transport_check("=host:25"), -1);
	assert_int_equal(ex_outbound_transport_check("a.test=host:99999"), -1);
	assert_int_equal(ex_outbound_transport_check(""), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mx_sorted_by_preference),
		cmocka_unit_test(test_mx_limit),
		cmocka_unit_test(test_null_mx),
		cmocka_unit_test(test_null_mx_beside_others_ignored),
		cmocka_unit_test(test_no_answer_records),
		cmocka_unit_test(test_truncated_answer),
		cmocka_unit_test(test_a_records_behind_cname),
		cmocka_unit_test(test_aaaa_record),
		cmocka_unit_test(test_address_answer_limits),
		cmocka_unit_test(test_host_port),
		cmocka_unit_test(test_transport_lookup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
