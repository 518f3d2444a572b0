/*
 * The HTTP routes: POST /api/v1/notifications/ticket issues a one-time
 * ticket, GET /api/v1/notifications/stream opens the event stream of the
 * caller. Both take a Bearer token or the expresso_session cookie; the
 * stream also takes ?ticket= for EventSource, which cannot set headers.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/log.h"
#include "notify_history.h"
#include "notify_service.h"
#include "sse_frame.h"
#include "ticket_store.h"

/* Retry-After value, in seconds, of the limit and unavailable responses. */
#define RETRY_AFTER_SECONDS "5"

/* The ticket request needs no body; a small one (such as "{}") is ignored. */
enum { TICKET_MAX_BODY = 1024 };

typedef struct {
	char tenant[EX_NOTIFY_MAX_TOKEN + 1];
	char user[EX_NOTIFY_MAX_TOKEN + 1];
	int64_t expires_at; /* exp of the token, seconds since the epoch */
} caller;

/* Verifies the Bearer token or session cookie. On failure, sends the error response and returns false. */
static bool authenticate(ex_notify_service *service, ex_http_request *request, caller *out)
{
	ex_auth_claims claims;
	char challenge[512];

	ex_auth_status status = ex_auth_authenticate_connection(service->verifier, ex_http_connection(request), &claims);
	if (status == EX_AUTH_OK && ex_notify_token_valid(claims.tenant_id) && ex_notify_token_valid(claims.subject)) {
		snprintf(out->tenant, sizeof(out->tenant), "%s", claims.tenant_id);
		snprintf(out->user, sizeof(out->user), "%s", claims.subject);
		out->expires_at = claims.expires_at;
		ex_http_set_log_tenant(request, claims.tenant_id);
		ex_auth_claims_clear(&claims);
		return true;
	}

	const char *description = claims.error_description ? claims.error_description : ex_auth_status_message(status);
	if (status == EX_AUTH_ERR_KEYS_UNAVAILABLE) {
		ex_http_respond_error(request, 503, "auth_unavailable",
				      "the identity provider's signing keys cannot be fetched; try again shortly");
	} else if (status == EX_AUTH_ERR_INTERNAL) {
		ex_http_respond_error(request, 500, "internal_error", "the token could not be checked");
	} else if (status == EX_AUTH_OK) {
		ex_http_respond_error(request, 401, "invalid_token", "the token's sub or tenant_id is not a valid id");
	} else {
		ex_log(EX_LOG_INFO, "authentication_failed", "{s:s}", "reason", ex_auth_status_code(status));
		if (status == EX_AUTH_ERR_NO_TOKEN)
			ex_http_respond_error(request, 401, "missing_token",
					      "send \"Authorization: Bearer <token>\", the expresso_session cookie, "
					      "or ?ticket= from POST /api/v1/notifications/ticket");
		else
			ex_http_respond_error(request, 401, "invalid_token", "%s", description);
		if (ex_auth_format_www_authenticate(challenge, sizeof(challenge), status, description) > 0)
			ex_http_add_header(request, MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge);
	}
	ex_auth_claims_clear(&claims);
	return false;
}

static void issue_ticket(ex_http_request *request, void *context)
{
	ex_notify_service *service = context;
	char ticket[EX_NOTIFY_TICKET_LENGTH + 1], err[256];
	caller requester;

	if (!authenticate(service, request, &requester))
		return;
	if (ex_notify_ticket_issue(service->redis, requester.tenant, requester.user, requester.expires_at,
				   service->ticket_ttl_ms, ticket, err, sizeof(err)) != 0) {
		ex_log(EX_LOG_ERROR, "ticket_issue_failed", "{s:s}", "error", err);
		ex_http_respond_error(request, 503, "redis_unavailable", "the ticket could not be stored; try again shortly");
		ex_http_add_header(request, MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_SECONDS);
		return;
	}
	ex_http_respond_json(request, 201,
			     json_pack("{s:s, s:I}", "ticket", ticket, "expires_in",
				       (json_int_t)(service->ticket_ttl_ms / 1000)));
	ex_http_add_header(request, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
}

/* Finds the caller from ?ticket= or the credentials. On failure, sends the error response and returns false. */
static bool identify_stream_caller(ex_notify_service *service, ex_http_request *request, caller *out)
{
	char ticket[EX_NOTIFY_TICKET_LENGTH + 2], ignored[8];

	if (ex_http_query(request, "access_token", ignored, sizeof(ignored)) != 1 ||
	    ex_http_query(request, "token", ignored, sizeof(ignored)) != 1) {
		ex_http_respond_error(request, 400, "token_in_url",
				      "tokens are not accepted in the URL; send them in the Authorization header, "
				      "or use ?ticket= from POST /api/v1/notifications/ticket");
		return false;
	}

	int found = ex_http_query(request, "ticket", ticket, sizeof(ticket));
	if (found == 1)
		return authenticate(service, request, out);
	ex_notify_ticket_status status = EX_NOTIFY_TICKET_UNKNOWN;
	if (found == 0 && ex_notify_ticket_valid(ticket))
		status = ex_notify_ticket_redeem(service->redis, ticket, out->tenant, out->user, &out->expires_at);
	if (status == EX_NOTIFY_TICKET_REDEEMED) {
		ex_http_set_log_tenant(request, out->tenant);
		return true;
	}
	if (status == EX_NOTIFY_TICKET_UNAVAILABLE) {
		ex_log(EX_LOG_ERROR, "ticket_check_failed", "{s:s}", "reason", "Redis is unavailable");
		ex_http_respond_error(request, 503, "redis_unavailable", "the ticket could not be checked; try again shortly");
		ex_http_add_header(request, MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_SECONDS);
	} else {
		ex_log(EX_LOG_INFO, "ticket_rejected", NULL);
		ex_http_respond_error(request, 401, "invalid_ticket",
				      "the ticket is unknown, expired or already used; request a new one with "
				      "POST /api/v1/notifications/ticket");
	}
	return false;
}

static void refuse_stream(ex_http_request *request, ex_notify_open_status status, const caller *requester,
			  const ex_notify_service *service)
{
	switch (status) {
	case EX_NOTIFY_OPEN_USER_LIMIT:
		ex_log(EX_LOG_INFO, "stream_refused", "{s:s, s:s}", "user", requester->user, "reason", "user_limit");
		ex_http_respond_error(request, 429, "too_many_streams",
				      "this user already has %zu open notification streams on this server; close one "
				      "(for example another tab) and retry",
				      service->limits.max_per_user);
		break;
	case EX_NOTIFY_OPEN_SERVER_LIMIT:
		ex_log(EX_LOG_WARN, "stream_refused", "{s:s, s:s}", "user", requester->user, "reason", "server_limit");
		ex_http_respond_error(request, 503, "server_busy",
				      "this server holds its maximum of %zu notification streams; retry later",
				      service->limits.max_streams);
		break;
	case EX_NOTIFY_OPEN_STOPPING:
		ex_http_respond_error(request, 503, "shutting_down", "this server is shutting down; retry later");
		break;
	default:
		ex_http_respond_error(request, 500, "internal_error", "out of memory opening the stream");
		return;
	}
	ex_http_add_header(request, MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_SECONDS);
}

/*
 * Parses the Last-Event-ID header, or else the last_event_id query
 * parameter (a new EventSource cannot set the header), into *out. Returns
 * 1 when present, 0 when absent, -1 after sending 400 when invalid.
 */
static int read_last_event_id(ex_http_request *request, ex_notify_stream_id *out)
{
	char query[EX_NOTIFY_STREAM_ID_MAX + 1];
	const char *text = ex_http_header(request, "Last-Event-ID");

	if (text == NULL || text[0] == '\0') {
		int found = ex_http_query(request, "last_event_id", query, sizeof(query));
		if (found == 1)
			return 0;
		text = found == 0 ? query : "";
	}
	if (text[0] != '\0' && ex_notify_stream_id_parse(text, strlen(text), out) == 0)
		return 1;
	ex_http_respond_error(request, 400, "invalid_last_event_id",
			      "Last-Event-ID must be an id this server sent, of the form <milliseconds>-<sequence>; "
			      "reconnect without it to start from now");
	return -1;
}

static void open_stream(ex_http_request *request, void *context)
{
	ex_notify_service *service = context;
	ex_notify_stream_id since;
	ex_notify_client *client = NULL;
	caller requester;

	int has_since = read_last_event_id(request, &since);
	if (has_since < 0 || !identify_stream_caller(service, request, &requester))
		return;
	/* The verifier accepts a token up to its leeway past exp, so the stream ends only then. */
	ex_notify_open_status status =
		ex_notify_hub_open(service->hub, ex_http_connection(request), requester.tenant, requester.user,
				   requester.expires_at + EX_AUTH_DEFAULT_LEEWAY_SECONDS, &client);
	if (status != EX_NOTIFY_OPEN_OK) {
		refuse_stream(request, status, &requester, service);
		return;
	}

	size_t length;
	char *preamble = ex_notify_sse_preamble((unsigned long)service->retry_ms, &length);
	if (preamble != NULL)
		ex_notify_client_write(client, preamble, length, NULL, false);
	free(preamble);
	ex_notify_history_status history =
		ex_notify_history_replay(service->redis, client, has_since ? &since : NULL, service->history_max);
	if (history == EX_NOTIFY_HISTORY_UNAVAILABLE)
		ex_log(EX_LOG_WARN, "stream_replay_deferred", "{s:s, s:s}", "user", requester.user, "reason",
		       "Redis is unavailable; the relay catches up once it is back");
	ex_notify_client_finish_replay(client);

	struct MHD_Response *response = ex_notify_client_response(client);
	if (response == NULL) {
		ex_notify_hub_unlink(service->hub, client);
		ex_notify_client_free(client);
		ex_http_respond_error(request, 500, "internal_error", "out of memory opening the stream");
		return;
	}
	ex_http_respond_mhd(request, 200, response);
	ex_http_add_header(request, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
	ex_http_add_header(request, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ex_http_add_header(request, "X-Accel-Buffering", "no");
	ex_log(EX_LOG_INFO, "stream_opened", "{s:s, s:s, s:b}", "user", requester.user, "history",
	       history == EX_NOTIFY_HISTORY_RESYNC ? "resync" : history == EX_NOTIFY_HISTORY_REPLAYED ? "replayed"
											    : "deferred",
	       "resumed", has_since);
}

int ex_notify_add_routes(ex_notify_service *service, ex_http_server *http)
{
	if (ex_http_route_limited(http, "POST", "/api/v1/notifications/ticket", issue_ticket, service,
				  TICKET_MAX_BODY) != 0 ||
	    ex_http_route_limited(http, "GET", "/api/v1/notifications/stream", open_stream, service, 0) != 0)
		return -1;
	return 0;
}
