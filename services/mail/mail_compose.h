/*
 * Messages written through the API. The JSON of POST /send, the drafts
 * routes and POST /send-itip is read into an ex_mail_compose. That is
 * built into an RFC 5322 message with GMime 3: UTF-8 text parts in
 * quoted-printable or base64, RFC 2047 encoded-words in the header,
 * RFC 2231 attachment names and CRLF line ends. No I/O.
 */
#ifndef EXPRESSO_MAIL_COMPOSE_H
#define EXPRESSO_MAIL_COMPOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef enum {
	EX_MAIL_COMPOSE_SEND = 0, /* at least one recipient */
	EX_MAIL_COMPOSE_DRAFT,    /* every field optional */
	EX_MAIL_COMPOSE_ITIP,     /* a recipient, "method" and "calendar" */
} ex_mail_compose_mode;

typedef enum {
	EX_MAIL_COMPOSE_OK = 0,
	EX_MAIL_COMPOSE_INVALID_REQUEST,     /* malformed JSON or a field of the wrong type or form */
	EX_MAIL_COMPOSE_INVALID_RECIPIENT,   /* an address that is not a valid mailbox */
	EX_MAIL_COMPOSE_TOO_MANY_RECIPIENTS,
	EX_MAIL_COMPOSE_ATTACHMENT_TOO_LARGE,
	EX_MAIL_COMPOSE_MESSAGE_TOO_LARGE,   /* text, HTML and attachments together */
	EX_MAIL_COMPOSE_NO_MEMORY,
} ex_mail_compose_status;

typedef struct {
	size_t max_recipients;       /* to, cc and bcc together */
	uint64_t max_attachment_bytes; /* one attachment, decoded */
	uint64_t max_message_bytes;  /* text, HTML and attachments, decoded */
} ex_mail_compose_limits;

enum {
	EX_MAIL_COMPOSE_MAX_SUBJECT = 998, /* bytes */
	EX_MAIL_COMPOSE_MAX_NAME = 255,    /* bytes of a display name or attachment file name */
	EX_MAIL_COMPOSE_MAX_ATTACHMENTS = 100,
	EX_MAIL_COMPOSE_MAX_REFERENCES = 4096, /* bytes of References */
};

typedef enum {
	EX_MAIL_RECIPIENT_TO = 0,
	EX_MAIL_RECIPIENT_CC,
	EX_MAIL_RECIPIENT_BCC,
	EX_MAIL_RECIPIENT_KINDS,
} ex_mail_recipient_kind;

typedef struct {
	char *name;    /* display name, UTF-8, may be NULL */
	char *address; /* local@domain */
} ex_mail_compose_address;

typedef struct {
	char *filename;      /* NULL for a drive file until it is fetched, unless the client named it */
	char *content_type;  /* "type/subtype"; NULL like filename */
	unsigned char *data; /* NULL for a drive file until it is fetched */
	size_t length;
	char *drive_file_id; /* {"drive_file_id": ...}: the file to fetch from expresso-drive, else NULL */
} ex_mail_compose_attachment;

typedef struct {
	ex_mail_compose_address *recipients[EX_MAIL_RECIPIENT_KINDS];
	size_t recipient_count[EX_MAIL_RECIPIENT_KINDS];
	char *subject;
	char *text;
	char *html;
	char *in_reply_to; /* "<id@host>" */
	char *references;  /* "<a@h> <b@h>" */
	ex_mail_compose_attachment *attachments;
	size_t attachment_count;
	char *method;      /* iTIP METHOD: REQUEST, REPLY or CANCEL */
	char *calendar;    /* iCalendar text */
	char *draft_id;    /* /send: the draft in Drafts that this message replaces, deleted once it is sent */
} ex_mail_compose;

/* The author and the values the server decides. */
typedef struct {
	const char *from_name;    /* may be NULL or "" */
	const char *from_address;
	const char *message_id;   /* without angle brackets: "<uuid>@<domain>" */
	time_t date;
} ex_mail_compose_origin;

/*
 * Reads the JSON request BODY for MODE into COMPOSE (cleared first).
 * Returns OK, or another status with a message for the client in ERR and,
 * for a bad recipient, the offending field ("to[2]") in FIELD.
 */
ex_mail_compose_status ex_mail_compose_parse(const char *body, size_t length, ex_mail_compose_mode mode,
					     const ex_mail_compose_limits *limits, ex_mail_compose *compose,
					     char *err, size_t errlen, char *field, size_t field_size);

/* Whether TEXT may be an attachment's filename: UTF-8 of 1 to EX_MAIL_COMPOSE_MAX_NAME bytes, no controls. */
bool ex_mail_compose_is_filename(const char *text);

/* Whether TEXT is a bare "type/subtype" media type without parameters. */
bool ex_mail_compose_is_media_type(const char *text);

/*
 * Returns the bytes that count against max_message_bytes so far: text,
 * HTML, calendar and the attachments that have content.
 */
uint64_t ex_mail_compose_size(const ex_mail_compose *compose);

/*
 * Builds the message. *WITH_BCC (when not NULL) receives the copy for the
 * sender's Sent or Drafts mailbox, *WITHOUT_BCC (when not NULL) the copy
 * that is sent. Buffers are malloc'd and NUL-terminated. Returns 0 or -1,
 * also when a drive attachment has not been fetched yet.
 */
int ex_mail_compose_build(const ex_mail_compose *compose, const ex_mail_compose_origin *origin, char **with_bcc,
			  size_t *with_bcc_length, char **without_bcc, size_t *without_bcc_length);

/*
 * Fills ADDRESSES with the envelope recipients (to, cc, bcc, each address
 * once, compared without case), borrowed from COMPOSE. Returns the count.
 */
size_t ex_mail_compose_envelope(const ex_mail_compose *compose, const char **addresses, size_t size);

void ex_mail_compose_clear(ex_mail_compose *compose);

#endif
