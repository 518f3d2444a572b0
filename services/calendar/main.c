/*
 * expresso-calendar: the CalDAV server of Expresso. Phones, DAVx5,
 * Thunderbird and vdirsyncer sync calendars and task lists with it over
 * WebDAV, logging in with an app password or a bearer token. See
 * docs/calendar.md.
 */
#include "calendar_service.h"

static int setup(ex_daemon *daemon, void *context)
{
	calendar_service *service = context;

	if (calendar_service_open(service, daemon) != 0)
		return -1;
	if (calendar_add_routes(service, ex_daemon_http(daemon)) != 0)
		return -1;
	return calendar_add_api_routes(service, ex_daemon_http(daemon));
}

static void teardown(ex_daemon *daemon, void *context)
{
	(void)daemon;
	calendar_service_close(context);
}

int main(int argc, char **argv)
{
	static calendar_service service;
	const ex_daemon_spec spec = {
		.name = "expresso-calendar",
		.metrics_name = "calendar",
		.default_port = "8002",
		.needs = EX_NEEDS_DATABASE | EX_NEEDS_NATS,
		.settings = calendar_settings,
		.setup = setup,
		.teardown = teardown,
		.context = &service,
	};
	return ex_daemon_main(&spec, argc, argv);
}
