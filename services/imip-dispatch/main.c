/*
 * expresso-imip-dispatch: applies iMIP replies, invitations and
 * cancellations that arrive by mail from outside the tenant to the
 * recipients' calendars. See docs/calendar.md.
 */
#include <stdio.h>

#include "imip_service.h"

static int ready_consumer(void *context, char *err, size_t errlen)
{
	imip_service *service = context;
	if (atomic_load(&service->consuming))
		return 0;
	snprintf(err, errlen, "the mail.delivered consumer is not running");
	return -1;
}

static int setup(ex_daemon *daemon, void *context)
{
	imip_service *service = context;

	if (imip_service_open(service, daemon) != 0)
		return -1;
	if (ex_daemon_add_ready_check(daemon, "consumer", ready_consumer, service) != 0)
		return -1;
	return imip_service_start(service);
}

static void teardown(ex_daemon *daemon, void *context)
{
	(void)daemon;
	imip_service_close(context);
}

int main(int argc, char **argv)
{
	static imip_service service;
	const ex_daemon_spec spec = {
		.name = "expresso-imip-dispatch",
		.metrics_name = "imip", /* the daemon label of metrics: lowercase letters only */
		.default_port = "8012",
		.needs = EX_NEEDS_DATABASE | EX_NEEDS_NATS,
		.settings = imip_settings,
		.setup = setup,
		.teardown = teardown,
		.context = &service,
	};
	return ex_daemon_main(&spec, argc, argv);
}
