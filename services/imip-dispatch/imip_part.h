/*
 * The iCalendar part of an incoming iMIP message (RFC 6047): the first
 * text/calendar body part of the message, decoded from its transfer
 * encoding, with the "method" parameter of its Content-Type and the From
 * address of the message. Parts inside an attached message/rfc822 are not
 * looked at, because an iMIP sender puts the iTIP body in the message
 * itself, and an attached message is a forwarded one. No I/O: the caller
 * reads the message.
 */
#ifndef EXPRESSO_IMIP_PART_H
#define EXPRESSO_IMIP_PART_H

#include <stddef.h>

enum {
	IMIP_MAX_ADDRESS = 255, /* bytes of a bare address, with its NUL (EX_ITIP_MAX_ADDRESS) */
	IMIP_MAX_METHOD = 32,   /* bytes of the Content-Type method parameter, with its NUL */
	IMIP_MAX_PARTS = 200,   /* body parts looked at per message; the rest are skipped */
	IMIP_MAX_DEPTH = 16,    /* nesting of multiparts looked into */
};

typedef enum {
	IMIP_PART_FOUND = 0,
	IMIP_PART_NONE,      /* the message has no text/calendar part */
	IMIP_PART_TOO_LARGE, /* the decoded part is larger than the caller's maximum */
	IMIP_PART_INVALID,   /* GMime could not parse the message */
} imip_part_status;

typedef struct {
	char *calendar;                 /* the decoded part, NUL-terminated (free), NULL unless FOUND */
	size_t length;                  /* bytes of CALENDAR */
	char method[IMIP_MAX_METHOD];   /* the Content-Type method parameter, uppercase; "" when absent or too long */
	char from[IMIP_MAX_ADDRESS];    /* the first From mailbox, lowercase; "" when absent or too long */
} imip_part;

/* Initialises GMime; call once per process before imip_part_extract. */
void imip_part_init(void);

/*
 * Finds the first text/calendar part of the message DATA (LENGTH bytes)
 * and fills PART. A part whose decoded size is above MAX_SIZE bytes
 * returns IMIP_PART_TOO_LARGE. PART->from is filled for every status but
 * IMIP_PART_INVALID.
 */
imip_part_status imip_part_extract(const char *data, size_t length, size_t max_size, imip_part *part);

/* Frees the text of PART and clears it. */
void imip_part_clear(imip_part *part);

/* Writes ADDRESS in lowercase into OUT; returns 0, or -1 when it is empty or does not fit. */
int imip_address_lower(const char *address, char *out, size_t size);

#endif
