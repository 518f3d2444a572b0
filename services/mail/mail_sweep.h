/*
 * The sweep of orphan objects. Writers record a storage key in
 * mail_object_garbage before they write its object and remove the entry
 * in the transaction that inserts the row naming it; the expunge trigger
 * adds the key of the last row it deletes. A thread deletes, after a
 * grace period, every listed object that no messages or mail_queue row
 * names, so a crash between an object and its row leaves nothing behind.
 */
#ifndef EXPRESSO_MAIL_SWEEP_H
#define EXPRESSO_MAIL_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include "expresso/config.h"
#include "mail_service.h"

#define EX_MAIL_SWEEP_SETTINGS                                                                                         \
	{ "mail_sweep_interval", "EXPRESSO_MAIL_SWEEP_INTERVAL", EX_SETTING_DURATION, "1h", "duration",                \
	  "How often the orphan object sweep runs; 0 turns it off.", false },                                          \
	{ "mail_sweep_grace", "EXPRESSO_MAIL_SWEEP_GRACE", EX_SETTING_DURATION, "1h", "duration",                      \
	  "Age a garbage entry must reach before the sweep deletes its object; longer than any delivery takes.",        \
	  false },                                                                                                      \
	{ "delivery_key_reserve_age", "EXPRESSO_DELIVERY_KEY_RESERVE_AGE", EX_SETTING_DURATION, "15m", "duration",     \
	  "How long a storage key, listed for the sweep by one delivery's transaction, may serve the user's next "     \
	  "delivery, which then waits for one commit instead of two. 0 turns the reservation off. At most half of "   \
	  "EXPRESSO_MAIL_SWEEP_GRACE.",                                                                                 \
	  false },                                                                                                      \
	{ "mail_test_commit_delay", "EXPRESSO_MAIL_TEST_COMMIT_DELAY", EX_SETTING_DURATION, "0", "duration",           \
	  "Tests only: wait this long between writing a delivery's objects and committing its rows.", false }

/* Records KEYS of TENANT_ID in mail_object_garbage. Returns 0 or -1 (logged). */
int ex_mail_sweep_record_keys(ex_mail_service *service, const char *tenant_id, const char *const *keys, size_t count);

/* Removes KEY from mail_object_garbage inside the caller's transaction. Returns 0 or -1 with ERROR filled. */
int ex_mail_sweep_forget_key(PGconn *connection, const char *tenant_id, const char *key, ex_db_error *error);

/* Sleeps for MILLISECONDS (the test-only commit delay). */
void ex_mail_sweep_test_delay(uint64_t milliseconds);

/* Runs one sweep over entries older than GRACE_MS. Returns the objects deleted, or -1 on error. */
int ex_mail_sweep_run(ex_mail_service *service, uint64_t grace_ms);

/* Reads the settings and starts the sweep thread (none when the interval is 0). Returns 0 or -1 (logged). */
int ex_mail_sweep_start(ex_mail_service *service, const ex_config *config);
/* Stops the sweep thread. */
void ex_mail_sweep_stop(ex_mail_service *service);

#endif
