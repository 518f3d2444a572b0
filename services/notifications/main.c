/*
 * expresso-notifications: live server-sent events for every user, fed by
 * the EXPRESSO event stream and relayed across replicas through Redis.
 * See docs/notifications.md.
 */
#include <stdio.h>

#include "notify_service.h"

static int ready_relay(void *context, char *err, size_t errlen)
{
	ex_notify_service *service = context;
	if (atomic_load(&service->subscribed))
		return 0;
	snprintf(err, errlen, "the relay subscriber is not connected to Redis");
	return -1;
}

static int setup(ex_daemon *daemon, void *context)
{
	ex_notify_service *service = context;

	if (ex_notify_service_open(service, daemon) != 0 || ex_notify_add_routes(service, ex_daemon_http(daemon)) != 0)
		return -1;
	if (ex_daemon_add_ready_check(daemon, "relay", ready_relay, service) != 0)
		return -1;
	return ex_notify_service_start(service);
}

static void teardown(ex_daemon *daemon, void *context)
{
	(void)daemon;
	ex_notify_service_close(context);
}

int main(int argc, char **argv)
{
	static ex_notify_service service;
	const ex_daemon_spec spec = {
		.name = "expresso-notifications",
		.metrics_name = "notifications",
		.default_port = "8006",
		/*
		 * libmicrohttpd gives every connection a memory pool of this size,
		 * and about half of it stays resident while a stream is open
		 * (measured with tests/bench/notifications). 14K fits expresso-auth's
		 * session cookie (at most 4 KiB) beside a browser's usual headers
		 * and keeps an open stream near 19 KB instead of 46 KB with 64K.
		 */
		.default_http_max_header_size = "14K",
		.needs = EX_NEEDS_REDIS | EX_NEEDS_NATS,
		.settings = ex_notify_settings,
		.setup = setup,
		.teardown = teardown,
		.context = &service,
	};
	return ex_daemon_main(&spec, argc, argv);
}
