/*
 * vCard parser (vCard 2.1, RFC 2426 vCard 3.0, RFC 6350 vCard 4.0) for
 * CardDAV: splits a body into vCards and their properties with group,
 * parameters and value. Lines are unfolded (CRLF or LF followed by a space
 * or tab); vCard 2.1 quoted-printable values are decoded, including soft
 * line breaks that continue a value on the next line; ENCODING=b and
 * BASE64 values are decoded with white space inside the base64 skipped.
 * Bare 2.1 parameters (TEL;WORK;VOICE) become TYPE parameters, or ENCODING
 * for the encoding names.
 *
 * The parser only reads: stored vCards are kept byte for byte as the
 * client sent them. Everything it returns lives in one arena freed by
 * ex_vcard_list_free().
 */
#ifndef EXPRESSO_CONTACTS_VCARD_H
#define EXPRESSO_CONTACTS_VCARD_H

#include <stddef.h>

enum {
	EX_VCARD_MAX_CARDS = 10000,
	EX_VCARD_MAX_PROPERTIES = 100000,  /* over all cards of one body */
	EX_VCARD_MAX_PARAMETERS = 64,      /* per property */
	EX_VCARD_MAX_NAME = 128,           /* bytes of a group, property or parameter name */
};

typedef struct {
	const char *name;  /* upper case */
	const char *value; /* without the surrounding double quotes */
} ex_vcard_parameter;

typedef struct {
	const char *group; /* NULL, or the group before the dot ("item1") */
	const char *name;  /* upper case */
	const char *spelling; /* the name as written, e.g. "X-ABLabel" */
	const ex_vcard_parameter *parameters;
	size_t parameter_count;
	/* The unfolded value; for quoted-printable the decoded bytes. */
	const char *value;
	size_t value_length;
	/* Decoded bytes for ENCODING=b or BASE64, else NULL. */
	const unsigned char *binary;
	size_t binary_length;
	unsigned line; /* first line of the property in the body, from 1 */
} ex_vcard_property;

typedef struct {
	const ex_vcard_property *properties; /* between BEGIN and END, both excluded */
	size_t property_count;
	const char *version; /* the VERSION value, or NULL */
	const char *uid;     /* the UID value, or NULL */
} ex_vcard;

typedef struct ex_vcard_list ex_vcard_list;

/*
 * Parses TEXT (LENGTH bytes) into a list of vCards. Returns NULL with a
 * sentence naming the line in ERR when the body is not a sequence of
 * BEGIN:VCARD ... END:VCARD blocks or passes a limit.
 */
ex_vcard_list *ex_vcard_parse(const char *text, size_t length, char *err, size_t errlen);
void ex_vcard_list_free(ex_vcard_list *list);

size_t ex_vcard_count(const ex_vcard_list *list);
const ex_vcard *ex_vcard_at(const ex_vcard_list *list, size_t index);

/* Returns the value of parameter NAME (upper case) of PROPERTY, or NULL. */
const char *ex_vcard_parameter_value(const ex_vcard_property *property, const char *name);

#endif
