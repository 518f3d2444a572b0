/*
 * The outbound queue's delivery workers: threads that lease due messages
 * (ex_mail_queue_claim), send them to the remote hosts, record each
 * recipient's result, retry temporary failures with exponential backoff
 * until the message's lifetime ends, and send a DSN for recipients that
 * failed for good.
 */
#ifndef EXPRESSO_MAIL_OUTBOUND_H
#define EXPRESSO_MAIL_OUTBOUND_H

#include <stdint.h>

#include "expresso/config.h"

typedef struct ex_mail_outbound ex_mail_outbound;

/* The settings of the outbound queue, appended to ex_mail_settings by mail_service.c. */
#define EX_MAIL_OUTBOUND_SETTINGS                                                                                      \
	{ "outbound_workers", "EXPRESSO_OUTBOUND_WORKERS", EX_SETTING_INT, "4", "threads",                             \
	  "Threads that deliver queued mail to other domains; 0 stops delivery (mail is still queued).", false },      \
	{ "outbound_max_lifetime", "EXPRESSO_OUTBOUND_MAX_LIFETIME", EX_SETTING_DURATION, "120h", "duration",          \
	  "Time a queued message is retried before its remaining recipients fail with 4.4.7 and a DSN.", false },      \
	{ "outbound_retry_min", "EXPRESSO_OUTBOUND_RETRY_MIN", EX_SETTING_DURATION, "5m", "duration",                  \
	  "Wait before the first retry after a temporary failure; each further retry waits twice as long.", false },   \
	{ "outbound_retry_max", "EXPRESSO_OUTBOUND_RETRY_MAX", EX_SETTING_DURATION, "4h", "duration",                  \
	  "Longest wait between two delivery attempts.", false },                                                      \
	{ "outbound_poll_interval", "EXPRESSO_OUTBOUND_POLL_INTERVAL", EX_SETTING_DURATION, "5s", "duration",          \
	  "How often an idle worker looks for due messages (new messages wake a worker at once).", false },            \
	{ "outbound_timeout", "EXPRESSO_OUTBOUND_TIMEOUT", EX_SETTING_DURATION, "5m", "duration",                      \
	  "Time allowed for connecting to a remote host and for each of its replies.", false },                         \
	{ "outbound_relayhost", "EXPRESSO_OUTBOUND_RELAYHOST", EX_SETTING_STRING, NULL, NULL,                          \
	  "host:port of a smarthost that takes all mail for other domains in place of MX lookups; unset: MX.", false }, \
	{ "outbound_relayhost_user", "EXPRESSO_OUTBOUND_RELAYHOST_USER", EX_SETTING_STRING, NULL, NULL,                \
	  "User for AUTH PLAIN at the relay host; sent only after STARTTLS.", false },                                 \
	{ "outbound_relayhost_password", "EXPRESSO_OUTBOUND_RELAYHOST_PASSWORD", EX_SETTING_STRING, NULL, NULL,        \
	  "Password for AUTH PLAIN at the relay host.", true },                                                        \
	{ "outbound_transports", "EXPRESSO_OUTBOUND_TRANSPORTS", EX_SETTING_STRING, NULL, NULL,                        \
	  "Per-domain routes that override the relay host and MX: 'domain=host:port', separated by commas.", false },  \
	{ "outbound_resolver", "EXPRESSO_OUTBOUND_RESOLVER", EX_SETTING_STRING, NULL, NULL,                            \
	  "IPv4 address[:port] of the DNS server for MX and host address lookups; unset: /etc/resolv.conf.", false }, \
	{ "outbound_mx_port", "EXPRESSO_OUTBOUND_MX_PORT", EX_SETTING_INT, "25", "port",                               \
	  "TCP port of the hosts found by MX lookup (25 as RFC 5321 says; other values are for tests).", false },     \
	{ "outbound_delay_notice", "EXPRESSO_OUTBOUND_DELAY_NOTICE", EX_SETTING_DURATION, "4h", "duration",            \
	  "Time in the queue after which the sender gets one DSN saying delivery is delayed; 0 sends none.", false }

/* Reads the settings and starts the workers. Returns NULL (logged) on an invalid setting. */
ex_mail_outbound *ex_mail_outbound_start(void *service, const ex_config *config);
/* Stops the workers after their current message and frees everything. Safe on NULL. */
void ex_mail_outbound_stop(ex_mail_outbound *outbound);
/* Wakes one idle worker: a message was queued. Safe on NULL. */
void ex_mail_outbound_wake(ex_mail_outbound *outbound);
/* Returns the outbound_max_lifetime setting in seconds (5 days when OUTBOUND is NULL). */
int64_t ex_mail_outbound_lifetime_seconds(const ex_mail_outbound *outbound);

#endif
