/*
 * Account set-up documents on expresso-mail's HTTP port, so that people
 * never type server names. The Thunderbird autoconfig document is public,
 * for the domains that tenants own. The Apple configuration profile (IMAP,
 * SMTP, CalDAV, CardDAV) is for the logged-in user. Both name the ports
 * that the listeners use.
 */
#ifndef EXPRESSO_MAIL_AUTOCONFIG_H
#define EXPRESSO_MAIL_AUTOCONFIG_H

#include "expresso/daemon.h"
#include "mail_autoconfig_documents.h"
#include "mail_service.h"

/* The set-up settings, added to ex_mail_settings. */
#define EX_MAIL_AUTOCONFIG_SETTINGS                                                                                    \
	{ "mail_public_hostname", "EXPRESSO_MAIL_PUBLIC_HOSTNAME", EX_SETTING_STRING, NULL, NULL,                       \
	  "Host name that mail clients use for IMAP and SMTP in the set-up documents (default: EXPRESSO_SMTP_HOSTNAME).", \
	  false },                                                                                                     \
	{ "caldav_public_url", "EXPRESSO_CALDAV_PUBLIC_URL", EX_SETTING_STRING, NULL, NULL,                            \
	  "Address of the CalDAV server that clients use (default: http://<mail public host name>:8002/).", false },    \
	{ "carddav_public_url", "EXPRESSO_CARDDAV_PUBLIC_URL", EX_SETTING_STRING, NULL, NULL,                          \
	  "Address of the CardDAV server that clients use (default: http://<mail public host name>:8003/).", false },

/* Reads the settings and adds the routes. Returns 0 or -1 (logged). */
int ex_mail_autoconfig_open(ex_mail_service *service, ex_daemon *daemon);
void ex_mail_autoconfig_close(ex_mail_service *service);

#endif
