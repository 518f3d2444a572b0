/*
 * expresso-contacts: the CardDAV server of Expresso. Phones, DAVx5,
 * Thunderbird and vdirsyncer sync address books with it over WebDAV,
 * logging in with an app password or a bearer token. See docs/carddav.md.
 */
#include "contacts_service.h"

static int setup(ex_daemon *daemon, void *context)
{
	contacts_service *service = context;

	if (contacts_service_open(service, daemon) != 0)
		return -1;
	if (contacts_add_routes(service, ex_daemon_http(daemon)) != 0)
		return -1;
	return contacts_add_api_routes(service, ex_daemon_http(daemon));
}

static void teardown(ex_daemon *daemon, void *context)
{
	(void)daemon;
	contacts_service_close(context);
}

int main(int argc, char **argv)
{
	static contacts_service service;
	const ex_daemon_spec spec = {
		.name = "expresso-contacts",
		.metrics_name = "contacts",
		.default_port = "8003",
		.needs = EX_NEEDS_DATABASE | EX_NEEDS_NATS,
		.settings = contacts_settings,
		.setup = setup,
		.teardown = teardown,
		.context = &service,
	};
	return ex_daemon_main(&spec, argc, argv);
}
