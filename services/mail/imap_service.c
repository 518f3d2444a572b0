/*
 * Starts and stops the IMAP side of expresso-mail with the resources the
 * SMTP side already opened: the database pool, the object storage, the
 * event bus, the TLS context and the authentication functions.
 */
#include "imap_service.h"

#include <stdio.h>
#include <stdlib.h>

#include "expresso/log.h"
#include "imap_notify.h"
#include "imap_server.h"

enum { MAX_PORT = 65535, MAX_CONNECTIONS = 100000, MAX_WORKERS = 1024 };
/* Folded text the search index keeps per message, below the 1 GB limit of a PostgreSQL text value. */
#define MAX_SEARCH_INDEX_TEXT ((uint64_t)256 * 1024 * 1024)

static int invalid(const char *variable, const char *problem)
{
	ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting", variable, "error", problem);
	return -1;
}

int ex_imap_service_open(ex_mail_service *service, const ex_config *config)
{
	int64_t port = ex_config_int(config, "imap_port");
	int64_t tls_port = ex_config_int(config, "imaps_port");
	int64_t connections = ex_config_int(config, "imap_max_connections");
	int64_t per_address = ex_config_int(config, "imap_max_connections_per_address");
	int64_t workers = ex_config_int(config, "imap_workers");
	uint64_t max_message = ex_config_size(config, "imap_max_message_size");
	uint64_t idle_timeout = ex_config_duration_ms(config, "imap_idle_timeout");
	uint64_t keepalive = ex_config_duration_ms(config, "imap_idle_keepalive");
	char err[256] = "";

	if (port < 0 || port > MAX_PORT)
		return invalid("EXPRESSO_IMAP_PORT", "must be a port between 0 and 65535");
	if (tls_port < 0 || tls_port > MAX_PORT)
		return invalid("EXPRESSO_IMAPS_PORT", "must be a port between 0 and 65535");
	if (connections < 1 || connections > MAX_CONNECTIONS)
		return invalid("EXPRESSO_IMAP_MAX_CONNECTIONS", "must be between 1 and 100000");
	if (per_address < 1 || per_address > MAX_CONNECTIONS)
		return invalid("EXPRESSO_IMAP_MAX_CONNECTIONS_PER_ADDRESS", "must be between 1 and 100000");
	if (workers < 1 || workers > MAX_WORKERS)
		return invalid("EXPRESSO_IMAP_WORKERS", "must be between 1 and 1024");
	if (max_message < 1024 || max_message > (uint64_t)1 << 31)
		return invalid("EXPRESSO_IMAP_MAX_MESSAGE_SIZE", "must be between 1K and 2G");
	if (ex_config_size(config, "imap_search_index_max_text") > MAX_SEARCH_INDEX_TEXT)
		return invalid("EXPRESSO_IMAP_SEARCH_INDEX_MAX_TEXT", "must be at most 256M");
	if (idle_timeout < 1000)
		return invalid("EXPRESSO_IMAP_IDLE_TIMEOUT", "must be at least 1s");
	if (keepalive < 1000)
		return invalid("EXPRESSO_IMAP_IDLE_KEEPALIVE", "must be at least 1s");
	if (port == 0 && tls_port == 0)
		return 0;

	ex_imap_auth_backend *auth = calloc(1, sizeof(*auth));
	if (auth == NULL)
		return -1;
	*auth = (ex_imap_auth_backend){
		.authenticate = ex_mail_authenticate,
		.authenticate_token = service->verifier != NULL ? ex_mail_authenticate_token : NULL,
		.context = service,
	};
	service->imap_auth = auth;

	const char *database_url = ex_config_string(config, "database_url");
	if (database_url != NULL)
		service->imap_notifier = ex_imap_notifier_start(database_url);

	const ex_imap_server_options options = {
		.bind_address = ex_config_string(config, "smtp_address"),
		.port = (int)port,
		.tls_port = (int)tls_port,
		.tls = service->tls,
		.max_connections = (unsigned)connections,
		.max_connections_per_address = (unsigned)per_address,
		.workers = (unsigned)workers,
		.idle_timeout_ms = idle_timeout,
		.idle_keepalive_ms = keepalive,
		.notifier = service->imap_notifier,
		.session = {
			.hostname = service->hostname,
			.allow_plaintext_login = ex_config_bool(config, "imap_loopback_plaintext"),
			.max_append_size = max_message,
			.search_index_max_text = ex_config_size(config, "imap_search_index_max_text"),
			.auth = auth,
			.database = service->database,
			.storage = service->storage,
			.bus = service->bus,
		},
	};
	service->imap_server = ex_imap_server_start(&options, err, sizeof(err));
	if (service->imap_server == NULL) {
		/* NOTE: a taken IMAP port does not stop the daemon, because private instances started by the SMTP
		 * tests inherit the stack's EXPRESSO_IMAP_PORT; SMTP keeps working and this error is logged. */
		ex_log(EX_LOG_ERROR, "imap_start_failed", "{s:s}", "error", err);
		return 0;
	}
	ex_metrics_gauge(service->metrics, "imap_connections", "IMAP connections open now.", ex_imap_server_connections,
			 service->imap_server);
	return 0;
}

void ex_imap_service_close(ex_mail_service *service)
{
	ex_imap_server_stop(service->imap_server);
	service->imap_server = NULL;
	ex_imap_notifier_stop(service->imap_notifier);
	service->imap_notifier = NULL;
	free(service->imap_auth);
	service->imap_auth = NULL;
}
