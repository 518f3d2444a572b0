/*
 * The short HTML pages shown to a person when a login cannot go on
 * (unknown or expired login, identity provider unreachable, access denied,
 * provider error), in Brazilian Portuguese or English. Each page names what
 * happened, what to do, and a reference (the request id) for support.
 */
#ifndef EXPRESSO_AUTH_ERROR_PAGE_H
#define EXPRESSO_AUTH_ERROR_PAGE_H

#include "accept_language.h"

typedef enum {
	EX_RP_PAGE_LOGIN_UNKNOWN = 0, /* state never issued, already used or evicted */
	EX_RP_PAGE_LOGIN_EXPIRED,     /* state older than the login TTL */
	EX_RP_PAGE_PROVIDER_UNREACHABLE,
	EX_RP_PAGE_ACCESS_DENIED,     /* error=access_denied from the provider */
	EX_RP_PAGE_PROVIDER_ERROR,    /* any other error from the provider */
	EX_RP_PAGE_LOGIN_FAILED,      /* code rejected or tokens failed validation */
	EX_RP_PAGE_INTERNAL,
	EX_RP_PAGE_COUNT,
} ex_rp_page;

/* Returns the HTTP status of PAGE (400, 403, 500 or 502). */
unsigned ex_rp_page_status(ex_rp_page page);

/* Returns a stable machine name of PAGE for logs, e.g. "login_expired". */
const char *ex_rp_page_code(ex_rp_page page);

/*
 * Renders PAGE in LANGUAGE with REFERENCE (the request id; may be NULL)
 * HTML-escaped into the text. Returns a string the caller frees, or NULL
 * when memory runs out.
 */
char *ex_rp_page_render(ex_rp_page page, ex_rp_language language, const char *reference);

#endif
