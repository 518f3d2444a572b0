/*
 * expresso-auth: the OIDC relying party in front of Keycloak. Browsers
 * log in through it (authorization code flow with PKCE) and leave with a
 * session cookie that every Expresso daemon accepts; IMAP, SMTP and DAV
 * clients get app passwords from it. See docs/auth.md.
 */
#include "auth_service.h"

static int setup(ex_daemon *daemon, void *context)
{
	ex_rp_service *service = context;
	ex_http_server *http = ex_daemon_http(daemon);

	if (ex_rp_service_open(service, daemon) != 0)
		return -1;
	if (ex_rp_add_login_routes(service, http) != 0 || ex_rp_add_session_routes(service, http) != 0 ||
	    ex_rp_add_app_password_routes(service, http) != 0)
		return -1;
	return 0;
}

static void teardown(ex_daemon *daemon, void *context)
{
	(void)daemon;
	ex_rp_service_close(context);
}

int main(int argc, char **argv)
{
	static ex_rp_service service;
	const ex_daemon_spec spec = {
		.name = "expresso-auth",
		.metrics_name = "auth",
		.default_port = "8100",
		.needs = EX_NEEDS_DATABASE,
		.settings = ex_rp_settings,
		.setup = setup,
		.teardown = teardown,
		.context = &service,
	};
	return ex_daemon_main(&spec, argc, argv);
}
