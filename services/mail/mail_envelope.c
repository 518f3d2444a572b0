/*
 * Envelope fields through GMime: the parser builds the message, and the
 * raw value of each header field is unfolded and made valid UTF-8 here.
 * The Date field is parsed by GMime (RFC 5322 date-time and the common
 * obsolete forms) and returned in ISO 8601.
 */
#include "mail_envelope.h"

#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

#include "mail_mime_parse.h"

static const char *const header_names[EX_MAIL_ENVELOPE_FIELDS] = {
	"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "In-Reply-To", "Message-ID", "References",
};

void ex_mail_envelope_library_init(void)
{
	g_mime_init();
}

void ex_mail_envelope_library_shutdown(void)
{
	g_mime_shutdown();
}

/* Appends the UTF-8 encoding of CODE_POINT (below 0x800). */
static size_t put_two_byte(char *out, unsigned code_point)
{
	out[0] = (char)(0xc0 | (code_point >> 6));
	out[1] = (char)(0x80 | (code_point & 0x3f));
	return 2;
}

/*
 * Returns a new string: VALUE with CR and LF removed (unfolding), leading
 * and trailing white space trimmed, control characters other than tab
 * dropped, and invalid UTF-8 octets read as ISO-8859-1.
 */
static char *clean_value(const char *value)
{
	size_t length = strlen(value);
	if (length > EX_MAIL_ENVELOPE_MAX_VALUE)
		length = EX_MAIL_ENVELOPE_MAX_VALUE;
	char *out = malloc(length * 2 + 1);
	if (out == NULL)
		return NULL;

	size_t written = 0;
	const char *p = value;
	const char *end = value + length;
	while (p < end) {
		unsigned char c = (unsigned char)*p;
		if (c >= 0x80) {
			gunichar character = g_utf8_get_char_validated(p, end - p);
			if (character == (gunichar)-1 || character == (gunichar)-2) {
				written += put_two_byte(out + written, c);
				p++;
				continue;
			}
			const char *after = g_utf8_next_char(p);
			memcpy(out + written, p, (size_t)(after - p));
			written += (size_t)(after - p);
			p = after;
			continue;
		}
		if (c == '\r' || c == '\n' || (c < 32 && c != '\t') || c == 127) {
			p++;
			continue;
		}
		out[written++] = (char)c;
		p++;
	}
	out[written] = '\0';

	size_t start = 0;
	while (out[start] == ' ' || out[start] == '\t')
		start++;
	while (written > start && (out[written - 1] == ' ' || out[written - 1] == '\t'))
		out[--written] = '\0';
	if (start > 0)
		memmove(out, out + start, written - start + 1);
	return out;
}

/* Returns true when LIST has at least one mailbox and all are EXPECTED; a group never matches. */
static bool from_is(InternetAddressList *list, const char *expected)
{
	int count = list == NULL ? 0 : internet_address_list_length(list);
	if (count == 0)
		return false;
	for (int i = 0; i < count; i++) {
		InternetAddress *address = internet_address_list_get_address(list, i);
		if (!INTERNET_ADDRESS_IS_MAILBOX(address))
			return false;
		const char *mailbox = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(address));
		if (mailbox == NULL || g_ascii_strcasecmp(mailbox, expected) != 0)
			return false;
	}
	return true;
}

char *ex_mail_envelope_decode_text(const char *raw, size_t max_bytes)
{
	if (raw == NULL)
		return NULL;
	char *decoded = g_mime_utils_header_decode_text(NULL, raw);
	if (decoded == NULL)
		return NULL;
	char *clean = clean_value(decoded);
	g_free(decoded);
	if (clean == NULL)
		return NULL;
	size_t length = strlen(clean);
	if (length > max_bytes) {
		/* Cut before a UTF-8 continuation octet so the result stays valid UTF-8. */
		length = max_bytes;
		while (length > 0 && ((unsigned char)clean[length] & 0xc0) == 0x80)
			length--;
		clean[length] = '\0';
	}
	return clean;
}

bool ex_mail_envelope_from_allowed(const char *content, size_t length, const char *const *allowed, size_t count)
{
	GMimeMessage *message = ex_mail_mime_parse(content, length);
	if (message == NULL)
		return false;

	InternetAddressList *list = g_mime_message_get_from(message);
	int mailboxes = list == NULL ? 0 : internet_address_list_length(list);
	bool result = mailboxes > 0;
	for (int i = 0; i < mailboxes && result; i++) {
		InternetAddress *address = internet_address_list_get_address(list, i);
		const char *mailbox = INTERNET_ADDRESS_IS_MAILBOX(address)
					      ? internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(address))
					      : NULL;
		bool found = false;
		for (size_t j = 0; j < count && mailbox != NULL && !found; j++)
			found = g_ascii_strcasecmp(mailbox, allowed[j]) == 0;
		result = found;
	}
	g_object_unref(message);
	return result;
}

int ex_mail_envelope_parse(const char *content, size_t length, const char *expected_from, ex_mail_envelope *envelope)
{
	*envelope = (ex_mail_envelope){ 0 };

	GMimeMessage *message = ex_mail_mime_parse(content, length);
	if (message == NULL)
		return 0;

	int status = 0;
	if (expected_from != NULL)
		envelope->from_matches = from_is(g_mime_message_get_from(message), expected_from);
	GMimeHeaderList *headers = g_mime_object_get_header_list(GMIME_OBJECT(message));
	for (int field = 0; field < EX_MAIL_ENVELOPE_FIELDS && status == 0; field++) {
		GMimeHeader *header = g_mime_header_list_get_header(headers, header_names[field]);
		if (header == NULL)
			continue;
		if (field == EX_MAIL_ENVELOPE_DATE) {
			GDateTime *date = g_mime_message_get_date(message);
			if (date == NULL)
				continue;
			gchar *text = g_date_time_format_iso8601(date);
			envelope->values[field] = text == NULL ? NULL : strdup(text);
			g_free(text);
			continue;
		}
		const char *raw = g_mime_header_get_raw_value(header);
		envelope->values[field] = clean_value(raw == NULL ? "" : raw);
		if (envelope->values[field] == NULL)
			status = -1;
	}
	g_object_unref(message);
	if (status != 0)
		ex_mail_envelope_clear(envelope);
	return status;
}

void ex_mail_envelope_clear(ex_mail_envelope *envelope)
{
	for (int field = 0; field < EX_MAIL_ENVELOPE_FIELDS; field++) {
		free(envelope->values[field]);
		envelope->values[field] = NULL;
	}
}
