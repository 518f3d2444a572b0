/*
 * Parses a whole RFC 5322 message held in memory into a GMimeMessage.
 * Kept apart from mail_envelope.h, which code built without GMime's
 * headers includes.
 */
#ifndef EXPRESSO_MAIL_MIME_PARSE_H
#define EXPRESSO_MAIL_MIME_PARSE_H

#include <gmime/gmime.h>
#include <stddef.h>

/*
 * Returns the message parsed from the LENGTH bytes at DATA, or NULL when
 * GMime finds no message there. GMime copies DATA, so the caller may free
 * it at once; the caller releases the result with g_object_unref.
 */
GMimeMessage *ex_mail_mime_parse(const char *data, size_t length);

#endif
