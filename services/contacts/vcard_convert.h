/*
 * Conversion of a parsed vCard between versions 2.1/3.0 and 4.0, for
 * clients that ask for one version in CARDDAV:address-data (RFC 6352
 * section 10.4). The converted vCard is written anew, folded at 75 octets.
 * Converted: VERSION; inline binary values (ENCODING=b with a TYPE media
 * type in 3.0, data: URIs in 4.0); the preference (TYPE=pref in 3.0,
 * PREF=1 in 4.0); Apple group vCards (X-ADDRESSBOOKSERVER-KIND/-MEMBER in
 * 3.0, KIND/MEMBER in 4.0); vCard 2.1 quoted-printable values, which are
 * written decoded; CHARSET parameters, which are dropped. Every other
 * property and parameter is written as received.
 */
#ifndef EXPRESSO_CONTACTS_VCARD_CONVERT_H
#define EXPRESSO_CONTACTS_VCARD_CONVERT_H

#include <stddef.h>

#include "vcard.h"

/*
 * Writes CARD as a vCard of VERSION ("3.0" or "4.0") into a new
 * NUL-terminated string (free()); *LENGTH gets its length. Returns NULL
 * for another version or when memory runs out.
 */
char *ex_vcard_convert(const ex_vcard *card, const char *version, size_t *length);

#endif
