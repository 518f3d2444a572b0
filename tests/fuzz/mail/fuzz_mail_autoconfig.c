/*
 * Fuzzes the inputs of the account set-up documents: the emailaddress
 * parameter and Host header of an autoconfig request, and the public URL
 * settings. A domain that is accepted contains only lower-case letters,
 * digits, '-' and '.', so it is safe inside the XML document, and a
 * parsed URL has a host and a port in range.
 */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail_autoconfig_documents.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { LONGEST_INPUT = 600 };

static void check_domain(const char *domain)
{
	for (const char *p = domain; *p != '\0'; p++) {
		if (!(g_ascii_islower(*p) || g_ascii_isdigit(*p) || *p == '-' || *p == '.'))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[LONGEST_INPUT + 1];
	char domain[EX_MAIL_AUTOCONFIG_MAX_HOST + 1];
	char err[160];
	ex_mail_public_endpoint endpoint;

	if (size > LONGEST_INPUT)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (ex_mail_autoconfig_domain(text, NULL, domain, sizeof(domain)))
		check_domain(domain);
	if (ex_mail_autoconfig_domain(NULL, text, domain, sizeof(domain))) {
		check_domain(domain);
		char *document = ex_mail_autoconfig_document(&(ex_mail_autoconfig_servers){ .imaps_port = 993 }, domain);
		g_free(document);
	}
	if (ex_mail_public_endpoint_parse(text, &endpoint, err, sizeof(err)) == 0) {
		if (endpoint.host[0] == '\0' || endpoint.port < 1 || endpoint.port > 65535 ||
		    endpoint.url[strlen(endpoint.url) - 1] != '/')
			abort();
	}
	return 0;
}
