/*
 * The life of every Expresso daemon: read settings (--help lists them),
 * start logging, open the dependencies the daemon declares (PostgreSQL,
 * Redis, NATS), serve /health, /ready and /metrics next to the daemon's
 * own routes, and on SIGTERM or SIGINT stop accepting, drain in-flight
 * requests and exit. A daemon's main.c fills an ex_daemon_spec and calls
 * ex_daemon_main().
 */
#ifndef EXPRESSO_DAEMON_H
#define EXPRESSO_DAEMON_H

#include <stddef.h>
#include <stdint.h>

#include "expresso/bus.h"
#include "expresso/config.h"
#include "expresso/db.h"
#include "expresso/http.h"
#include "expresso/metrics.h"
#include "expresso/redis.h"

typedef struct ex_daemon ex_daemon;

/* Dependencies a daemon declares; each must be configured and is checked by /ready. */
enum {
	EX_NEEDS_DATABASE = 1 << 0,
	EX_NEEDS_REDIS = 1 << 1,
	EX_NEEDS_NATS = 1 << 2,
};

typedef struct {
	const char *name;            /* "expresso-auth": logs, --help, NATS client name */
	const char *metrics_name;    /* "auth": the daemon label in metrics */
	const char *default_port;    /* default of EXPRESSO_HTTP_PORT */
	/* Default of EXPRESSO_HTTP_MAX_HEADER_SIZE; NULL keeps 64K. */
	const char *default_http_max_header_size;
	unsigned needs;              /* EX_NEEDS_* */
	const ex_setting *settings;  /* the daemon's own settings, ended by {0}; may be NULL */
	/* Opens the daemon's resources and adds routes; returns 0 or -1 (logged, exit 1). */
	int (*setup)(ex_daemon *daemon, void *context);
	/* Frees what setup made; runs after the HTTP server has stopped. */
	void (*teardown)(ex_daemon *daemon, void *context);
	void *context;
} ex_daemon_spec;

/* Returns the process exit status: 0 after a clean shutdown. */
int ex_daemon_main(const ex_daemon_spec *spec, int argc, char **argv);

const ex_config *ex_daemon_config(const ex_daemon *daemon);
ex_http_server *ex_daemon_http(ex_daemon *daemon);
ex_metrics *ex_daemon_metrics(ex_daemon *daemon);
ex_db_pool *ex_daemon_database(ex_daemon *daemon); /* NULL unless EX_NEEDS_DATABASE */
ex_redis *ex_daemon_redis(ex_daemon *daemon);      /* NULL unless EX_NEEDS_REDIS */
ex_bus *ex_daemon_bus(ex_daemon *daemon);          /* NULL unless EX_NEEDS_NATS */

/* A readiness check: returns 0 when healthy, else -1 with a reason in err. */
typedef int (*ex_ready_check)(void *context, char *err, size_t errlen);

/* Adds a check to /ready beside the declared dependencies. Returns 0 or -1. */
int ex_daemon_add_ready_check(ex_daemon *daemon, const char *name, ex_ready_check check, void *context);

/* The settings every daemon shares (HTTP, logging, dependencies), for --help and tests. */
extern const ex_setting ex_daemon_common_settings[];

#endif
