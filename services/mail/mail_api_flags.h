/*
 * Flag changes requested over the API: the request body
 * {"seen": true, "flagged": false, "answered": ..., "draft": ...,
 *  "keywords": {"add": ["$label1"], "remove": ["todo"]}}
 * and the merge of a change into a message's stored flags. System flags
 * are stored in their RFC 9051 spelling; keywords are IMAP atoms.
 */
#ifndef EXPRESSO_MAIL_API_FLAGS_H
#define EXPRESSO_MAIL_API_FLAGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum {
	EX_MAIL_FLAGS_MAX_CHANGES = 32, /* flags added or removed by one request */
	EX_MAIL_KEYWORD_MAX = 64,       /* bytes of a keyword */
	EX_MAIL_FLAGS_MAX_STORED = 128, /* flags a message may carry after the change */
};

typedef struct {
	const char *add[EX_MAIL_FLAGS_MAX_CHANGES];    /* borrowed from the request JSON or static */
	size_t add_count;
	const char *remove[EX_MAIL_FLAGS_MAX_CHANGES];
	size_t remove_count;
} ex_mail_flag_change;

/* Returns true when KEYWORD is an IMAP atom of 1..EX_MAIL_KEYWORD_MAX bytes that does not start with '\'. */
bool ex_mail_keyword_is_valid(const char *keyword);

/*
 * Reads a flags request BODY into CHANGE (strings stay owned by BODY).
 * Returns 0, or -1 with a message for the client in ERR.
 */
int ex_mail_flag_change_parse(const json_t *body, ex_mail_flag_change *change, char *err, size_t errlen);

/*
 * Returns a new array: CURRENT (strings) without the removed flags, then
 * the added ones that were missing, in that order. *CHANGED is set to whether
 * the set differs from CURRENT. NULL when the result would carry more than
 * EX_MAIL_FLAGS_MAX_STORED flags or memory ran out.
 */
json_t *ex_mail_flags_apply(const json_t *current, const ex_mail_flag_change *change, bool *changed);

/* Returns the API object {"seen":..,"flagged":..,"answered":..,"draft":..,"deleted":..,"keywords":[..]} for FLAGS. */
json_t *ex_mail_flags_json(const json_t *flags);

#endif
