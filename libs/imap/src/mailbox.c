/*
 * Mailbox names between the wire and the server: the choice of modified
 * UTF-7 or UTF-8, INBOX normalisation and the checks on a name to create.
 */
#include "expresso/imap_mailbox.h"

#include <string.h>

#include "imap_chars.h"
#include "imap_utf8.h"

bool ex_imap_mailbox_is_inbox(const char *name)
{
	return strlen(name) == 5 && ex_imap_ascii_casecmp_n(name, "INBOX", 5);
}

void ex_imap_mailbox_normalize_inbox(char *name)
{
	size_t length = strlen(name);
	if (length < 5 || !ex_imap_ascii_casecmp_n(name, "INBOX", 5))
		return;
	if (length > 5 && name[5] != EX_IMAP_HIERARCHY_DELIMITER)
		return;
	/* Upper-case the prefix in place; the rest of the name is unchanged. */
	for (size_t i = 0; i < 5; i++)
		name[i] = "INBOX"[i];
}

const char *ex_imap_mailbox_from_wire(const char *wire, size_t length, bool utf8_accept,
				      char *out, size_t out_size)
{
	if (out_size == 0)
		return "Mailbox name too long";
	if (utf8_accept) {
		if (memchr(wire, '\0', length) != NULL)
			return "NUL in mailbox name";
		if (!ex_imap_utf8_valid(wire, length))
			return "Invalid UTF-8 in mailbox name";
		if (length >= out_size) {
			out[0] = '\0';
			return "Mailbox name too long";
		}
		memcpy(out, wire, length);
		out[length] = '\0';
	} else {
		const char *error = ex_imap_mutf7_decode(wire, length, out, out_size, NULL);
		if (error != NULL)
			return error;
	}
	ex_imap_mailbox_normalize_inbox(out);
	return NULL;
}

const char *ex_imap_mailbox_to_wire(const char *name, bool utf8_accept, char *out, size_t out_size)
{
	size_t length = strlen(name);
	if (out_size == 0)
		return "Mailbox name too long";
	if (!utf8_accept)
		return ex_imap_mutf7_encode(name, length, out, out_size, NULL);
	if (!ex_imap_utf8_valid(name, length))
		return "Invalid UTF-8 in mailbox name";
	if (length >= out_size) {
		out[0] = '\0';
		return "Mailbox name too long";
	}
	memcpy(out, name, length + 1);
	return NULL;
}

const char *ex_imap_mailbox_name_check(const char *name)
{
	const unsigned char *bytes = (const unsigned char *)name;
	size_t length = strlen(name);
	size_t component = 0;

	if (length == 0)
		return "Mailbox name is empty";
	if (length > EX_IMAP_MAX_MAILBOX_NAME)
		return "Mailbox name too long (the limit is 1024 octets)";
	if (!ex_imap_utf8_valid(name, length))
		return "Invalid UTF-8 in mailbox name";

	for (size_t i = 0; i < length; i++) {
		unsigned char c = bytes[i];
		if (c < 0x20 || c == 0x7f)
			return "Control characters are not allowed in mailbox names";
		if (c == '%' || c == '*')
			return "The wildcards '%' and '*' are not allowed in mailbox names";
		if (c == EX_IMAP_HIERARCHY_DELIMITER) {
			if (component == 0)
				return "Mailbox name has an empty hierarchy level";
			component = 0;
			continue;
		}
		component++;
		if (component > EX_IMAP_MAX_MAILBOX_COMPONENT)
			return "A hierarchy level of the mailbox name is too long (the limit is 255 octets)";
	}
	if (component == 0)
		return "Mailbox name ends with the hierarchy delimiter '/'";
	return NULL;
}
