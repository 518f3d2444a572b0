/*
 * The text of the account set-up documents: Thunderbird's clientConfig
 * (version 1.1, with the CalDAV and CardDAV elements Thunderbird 128 and
 * later read) and Apple's configuration profile with one payload each for
 * mail, CalDAV and CardDAV. Neither contains a password: people type an
 * app password when the client prompts for it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "mail_autoconfig_documents.h"

enum {
	DEFAULT_HTTP_PORT = 80,
	DEFAULT_HTTPS_PORT = 443,
	MAX_PORT = 65535,
};

static bool is_host_character(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
}

int ex_mail_public_endpoint_parse(const char *url, ex_mail_public_endpoint *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	const char *rest = NULL;
	if (g_ascii_strncasecmp(url, "https://", 8) == 0) {
		out->tls = true;
		out->port = DEFAULT_HTTPS_PORT;
		rest = url + 8;
	} else if (g_ascii_strncasecmp(url, "http://", 7) == 0) {
		out->port = DEFAULT_HTTP_PORT;
		rest = url + 7;
	} else {
		snprintf(err, errlen, "must start with http:// or https://");
		return -1;
	}
	size_t host_length = 0;
	if (rest[0] == '[') {
		const char *close = strchr(rest, ']');
		if (close == NULL) {
			snprintf(err, errlen, "an IPv6 address must end with ]");
			return -1;
		}
		host_length = (size_t)(close - rest) + 1;
	} else {
		host_length = strcspn(rest, ":/");
	}
	if (host_length == 0 || host_length > EX_MAIL_AUTOCONFIG_MAX_HOST) {
		snprintf(err, errlen, "the host name must have 1 to %d characters", EX_MAIL_AUTOCONFIG_MAX_HOST);
		return -1;
	}
	for (size_t i = 0; i < host_length; i++) {
		if (!is_host_character(rest[i])) {
			snprintf(err, errlen, "the host name may hold only letters, digits, '.', '-' or an IPv6 address");
			return -1;
		}
	}
	memcpy(out->host, rest, host_length);
	const char *after = rest + host_length;
	if (*after == ':') {
		char *end = NULL;
		long port = strtol(after + 1, &end, 10);
		if (end == after + 1 || port < 1 || port > MAX_PORT || (*end != '\0' && *end != '/')) {
			snprintf(err, errlen, "the port must be a number between 1 and 65535");
			return -1;
		}
		out->port = (int)port;
		after = end;
	}
	for (const char *p = after; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' || *p == '>' || *p == '\\' || *p == 0x7f) {
			snprintf(err, errlen, "the path may not contain spaces, quotes, angle brackets or control characters");
			return -1;
		}
	}
	bool slash = url[0] != '\0' && url[strlen(url) - 1] == '/';
	int written = snprintf(out->url, sizeof(out->url), "%s%s", url, slash ? "" : "/");
	if (written < 0 || (size_t)written >= sizeof(out->url)) {
		snprintf(err, errlen, "must be at most %d characters", EX_MAIL_AUTOCONFIG_MAX_URL - 1);
		return -1;
	}
	return 0;
}

/*
 * A domain as DNS writes it: labels of letters, digits and '-', at least
 * two labels, the last one with a letter (so an IPv4 address is not one).
 */
static bool is_domain(const char *text, size_t length)
{
	if (length == 0 || length > EX_MAIL_AUTOCONFIG_MAX_HOST || memchr(text, '.', length) == NULL)
		return false;
	size_t label = 0;
	bool letter = false;
	for (size_t i = 0; i < length; i++) {
		char c = text[i];
		if (c == '.') {
			if (label == 0 || text[i - 1] == '-')
				return false;
			label = 0;
			letter = false;
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-')
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
		letter = letter || isalpha((unsigned char)c);
	}
	return label > 0 && letter && text[length - 1] != '-';
}

bool ex_mail_autoconfig_domain(const char *email, const char *host, char *out, size_t size)
{
	const char *domain = NULL;
	size_t length = 0;
	if (email != NULL && email[0] != '\0') {
		const char *at = strrchr(email, '@');
		if (at == NULL || at == email)
			return false;
		domain = at + 1;
		length = strlen(domain);
	} else if (host != NULL) {
		domain = host;
		length = host[0] == '[' ? 0 : strcspn(host, ":");
		if (length > 11 && g_ascii_strncasecmp(domain, "autoconfig.", 11) == 0) {
			domain += 11;
			length -= 11;
		}
	}
	if (domain == NULL || !is_domain(domain, length) || length >= size)
		return false;
	for (size_t i = 0; i < length; i++)
		out[i] = (char)g_ascii_tolower(domain[i]);
	out[length] = '\0';
	return true;
}

static void add_incoming(GString *xml, const char *hostname, int port, const char *socket_type)
{
	if (port <= 0)
		return;
	g_string_append_printf(xml,
			       "    <incomingServer type=\"imap\">\n"
			       "      <hostname>%s</hostname>\n"
			       "      <port>%d</port>\n"
			       "      <socketType>%s</socketType>\n"
			       "      <authentication>password-cleartext</authentication>\n"
			       "      <username>%%EMAILADDRESS%%</username>\n"
			       "    </incomingServer>\n",
			       hostname, port, socket_type);
}

static void add_outgoing(GString *xml, const char *hostname, int port, const char *socket_type)
{
	if (port <= 0)
		return;
	g_string_append_printf(xml,
			       "    <outgoingServer type=\"smtp\">\n"
			       "      <hostname>%s</hostname>\n"
			       "      <port>%d</port>\n"
			       "      <socketType>%s</socketType>\n"
			       "      <authentication>password-cleartext</authentication>\n"
			       "      <username>%%EMAILADDRESS%%</username>\n"
			       "    </outgoingServer>\n",
			       hostname, port, socket_type);
}

char *ex_mail_autoconfig_document(const ex_mail_autoconfig_servers *servers, const char *domain)
{
	char *host = g_markup_escape_text(servers->hostname, -1);
	char *name = g_markup_escape_text(domain, -1);
	char *caldav = g_markup_escape_text(servers->caldav.url, -1);
	char *carddav = g_markup_escape_text(servers->carddav.url, -1);
	GString *xml = g_string_new("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n");

	g_string_append_printf(xml,
			       "  <emailProvider id=\"%s\">\n"
			       "    <domain>%s</domain>\n"
			       "    <displayName>Expresso (%s)</displayName>\n"
			       "    <displayShortName>Expresso</displayShortName>\n",
			       name, name, name);
	/* Implicit TLS first: clients try the servers in the order given. */
	add_incoming(xml, host, servers->imaps_port, "SSL");
	add_incoming(xml, host, servers->imap_port, "STARTTLS");
	add_outgoing(xml, host, servers->submissions_port, "SSL");
	add_outgoing(xml, host, servers->submission_port, "STARTTLS");
	g_string_append(xml, "  </emailProvider>\n");
	g_string_append_printf(xml,
			       "  <addressBook type=\"carddav\">\n"
			       "    <username>%%EMAILADDRESS%%</username>\n"
			       "    <authentication>http-basic</authentication>\n"
			       "    <serverURL>%s</serverURL>\n"
			       "  </addressBook>\n"
			       "  <calendar type=\"caldav\">\n"
			       "    <username>%%EMAILADDRESS%%</username>\n"
			       "    <authentication>http-basic</authentication>\n"
			       "    <serverURL>%s</serverURL>\n"
			       "  </calendar>\n"
			       "</clientConfig>\n",
			       carddav, caldav);
	g_free(host);
	g_free(name);
	g_free(caldav);
	g_free(carddav);
	return g_string_free(xml, FALSE);
}

/*
 * A UUID derived from the user and the payload, so that installing the
 * profile again replaces the old one instead of adding a second account.
 */
static void payload_uuid(char out[37], const char *user_id, const char *payload)
{
	GChecksum *checksum = g_checksum_new(G_CHECKSUM_SHA256);
	g_checksum_update(checksum, (const guchar *)"expresso-mobileconfig:", -1);
	g_checksum_update(checksum, (const guchar *)user_id, -1);
	g_checksum_update(checksum, (const guchar *)":", 1);
	g_checksum_update(checksum, (const guchar *)payload, -1);
	const char *hex = g_checksum_get_string(checksum);
	snprintf(out, 37, "%.8s-%.4s-5%.3s-a%.3s-%.12s", hex, hex + 8, hex + 13, hex + 17, hex + 20);
	for (char *p = out; *p != '\0'; p++)
		*p = (char)g_ascii_toupper(*p);
	g_checksum_free(checksum);
}

static void plist_string(GString *plist, const char *key, const char *value)
{
	char *escaped = g_markup_escape_text(value, -1);
	g_string_append_printf(plist, "\t\t\t<key>%s</key>\n\t\t\t<string>%s</string>\n", key, escaped);
	g_free(escaped);
}

static void plist_integer(GString *plist, const char *key, int value)
{
	g_string_append_printf(plist, "\t\t\t<key>%s</key>\n\t\t\t<integer>%d</integer>\n", key, value);
}

static void plist_bool(GString *plist, const char *key, bool value)
{
	g_string_append_printf(plist, "\t\t\t<key>%s</key>\n\t\t\t<%s/>\n", key, value ? "true" : "false");
}

static void payload_header(GString *plist, const char *type, const char *kind, const char *user_id,
			   const char *display_name)
{
	char uuid[37];
	char identifier[128];
	payload_uuid(uuid, user_id, kind);
	snprintf(identifier, sizeof(identifier), "br.expresso.profile.%s", kind);
	g_string_append(plist, "\t\t<dict>\n");
	plist_string(plist, "PayloadType", type);
	plist_string(plist, "PayloadIdentifier", identifier);
	plist_string(plist, "PayloadUUID", uuid);
	plist_integer(plist, "PayloadVersion", 1);
	plist_string(plist, "PayloadDisplayName", display_name);
}

static void add_mail_payload(GString *plist, const ex_mail_autoconfig_servers *servers, const char *user_id,
			     const char *email, const char *display_name)
{
	bool imaps = servers->imaps_port > 0;
	/* iOS speaks STARTTLS on 587 when UseSSL is true, and implicit TLS on 465. */
	int smtp_port = servers->submission_port > 0 ? servers->submission_port : servers->submissions_port;
	payload_header(plist, "com.apple.mail.managed", "mail", user_id, "Expresso Mail");
	plist_string(plist, "EmailAccountDescription", "Expresso");
	plist_string(plist, "EmailAccountName", display_name[0] != '\0' ? display_name : email);
	plist_string(plist, "EmailAccountType", "EmailTypeIMAP");
	plist_string(plist, "EmailAddress", email);
	plist_string(plist, "IncomingMailServerAuthentication", "EmailAuthPassword");
	plist_string(plist, "IncomingMailServerHostName", servers->hostname);
	plist_integer(plist, "IncomingMailServerPortNumber", imaps ? servers->imaps_port : servers->imap_port);
	plist_bool(plist, "IncomingMailServerUseSSL", true);
	plist_string(plist, "IncomingMailServerUsername", email);
	plist_string(plist, "OutgoingMailServerAuthentication", "EmailAuthPassword");
	plist_string(plist, "OutgoingMailServerHostName", servers->hostname);
	plist_integer(plist, "OutgoingMailServerPortNumber", smtp_port);
	plist_bool(plist, "OutgoingMailServerUseSSL", true);
	plist_string(plist, "OutgoingMailServerUsername", email);
	plist_bool(plist, "OutgoingPasswordSameAsIncomingPassword", true);
	g_string_append(plist, "\t\t</dict>\n");
}

static void add_dav_payload(GString *plist, const char *prefix, const ex_mail_public_endpoint *endpoint,
			    const char *user_id, const char *email)
{
	char key[64];
	bool caldav = strcmp(prefix, "CalDAV") == 0;
	payload_header(plist, caldav ? "com.apple.caldav.account" : "com.apple.carddav.account",
		       caldav ? "caldav" : "carddav", user_id, caldav ? "Expresso Calendar" : "Expresso Contacts");
	snprintf(key, sizeof(key), "%sAccountDescription", prefix);
	plist_string(plist, key, caldav ? "Expresso Calendar" : "Expresso Contacts");
	snprintf(key, sizeof(key), "%sHostName", prefix);
	plist_string(plist, key, endpoint->host);
	snprintf(key, sizeof(key), "%sPort", prefix);
	plist_integer(plist, key, endpoint->port);
	snprintf(key, sizeof(key), "%sUseSSL", prefix);
	plist_bool(plist, key, endpoint->tls);
	snprintf(key, sizeof(key), "%sUsername", prefix);
	plist_string(plist, key, email);
	g_string_append(plist, "\t\t</dict>\n");
}

char *ex_mail_mobileconfig_document(const ex_mail_autoconfig_servers *servers, const char *user_id, const char *email,
				    const char *display_name)
{
	char uuid[37];
	GString *plist = g_string_new("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
				      "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
				      "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
				      "<plist version=\"1.0\">\n<dict>\n\t<key>PayloadContent</key>\n\t<array>\n");
	if (servers->imaps_port > 0 || servers->imap_port > 0)
		add_mail_payload(plist, servers, user_id, email, display_name);
	add_dav_payload(plist, "CalDAV", &servers->caldav, user_id, email);
	add_dav_payload(plist, "CardDAV", &servers->carddav, user_id, email);
	g_string_append(plist, "\t</array>\n");

	payload_uuid(uuid, user_id, "profile");
	char *escaped = g_markup_escape_text(email, -1);
	g_string_append_printf(plist,
			       "\t<key>PayloadDescription</key>\n\t<string>E-mail, agenda e contatos do Expresso para %s"
			       "</string>\n"
			       "\t<key>PayloadDisplayName</key>\n\t<string>Expresso</string>\n"
			       "\t<key>PayloadIdentifier</key>\n\t<string>br.expresso.profile</string>\n"
			       "\t<key>PayloadRemovalDisallowed</key>\n\t<false/>\n"
			       "\t<key>PayloadType</key>\n\t<string>Configuration</string>\n"
			       "\t<key>PayloadUUID</key>\n\t<string>%s</string>\n"
			       "\t<key>PayloadVersion</key>\n\t<integer>1</integer>\n"
			       "</dict>\n</plist>\n",
			       escaped, uuid);
	g_free(escaped);
	return g_string_free(plist, FALSE);
}
