/*
 * expresso-mail: takes mail over SMTP (port 25 from other servers, port
 * 587 from users' clients after STARTTLS and AUTH) and delivers it into
 * the users' INBOX in the message store. See docs/mail.md.
 */
#include "expresso/log.h"
#include "expresso/sieve.h"
#include "mail_service.h"

static int setup(ex_daemon *daemon, void *context)
{
	return ex_mail_service_open(context, daemon);
}

static void teardown(ex_daemon *daemon, void *context)
{
	(void)daemon;
	ex_mail_service_close(context);
}

int main(int argc, char **argv)
{
	static ex_mail_service service;
	char sieve_error[256];

	/* Fork the Sieve workers' zygote now, while this process is small and has one thread. */
	if (ex_sieve_prefork(sieve_error, sizeof(sieve_error)) != 0)
		ex_log(EX_LOG_WARN, "sieve_prefork_failed", "{s:s, s:s}", "error", sieve_error, "effect",
		       "the Sieve zygote is forked when the settings are read");

	const ex_daemon_spec spec = {
		.name = "expresso-mail",
		.metrics_name = "mail",
		.default_port = "8001",
		.needs = EX_NEEDS_DATABASE | EX_NEEDS_NATS,
		.settings = ex_mail_settings,
		.setup = setup,
		.teardown = teardown,
		.context = &service,
	};
	return ex_daemon_main(&spec, argc, argv);
}
