/*
 * Parser of remote SMTP replies for the outbound client. It never trusts
 * the remote: lengths are capped, text is cleaned of control characters
 * before it reaches a log or a DSN, and a reply whose code changes
 * between lines is malformed.
 */
#include "smtp_reply.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

void ex_smtp_reply_init(ex_smtp_reply *reply)
{
	memset(reply, 0, sizeof(*reply));
}

/* Reads "d.d{1,3}.d{1,3}" at the start of TEXT and returns its length, or 0. */
static size_t enhanced_length(const char *text, size_t length)
{
	size_t i = 0;
	if (length < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.')
		return 0;
	i = 2;
	for (int part = 0; part < 2; part++) {
		size_t digits = 0;
		while (i < length && isdigit((unsigned char)text[i]) && digits < 4) {
			i++;
			digits++;
		}
		if (digits == 0 || digits > 3)
			return 0;
		if (part == 0) {
			if (i >= length || text[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < length && text[i] != ' ')
		return 0;
	return i;
}

static void append_text(ex_smtp_reply *reply, const char *text, size_t length)
{
	size_t used = strlen(reply->text);
	if (used > 0 && used + 1 < sizeof(reply->text))
		reply->text[used++] = ' ';
	for (size_t i = 0; i < length && used + 1 < sizeof(reply->text); i++) {
		unsigned char octet = (unsigned char)text[i];
		reply->text[used++] = (octet < 0x20 || octet == 0x7f) ? '?' : (char)octet;
	}
	reply->text[used] = '\0';
}

/* Compares the first word of an EHLO line with KEYWORD, case-insensitively. */
static bool keyword_is(const char *text, size_t length, const char *keyword)
{
	size_t keyword_length = strlen(keyword);
	if (length < keyword_length || strncasecmp(text, keyword, keyword_length) != 0)
		return false;
	return length == keyword_length || text[keyword_length] == ' ' || text[keyword_length] == '=';
}

/* Returns true when the AUTH line TEXT (after "AUTH") lists the PLAIN mechanism. */
static bool auth_lists_plain(const char *text, size_t length)
{
	size_t i = 4;
	while (i < length) {
		while (i < length && (text[i] == ' ' || text[i] == '='))
			i++;
		size_t start = i;
		while (i < length && text[i] != ' ')
			i++;
		if (i - start == 5 && strncasecmp(text + start, "PLAIN", 5) == 0)
			return true;
	}
	return false;
}

static void note_extension(ex_smtp_extensions *extensions, const char *text, size_t length)
{
	if (keyword_is(text, length, "STARTTLS"))
		extensions->starttls = true;
	else if (keyword_is(text, length, "PIPELINING"))
		extensions->pipelining = true;
	else if (keyword_is(text, length, "SIZE"))
		extensions->size = true;
	else if (keyword_is(text, length, "8BITMIME"))
		extensions->eightbitmime = true;
	else if (keyword_is(text, length, "SMTPUTF8"))
		extensions->smtputf8 = true;
	else if (keyword_is(text, length, "DSN"))
		extensions->dsn = true;
	else if (keyword_is(text, length, "REQUIRETLS"))
		extensions->requiretls = true;
	else if (keyword_is(text, length, "AUTH") && auth_lists_plain(text, length))
		extensions->auth_plain = true;
}

ex_smtp_reply_status ex_smtp_reply_line(ex_smtp_reply *reply, const char *line, size_t length)
{
	if (length > EX_SMTP_REPLY_MAX_LINE)
		length = EX_SMTP_REPLY_MAX_LINE;
	if (length < 3 || line[0] < '2' || line[0] > '5' || !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]))
		return EX_SMTP_REPLY_MALFORMED;
	if (length > 3 && line[3] != ' ' && line[3] != '-')
		return EX_SMTP_REPLY_MALFORMED;

	int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (reply->lines > 0 && code != reply->code)
		return EX_SMTP_REPLY_MALFORMED;
	if (reply->lines >= EX_SMTP_REPLY_MAX_LINES)
		return EX_SMTP_REPLY_MALFORMED;
	reply->code = code;
	reply->lines++;

	const char *text = length > 4 ? line + 4 : "";
	size_t text_length = length > 4 ? length - 4 : 0;
	if (reply->lines > 1) {
		note_extension(&reply->extensions, text, text_length);
	}
	/* RFC 2034: the enhanced code leads every line when the server uses them; keep the first one. */
	size_t enhanced = enhanced_length(text, text_length);
	if (enhanced > 0 && text[0] == line[0]) {
		if (reply->enhanced[0] == '\0' && enhanced < sizeof(reply->enhanced)) {
			memcpy(reply->enhanced, text, enhanced);
			reply->enhanced[enhanced] = '\0';
		}
		text += enhanced;
		text_length -= enhanced;
		while (text_length > 0 && *text == ' ') {
			text++;
			text_length--;
		}
	}
	append_text(reply, text, text_length);

	bool last = length == 3 || line[3] == ' ';
	return last ? EX_SMTP_REPLY_COMPLETE : EX_SMTP_REPLY_MORE;
}

int ex_smtp_reply_class(const ex_smtp_reply *reply)
{
	return reply->code / 100;
}
