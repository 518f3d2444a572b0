/*
 * The resources both DAV daemons open the same way: the access token
 * verifier for Bearer requests, the DAV authenticator, the database pool
 * and bus connection of the daemon core, the limits of DAV XML bodies and
 * the request counters. Each daemon embeds an ex_dav_service in its own
 * service struct, next to its own settings.
 */
#ifndef EXPRESSO_DAV_SERVICE_H
#define EXPRESSO_DAV_SERVICE_H

#include <stddef.h>

#include "expresso/authclient.h"
#include "expresso/bus.h"
#include "expresso/daemon.h"
#include "expresso/dav_auth.h"
#include "expresso/dav_reply.h"
#include "expresso/dav_xml.h"
#include "expresso/db.h"
#include "expresso/metrics.h"

/* The settings of the DAV XML body limits, for the setting table of a DAV daemon. */
#define EX_DAV_XML_SETTINGS                                                                                        \
	{ "dav_max_xml_bytes", "EXPRESSO_DAV_MAX_XML_BYTES", EX_SETTING_SIZE, "1M", "bytes",                        \
	  "Largest XML body of PROPFIND, PROPPATCH, REPORT and MKCOL; larger ones are answered 413.", false },        \
	{ "dav_max_xml_depth", "EXPRESSO_DAV_MAX_XML_DEPTH", EX_SETTING_INT, "32", "levels",                        \
	  "Deepest element nesting accepted in a DAV XML body; deeper bodies are answered 400.", false }

typedef struct {
	ex_db_pool *database;
	ex_bus *bus;
	ex_auth_verifier *verifier;
	ex_dav_authenticator *authenticator;
	ex_dav_xml_limits xml_limits;
	char *issuer;
	ex_counter *changes;         /* resources and collections created, updated or deleted */
	ex_counter *auth_failures;   /* requests rejected with 401 */
	ex_counter *rejected_bodies; /* bodies rejected with 400, 403 or 413 for their content */
} ex_dav_service;

/* The names and help texts of a daemon's metrics and log events. */
typedef struct {
	const char *name;                 /* "calendar": prefix of the metrics and of the setup log events */
	const char *changes_help;         /* help text of <name>_changes_total */
	const char *auth_failures_help;   /* help text of <name>_auth_failures_total */
	const char *rejected_bodies_help; /* help text of <name>_rejected_bodies_total */
	size_t max_resource_size;         /* logged in <name>_configured */
} ex_dav_service_spec;

/*
 * Initializes libcurl and libxml2, reads the EX_DAV_XML_SETTINGS of
 * DAEMON, opens the token verifier and the authenticator, and registers
 * the counters. Returns 0, or -1 after logging what failed.
 */
int ex_dav_service_open(ex_dav_service *service, ex_daemon *daemon, const ex_dav_service_spec *spec);

/*
 * Counts the sent REPLY in the counters of SERVICE: a success that
 * changed something in changes, and a 400, a 413 or a 403 naming one of
 * BODY_CONDITIONS (NULL-terminated) in rejected_bodies.
 */
void ex_dav_service_count_reply(const ex_dav_service *service, const ex_dav_reply *reply,
				const char *const *body_conditions);

/* Frees what ex_dav_service_open opened and cleans up libxml2 and libcurl. */
void ex_dav_service_close(ex_dav_service *service);

#endif
