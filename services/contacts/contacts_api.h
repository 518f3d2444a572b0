/*
 * Helpers shared by the JSON API modules of expresso-contacts: authentication
 * with JSON errors, the route parameters that name an address book or a
 * vCard, the transaction runner, and the reply of a CardDAV handler sent
 * as JSON. Writes go through the CardDAV handlers, so they make the same
 * checks, keep the same limits and publish the same contacts.changed
 * events as CardDAV.
 */
#ifndef EXPRESSO_CONTACTS_API_H
#define EXPRESSO_CONTACTS_API_H

#include <stdbool.h>
#include <stddef.h>

#include "contacts_service.h"

/* Authenticates REQUEST into CONTEXT; on failure sends the JSON 401 or 503 and returns false. */
bool contacts_api_authenticate(contacts_service *service, ex_http_request *request, contacts_context *context);

/*
 * Sets CONTEXT's target from the {book} and, with CARD, {contact} route
 * parameters. Sends 404 and returns false when they do not name a valid
 * address book or vCard resource.
 */
bool contacts_api_read_target(ex_http_request *request, contacts_context *context, bool card);

/* Runs WORK(ARGUMENT) in CONTEXT's tenant transaction; sends a 503 and returns false when the database failed. */
bool contacts_api_run(contacts_context *context, ex_db_isolation isolation, ex_db_work work, void *argument);

/*
 * Sends the reply a CardDAV handler left in CONTEXT: an error as JSON,
 * its code being the DAV precondition with '_' for '-' (no_uid_conflict,
 * valid_address_data, ...), else the status with its body and ETag. A
 * change is counted and published.
 */
void contacts_api_send_dav_reply(contacts_context *context);

/*
 * Writes into OUT the resource name of a vCard created through the API.
 * The name is "<UID>.vcf" when the UID is a safe name. Otherwise it is 40
 * hex digits of the SHA-256 of the UID, or of TEXT when there is no UID.
 */
void contacts_api_card_name(const char *uid, const char *text, size_t length, char *out, size_t size);

/* Adds the write routes: address books, vCards (contacts_api_write.c). */
int contacts_add_api_write_routes(contacts_service *service, ex_http_server *http);

/* Adds POST /api/v1/addressbooks/{book}/import (contacts_api_import.c). */
int contacts_add_api_import_routes(contacts_service *service, ex_http_server *http);

#endif
