/*
 * expresso-mail's settings and resources: reads the settings, loads the
 * TLS certificate, opens the object storage and starts the SMTP
 * listeners. Everything here runs before the HTTP server starts or after
 * it has stopped.
 */
#include "mail_service.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "expresso/log.h"
#include "expresso/oidc_settings.h"
#include "expresso/sieve.h"
#include "mail_alias.h"
#include "mail_api.h"
#include "mail_autoconfig.h"
#include "mail_envelope.h"
#include "mail_outbound.h"
#include "mail_queue.h"
#include "mail_sieve_routes.h"
#include "mail_sweep.h"
#include "mail_commit_group.h"
#include "mail_delivery_index.h"
#include "mail_key_reserve.h"
#include "mail_prepared.h"
#include "mail_itip_consumer.h"
#include "managesieve.h"
#include "smtp_server.h"
#include "imap_service.h"
#include "imap_view_cache.h"

/* The session cookie that expresso-auth sets. The JSON API accepts the access token in it. */
#define EX_MAIL_SESSION_COOKIE "expresso_session"

enum {
	TEMPORARY_FILE_MAX_AGE_SECONDS = 3600,
	MAX_PORT = 65535,
	/* Addresses and accounts with recent AUTH failures that are remembered at once. */
	AUTH_LIMITER_SLOTS = 4096,
	MAX_DELIVERY_BATCH = 10000,
};

const ex_setting ex_mail_settings[] = {
	{ "smtp_address", "EXPRESSO_SMTP_ADDRESS", EX_SETTING_STRING, "127.0.0.1", NULL,
	  "Address the SMTP listeners bind to (IPv4 or IPv6 literal; 0.0.0.0 or :: for all).", false },
	{ "smtp_port", "EXPRESSO_SMTP_PORT", EX_SETTING_INT, "25", "port",
	  "Port for mail from other servers (MX); AUTH is never offered here. 0 disables it.", false },
	{ "submission_port", "EXPRESSO_SUBMISSION_PORT", EX_SETTING_INT, "587", "port",
	  "Port for mail from users' clients: STARTTLS, then AUTH with an app password. 0 disables it.", false },
	{ "submissions_port", "EXPRESSO_SUBMISSIONS_PORT", EX_SETTING_INT, "465", "port",
	  "Port for mail from users' clients over implicit TLS (RFC 8314), then AUTH. 0 disables it; it is "
	  "also off without a certificate.", false },
	{ "smtp_hostname", "EXPRESSO_SMTP_HOSTNAME", EX_SETTING_STRING, NULL, NULL,
	  "Name in the banner, the EHLO reply and Received fields; unset: the machine's host name.", false },
	{ "tls_cert", "EXPRESSO_TLS_CERT", EX_SETTING_STRING, NULL, NULL,
	  "PEM certificate chain for STARTTLS; unset: STARTTLS is not offered and submission cannot work.", false },
	{ "tls_key", "EXPRESSO_TLS_KEY", EX_SETTING_STRING, NULL, NULL, "PEM private key of tls_cert.", false },
	{ "storage_dir", "EXPRESSO_STORAGE_DIR", EX_SETTING_STRING, NULL, NULL,
	  "Directory of the local-disk object storage that holds message bodies.", false },
	{ "smtp_max_message_size", "EXPRESSO_SMTP_MAX_MESSAGE_SIZE", EX_SETTING_SIZE, "25M", "bytes",
	  "Largest message accepted (announced in EHLO SIZE); the whole message is held in memory during DATA.",
	  false },
	{ "smtp_max_recipients", "EXPRESSO_SMTP_MAX_RECIPIENTS", EX_SETTING_INT, "100", "recipients",
	  "Recipients accepted per message; further RCPT commands get 452 4.5.3.", false },
	{ "smtp_max_errors", "EXPRESSO_SMTP_MAX_ERRORS", EX_SETTING_INT, "10", "errors",
	  "Rejected commands after which a session is closed with 421.", false },
	{ "smtp_max_connections", "EXPRESSO_SMTP_MAX_CONNECTIONS", EX_SETTING_INT, "500", "connections",
	  "SMTP connections open at once over all ports; one thread each.", false },
	{ "smtp_max_connections_per_address", "EXPRESSO_SMTP_MAX_CONNECTIONS_PER_ADDRESS", EX_SETTING_INT, "20",
	  "connections", "SMTP connections open at once from one client address.", false },
	{ "smtp_idle_timeout", "EXPRESSO_SMTP_IDLE_TIMEOUT", EX_SETTING_DURATION, "5m", "duration",
	  "Time a client may stay silent before the session is closed with 421 (RFC 5321 4.5.3.2.7).", false },
	{ "smtp_auth_max_failures", "EXPRESSO_SMTP_AUTH_MAX_FAILURES", EX_SETTING_INT, "10", "failures",
	  "Failed AUTH attempts allowed per client address and per account in one window; more get 454 4.7.0.",
	  false },
	{ "smtp_auth_failure_window", "EXPRESSO_SMTP_AUTH_FAILURE_WINDOW", EX_SETTING_DURATION, "15m", "duration",
	  "Length of the window in which failed AUTH attempts are counted.", false },
	EX_OIDC_SETTINGS,
	{ "smtp_greeting_delay", "EXPRESSO_SMTP_GREETING_DELAY", EX_SETTING_DURATION, "500ms", "duration",
	  "Port 25 only: wait before the banner; a client that sends anything in that time is disconnected. "
	  "0 turns the check off.", false },
	EX_MAIL_API_SETTINGS
	{ "sieve_max_script_size", "EXPRESSO_SIEVE_MAX_SCRIPT_SIZE", EX_SETTING_SIZE, "64K", "bytes",
	  "Largest Sieve script accepted over HTTP and ManageSieve, checked before parsing.", false },
	{ "sieve_max_redirects_per_day", "EXPRESSO_SIEVE_MAX_REDIRECTS_PER_DAY", EX_SETTING_INT, "100", "messages",
	  "Messages one user's Sieve scripts may redirect per UTC day; past it the message is kept.", false },
	{ "sieve_create_folders", "EXPRESSO_SIEVE_CREATE_FOLDERS", EX_SETTING_BOOL, "false", NULL,
	  "Let Sieve fileinto create a missing mailbox; when false the message goes to INBOX and the script "
	  "records an error.", false },
	{ "sieve_workers", "EXPRESSO_SIEVE_WORKERS", EX_SETTING_INT, "2", "processes",
	  "Worker processes that run Sieve scripts, forked in advance; more deliveries wait for a free one.", false },
	{ "sieve_runs_per_worker", "EXPRESSO_SIEVE_RUNS_PER_WORKER", EX_SETTING_INT, "1000", "runs",
	  "Runs after which a Sieve worker is replaced by a fresh one; a run that reports errors replaces it at "
	  "once.", false },
	{ "sieve_run_timeout", "EXPRESSO_SIEVE_RUN_TIMEOUT", EX_SETTING_DURATION, "5s", "duration",
	  "Longest Sieve run; a longer one is stopped, its worker replaced and the message kept in INBOX.", false },
	{ "managesieve_port", "EXPRESSO_MANAGESIEVE_PORT", EX_SETTING_INT, "4190", "port",
	  "Port of the ManageSieve listener (RFC 5804) on smtp_address; 0 disables it. It is also off without "
	  "a certificate, because AUTHENTICATE needs STARTTLS.", false },
	{ "managesieve_max_connections", "EXPRESSO_MANAGESIEVE_MAX_CONNECTIONS", EX_SETTING_INT, "100", "connections",
	  "ManageSieve connections open at once; one thread each. Further clients get BYE (TRYLATER).", false },
	{ "managesieve_max_connections_per_address", "EXPRESSO_MANAGESIEVE_MAX_CONNECTIONS_PER_ADDRESS", EX_SETTING_INT,
	  "10", "connections", "ManageSieve connections open at once from one client address; further ones get BYE "
	  "(TRYLATER).", false },
	/* IMAP (imap_service.c). */
	{ "imap_port", "EXPRESSO_IMAP_PORT", EX_SETTING_INT, "143", "port",
	  "IMAP port with STARTTLS. 0 disables it.", false },
	{ "imaps_port", "EXPRESSO_IMAPS_PORT", EX_SETTING_INT, "993", "port",
	  "IMAP port with implicit TLS. 0 disables it; it is also off without a certificate.", false },
	{ "imap_search_index_max_text", "EXPRESSO_IMAP_SEARCH_INDEX_MAX_TEXT", EX_SETTING_SIZE,
	  "256K", "bytes",
	  "Folded header and body text of one message that the SEARCH BODY and TEXT index keeps; a longer message is "
	  "read from storage on every search. At most 256M; 0 turns the index off.", false },
	{ "imap_max_message_size", "EXPRESSO_IMAP_MAX_MESSAGE_SIZE", EX_SETTING_SIZE, "50M", "bytes",
	  "Largest message APPEND accepts (advertised as APPENDLIMIT); larger ones get NO [TOOBIG]. The message is "
	  "held in memory while it arrives.", false },
	{ "imap_max_connections", "EXPRESSO_IMAP_MAX_CONNECTIONS", EX_SETTING_INT, "2000", "connections",
	  "IMAP connections open at once over both ports. A waiting connection holds no thread.", false },
	{ "imap_workers", "EXPRESSO_IMAP_WORKERS", EX_SETTING_INT, "16", "threads",
	  "Threads that run IMAP commands for all connections; a connection in IDLE or between commands uses none.",
	  false },
	{ "imap_max_connections_per_address", "EXPRESSO_IMAP_MAX_CONNECTIONS_PER_ADDRESS", EX_SETTING_INT, "100",
	  "connections", "IMAP connections open at once from one client address.", false },
	{ "imap_idle_timeout", "EXPRESSO_IMAP_IDLE_TIMEOUT", EX_SETTING_DURATION, "30m", "duration",
	  "Silence allowed before the session ends with * BYE (RFC 3501 5.4 asks for at least 30 minutes).", false },
	{ "imap_idle_keepalive", "EXPRESSO_IMAP_IDLE_KEEPALIVE", EX_SETTING_DURATION, "2m", "duration",
	  "Interval of the untagged OK sent to a client in IDLE.", false },
	{ "imap_view_cache_messages", "EXPRESSO_IMAP_VIEW_CACHE_MESSAGES", EX_SETTING_INT, "1000000", "messages",
	  "Messages whose UID, modseq and flags IMAP keeps in memory over all mailboxes (24 octets each plus flag text; each "
	  "mailbox counts as one more), so SELECT and FETCH FLAGS skip most database reads. 0 turns the cache off.",
	  false },
	{ "imap_loopback_plaintext", "EXPRESSO_IMAP_LOOPBACK_PLAINTEXT", EX_SETTING_BOOL, "false", NULL,
	  "Allow LOGIN and AUTHENTICATE without TLS from 127.0.0.0/8 and ::1 (for tests); elsewhere LOGINDISABLED "
	  "stays until STARTTLS.", false },
	{ "delivery_max_batch", "EXPRESSO_DELIVERY_MAX_BATCH", EX_SETTING_INT, "64", "deliveries",
	  "Requests of local deliveries (a delivery's garbage records, or its rows after one fsync per directory of "
	  "its objects) committed in one transaction at most; more wait for the next transaction. 1 commits every "
	  "request alone. At most 10000.", false },
	EX_MAIL_DELIVERY_INDEX_SETTINGS
	{ "smtp_max_commands_per_minute", "EXPRESSO_SMTP_MAX_COMMANDS_PER_MINUTE", EX_SETTING_INT, "1000", "commands",
	  "Command lines one SMTP session may send in any one-minute window; more close it with 421 4.7.0. 0 turns "
	  "the limit off.", false },
	EX_MAIL_OUTBOUND_SETTINGS,
	EX_MAIL_SWEEP_SETTINGS,
	EX_MAIL_AUTOCONFIG_SETTINGS
	{ 0 },
};

static int invalid_setting(const char *variable, const char *problem)
{
	ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting", variable, "error", problem);
	return -1;
}

static SSL_CTX *load_tls(const char *certificate, const char *key)
{
	SSL_CTX *context = SSL_CTX_new(TLS_server_method());
	if (context == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(context, certificate) != 1 ||
	    SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(context) != 1) {
		char reason[256];
		ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
		ex_log(EX_LOG_ERROR, "tls_setup_failed", "{s:s, s:s, s:s}", "certificate", certificate, "key", key, "error",
		       reason);
		SSL_CTX_free(context);
		return NULL;
	}
	return context;
}

static int check_positive(const ex_config *config, const char *key, const char *variable, int64_t maximum)
{
	int64_t value = ex_config_int(config, key);
	if (value < 1 || value > maximum) {
		char problem[128];
		snprintf(problem, sizeof(problem), "must be between 1 and %lld, got %lld", (long long)maximum,
			 (long long)value);
		return invalid_setting(variable, problem);
	}
	return 0;
}

static int read_ports(const ex_config *config, int *mx_port, int *submission_port, int *submissions_port)
{
	int64_t mx = ex_config_int(config, "smtp_port");
	int64_t submission = ex_config_int(config, "submission_port");
	int64_t submissions = ex_config_int(config, "submissions_port");
	if (mx < 0 || mx > MAX_PORT)
		return invalid_setting("EXPRESSO_SMTP_PORT", "must be a port between 0 and 65535");
	if (submission < 0 || submission > MAX_PORT)
		return invalid_setting("EXPRESSO_SUBMISSION_PORT", "must be a port between 0 and 65535");
	if (submissions < 0 || submissions > MAX_PORT)
		return invalid_setting("EXPRESSO_SUBMISSIONS_PORT", "must be a port between 0 and 65535");
	*submissions_port = (int)submissions;
	*mx_port = (int)mx;
	*submission_port = (int)submission;
	return 0;
}

static int open_storage(ex_mail_service *service, const ex_config *config)
{
	char err[EX_STORAGE_ERROR_MAX] = "";
	const char *directory = ex_config_string(config, "storage_dir");
	if (directory == NULL)
		return invalid_setting("EXPRESSO_STORAGE_DIR", "is required: the directory that holds message bodies");
	service->storage = ex_storage_open_local(directory, err, sizeof(err));
	if (service->storage == NULL) {
		ex_log(EX_LOG_ERROR, "storage_open_failed", "{s:s, s:s}", "directory", directory, "error", err);
		return -1;
	}
	int removed = ex_storage_sweep_temporary(service->storage, TEMPORARY_FILE_MAX_AGE_SECONDS);
	if (removed > 0)
		ex_log(EX_LOG_INFO, "storage_temporary_removed", "{s:i}", "files", removed);
	return 0;
}

int ex_mail_service_open(ex_mail_service *service, ex_daemon *daemon)
{
	const ex_config *config = ex_daemon_config(daemon);
	int mx_port = 0;
	int submission_port = 0;
	int submissions_port = 0;
	char err[256] = "";

	if (read_ports(config, &mx_port, &submission_port, &submissions_port) != 0 ||
	    check_positive(config, "smtp_max_recipients", "EXPRESSO_SMTP_MAX_RECIPIENTS", 100000) != 0 ||
	    check_positive(config, "smtp_max_errors", "EXPRESSO_SMTP_MAX_ERRORS", 1000) != 0 ||
	    check_positive(config, "smtp_auth_max_failures", "EXPRESSO_SMTP_AUTH_MAX_FAILURES", 100000) != 0 ||
	    check_positive(config, "smtp_max_connections", "EXPRESSO_SMTP_MAX_CONNECTIONS", 100000) != 0 ||
	    check_positive(config, "smtp_max_connections_per_address", "EXPRESSO_SMTP_MAX_CONNECTIONS_PER_ADDRESS",
			   100000) != 0)
		return -1;
	int64_t max_commands = ex_config_int(config, "smtp_max_commands_per_minute");
	if (max_commands < 0 || max_commands > 1000000)
		return invalid_setting("EXPRESSO_SMTP_MAX_COMMANDS_PER_MINUTE", "must be between 0 and 1000000");
	uint64_t max_message = ex_config_size(config, "smtp_max_message_size");
	if (max_message < 1024 || max_message > (uint64_t)1 << 31)
		return invalid_setting("EXPRESSO_SMTP_MAX_MESSAGE_SIZE", "must be between 1K and 2G");
	if (ex_config_duration_ms(config, "smtp_idle_timeout") < 1000)
		return invalid_setting("EXPRESSO_SMTP_IDLE_TIMEOUT", "must be at least 1s");
	if (ex_config_duration_ms(config, "smtp_greeting_delay") > 60000)
		return invalid_setting("EXPRESSO_SMTP_GREETING_DELAY", "must be at most 60s");

	/* Sieve */
	uint64_t max_script = ex_config_size(config, "sieve_max_script_size");
	if (max_script < 1024 || max_script > 1024 * 1024)
		return invalid_setting("EXPRESSO_SIEVE_MAX_SCRIPT_SIZE", "must be between 1K and 1M");
	if (check_positive(config, "sieve_max_redirects_per_day", "EXPRESSO_SIEVE_MAX_REDIRECTS_PER_DAY", 1000000) != 0)
		return -1;
	service->sieve_max_script_size = (size_t)max_script;
	service->sieve_max_redirects_per_day = ex_config_int(config, "sieve_max_redirects_per_day");
	service->sieve_create_folders = ex_config_bool(config, "sieve_create_folders");
	if (check_positive(config, "sieve_workers", "EXPRESSO_SIEVE_WORKERS", 256) != 0 ||
	    check_positive(config, "sieve_runs_per_worker", "EXPRESSO_SIEVE_RUNS_PER_WORKER", 100000000) != 0)
		return -1;
	uint64_t sieve_timeout = ex_config_duration_ms(config, "sieve_run_timeout");
	if (sieve_timeout < 10 || sieve_timeout > 600000)
		return invalid_setting("EXPRESSO_SIEVE_RUN_TIMEOUT", "must be between 10ms and 10m");
	const ex_sieve_pool_settings sieve_pool = {
		.workers = (unsigned)ex_config_int(config, "sieve_workers"),
		.runs_per_worker = (unsigned)ex_config_int(config, "sieve_runs_per_worker"),
		.timeout_ms = (unsigned)sieve_timeout,
	};
	char sieve_error[256];
	if (ex_sieve_pool_start(&sieve_pool, sieve_error, sizeof(sieve_error)) != 0) {
		ex_log(EX_LOG_ERROR, "sieve_pool_start_failed", "{s:s}", "error", sieve_error);
		return -1;
	}
	ex_log(EX_LOG_INFO, "sieve_pool_started", "{s:i, s:i, s:i}", "workers", (int)sieve_pool.workers,
	       "runs_per_worker", (int)sieve_pool.runs_per_worker, "timeout_ms", (int)sieve_pool.timeout_ms);

	const char *hostname = ex_config_string(config, "smtp_hostname");
	if (hostname != NULL)
		snprintf(service->hostname, sizeof(service->hostname), "%s", hostname);
	else if (gethostname(service->hostname, sizeof(service->hostname) - 1) != 0)
		snprintf(service->hostname, sizeof(service->hostname), "localhost");

	const char *certificate = ex_config_string(config, "tls_cert");
	const char *key = ex_config_string(config, "tls_key");
	if ((certificate == NULL) != (key == NULL))
		return invalid_setting("EXPRESSO_TLS_CERT", "EXPRESSO_TLS_CERT and EXPRESSO_TLS_KEY must be set together");
	if (certificate != NULL) {
		service->tls = load_tls(certificate, key);
		if (service->tls == NULL)
			return -1;
	} else {
		ex_log(EX_LOG_WARN, "tls_disabled", "{s:s}", "reason", "EXPRESSO_TLS_CERT is not set; submission cannot be used");
	}

	if (open_storage(service, config) != 0)
		return -1;
	service->auth_limiter = ex_auth_limiter_new(AUTH_LIMITER_SLOTS, (unsigned)ex_config_int(config, "smtp_auth_max_failures"),
						    ex_config_duration_ms(config, "smtp_auth_failure_window"));
	if (service->auth_limiter == NULL ||
	    ex_oidc_verifier_open(config, EX_OIDC_ISSUER_OPTIONAL, EX_MAIL_SESSION_COOKIE, &service->verifier) != 0)
		return -1;
	ex_mail_envelope_library_init();
	service->database = ex_daemon_database(daemon);
	service->bus = ex_daemon_bus(daemon);
	service->metrics = ex_daemon_metrics(daemon);
	service->delivered = ex_metrics_counter(service->metrics, "smtp_messages_delivered_total",
						"Messages stored in a mailbox, one per recipient.");
	service->auth_failures = ex_metrics_counter(service->metrics, "smtp_auth_failures_total",
						    "SMTP AUTH attempts rejected.");
	if (check_positive(config, "delivery_max_batch", "EXPRESSO_DELIVERY_MAX_BATCH", MAX_DELIVERY_BATCH) != 0)
		return -1;
	service->commit_group = ex_mail_commit_group_new(service->database, service->storage,
							 (size_t)ex_config_int(config, "delivery_max_batch"),
							 service->metrics);
	if (service->commit_group == NULL)
		return -1;
	uint64_t reserve_age = ex_config_duration_ms(config, "delivery_key_reserve_age");
	uint64_t sweep_grace = ex_config_duration_ms(config, "mail_sweep_grace");
	if (reserve_age > sweep_grace / 2) {
		char problem[128];
		snprintf(problem, sizeof(problem), "must be at most half of EXPRESSO_MAIL_SWEEP_GRACE (%llu ms), got %llu ms",
			 (unsigned long long)sweep_grace, (unsigned long long)reserve_age);
		return invalid_setting("EXPRESSO_DELIVERY_KEY_RESERVE_AGE", problem);
	}
	service->key_reserve = ex_mail_key_reserve_new(reserve_age);
	if (service->key_reserve == NULL)
		return -1;
	ex_db_pool_set_prepare_hook(service->database, ex_mail_prepare_statements, NULL);
	if (ex_mail_delivery_index_start(service, config) != 0)
		return -1;
	service->backend = (ex_smtp_backend){
		.lookup_recipient = ex_mail_lookup_recipient,
		.authenticate = ex_mail_authenticate,
		.authenticate_token = service->verifier != NULL ? ex_mail_authenticate_token : NULL,
		.deliver = ex_mail_queue_deliver,
		.check_sender = ex_mail_alias_check_sender,
		.context = service,
	};

	service->outbound = ex_mail_outbound_start(service, config);
	if (service->outbound == NULL || ex_mail_sweep_start(service, config) != 0)
		return -1;
	if (ex_mail_itip_consumer_start(service) != 0)
		return -1;

	const ex_smtp_server_options options = {
		.bind_address = ex_config_string(config, "smtp_address"),
		.mx_port = mx_port,
		.submission_port = submission_port,
		.submissions_port = submissions_port,
		.hostname = service->hostname,
		.tls = service->tls,
		.limits = {
			.max_message_bytes = max_message,
			.max_recipients = (unsigned)ex_config_int(config, "smtp_max_recipients"),
			.max_errors = (unsigned)ex_config_int(config, "smtp_max_errors"),
			.max_commands_per_minute = (unsigned)ex_config_int(config, "smtp_max_commands_per_minute"),
		},
		.max_connections = (unsigned)ex_config_int(config, "smtp_max_connections"),
		.max_connections_per_address = (unsigned)ex_config_int(config, "smtp_max_connections_per_address"),
		.idle_timeout_ms = ex_config_duration_ms(config, "smtp_idle_timeout"),
		.greeting_delay_ms = ex_config_duration_ms(config, "smtp_greeting_delay"),
		.backend = &service->backend,
	};
	if (ex_mail_sieve_routes_add(service, ex_daemon_http(daemon)) != 0)
		return -1;

	service->server = ex_smtp_server_start(&options, err, sizeof(err));
	if (service->server == NULL) {
		ex_log(EX_LOG_ERROR, "smtp_start_failed", "{s:s}", "error", err);
		return -1;
	}
	ex_metrics_gauge(service->metrics, "smtp_connections", "SMTP connections open now.", ex_smtp_server_connections,
			 service->server);

	int64_t managesieve_port = ex_config_int(config, "managesieve_port");
	if (managesieve_port < 0 || managesieve_port > MAX_PORT)
		return invalid_setting("EXPRESSO_MANAGESIEVE_PORT", "must be a port between 0 and 65535");
	if (check_positive(config, "managesieve_max_connections", "EXPRESSO_MANAGESIEVE_MAX_CONNECTIONS", 100000) != 0 ||
	    check_positive(config, "managesieve_max_connections_per_address",
			   "EXPRESSO_MANAGESIEVE_MAX_CONNECTIONS_PER_ADDRESS", 100000) != 0)
		return -1;
	if (managesieve_port > 0 && service->tls != NULL) {
		const ex_managesieve_options managesieve = {
			.bind_address = ex_config_string(config, "smtp_address"),
			.port = (int)managesieve_port,
			.max_connections = (unsigned)ex_config_int(config, "managesieve_max_connections"),
			.max_connections_per_address =
				(unsigned)ex_config_int(config, "managesieve_max_connections_per_address"),
			.idle_timeout_ms = ex_config_duration_ms(config, "smtp_idle_timeout"),
		};
		service->managesieve = ex_managesieve_start(service, &managesieve, err, sizeof(err));
		if (service->managesieve == NULL) {
			ex_log(EX_LOG_ERROR, "managesieve_start_failed", "{s:s}", "error", err);
			return -1;
		}
	}
	int64_t view_cache_messages = ex_config_int(config, "imap_view_cache_messages");
	if (view_cache_messages < 0 || view_cache_messages > IMAP_VIEW_CACHE_MAX_MESSAGES)
		return invalid_setting("EXPRESSO_IMAP_VIEW_CACHE_MESSAGES", "must be between 0 and 100000000");
	imap_view_cache_configure((size_t)view_cache_messages);
	if (ex_imap_service_open(service, config) != 0)
		return -1;
	if (ex_mail_api_open(service, daemon) != 0)
		return -1;
	return ex_mail_autoconfig_open(service, daemon);
}

void ex_mail_service_close(ex_mail_service *service)
{
	ex_mail_autoconfig_close(service);
	ex_mail_api_close(service);
	ex_imap_service_close(service);
	ex_smtp_server_stop(service->server);
	service->server = NULL;
	ex_managesieve_stop(service->managesieve);
	service->managesieve = NULL;
	ex_mail_itip_consumer_stop();
	ex_mail_outbound_stop(service->outbound);
	service->outbound = NULL;
	ex_mail_sweep_stop(service);
	ex_mail_delivery_index_stop(service);
	/* NOTE: the Sieve pool stays up, because a request that the HTTP shutdown abandoned may still validate a
	 * script. The zygote and the workers exit when this process ends and their sockets close. */
	ex_mail_commit_group_free(service->commit_group);
	service->commit_group = NULL;
	ex_mail_key_reserve_free(service->key_reserve);
	service->key_reserve = NULL;
	ex_storage_free(service->storage);
	service->storage = NULL;
	ex_auth_limiter_free(service->auth_limiter);
	service->auth_limiter = NULL;
	if (service->verifier != NULL)
		ex_auth_verifier_free(service->verifier);
	service->verifier = NULL;
	if (service->tls != NULL)
		SSL_CTX_free(service->tls);
	service->tls = NULL;
	ex_mail_envelope_library_shutdown();
}
