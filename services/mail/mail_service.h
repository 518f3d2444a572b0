/*
 * expresso-mail's settings and shared resources: the database pool, the
 * object storage, the event bus, the TLS context and the SMTP listeners.
 */
#ifndef EXPRESSO_MAIL_SERVICE_H
#define EXPRESSO_MAIL_SERVICE_H

#include <openssl/ssl.h>
#include <stdint.h>

#include "expresso/daemon.h"
#include "auth_limiter.h"
#include "expresso/authclient.h"
#include "expresso/storage.h"
#include "smtp_session.h"

typedef struct ex_smtp_server ex_smtp_server;
typedef struct ex_imap_server ex_imap_server;
typedef struct ex_imap_notifier ex_imap_notifier;
typedef struct ex_mail_outbound ex_mail_outbound;

typedef struct {
	ex_db_pool *database;
	ex_storage *storage;
	ex_bus *bus;                 /* may be NULL: events are then only logged */
	ex_metrics *metrics;
	ex_counter *delivered;
	ex_counter *auth_failures;
	ex_auth_limiter *auth_limiter;
	ex_auth_verifier *verifier;  /* NULL without EXPRESSO_OIDC_ISSUER: no OAUTHBEARER, XOAUTH2 */
	char hostname[256];
	ex_smtp_backend backend;
	SSL_CTX *tls;                /* NULL without a certificate */
	ex_smtp_server *server;
	struct ex_mail_api *api;     /* the JSON API under /api/v1/mail (mail_api.c) */
	struct ex_mail_autoconfig *autoconfig; /* account set-up documents (mail_autoconfig.c) */
	/* Sieve (mail_sieve.c, managesieve.c) */
	size_t sieve_max_script_size;          /* bytes */
	long long sieve_max_redirects_per_day; /* per user and UTC day */
	bool sieve_create_folders;             /* fileinto creates a missing mailbox */
	struct ex_managesieve_server *managesieve; /* NULL when disabled */
	ex_imap_server *imap_server;     /* imap_service.c */
	ex_imap_notifier *imap_notifier;
	void *imap_auth;                 /* ex_imap_auth_backend */
	ex_mail_outbound *outbound;  /* delivery workers of the outbound queue (mail_outbound.c) */
	struct ex_mail_sweeper *sweeper; /* orphan object sweep thread (mail_sweep.c); NULL when off */
	uint64_t test_commit_delay_ms;   /* tests only: pause between objects and rows of a delivery */
	struct ex_mail_commit_group *commit_group; /* group commit of local deliveries (mail_commit_group.c) */
	struct ex_mail_key_reserve *key_reserve;   /* storage keys listed for users' next deliveries (mail_key_reserve.c) */
	struct ex_mail_delivery_index *delivery_index; /* index rows of delivered messages (mail_delivery_index.c); NULL when off */
} ex_mail_service;

extern const ex_setting ex_mail_settings[];

/* Opens everything from the daemon's configuration and starts the listeners. Returns 0 or -1 (logged). */
int ex_mail_service_open(ex_mail_service *service, ex_daemon *daemon);
/* Stops the listeners, lets sessions in progress finish, frees everything. */
void ex_mail_service_close(ex_mail_service *service);

/*
 * Writes the id of the tenant that owns DOMAIN into OUT. Returns 1 when
 * found, 0 when no tenant owns it, -1 on a database error (logged).
 */
int ex_mail_tenant_for_domain(ex_db_pool *pool, const char *domain, char out[EX_SMTP_UUID_TEXT]);

/* The backend operations (mail_delivery.c and mail_auth.c). */
ex_smtp_lookup_status ex_mail_lookup_recipient(void *context, const ex_smtp_path *path,
					       ex_smtp_recipient *recipient);
ex_smtp_delivery_status ex_mail_deliver(void *context, const ex_smtp_envelope *envelope, char *queue_id,
					size_t queue_id_size);
ex_smtp_auth_status ex_mail_authenticate(void *context, const char *login, const char *password,
					 const char *client_address, ex_smtp_identity *identity);
ex_smtp_auth_status ex_mail_authenticate_token(void *context, const char *authzid, const char *token,
					       const char *client_address, ex_smtp_identity *identity);

#endif
