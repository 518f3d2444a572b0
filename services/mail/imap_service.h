/*
 * expresso-mail's IMAP block: reads the IMAP settings, starts the LISTEN
 * thread and the IMAP listeners, and stops them. Called from
 * ex_mail_service_open() and ex_mail_service_close().
 */
#ifndef EXPRESSO_MAIL_IMAP_SERVICE_H
#define EXPRESSO_MAIL_IMAP_SERVICE_H

#include "mail_service.h"

/* Returns 0, or -1 after logging what failed. */
int ex_imap_service_open(ex_mail_service *service, const ex_config *config);
void ex_imap_service_close(ex_mail_service *service);

#endif
