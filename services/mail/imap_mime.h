/*
 * The parts of FETCH that read a message's content, with GMime 3: the
 * octets of a BODY[section] or BINARY[section] (RFC 3516). ENVELOPE,
 * BODY and BODYSTRUCTURE come from imap_structure.h.
 */
#ifndef EXPRESSO_MAIL_IMAP_MIME_H
#define EXPRESSO_MAIL_IMAP_MIME_H

#include <stdbool.h>
#include <stddef.h>

#include "expresso/imap_fetch.h"
#include "expresso/imap_writer.h"

typedef struct imap_mime imap_mime;

/* Parses the LENGTH octets at DATA, which must outlive the result. Returns NULL when out of memory. */
imap_mime *imap_mime_open(const char *data, size_t length);
void imap_mime_free(imap_mime *mime);

/*
 * Copies the octets of SECTION into a new buffer (*DATA, freed with
 * free()); BINARY decodes the content transfer encoding. Returns 0, or -1
 * when the section does not exist (*DATA NULL) or memory ran out.
 */
int imap_mime_section(const imap_mime *mime, const ex_imap_section *section, bool binary, char **data, size_t *length);

#endif
