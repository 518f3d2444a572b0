/*
 * The SEARCH index rows of messages delivered over SMTP and LMTP, written
 * in the background after the delivery's rows have committed and the
 * client has its 250 reply (mail_delivery_index.c). A worker thread reads
 * each delivered object back from storage and writes the index rows of
 * every message stored under its key, in its own tenant transaction.
 */
#ifndef EXPRESSO_MAIL_DELIVERY_INDEX_H
#define EXPRESSO_MAIL_DELIVERY_INDEX_H

#include "expresso/config.h"
#include "mail_service.h"

/* The delivery_index_queue setting (EXPRESSO_DELIVERY_INDEX_QUEUE). */
#define EX_MAIL_DELIVERY_INDEX_SETTINGS                                                                                \
	{ "delivery_index_queue", "EXPRESSO_DELIVERY_INDEX_QUEUE", EX_SETTING_INT, "10000", "messages",                \
	  "Delivered messages waiting for their SEARCH BODY and TEXT index rows, which a background thread writes "    \
	  "after the 250 reply. A delivery that finds the queue full is left for the first search that reads it. "    \
	  "At most 1000000; 0 leaves every delivered message to that search.", false },

/*
 * Reads the settings and starts the worker into SERVICE->delivery_index,
 * which stays NULL when the queue setting or
 * EXPRESSO_IMAP_SEARCH_INDEX_MAX_TEXT is 0. Returns 0, or -1 (logged).
 */
int ex_mail_delivery_index_start(ex_mail_service *service, const ex_config *config);

/*
 * Queues the object STORAGE_KEY of TENANT_ID, whose messages rows have
 * committed, without waiting. A full queue skips it, counted in
 * mail_delivery_index_skipped_total.
 */
void ex_mail_delivery_index_push(ex_mail_service *service, const char *tenant_id, const char *storage_key);

/*
 * Stops the worker after the item it is writing and drops the items still
 * waiting (logged with their count). Call it after everything that
 * delivers has stopped and before the storage and the database pool close.
 */
void ex_mail_delivery_index_stop(ex_mail_service *service);

#endif
