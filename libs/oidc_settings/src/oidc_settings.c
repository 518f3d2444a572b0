/*
 * Builds a daemon's access token verifier from its oidc_* settings and
 * sends libexpresso-authclient's log lines (key fetches, refetch limits,
 * stale keys) to the core logger.
 */
#include "expresso/oidc_settings.h"

#include <strings.h>

#include "expresso/log.h"

void ex_oidc_log_authclient_event(void *context, ex_auth_log_level level, const char *event, const char *message)
{
	static const ex_log_level levels[] = {
		[EX_AUTH_LOG_DEBUG] = EX_LOG_DEBUG,
		[EX_AUTH_LOG_INFO] = EX_LOG_INFO,
		[EX_AUTH_LOG_WARNING] = EX_LOG_WARN,
		[EX_AUTH_LOG_ERROR] = EX_LOG_ERROR,
	};
	(void)context;
	ex_log(levels[level], event, "{s:s}", "message", message);
}

int ex_oidc_verifier_open(const ex_config *config, ex_oidc_issuer_need need, const char *session_cookie,
			  ex_auth_verifier **verifier)
{
	const char *issuer_url = ex_config_string(config, "oidc_issuer");

	*verifier = NULL;
	if (issuer_url == NULL && need == EX_OIDC_ISSUER_OPTIONAL) {
		ex_log(EX_LOG_INFO, "oauth_disabled", "{s:s}", "reason", "EXPRESSO_OIDC_ISSUER is not set");
		return 0;
	}
	if (issuer_url == NULL ||
	    (strncasecmp(issuer_url, "http://", 7) != 0 && strncasecmp(issuer_url, "https://", 8) != 0)) {
		ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting", "EXPRESSO_OIDC_ISSUER", "error",
		       "set it to the provider's issuer URL, e.g. http://127.0.0.1:8080/realms/expresso");
		return -1;
	}

	ex_auth_config auth;
	ex_auth_issuer issuer = { .issuer = issuer_url };
	const char *audiences[] = { ex_config_string(config, "oidc_audience") };
	char err[512] = "";

	ex_auth_config_init(&auth);
	auth.issuers = &issuer;
	auth.issuer_count = 1;
	auth.audiences = audiences;
	auth.audience_count = 1;
	auth.session_cookie = session_cookie;
	auth.http_timeout_ms = (long)ex_config_duration_ms(config, "oidc_timeout");
	auth.ca_file = ex_config_string(config, "oidc_ca_file");
	auth.log = ex_oidc_log_authclient_event;

	*verifier = ex_auth_verifier_new(&auth, err, sizeof(err));
	if (*verifier == NULL) {
		ex_log(EX_LOG_ERROR, "verifier_invalid", "{s:s, s:s}", "issuer", issuer_url, "error", err);
		return -1;
	}
	return 0;
}

void ex_oidc_verifier_prefetch(ex_auth_verifier *verifier)
{
	char err[512] = "";

	if (ex_auth_verifier_refresh(verifier, err, sizeof(err)) != 0)
		ex_log(EX_LOG_WARN, "provider_keys_failed", "{s:s, s:s}", "error", err, "retry", "when a token needs them");
}
