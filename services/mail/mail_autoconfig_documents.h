/*
 * The account set-up documents as text, without I/O: Thunderbird's
 * autoconfig document for a domain and Apple's configuration profile for
 * one user (mail_autoconfig_documents.c), and the parsing of the settings
 * that name where clients reach each server.
 */
#ifndef EXPRESSO_MAIL_AUTOCONFIG_DOCUMENTS_H
#define EXPRESSO_MAIL_AUTOCONFIG_DOCUMENTS_H

#include <stdbool.h>
#include <stddef.h>

enum {
	EX_MAIL_AUTOCONFIG_MAX_HOST = 253,
	EX_MAIL_AUTOCONFIG_MAX_URL = 512,
};

/* Where clients reach one service: from a URL such as https://dav.example.org:8443/. */
typedef struct {
	char host[EX_MAIL_AUTOCONFIG_MAX_HOST + 1];
	int port;
	bool tls;
	char url[EX_MAIL_AUTOCONFIG_MAX_URL + 1]; /* as configured, with a trailing '/' */
} ex_mail_public_endpoint;

/* Servers named in the documents. A port of 0 leaves that server out. */
typedef struct {
	char hostname[EX_MAIL_AUTOCONFIG_MAX_HOST + 1];
	int imaps_port;
	int imap_port;
	int submissions_port;
	int submission_port;
	ex_mail_public_endpoint caldav;
	ex_mail_public_endpoint carddav;
} ex_mail_autoconfig_servers;

/*
 * Reads URL (http or https, a host name or address, an optional port and
 * path) into OUT. Returns 0, or -1 with the reason in ERR.
 */
int ex_mail_public_endpoint_parse(const char *url, ex_mail_public_endpoint *out, char *err, size_t errlen);

/*
 * Returns the domain the autoconfig request is about, lower-cased into
 * OUT: the domain of EMAIL when given, else HOST without the port and an
 * "autoconfig." prefix. Returns false when neither names a valid domain.
 */
bool ex_mail_autoconfig_domain(const char *email, const char *host, char *out, size_t size);

/* Writes the Thunderbird clientConfig document for DOMAIN; the caller frees it with g_free. */
char *ex_mail_autoconfig_document(const ex_mail_autoconfig_servers *servers, const char *domain);

/*
 * Writes the Apple configuration profile (a property list) for the user
 * with EMAIL, DISPLAY_NAME and USER_ID; the caller frees it with g_free.
 */
char *ex_mail_mobileconfig_document(const ex_mail_autoconfig_servers *servers, const char *user_id, const char *email,
				    const char *display_name);

#endif
