/*
 * Turns one event of the EXPRESSO stream into a notification: who receives
 * it, under which SSE event name, and the JSON it carries. The JSON keeps
 * only ids, the time and a short summary, never a message body.
 *
 * Recipients are the event's "user", "users" and "user_id" fields. A
 * drive.uploaded event also reaches its "owner_id", a drive.shared event
 * its "owner_id" and the users in "shared_with", and a calendar.changed
 * event its "owner_id". An event that names no user goes to nobody.
 */
#ifndef EX_NOTIFY_EVENT_H
#define EX_NOTIFY_EVENT_H

#include <stddef.h>

enum {
	EX_NOTIFY_MAX_TOKEN = 64,         /* tenant and user ids: [A-Za-z0-9_-] */
	EX_NOTIFY_MAX_EVENT_ID = 128,     /* event ids: [A-Za-z0-9_.:-] */
	EX_NOTIFY_MAX_TYPE = 64,          /* "<domain>.<event>" */
	EX_NOTIFY_MAX_RECIPIENTS = 32,
	EX_NOTIFY_MAX_SUMMARY_FIELDS = 16,
	EX_NOTIFY_MAX_SUMMARY_TEXT = 256, /* bytes of one summary string, cut at a character boundary */
	EX_NOTIFY_MAX_DATA = 4096,        /* bytes of the JSON sent to the client */
	EX_NOTIFY_MAX_LIST_ITEMS = 32,    /* items of a copied list such as "uids" or "flags" */
	EX_NOTIFY_MAX_LIST_TEXT = 32,     /* bytes of one string in a copied list */
};

typedef struct {
	char event_id[EX_NOTIFY_MAX_EVENT_ID + 1];
	char tenant[EX_NOTIFY_MAX_TOKEN + 1];
	char type[EX_NOTIFY_MAX_TYPE + 1];
	size_t recipient_count;
	char recipients[EX_NOTIFY_MAX_RECIPIENTS][EX_NOTIFY_MAX_TOKEN + 1];
	char *data; /* compact JSON without newlines; owned, freed by ex_notify_event_clear */
} ex_notify_event;

/*
 * Parses the event published on SUBJECT (expresso.<tenant>.<domain>.<event>)
 * with body JSON of LENGTH bytes. Returns 0, or -1 with the reason in err
 * when the event is malformed (a poison message: retrying cannot help).
 */
int ex_notify_event_parse(const char *subject, const char *json, size_t length, ex_notify_event *out,
			  char *err, size_t errlen);

void ex_notify_event_clear(ex_notify_event *event);

/* Returns 1 when TEXT is 1 to EX_NOTIFY_MAX_TOKEN characters of [A-Za-z0-9_-]. */
int ex_notify_token_valid(const char *text);

#endif
