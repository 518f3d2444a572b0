/*
 * Tests of the account set-up documents: the domain an autoconfig request
 * is about, the public URL settings, and the servers, ports and escaping
 * in the Thunderbird document and the Apple profile.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include <glib.h>

#include "mail_autoconfig_documents.h"

static void domain_from_address_or_host(void **state)
{
	char out[EX_MAIL_AUTOCONFIG_MAX_HOST + 1];
	(void)state;
	assert_true(ex_mail_autoconfig_domain("Ana@Demo.Expresso.TEST", NULL, out, sizeof(out)));
	assert_string_equal(out, "demo.expresso.test");
	assert_true(ex_mail_autoconfig_domain(NULL, "autoconfig.acme.test:8080", out, sizeof(out)));
	assert_string_equal(out, "acme.test");
	assert_true(ex_mail_autoconfig_domain("", "mail.acme.test", out, sizeof(out)));
	assert_string_equal(out, "mail.acme.test");
	/* The address wins over the host. */
	assert_true(ex_mail_autoconfig_domain("a@one.test", "autoconfig.two.test", out, sizeof(out)));
	assert_string_equal(out, "one.test");

	static const char *const bad_addresses[] = { "nobody", "@demo.test", "a@", "a@localhost", "a@-x.test",
						     "a@x-.test", "a@x..test", "a@x_y.test", "a@x.test/", "a@<x>.test" };
	for (size_t i = 0; i < sizeof(bad_addresses) / sizeof(bad_addresses[0]); i++) {
		print_message("address %s\n", bad_addresses[i]);
		assert_false(ex_mail_autoconfig_domain(bad_addresses[i], "autoconfig.ok.test", out, sizeof(out)));
	}
	assert_false(ex_mail_autoconfig_domain(NULL, NULL, out, sizeof(out)));
	assert_false(ex_mail_autoconfig_domain(NULL, "[::1]:8001", out, sizeof(out)));
	assert_false(ex_mail_autoconfig_domain(NULL, "localhost", out, sizeof(out)));
	assert_false(ex_mail_autoconfig_domain(NULL, "127.0.0.1:8001", out, sizeof(out)));
	assert_false(ex_mail_autoconfig_domain("a@10.0.0.1", NULL, out, sizeof(out)));
	assert_false(ex_mail_autoconfig_domain("a@demo.test", NULL, out, 5));

	/* 63 characters per label at most. */
	char label[80];
	memset(label, 'a', 64);
	strcpy(label + 64, ".test");
	assert_false(ex_mail_autoconfig_domain(NULL, label, out, sizeof(out)));
	strcpy(label + 63, ".test");
	assert_true(ex_mail_autoconfig_domain(NULL, label, out, sizeof(out)));
}

static void public_urls(void **state)
{
	ex_mail_public_endpoint endpoint;
	char err[160];
	(void)state;
	assert_int_equal(ex_mail_public_endpoint_parse("https://dav.demo.test", &endpoint, err, sizeof(err)), 0);
	assert_string_equal(endpoint.host, "dav.demo.test");
	assert_int_equal(endpoint.port, 443);
	assert_true(endpoint.tls);
	assert_string_equal(endpoint.url, "https://dav.demo.test/");

	assert_int_equal(ex_mail_public_endpoint_parse("http://mail.demo.test:8002/", &endpoint, err, sizeof(err)), 0);
	assert_string_equal(endpoint.host, "mail.demo.test");
	assert_int_equal(endpoint.port, 8002);
	assert_false(endpoint.tls);
	assert_string_equal(endpoint.url, "http://mail.demo.test:8002/");

	assert_int_equal(ex_mail_public_endpoint_parse("https://[::1]:8443/dav", &endpoint, err, sizeof(err)), 0);
	assert_string_equal(endpoint.host, "[::1]");
	assert_int_equal(endpoint.port, 8443);
	assert_string_equal(endpoint.url, "https://[::1]:8443/dav/");

	static const char *const bad[] = { "ftp://x.test/", "x.test", "http://", "http://x.test:0/", "http://x.test:65536/",
					   "http://x.test:80a/", "http://x y.test/", "http://x.test/a b", "http://x.test/\"",
					   "http://[::1/" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("url %s\n", bad[i]);
		err[0] = '\0';
		assert_int_equal(ex_mail_public_endpoint_parse(bad[i], &endpoint, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
}

static ex_mail_autoconfig_servers sample_servers(void)
{
	ex_mail_autoconfig_servers servers = {
		.imaps_port = 993,
		.imap_port = 143,
		.submissions_port = 465,
		.submission_port = 587,
	};
	char err[160];
	strcpy(servers.hostname, "mail.demo.test");
	assert_int_equal(ex_mail_public_endpoint_parse("https://dav.demo.test/", &servers.caldav, err, sizeof(err)), 0);
	assert_int_equal(ex_mail_public_endpoint_parse("http://mail.demo.test:8003/", &servers.carddav, err, sizeof(err)),
			 0);
	return servers;
}

static void thunderbird_document(void **state)
{
	(void)state;
	ex_mail_autoconfig_servers servers = sample_servers();
	char *xml = ex_mail_autoconfig_document(&servers, "demo.test");
	assert_non_null(strstr(xml, "<emailProvider id=\"demo.test\">"));
	assert_non_null(strstr(xml, "<domain>demo.test</domain>"));
	/* Implicit TLS is offered before STARTTLS, for IMAP and for SMTP. */
	const char *imaps = strstr(xml, "<port>993</port>\n      <socketType>SSL</socketType>");
	const char *imap = strstr(xml, "<port>143</port>\n      <socketType>STARTTLS</socketType>");
	const char *smtps = strstr(xml, "<port>465</port>\n      <socketType>SSL</socketType>");
	const char *smtp = strstr(xml, "<port>587</port>\n      <socketType>STARTTLS</socketType>");
	assert_non_null(imaps);
	assert_non_null(imap);
	assert_non_null(smtps);
	assert_non_null(smtp);
	assert_true(imaps < imap && imap < smtps && smtps < smtp);
	assert_non_null(strstr(xml, "<username>%EMAILADDRESS%</username>"));
	assert_non_null(strstr(xml, "<serverURL>https://dav.demo.test/</serverURL>"));
	assert_non_null(strstr(xml, "<serverURL>http://mail.demo.test:8003/</serverURL>"));
	g_free(xml);

	/* A listener turned off (port 0) is left out. */
	servers.imap_port = 0;
	servers.submissions_port = 0;
	xml = ex_mail_autoconfig_document(&servers, "demo.test");
	assert_null(strstr(xml, "<port>143</port>"));
	assert_null(strstr(xml, "<port>465</port>"));
	assert_non_null(strstr(xml, "<port>993</port>"));
	g_free(xml);
}

static void apple_profile(void **state)
{
	(void)state;
	ex_mail_autoconfig_servers servers = sample_servers();
	char *plist = ex_mail_mobileconfig_document(&servers, "6f1c2a6e-0000-4000-8000-000000000001", "ana@demo.test",
						    "Ana <Tom & Jerry>");
	assert_non_null(strstr(plist, "<string>com.apple.mail.managed</string>"));
	assert_non_null(strstr(plist, "<string>com.apple.caldav.account</string>"));
	assert_non_null(strstr(plist, "<string>com.apple.carddav.account</string>"));
	assert_non_null(strstr(plist, "<string>Ana &lt;Tom &amp; Jerry&gt;</string>"));
	assert_null(strstr(plist, "Tom & Jerry"));
	assert_non_null(strstr(plist, "<key>IncomingMailServerPortNumber</key>\n\t\t\t<integer>993</integer>"));
	assert_non_null(strstr(plist, "<key>OutgoingMailServerPortNumber</key>\n\t\t\t<integer>587</integer>"));
	assert_non_null(strstr(plist, "<key>CalDAVHostName</key>\n\t\t\t<string>dav.demo.test</string>"));
	assert_non_null(strstr(plist, "<key>CalDAVPort</key>\n\t\t\t<integer>443</integer>"));
	assert_non_null(strstr(plist, "<key>CalDAVUseSSL</key>\n\t\t\t<true/>"));
	assert_non_null(strstr(plist, "<key>CardDAVPort</key>\n\t\t\t<integer>8003</integer>"));
	assert_non_null(strstr(plist, "<key>CardDAVUseSSL</key>\n\t\t\t<false/>"));
	assert_null(strstr(plist, "Password</key>\n\t\t\t<string>"));

	/* The payload UUIDs are stable per user, so installing again replaces the profile. */
	char *again = ex_mail_mobileconfig_document(&servers, "6f1c2a6e-0000-4000-8000-000000000001", "ana@demo.test",
						    "Ana <Tom & Jerry>");
	assert_string_equal(plist, again);
	char *other = ex_mail_mobileconfig_document(&servers, "6f1c2a6e-0000-4000-8000-000000000002", "bia@demo.test",
						    "");
	const char *key = "<key>PayloadUUID</key>\n\t\t\t<string>";
	const char *uuid = strstr(plist, key);
	assert_non_null(uuid);
	char first[37];
	memcpy(first, uuid + strlen(key), 36);
	first[36] = '\0';
	assert_non_null(strstr(again, first));
	assert_null(strstr(other, first));
	g_free(plist);
	g_free(again);
	g_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(domain_from_address_or_host),
		cmocka_unit_test(public_urls),
		cmocka_unit_test(thunderbird_document),
		cmocka_unit_test(apple_profile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
