/*
 * expresso-auth's settings and resources: reads and checks the settings,
 * creates the provider client, the two token verifiers, the login store
 * and the metrics, and registers the readiness check. Everything here
 * runs before the HTTP server starts or after it has stopped.
 */
#include "auth_service.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expresso/log.h"
#include "expresso/oidc_settings.h"

enum {
	LOGIN_STATE_TTL_MIN_MS = 1000,
	LOGIN_STATE_TTL_MAX_MS = 24 * 60 * 60 * 1000,
	APP_PASSWORDS_MAX_LIMIT = 1000,
};

const ex_setting ex_rp_settings[] = {
	{ "oidc_issuer", "EXPRESSO_OIDC_ISSUER", EX_SETTING_STRING, NULL, NULL,
	  "Issuer URL of the OpenID Provider (the Keycloak realm), exactly as tokens carry it in iss.", false },
	{ "oidc_client_id", "EXPRESSO_OIDC_CLIENT_ID", EX_SETTING_STRING, "expresso-auth", NULL,
	  "Client id of expresso-auth at the provider; ID tokens must name it in aud.", false },
	{ "oidc_client_secret", "EXPRESSO_OIDC_CLIENT_SECRET", EX_SETTING_STRING, NULL, NULL,
	  "Client secret, sent with client_secret_basic to the token endpoint.", true },
	{ "oidc_audience", "EXPRESSO_OIDC_AUDIENCE", EX_SETTING_STRING, "expresso", NULL,
	  "Audience that access tokens must carry in aud or azp.", false },
	{ "oidc_ca_file", "EXPRESSO_OIDC_CA_FILE", EX_SETTING_STRING, NULL, NULL,
	  "PEM file of CA certificates for an https provider; unset: the system's CA certificates.", false },
	{ "oidc_timeout", "EXPRESSO_OIDC_TIMEOUT", EX_SETTING_DURATION, "10s", "duration",
	  "Total time allowed for one request to the provider (discovery, keys, token, revocation).", false },
	{ "public_url", "EXPRESSO_PUBLIC_URL", EX_SETTING_STRING, "http://127.0.0.1:8100", NULL,
	  "Origin at which browsers reach expresso-auth, scheme://host[:port]; the redirect URI registered "
	  "at the provider is <public URL>/auth/callback.", false },
	{ "cookie_secure", "EXPRESSO_COOKIE_SECURE", EX_SETTING_BOOL, "true", NULL,
	  "Mark the session cookies Secure (sent over HTTPS only); false only for plain-HTTP development.", false },
	{ "login_state_ttl", "EXPRESSO_LOGIN_STATE_TTL", EX_SETTING_DURATION, "10m", "duration",
	  "Time a person has between /auth/login and the provider's callback (1s to 24h).", false },
	{ "login_state_max", "EXPRESSO_LOGIN_STATE_MAX", EX_SETTING_INT, "10000", "logins",
	  "Logins in progress kept in memory; when full, the oldest is evicted and must start again.", false },
	{ "post_logout_redirect", "EXPRESSO_POST_LOGOUT_REDIRECT", EX_SETTING_STRING, NULL, NULL,
	  "URL the provider sends the browser to after logout (registered at the provider); unset: "
	  "<public URL>/.", false },
	{ "app_passwords_max", "EXPRESSO_APP_PASSWORDS_MAX", EX_SETTING_INT, "50", "app passwords",
	  "Active app passwords allowed per user.", false },
	{ 0 },
};

static bool is_http_url(const char *url)
{
	return url != NULL && ((strncasecmp(url, "http://", 7) == 0 && url[7] != '\0') ||
			       (strncasecmp(url, "https://", 8) == 0 && url[8] != '\0'));
}

/* Copies the origin of URL (scheme://authority, no path) into a new string; NULL when URL has a path. */
static char *origin_of(const char *url)
{
	if (!is_http_url(url))
		return NULL;
	const char *authority = strstr(url, "://") + 3;
	size_t length = strcspn(authority, "/?#");
	const char *rest = authority + length;
	if (length == 0 || !(rest[0] == '\0' || (rest[0] == '/' && rest[1] == '\0')))
		return NULL;
	return strndup(url, (size_t)(rest - url));
}

static int invalid_setting(const char *variable, const char *problem)
{
	ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting", variable, "error", problem);
	return -1;
}

static char *join(const char *first, const char *second)
{
	size_t length = strlen(first) + strlen(second) + 1;
	char *text = malloc(length);
	if (text != NULL)
		snprintf(text, length, "%s%s", first, second);
	return text;
}

/* Reads and checks the settings into SERVICE. */
static int read_settings(ex_rp_service *service, const ex_config *config)
{
	const char *issuer = ex_config_string(config, "oidc_issuer");
	const char *secret = ex_config_string(config, "oidc_client_secret");
	const char *public_url = ex_config_string(config, "public_url");
	const char *post_logout = ex_config_string(config, "post_logout_redirect");
	int64_t login_max = ex_config_int(config, "login_state_max");
	int64_t app_passwords_max = ex_config_int(config, "app_passwords_max");
	uint64_t ttl_ms = ex_config_duration_ms(config, "login_state_ttl");

	if (!is_http_url(issuer))
		return invalid_setting("EXPRESSO_OIDC_ISSUER", "set it to the provider's issuer URL, "
								 "e.g. http://127.0.0.1:8080/realms/expresso");
	if (secret == NULL || secret[0] == '\0')
		return invalid_setting("EXPRESSO_OIDC_CLIENT_SECRET", "set it to the client secret of the provider's "
									"expresso-auth client");
	service->public_origin = origin_of(public_url);
	if (service->public_origin == NULL)
		return invalid_setting("EXPRESSO_PUBLIC_URL", "expected scheme://host[:port] with no path, "
								"e.g. https://mail.example.org");
	if (post_logout != NULL && !is_http_url(post_logout))
		return invalid_setting("EXPRESSO_POST_LOGOUT_REDIRECT", "expected an http or https URL");
	if (ttl_ms < LOGIN_STATE_TTL_MIN_MS || ttl_ms > LOGIN_STATE_TTL_MAX_MS)
		return invalid_setting("EXPRESSO_LOGIN_STATE_TTL", "expected a duration from 1s to 24h");
	if (login_max < 1 || login_max > EX_RP_LOGIN_STATE_MAX_LIMIT)
		return invalid_setting("EXPRESSO_LOGIN_STATE_MAX", "expected 1 to 1000000 logins");
	if (app_passwords_max < 1 || app_passwords_max > APP_PASSWORDS_MAX_LIMIT)
		return invalid_setting("EXPRESSO_APP_PASSWORDS_MAX", "expected 1 to 1000");

	service->issuer = strdup(issuer);
	service->client_id = strdup(ex_config_string(config, "oidc_client_id"));
	service->audience = strdup(ex_config_string(config, "oidc_audience"));
	service->redirect_uri = join(service->public_origin, "/auth/callback");
	service->post_logout_redirect = post_logout ? strdup(post_logout) : join(service->public_origin, "/");
	service->cookie_secure = ex_config_bool(config, "cookie_secure");
	service->login_ttl_ms = ttl_ms;
	service->login_max = (size_t)login_max;
	service->app_passwords_max = (long)app_passwords_max;
	if (service->issuer == NULL || service->client_id == NULL || service->audience == NULL ||
	    service->redirect_uri == NULL || service->post_logout_redirect == NULL)
		return invalid_setting("EXPRESSO_OIDC_ISSUER", "out of memory copying the settings");
	if (service->cookie_secure && strncasecmp(service->public_origin, "http://", 7) == 0)
		ex_log(EX_LOG_WARN, "cookie_secure_on_http", "{s:s, s:s}", "public_url", service->public_origin, "hint",
		       "browsers may drop Secure cookies on plain HTTP; set EXPRESSO_COOKIE_SECURE=false for development");
	return 0;
}

/* Creates a verifier for SERVICE's issuer accepting AUDIENCE. */
static ex_auth_verifier *create_verifier(const ex_rp_service *service, const ex_config *config, const char *audience,
					 const char *session_cookie)
{
	ex_auth_config auth;
	ex_auth_issuer issuer = { .issuer = service->issuer };
	const char *audiences[] = { audience };
	char err[512];

	ex_auth_config_init(&auth);
	auth.issuers = &issuer;
	auth.issuer_count = 1;
	auth.audiences = audiences;
	auth.audience_count = 1;
	auth.session_cookie = session_cookie;
	auth.http_timeout_ms = (long)ex_config_duration_ms(config, "oidc_timeout");
	auth.ca_file = ex_config_string(config, "oidc_ca_file");
	auth.log = ex_oidc_log_authclient_event;

	ex_auth_verifier *verifier = ex_auth_verifier_new(&auth, err, sizeof(err));
	if (verifier == NULL)
		ex_log(EX_LOG_ERROR, "verifier_invalid", "{s:s, s:s}", "audience", audience, "error", err);
	return verifier;
}

static int check_provider(void *context, char *err, size_t errlen)
{
	ex_rp_service *service = context;
	return ex_rp_provider_discovery(service->provider, err, errlen) ? 0 : -1;
}

static double sample_login_states(void *context)
{
	ex_rp_service *service = context;
	return (double)ex_rp_login_store_count(service->logins);
}

static void register_metrics(ex_rp_service *service, ex_metrics *metrics)
{
	service->logins_started = ex_metrics_counter(metrics, "auth_logins_started_total",
						     "Logins sent to the identity provider.");
	service->logins_completed = ex_metrics_counter(metrics, "auth_logins_completed_total",
						       "Logins that ended with a session.");
	service->logins_failed = ex_metrics_counter(metrics, "auth_logins_failed_total",
						    "Callbacks that ended on an error page.");
	service->login_states_evicted = ex_metrics_counter(metrics, "auth_login_states_evicted_total",
							   "Logins in progress evicted because the store was full.");
	service->refreshes = ex_metrics_counter(metrics, "auth_refreshes_total", "Sessions refreshed.");
	service->app_passwords_created = ex_metrics_counter(metrics, "auth_app_passwords_created_total",
							    "App passwords created.");
	service->app_passwords_revoked = ex_metrics_counter(metrics, "auth_app_passwords_revoked_total",
							    "App passwords revoked.");
	ex_metrics_gauge(metrics, "auth_login_states", "Logins in progress held in memory.", sample_login_states,
			 service);
}

/* Loads discovery and keys once so the first login does not wait; failures are retried later. */
static void warm_up(ex_rp_service *service)
{
	char err[512];

	if (ex_rp_provider_discovery(service->provider, err, sizeof(err)) == NULL)
		ex_log(EX_LOG_WARN, "provider_discovery_failed", "{s:s, s:s}", "error", err, "retry",
		       "on the next login or readiness check");
	if (ex_auth_verifier_refresh(service->access_verifier, err, sizeof(err)) != 0 ||
	    ex_auth_verifier_refresh(service->id_verifier, err, sizeof(err)) != 0)
		ex_log(EX_LOG_WARN, "provider_keys_failed", "{s:s, s:s}", "error", err, "retry",
		       "when a token needs them");
}

int ex_rp_service_open(ex_rp_service *service, ex_daemon *daemon)
{
	const ex_config *config = ex_daemon_config(daemon);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (read_settings(service, config) != 0)
		return -1;
	service->database = ex_daemon_database(daemon);

	ex_rp_provider_options options = {
		.issuer = service->issuer,
		.client_id = service->client_id,
		.client_secret = ex_config_string(config, "oidc_client_secret"),
		.timeout_ms = (long)ex_config_duration_ms(config, "oidc_timeout"),
		.ca_file = ex_config_string(config, "oidc_ca_file"),
	};
	service->provider = ex_rp_provider_new(&options);
	service->access_verifier = create_verifier(service, config, service->audience, EX_RP_COOKIE_SESSION);
	service->id_verifier = create_verifier(service, config, service->client_id, NULL);
	service->logins = ex_rp_login_store_new(service->login_max, service->login_ttl_ms);
	if (service->provider == NULL || service->access_verifier == NULL || service->id_verifier == NULL ||
	    service->logins == NULL) {
		ex_log(EX_LOG_ERROR, "auth_setup_failed", "{s:s}", "error",
		       "could not create the provider client, the token verifiers or the login store");
		return -1;
	}

	register_metrics(service, ex_daemon_metrics(daemon));
	ex_daemon_add_ready_check(daemon, "oidc_provider", check_provider, service);
	warm_up(service);
	ex_log(EX_LOG_INFO, "auth_configured", "{s:s, s:s, s:s, s:b}", "issuer", service->issuer, "client_id",
	       service->client_id, "redirect_uri", service->redirect_uri, "secure_flag", service->cookie_secure);
	return 0;
}

void ex_rp_service_close(ex_rp_service *service)
{
	ex_rp_login_store_free(service->logins);
	ex_auth_verifier_free(service->id_verifier);
	ex_auth_verifier_free(service->access_verifier);
	ex_rp_provider_free(service->provider);
	free(service->issuer);
	free(service->client_id);
	free(service->audience);
	free(service->public_origin);
	free(service->redirect_uri);
	free(service->post_logout_redirect);
	memset(service, 0, sizeof(*service));
	curl_global_cleanup();
}
