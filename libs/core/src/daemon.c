/*
 * Daemon lifecycle shared by every service. Signals are blocked before any
 * thread starts, so the libmicrohttpd and nats.c threads inherit the mask
 * and only the main thread receives SIGTERM and SIGINT, in sigwait().
 */
#include "expresso/daemon.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"

enum { MAX_READY_CHECKS = 16 };

typedef struct {
	char name[32];
	ex_ready_check check;
	void *context;
} ready_check;

struct ex_daemon {
	const ex_daemon_spec *spec;
	ex_config *config;
	ex_metrics *metrics;
	ex_http_server *http;
	ex_db_pool *database;
	ex_redis *redis;
	ex_bus *bus;
	size_t check_count;
	ready_check checks[MAX_READY_CHECKS];
};

const ex_setting ex_daemon_common_settings[] = {
	{ "http_address", "EXPRESSO_HTTP_ADDRESS", EX_SETTING_STRING, "127.0.0.1", NULL,
	  "Address the HTTP server listens on (IPv4 or IPv6 literal).", false },
	{ "http_port", "EXPRESSO_HTTP_PORT", EX_SETTING_INT, NULL, "port",
	  "TCP port of the HTTP server.", false },
	{ "http_threads", "EXPRESSO_HTTP_THREADS", EX_SETTING_INT, "4", "threads",
	  "Worker threads of the HTTP server.", false },
	{ "http_max_body", "EXPRESSO_HTTP_MAX_BODY", EX_SETTING_SIZE, "1M", "bytes",
	  "Default maximum request body; larger bodies are answered 413.", false },
	{ "http_max_connections", "EXPRESSO_HTTP_MAX_CONNECTIONS", EX_SETTING_INT, "1024", "connections",
	  "Maximum simultaneous HTTP connections.", false },
	{ "http_max_connections_per_address", "EXPRESSO_HTTP_MAX_CONNECTIONS_PER_ADDRESS", EX_SETTING_INT, "0",
	  "connections", "Maximum simultaneous connections from one client address (0: no limit).", false },
	{ "http_max_header_size", "EXPRESSO_HTTP_MAX_HEADER_SIZE", EX_SETTING_SIZE, "64K", "bytes",
	  "Memory of one connection for its request line and headers; a larger request head is rejected.", false },
	{ "http_connection_timeout", "EXPRESSO_HTTP_CONNECTION_TIMEOUT", EX_SETTING_DURATION, "60s", "duration",
	  "Idle time after which a connection is closed.", false },
	{ "shutdown_timeout", "EXPRESSO_SHUTDOWN_TIMEOUT", EX_SETTING_DURATION, "30s", "duration",
	  "How long SIGTERM waits for in-flight requests before closing them.", false },
	{ "log_level", "EXPRESSO_LOG_LEVEL", EX_SETTING_STRING, "info", NULL,
	  "Minimum log level: debug, info, warn or error.", false },
	{ "database_url", "EXPRESSO_DATABASE_URL", EX_SETTING_STRING, NULL, NULL,
	  "libpq URL of PostgreSQL as the application role.", true },
	{ "database_pool_size", "EXPRESSO_DATABASE_POOL_SIZE", EX_SETTING_INT, "8", "connections",
	  "PostgreSQL connections kept by this daemon.", false },
	{ "redis_url", "EXPRESSO_REDIS_URL", EX_SETTING_STRING, NULL, NULL,
	  "Redis URL, redis://[:password@]host[:port][/db].", true },
	{ "nats_url", "EXPRESSO_NATS_URL", EX_SETTING_STRING, NULL, NULL,
	  "NATS URL, nats://[user:password@]host[:port].", true },
	{ 0 },
};

const ex_config *ex_daemon_config(const ex_daemon *daemon) { return daemon->config; }
ex_http_server *ex_daemon_http(ex_daemon *daemon) { return daemon->http; }
ex_metrics *ex_daemon_metrics(ex_daemon *daemon) { return daemon->metrics; }
ex_db_pool *ex_daemon_database(ex_daemon *daemon) { return daemon->database; }
ex_redis *ex_daemon_redis(ex_daemon *daemon) { return daemon->redis; }
ex_bus *ex_daemon_bus(ex_daemon *daemon) { return daemon->bus; }

int ex_daemon_add_ready_check(ex_daemon *daemon, const char *name, ex_ready_check check, void *context)
{
	if (daemon->check_count == MAX_READY_CHECKS)
		return -1;
	ready_check *entry = &daemon->checks[daemon->check_count++];
	snprintf(entry->name, sizeof(entry->name), "%s", name);
	entry->check = check;
	entry->context = context;
	return 0;
}

/* Built-in routes. */

static void handle_health(ex_http_request *request, void *context)
{
	ex_daemon *daemon = context;
	ex_http_respond_json(request, 200, json_pack("{s:s, s:s}", "status", "ok", "daemon", daemon->spec->name));
}

static void handle_ready(ex_http_request *request, void *context)
{
	ex_daemon *daemon = context;
	json_t *checks = json_object();
	int ready = 1;

	for (size_t i = 0; i < daemon->check_count; i++) {
		char reason[256] = "";
		if (daemon->checks[i].check(daemon->checks[i].context, reason, sizeof(reason)) == 0) {
			json_object_set_new(checks, daemon->checks[i].name, json_string("ok"));
		} else {
			ready = 0;
			json_object_set_new(checks, daemon->checks[i].name, json_string(reason));
			ex_log(EX_LOG_WARN, "ready_check_failed", "{s:s, s:s}", "check", daemon->checks[i].name,
			       "reason", reason);
		}
	}
	ex_http_respond_json(request, ready ? 200 : 503,
			     json_pack("{s:s, s:o}", "status", ready ? "ready" : "not_ready", "checks", checks));
}

static void handle_metrics(ex_http_request *request, void *context)
{
	ex_daemon *daemon = context;
	char *text = ex_metrics_render(daemon->metrics);
	if (text == NULL) {
		ex_http_respond_error(request, 500, "internal_error", "metrics could not be rendered");
		return;
	}
	ex_http_respond_text(request, 200, "text/plain; version=0.0.4; charset=utf-8", text);
	free(text);
}

static int check_database(void *context, char *err, size_t errlen)
{
	ex_db_error error;
	if (ex_db_ping(context, &error) == 0)
		return 0;
	snprintf(err, errlen, "%s", error.message);
	return -1;
}

static int check_redis(void *context, char *err, size_t errlen)
{
	return ex_redis_ping(context, err, errlen);
}

static int check_nats(void *context, char *err, size_t errlen)
{
	return ex_bus_ping(context, err, errlen);
}

/* Startup steps. */

static const char *required_setting(ex_daemon *daemon, const char *key, const char *env)
{
	const char *value = ex_config_string(daemon->config, key);
	if (value == NULL || value[0] == '\0') {
		ex_log(EX_LOG_ERROR, "setting_missing", "{s:s, s:s}", "setting", env, "daemon", daemon->spec->name);
		return NULL;
	}
	return value;
}

static int open_dependencies(ex_daemon *daemon)
{
	char err[512];
	unsigned needs = daemon->spec->needs;

	if (needs & EX_NEEDS_DATABASE) {
		const char *url = required_setting(daemon, "database_url", "EXPRESSO_DATABASE_URL");
		if (url == NULL)
			return -1;
		daemon->database = ex_db_pool_new(url, (unsigned)ex_config_int(daemon->config, "database_pool_size"));
		if (daemon->database == NULL)
			return -1;
		ex_daemon_add_ready_check(daemon, "postgresql", check_database, daemon->database);
	}
	if (needs & EX_NEEDS_REDIS) {
		const char *url = required_setting(daemon, "redis_url", "EXPRESSO_REDIS_URL");
		if (url == NULL)
			return -1;
		daemon->redis = ex_redis_new(url, err, sizeof(err));
		if (daemon->redis == NULL) {
			ex_log(EX_LOG_ERROR, "redis_config_invalid", "{s:s}", "error", err);
			return -1;
		}
		ex_daemon_add_ready_check(daemon, "redis", check_redis, daemon->redis);
	}
	if (needs & EX_NEEDS_NATS) {
		const char *url = required_setting(daemon, "nats_url", "EXPRESSO_NATS_URL");
		if (url == NULL)
			return -1;
		daemon->bus = ex_bus_connect(url, daemon->spec->name, err, sizeof(err));
		if (daemon->bus == NULL) {
			ex_log(EX_LOG_ERROR, "nats_connect_failed", "{s:s}", "error", err);
			return -1;
		}
		ex_daemon_add_ready_check(daemon, "nats", check_nats, daemon->bus);
	}
	return 0;
}

static int start_http(ex_daemon *daemon)
{
	const ex_config *config = daemon->config;
	char err[256];

	int64_t port = ex_config_int(config, "http_port");
	if (port < 0 || port > 65535) {
		ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:I}", "setting", "EXPRESSO_HTTP_PORT", "value", (json_int_t)port);
		return -1;
	}
	ex_http_options options = {
		.daemon = daemon->spec->name,
		.bind_address = ex_config_string(config, "http_address"),
		.port = (uint16_t)port,
		.threads = (unsigned)ex_config_int(config, "http_threads"),
		.connection_timeout_s = (unsigned)(ex_config_duration_ms(config, "http_connection_timeout") / 1000),
		.max_connections = (unsigned)ex_config_int(config, "http_max_connections"),
		.max_connections_per_ip = (unsigned)ex_config_int(config, "http_max_connections_per_address"),
		.max_body = (size_t)ex_config_size(config, "http_max_body"),
		.max_header_bytes = (size_t)ex_config_size(config, "http_max_header_size"),
		.metrics = daemon->metrics,
	};
	daemon->http = ex_http_server_new(&options);
	if (daemon->http == NULL)
		return -1;

	ex_http_route(daemon->http, "GET", "/health", handle_health, daemon);
	ex_http_route(daemon->http, "GET", "/ready", handle_ready, daemon);
	ex_http_route(daemon->http, "GET", "/metrics", handle_metrics, daemon);
	if (daemon->spec->setup != NULL && daemon->spec->setup(daemon, daemon->spec->context) != 0) {
		ex_log(EX_LOG_ERROR, "daemon_setup_failed", NULL);
		return -1;
	}
	if (ex_http_server_start(daemon->http, err, sizeof(err)) != 0) {
		ex_log(EX_LOG_ERROR, "http_start_failed", "{s:s}", "error", err);
		return -1;
	}
	return 0;
}

static void release_daemon(ex_daemon *daemon)
{
	ex_http_server_free(daemon->http);
	ex_bus_free(daemon->bus);
	ex_redis_free(daemon->redis);
	ex_db_pool_free(daemon->database);
	ex_metrics_free(daemon->metrics);
	ex_config_free(daemon->config);
}

/* Waits for SIGTERM or SIGINT (blocked in every thread) and returns its number. */
static int wait_for_stop_signal(const sigset_t *signals)
{
	int received = 0;
	while (sigwait(signals, &received) != 0)
		;
	return received;
}

int ex_daemon_main(const ex_daemon_spec *spec, int argc, char **argv)
{
	ex_daemon daemon = { .spec = spec };
	char err[512];

	/* The port and header size defaults differ per daemon, so the common table is copied and adjusted. */
	ex_setting common[sizeof(ex_daemon_common_settings) / sizeof(ex_daemon_common_settings[0])];
	memcpy(common, ex_daemon_common_settings, sizeof(common));
	for (ex_setting *s = common; s->key != NULL; s++) {
		if (strcmp(s->key, "http_port") == 0)
			s->default_value = spec->default_port;
		if (strcmp(s->key, "http_max_header_size") == 0 && spec->default_http_max_header_size != NULL)
			s->default_value = spec->default_http_max_header_size;
	}
	static const ex_setting no_settings[] = { { 0 } };
	const ex_setting *tables[] = { common, spec->settings ? spec->settings : no_settings, NULL };

	ex_config_status status = ex_config_load(tables, spec->name, argc, argv, &daemon.config, err, sizeof(err));
	if (status == EX_CONFIG_HELP_SHOWN)
		return 0;
	ex_log_init(spec->name, EX_LOG_INFO);
	if (status == EX_CONFIG_ERROR) {
		ex_log(EX_LOG_ERROR, "configuration_invalid", "{s:s}", "error", err);
		return 2;
	}
	int level = ex_log_level_parse(ex_config_string(daemon.config, "log_level"));
	if (level < 0) {
		ex_log(EX_LOG_ERROR, "configuration_invalid", "{s:s}", "error",
		       "EXPRESSO_LOG_LEVEL must be debug, info, warn or error");
		ex_config_free(daemon.config);
		return 2;
	}
	ex_log_init(spec->name, (ex_log_level)level);

	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	daemon.metrics = ex_metrics_new(spec->metrics_name);
	if (daemon.metrics == NULL || open_dependencies(&daemon) != 0 || start_http(&daemon) != 0) {
		if (daemon.http != NULL && spec->teardown != NULL)
			spec->teardown(&daemon, spec->context);
		release_daemon(&daemon);
		return 1;
	}
	ex_log(EX_LOG_INFO, "daemon_started", "{s:i}", "port", (int)ex_http_server_port(daemon.http));

	int received = wait_for_stop_signal(&stop_signals);
	ex_log(EX_LOG_INFO, "daemon_stopping", "{s:s}", "signal", received == SIGTERM ? "SIGTERM" : "SIGINT");
	unsigned abandoned = ex_http_server_shutdown(daemon.http,
						     ex_config_duration_ms(daemon.config, "shutdown_timeout"));
	if (spec->teardown != NULL)
		spec->teardown(&daemon, spec->context);
	ex_log(EX_LOG_INFO, "daemon_stopped", "{s:i}", "abandoned_requests", (int)abandoned);
	release_daemon(&daemon);
	return 0;
}
