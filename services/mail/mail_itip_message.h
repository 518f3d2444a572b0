/*
 * The iMIP message (RFC 6047) of one calendar_itip_outbox row, as
 * expresso-mail submits it. No I/O.
 */
#ifndef EXPRESSO_MAIL_ITIP_MESSAGE_H
#define EXPRESSO_MAIL_ITIP_MESSAGE_H

#include <stddef.h>

/*
 * Builds the iMIP message of one outbox row into a malloc'd string with
 * CRLF line ends: a multipart/alternative with a pt-BR text part and the
 * text/calendar part with its METHOD. Returns NULL when METHOD is not
 * REQUEST, CANCEL or REPLY, or memory ran out.
 */
char *ex_mail_itip_build(const char *hostname, const char *row_id, const char *sender, const char *recipient,
			 const char *method, const char *summary, const char *ical, size_t *length);

#endif
