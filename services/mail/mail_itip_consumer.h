/*
 * The iMIP sender (RFC 6047): a thread that consumes calendar.itip events
 * from the bus and submits each waiting row of calendar_itip_outbox as a
 * message from the sender's address, then marks the row queued.
 * expresso-calendar writes the rows and publishes the events.
 */
#ifndef EXPRESSO_MAIL_ITIP_CONSUMER_H
#define EXPRESSO_MAIL_ITIP_CONSUMER_H

#include <stddef.h>

#include "mail_service.h"

/* Name of the durable JetStream consumer every expresso-mail shares, so that each event is handled once. */
#define EX_MAIL_ITIP_DURABLE "mail-itip"

/* Starts the consumer thread when the daemon has a bus. Returns 0 or -1 (logged). */
int ex_mail_itip_consumer_start(ex_mail_service *service);
/* Stops the thread and waits for the message it handles. */
void ex_mail_itip_consumer_stop(void);

#endif
