/*
 * The webmail JSON API under /api/v1/mail on expresso-mail's HTTP port:
 * folders (mail_api_folders.c), messages (mail_api_messages.c) and
 * composing (mail_api_send.c). The tenant and user come only from the
 * access token (Bearer or the expresso_session cookie). Every change goes
 * through the messages and mailboxes tables, so their triggers give IMAP
 * the same UIDs, modseqs and notifications. The API also publishes
 * mail.flags_changed, mail.expunged and mail.mailbox_changed on the bus.
 */
#ifndef EXPRESSO_MAIL_API_H
#define EXPRESSO_MAIL_API_H

#include <stdbool.h>
#include <stdint.h>

#include "expresso/authclient.h"
#include "expresso/daemon.h"
#include "mail_compose.h"
#include "mail_service.h"

/* The JSON API's settings, added to ex_mail_settings. */
#define EX_MAIL_API_SETTINGS                                                                                           \
	{ "mail_api_max_body", "EXPRESSO_MAIL_API_MAX_BODY", EX_SETTING_SIZE, "36M", "bytes",                          \
	  "Largest request body of /send, /send-itip and the drafts routes (JSON with base64 attachments).", false },  \
	{ "mail_api_max_attachment_size", "EXPRESSO_MAIL_API_MAX_ATTACHMENT_SIZE", EX_SETTING_SIZE, "20M", "bytes",   \
	  "Largest attachment of a message written through the API, decoded.", false },                               \
	{ "mail_api_max_recipients", "EXPRESSO_MAIL_API_MAX_RECIPIENTS", EX_SETTING_INT, "100", "recipients",         \
	  "Recipients (to, cc and bcc together) of a message written through the API.", false },                      \
	{ "mail_api_max_page", "EXPRESSO_MAIL_API_MAX_PAGE", EX_SETTING_INT, "200", "messages",                       \
	  "Largest page of the message list (the limit parameter; its default is 50).", false },                     \
	{ "mail_drive_url", "EXPRESSO_MAIL_DRIVE_URL", EX_SETTING_STRING, "http://127.0.0.1:8004", NULL,              \
	  "Base URL of expresso-drive, from which attachments given by drive_file_id are read as the user.", false },  \
	{ "mail_drive_timeout", "EXPRESSO_MAIL_DRIVE_TIMEOUT", EX_SETTING_DURATION, "30s", "duration",                \
	  "Longest wait for each request to expresso-drive (connection and transfer).", false },

typedef struct ex_mail_api {
	ex_mail_service *service;
	ex_mail_compose_limits compose_limits;
	uint64_t max_message_bytes; /* a built message larger than this gets message_too_large */
	unsigned max_page;
	ex_counter *messages_sent;
	char drive_url[512];        /* EXPRESSO_MAIL_DRIVE_URL without a trailing slash */
	uint64_t drive_timeout_ms;
} ex_mail_api;

/* The caller of a request, from a verified access token. */
typedef struct {
	ex_auth_claims claims;
	const char *tenant_id; /* borrowed from claims */
	const char *user_id;   /* sub; borrowed from claims */
} ex_mail_api_caller;

/* Reads the API settings and adds the routes. Returns 0 or -1 (logged). */
int ex_mail_api_open(ex_mail_service *service, ex_daemon *daemon);
void ex_mail_api_close(ex_mail_service *service);

/* Verifies the request's token, or sends 401 (or 503) and returns false. */
bool ex_mail_api_authenticate(ex_mail_api *api, ex_http_request *request, ex_mail_api_caller *caller);
void ex_mail_api_caller_clear(ex_mail_api_caller *caller);

/* Sends the error for a failed transaction (403 for a user without an account row, else 503) and logs it once. */
void ex_mail_api_respond_database_error(ex_http_request *request, const char *operation, const ex_db_error *error);

/* Parses the request body as a JSON object, or sends 400 invalid_request and returns NULL. */
json_t *ex_mail_api_read_object(ex_http_request *request);

/* Publishes mail.<EVENT> with USER and the ids in FIELDS (stolen); a failure is logged, not returned. */
void ex_mail_api_publish(ex_mail_api *api, const ex_mail_api_caller *caller, const char *event, json_t *fields);

/* Creates the user's standard mailboxes (INBOX, Sent, Drafts, Trash, Junk, Archive) that are missing. */
int ex_mail_api_create_standard_mailboxes(PGconn *connection, const char *tenant_id, const char *user_id,
					  ex_db_error *error);

enum { EX_MAIL_API_SQL_MAX_PARAMS = 24 };

/* Runs one statement; on failure returns NULL with ERROR filled in (a wrapper of ex_db_exec for short calls). */
PGresult *ex_mail_api_sql(PGconn *connection, ex_db_error *error, const char *sql, int count, ...);

/* Route registration, one file each. */
int ex_mail_api_add_folder_routes(ex_mail_api *api, ex_http_server *http);
int ex_mail_api_add_message_routes(ex_mail_api *api, ex_http_server *http);
int ex_mail_api_add_send_routes(ex_mail_api *api, ex_http_server *http, size_t max_body);

#endif
