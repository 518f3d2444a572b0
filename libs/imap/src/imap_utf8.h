/* UTF-8 decoding of one code point, private to libexpresso-imap. */
#ifndef EXPRESSO_IMAP_UTF8_H
#define EXPRESSO_IMAP_UTF8_H

#include <stddef.h>

/* Decodes the code point at S; returns the octets used, or 0 if the sequence is not well-formed UTF-8. */
size_t ex_imap_utf8_decode_one(const unsigned char *s, size_t length, unsigned *code_point);

#endif
