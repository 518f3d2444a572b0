/* The HTTP routes for Sieve scripts and vacation settings (mail_sieve_routes.c). */
#ifndef EXPRESSO_MAIL_SIEVE_ROUTES_H
#define EXPRESSO_MAIL_SIEVE_ROUTES_H

#include "mail_service.h"

/* Name of the script that PUT /api/v1/mail/vacation writes. */
#define EX_MAIL_VACATION_SCRIPT "expresso-vacation"

/* Adds the routes; without an access token verifier it adds none. Returns 0 or -1. */
int ex_mail_sieve_routes_add(ex_mail_service *service, ex_http_server *http);

#endif
