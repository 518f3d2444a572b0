/*
 * Discovery and back-channel requests to the OpenID Provider. Once the
 * discovery document is valid, it is published through an atomic pointer
 * and never changes afterwards. Until then one thread at a time tries to
 * load it, at most once per EX_RP_DISCOVERY_RETRY_MS.
 */
#include "oidc_provider.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "login_state.h"
#include "url_text.h"

/* The connect phase gets at most this much of the total timeout. */
enum { CONNECT_TIMEOUT_MAX_MS = 3000 };

struct ex_rp_provider {
	char *issuer;
	char *client_id;
	char *basic_authorization; /* "Authorization: Basic ..." header line */
	long timeout_ms;
	char *ca_file;

	_Atomic(ex_rp_discovery *) discovery;
	pthread_mutex_t load_mutex;
	bool attempted;
	uint64_t last_attempt_ms;
	char last_error[256];
};

typedef struct {
	char *data;
	size_t length;
	size_t capacity;
	bool too_large;
} response_body;

static void wipe_and_free(char *text)
{
	if (text == NULL)
		return;
	OPENSSL_cleanse(text, strlen(text));
	free(text);
}

static size_t collect_body(char *data, size_t size, size_t count, void *context)
{
	response_body *body = context;
	size_t length = size * count;

	if (length > EX_RP_PROVIDER_MAX_RESPONSE - body->length) {
		body->too_large = true;
		return 0;
	}
	if (body->length + length + 1 > body->capacity) {
		size_t capacity = body->capacity ? body->capacity : 4096;
		while (capacity < body->length + length + 1)
			capacity *= 2;
		char *grown = malloc(capacity);
		if (grown == NULL)
			return 0;
		if (body->data != NULL) {
			memcpy(grown, body->data, body->length);
			OPENSSL_cleanse(body->data, body->capacity);
			free(body->data);
		}
		body->data = grown;
		body->capacity = capacity;
	}
	memcpy(body->data + body->length, data, length);
	body->length += length;
	body->data[body->length] = '\0';
	return length;
}

static void free_body(response_body *body)
{
	if (body->data != NULL) {
		OPENSSL_cleanse(body->data, body->capacity);
		free(body->data);
	}
	memset(body, 0, sizeof(*body));
}

static bool url_is_http(const char *url)
{
	return (strncasecmp(url, "http://", 7) == 0 && url[7] != '\0') ||
	       (strncasecmp(url, "https://", 8) == 0 && url[8] != '\0');
}

/*
 * GETs URL, or POSTs FORM when it is not NULL (with the client's Basic
 * credentials). Returns 0 with the status and body filled in, or -1 with
 * the reason in ERR when no HTTP response came.
 */
static int http_request(ex_rp_provider *provider, const char *url, const char *form, long *status,
			response_body *body, char *err, size_t errlen)
{
	char curl_error[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL;

	memset(body, 0, sizeof(*body));
	*status = 0;
	if (!url_is_http(url)) {
		snprintf(err, errlen, "URL %s is not http or https", url);
		return -1;
	}
	CURL *curl = curl_easy_init();
	if (curl == NULL) {
		snprintf(err, errlen, "libcurl could not create a handle");
		return -1;
	}

	headers = curl_slist_append(headers, "Accept: application/json");
	if (form != NULL) {
		headers = curl_slist_append(headers, "Content-Type: application/x-www-form-urlencoded");
		headers = curl_slist_append(headers, provider->basic_authorization);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
	}
	long connect_ms = provider->timeout_ms < CONNECT_TIMEOUT_MAX_MS ? provider->timeout_ms : CONNECT_TIMEOUT_MAX_MS;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, provider->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "expresso-auth");
	if (provider->ca_file != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, provider->ca_file);

	CURLcode rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(curl);
	for (struct curl_slist *header = headers; header != NULL; header = header->next)
		OPENSSL_cleanse(header->data, strlen(header->data));
	curl_slist_free_all(headers);

	if (body->too_large) {
		snprintf(err, errlen, "the response of %s exceeds %d bytes", url, EX_RP_PROVIDER_MAX_RESPONSE);
	} else if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s %s failed: %s", form ? "POST" : "GET", url,
			 curl_error[0] ? curl_error : curl_easy_strerror(rc));
	} else {
		return 0;
	}
	free_body(body);
	return -1;
}

/* Builds "Authorization: Basic base64(urlencode(id):urlencode(secret))". */
static char *basic_authorization_header(const char *client_id, const char *client_secret)
{
	static const char prefix[] = "Authorization: Basic ";
	ex_rp_url_text credentials;

	ex_rp_url_text_init(&credentials, 0);
	ex_rp_url_text_append_encoded(&credentials, client_id);
	ex_rp_url_text_append(&credentials, ":");
	ex_rp_url_text_append_encoded(&credentials, client_secret);
	char *plain = ex_rp_url_text_steal(&credentials);
	if (plain == NULL)
		return NULL;

	size_t plain_length = strlen(plain);
	size_t encoded_length = 4 * ((plain_length + 2) / 3);
	char *header = malloc(sizeof(prefix) + encoded_length);
	if (header != NULL) {
		memcpy(header, prefix, sizeof(prefix) - 1);
		EVP_EncodeBlock((unsigned char *)header + sizeof(prefix) - 1, (const unsigned char *)plain,
				(int)plain_length);
	}
	wipe_and_free(plain);
	return header;
}

ex_rp_provider *ex_rp_provider_new(const ex_rp_provider_options *options)
{
	if (options->issuer == NULL || options->client_id == NULL || options->client_secret == NULL)
		return NULL;
	ex_rp_provider *provider = calloc(1, sizeof(*provider));
	if (provider == NULL)
		return NULL;

	provider->issuer = strdup(options->issuer);
	provider->client_id = strdup(options->client_id);
	provider->basic_authorization = basic_authorization_header(options->client_id, options->client_secret);
	provider->ca_file = options->ca_file ? strdup(options->ca_file) : NULL;
	provider->timeout_ms = options->timeout_ms > 0 ? options->timeout_ms : EX_RP_DEFAULT_PROVIDER_TIMEOUT_MS;
	atomic_init(&provider->discovery, NULL);
	pthread_mutex_init(&provider->load_mutex, NULL);
	if (provider->issuer == NULL || provider->client_id == NULL || provider->basic_authorization == NULL ||
	    (options->ca_file != NULL && provider->ca_file == NULL)) {
		ex_rp_provider_free(provider);
		return NULL;
	}
	return provider;
}

static void free_discovery(ex_rp_discovery *discovery)
{
	if (discovery == NULL)
		return;
	free(discovery->issuer);
	free(discovery->authorization_endpoint);
	free(discovery->token_endpoint);
	free(discovery->end_session_endpoint);
	free(discovery->revocation_endpoint);
	free(discovery);
}

void ex_rp_provider_free(ex_rp_provider *provider)
{
	if (provider == NULL)
		return;
	free_discovery(atomic_load(&provider->discovery));
	pthread_mutex_destroy(&provider->load_mutex);
	wipe_and_free(provider->basic_authorization);
	free(provider->issuer);
	free(provider->client_id);
	free(provider->ca_file);
	free(provider);
}

/*
 * Copies member NAME of DOCUMENT into *OUT when it is an http(s) URL.
 * Returns 0, or -1 with the reason when it is required and missing or is
 * not such a URL.
 */
static int read_endpoint(json_t *document, const char *name, bool required, char **out, char *err, size_t errlen)
{
	json_t *value = json_object_get(document, name);
	*out = NULL;
	if (value == NULL && !required)
		return 0;
	if (!json_is_string(value) || !url_is_http(json_string_value(value))) {
		snprintf(err, errlen, "the discovery document's %s is %s; expected an http or https URL", name,
			 value ? "not a URL" : "missing");
		return -1;
	}
	*out = strdup(json_string_value(value));
	return *out ? 0 : -1;
}

/* Fetches and checks the discovery document (OpenID Connect Discovery 1.0, section 4). */
static ex_rp_discovery *load_discovery(ex_rp_provider *provider, char *err, size_t errlen)
{
	ex_rp_url_text url;
	response_body body;
	long status;
	json_error_t json_error;

	ex_rp_url_text_init(&url, 0);
	ex_rp_url_text_append(&url, provider->issuer);
	ex_rp_url_text_append(&url, "/.well-known/openid-configuration");
	char *address = ex_rp_url_text_steal(&url);
	if (address == NULL) {
		snprintf(err, errlen, "out of memory building the discovery URL");
		return NULL;
	}
	int rc = http_request(provider, address, NULL, &status, &body, err, errlen);
	if (rc == 0 && status != 200) {
		snprintf(err, errlen, "GET %s returned HTTP status %ld, expected 200", address, status);
		free_body(&body);
		rc = -1;
	}
	if (rc != 0) {
		free(address);
		return NULL;
	}
	json_t *document = json_loadb(body.data ? body.data : "", body.length, JSON_REJECT_DUPLICATES, &json_error);
	free_body(&body);
	if (!json_is_object(document)) {
		snprintf(err, errlen, "%s is not a JSON object: %s", address, json_error.text);
		json_decref(document);
		free(address);
		return NULL;
	}
	free(address);

	ex_rp_discovery *discovery = calloc(1, sizeof(*discovery));
	const char *issuer = json_string_value(json_object_get(document, "issuer"));
	if (discovery == NULL) {
		snprintf(err, errlen, "out of memory reading the discovery document");
	} else if (issuer == NULL || strcmp(issuer, provider->issuer) != 0) {
		snprintf(err, errlen, "the discovery document names issuer %s, but EXPRESSO_OIDC_ISSUER is %s",
			 issuer ? issuer : "(none)", provider->issuer);
	} else if ((discovery->issuer = strdup(issuer)) != NULL &&
		   read_endpoint(document, "authorization_endpoint", true, &discovery->authorization_endpoint, err,
				 errlen) == 0 &&
		   read_endpoint(document, "token_endpoint", true, &discovery->token_endpoint, err, errlen) == 0 &&
		   read_endpoint(document, "end_session_endpoint", false, &discovery->end_session_endpoint, err,
				 errlen) == 0 &&
		   read_endpoint(document, "revocation_endpoint", false, &discovery->revocation_endpoint, err,
				 errlen) == 0) {
		json_decref(document);
		return discovery;
	}
	json_decref(document);
	free_discovery(discovery);
	return NULL;
}

const ex_rp_discovery *ex_rp_provider_discovery(ex_rp_provider *provider, char *err, size_t errlen)
{
	ex_rp_discovery *discovery = atomic_load(&provider->discovery);
	if (discovery != NULL)
		return discovery;

	pthread_mutex_lock(&provider->load_mutex);
	discovery = atomic_load(&provider->discovery);
	uint64_t now = ex_rp_monotonic_ms();
	if (discovery == NULL && provider->attempted && now - provider->last_attempt_ms < EX_RP_DISCOVERY_RETRY_MS) {
		snprintf(err, errlen, "%s (next attempt within %d s)", provider->last_error,
			 EX_RP_DISCOVERY_RETRY_MS / 1000);
	} else if (discovery == NULL) {
		provider->attempted = true;
		provider->last_attempt_ms = now;
		discovery = load_discovery(provider, provider->last_error, sizeof(provider->last_error));
		if (discovery != NULL)
			atomic_store(&provider->discovery, discovery);
		else
			snprintf(err, errlen, "%s", provider->last_error);
	}
	pthread_mutex_unlock(&provider->load_mutex);
	return discovery;
}

void ex_rp_tokens_clear(ex_rp_tokens *tokens)
{
	wipe_and_free(tokens->access_token);
	wipe_and_free(tokens->refresh_token);
	wipe_and_free(tokens->id_token);
	memset(tokens, 0, sizeof(*tokens));
	tokens->expires_in = -1;
}

static char *optional_string(json_t *object, const char *name)
{
	const char *value = json_string_value(json_object_get(object, name));
	return value && value[0] ? strdup(value) : NULL;
}

/* Reads a token response body with HTTP status STATUS into OUT. */
static ex_rp_token_result read_token_response(const response_body *body, long status, ex_rp_tokens *out, char *err,
					      size_t errlen)
{
	json_error_t json_error;
	json_t *document = json_loadb(body->data ? body->data : "", body->length, JSON_REJECT_DUPLICATES, &json_error);
	ex_rp_token_result result = EX_RP_TOKEN_INVALID_RESPONSE;

	out->http_status = status;
	if (status >= 500) {
		snprintf(err, errlen, "the token endpoint returned HTTP status %ld", status);
		result = EX_RP_TOKEN_UNREACHABLE;
	} else if (status != 200) {
		const char *error = json_string_value(json_object_get(document, "error"));
		const char *description = json_string_value(json_object_get(document, "error_description"));
		snprintf(out->error, sizeof(out->error), "%s", error ? error : "invalid_response");
		snprintf(out->error_description, sizeof(out->error_description), "%s", description ? description : "");
		snprintf(err, errlen, "the token endpoint rejected the request with HTTP status %ld: %s%s%s", status,
			 out->error, description ? ": " : "", description ? description : "");
		result = EX_RP_TOKEN_REJECTED;
	} else if (!json_is_object(document)) {
		snprintf(err, errlen, "the token response is not a JSON object: %s", json_error.text);
	} else {
		const char *token_type = json_string_value(json_object_get(document, "token_type"));
		json_t *expires_in = json_object_get(document, "expires_in");
		out->access_token = optional_string(document, "access_token");
		out->refresh_token = optional_string(document, "refresh_token");
		out->id_token = optional_string(document, "id_token");
		out->expires_in = json_is_integer(expires_in) ? (long)json_integer_value(expires_in) : -1;
		if (out->access_token == NULL) {
			snprintf(err, errlen, "the token response has no access_token");
		} else if (token_type == NULL || strcasecmp(token_type, "Bearer") != 0) {
			snprintf(err, errlen, "the token response has token_type %s; expected Bearer",
				 token_type ? token_type : "(none)");
		} else {
			result = EX_RP_TOKEN_OK;
		}
	}
	json_decref(document);
	if (result != EX_RP_TOKEN_OK && result != EX_RP_TOKEN_REJECTED)
		ex_rp_tokens_clear(out);
	return result;
}

/* POSTs FORM (which it frees) to the token endpoint. */
static ex_rp_token_result post_token_request(ex_rp_provider *provider, ex_rp_url_text *form, ex_rp_tokens *out,
					     char *err, size_t errlen)
{
	response_body body;
	long status;

	memset(out, 0, sizeof(*out));
	out->expires_in = -1;
	const ex_rp_discovery *discovery = ex_rp_provider_discovery(provider, err, errlen);
	char *text = ex_rp_url_text_steal(form);
	if (discovery == NULL || text == NULL) {
		if (text == NULL)
			snprintf(err, errlen, "out of memory building the token request");
		wipe_and_free(text);
		return EX_RP_TOKEN_UNREACHABLE;
	}
	int rc = http_request(provider, discovery->token_endpoint, text, &status, &body, err, errlen);
	wipe_and_free(text);
	if (rc != 0)
		return EX_RP_TOKEN_UNREACHABLE;

	ex_rp_token_result result = read_token_response(&body, status, out, err, errlen);
	free_body(&body);
	return result;
}

ex_rp_token_result ex_rp_provider_exchange_code(ex_rp_provider *provider, const char *code, const char *redirect_uri,
						const char *code_verifier, ex_rp_tokens *out, char *err,
						size_t errlen)
{
	ex_rp_url_text form;

	ex_rp_url_text_init(&form, 0);
	ex_rp_url_text_append_parameter(&form, '&', "grant_type", "authorization_code");
	ex_rp_url_text_append_parameter(&form, '&', "code", code);
	ex_rp_url_text_append_parameter(&form, '&', "redirect_uri", redirect_uri);
	ex_rp_url_text_append_parameter(&form, '&', "code_verifier", code_verifier);
	return post_token_request(provider, &form, out, err, errlen);
}

ex_rp_token_result ex_rp_provider_refresh(ex_rp_provider *provider, const char *refresh_token, ex_rp_tokens *out,
					  char *err, size_t errlen)
{
	ex_rp_url_text form;

	ex_rp_url_text_init(&form, 0);
	ex_rp_url_text_append_parameter(&form, '&', "grant_type", "refresh_token");
	ex_rp_url_text_append_parameter(&form, '&', "refresh_token", refresh_token);
	return post_token_request(provider, &form, out, err, errlen);
}

int ex_rp_provider_revoke(ex_rp_provider *provider, const char *token, const char *type_hint, char *err,
			  size_t errlen)
{
	ex_rp_url_text form;
	response_body body;
	long status;

	const ex_rp_discovery *discovery = ex_rp_provider_discovery(provider, err, errlen);
	if (discovery == NULL)
		return -1;
	if (discovery->revocation_endpoint == NULL)
		return 1;

	ex_rp_url_text_init(&form, 0);
	ex_rp_url_text_append_parameter(&form, '&', "token", token);
	ex_rp_url_text_append_parameter(&form, '&', "token_type_hint", type_hint);
	char *text = ex_rp_url_text_steal(&form);
	if (text == NULL) {
		snprintf(err, errlen, "out of memory building the revocation request");
		return -1;
	}
	int rc = http_request(provider, discovery->revocation_endpoint, text, &status, &body, err, errlen);
	wipe_and_free(text);
	if (rc != 0)
		return -1;
	free_body(&body);
	if (status != 200) {
		snprintf(err, errlen, "the revocation endpoint returned HTTP status %ld, expected 200", status);
		return -1;
	}
	return 0;
}
