/*
 * Path and ESMTP parameter parsing for MAIL and RCPT. The grammar is RFC
 * 5321 4.1.2 (Dot-string or Quoted-string local part, domain of LDH labels
 * or an address literal), widened by RFC 6531 to UTF-8 when the client
 * declared SMTPUTF8. A source route (<@a,@b:user@c>) is accepted and
 * dropped, as RFC 5321 4.1.1.3 requires of servers.
 */
#include "smtp_address.h"

#include <string.h>
#include <strings.h>

static bool is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Returns the length of the well-formed UTF-8 sequence at TEXT (a non-ASCII lead byte), or 0. */
static size_t utf8_sequence(const unsigned char *text, size_t available)
{
	unsigned char lead = text[0];
	size_t length;
	unsigned long value;

	if (lead >= 0xc2 && lead <= 0xdf) {
		length = 2;
		value = lead & 0x1f;
	} else if (lead >= 0xe0 && lead <= 0xef) {
		length = 3;
		value = lead & 0x0f;
	} else if (lead >= 0xf0 && lead <= 0xf4) {
		length = 4;
		value = lead & 0x07;
	} else {
		return 0;
	}
	if (length > available)
		return 0;
	for (size_t i = 1; i < length; i++) {
		if ((text[i] & 0xc0) != 0x80)
			return 0;
		value = (value << 6) | (text[i] & 0x3f);
	}
	if ((length == 3 && value < 0x800) || (length == 4 && (value < 0x10000 || value > 0x10ffff)) ||
	    (value >= 0xd800 && value <= 0xdfff))
		return 0;
	return length;
}

/* Scans a local part at TEXT; returns its length or 0 when invalid. */
static size_t scan_local_part(const unsigned char *text, size_t length, bool *non_ascii)
{
	size_t i = 0;

	if (length > 0 && text[0] == '"') {
		for (i = 1; i < length; i++) {
			if (text[i] == '\\') {
				if (i + 1 >= length || text[i + 1] < 32 || text[i + 1] > 126)
					return 0;
				i++;
			} else if (text[i] == '"') {
				return i + 1;
			} else if (text[i] >= 0x80) {
				size_t sequence = utf8_sequence(text + i, length - i);
				if (sequence == 0)
					return 0;
				*non_ascii = true;
				i += sequence - 1;
			} else if (text[i] < 32 || text[i] == 127) {
				return 0;
			}
		}
		return 0;
	}

	bool atom_started = false;
	while (i < length && text[i] != '@') {
		if (text[i] == '.') {
			if (!atom_started)
				return 0;
			atom_started = false;
			i++;
		} else if (text[i] >= 0x80) {
			size_t sequence = utf8_sequence(text + i, length - i);
			if (sequence == 0)
				return 0;
			*non_ascii = true;
			atom_started = true;
			i += sequence;
		} else if (is_atext(text[i])) {
			atom_started = true;
			i++;
		} else {
			return 0;
		}
	}
	return atom_started ? i : 0;
}

static bool is_let_dig(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Returns true when TEXT is a domain of LDH (or, with UTF-8, U-) labels or an address literal. */
static bool domain_is_valid(const unsigned char *text, size_t length, bool *non_ascii)
{
	if (length == 0)
		return false;
	if (text[0] == '[') {
		if (length < 3 || text[length - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < length; i++) {
			if (text[i] < 33 || text[i] > 126 || text[i] == '[' || text[i] == ']' || text[i] == '\\')
				return false;
		}
		return true;
	}

	size_t label_length = 0;
	unsigned char previous = '.';
	for (size_t i = 0; i < length; i++) {
		unsigned char c = text[i];
		if (c == '.') {
			if (label_length == 0 || previous == '-')
				return false;
			label_length = 0;
		} else if (c >= 0x80) {
			size_t sequence = utf8_sequence(text + i, length - i);
			if (sequence == 0)
				return false;
			*non_ascii = true;
			i += sequence - 1;
			label_length += sequence;
		} else if (is_let_dig(c) || (c == '-' && label_length > 0)) {
			label_length++;
		} else {
			return false;
		}
		if (label_length > 63)
			return false;
		previous = c;
	}
	return label_length > 0 && previous != '-';
}

ex_smtp_path_status ex_smtp_parse_mailbox(const char *text, size_t length, bool utf8_allowed, ex_smtp_path *path)
{
	const unsigned char *bytes = (const unsigned char *)text;
	bool non_ascii = false;

	*path = (ex_smtp_path){ 0 };
	if (length > EX_SMTP_MAX_PATH - 2)
		return EX_SMTP_PATH_TOO_LONG;

	size_t local_length = scan_local_part(bytes, length, &non_ascii);
	if (local_length == 0 || local_length >= length || bytes[local_length] != '@')
		return EX_SMTP_PATH_SYNTAX;
	if (local_length > EX_SMTP_MAX_LOCAL_PART)
		return EX_SMTP_PATH_TOO_LONG;

	size_t domain_length = length - local_length - 1;
	if (domain_length > EX_SMTP_MAX_DOMAIN)
		return EX_SMTP_PATH_TOO_LONG;
	if (!domain_is_valid(bytes + local_length + 1, domain_length, &non_ascii))
		return EX_SMTP_PATH_SYNTAX;
	if (non_ascii && !utf8_allowed)
		return EX_SMTP_PATH_NON_ASCII;

	memcpy(path->mailbox, text, length);
	path->mailbox[length] = '\0';
	path->local_length = local_length;
	path->non_ascii = non_ascii;
	return EX_SMTP_PATH_OK;
}

/*
 * Parses "<path>" at the start of TEXT, after optional spaces, and sets
 * *end past the '>'. The mailbox is validated with UTF-8 allowed; the
 * caller checks non_ascii once the parameters are parsed.
 */
static ex_smtp_path_status parse_bracketed(const char *text, bool allow_null, ex_smtp_path *path, const char **end)
{
	*path = (ex_smtp_path){ 0 };
	while (*text == ' ')
		text++;
	if (*text != '<')
		return EX_SMTP_PATH_SYNTAX;

	const char *close = strchr(text, '>');
	if (close == NULL)
		return EX_SMTP_PATH_SYNTAX;
	if ((size_t)(close - text) + 1 > EX_SMTP_MAX_PATH)
		return EX_SMTP_PATH_TOO_LONG;
	*end = close + 1;

	const char *inner = text + 1;
	size_t inner_length = (size_t)(close - inner);
	if (inner_length == 0)
		return allow_null ? EX_SMTP_PATH_OK : EX_SMTP_PATH_SYNTAX;

	/* A source route "@a,@b:" is obsolete; its hosts are ignored. */
	if (inner[0] == '@') {
		const char *colon = memchr(inner, ':', inner_length);
		if (colon == NULL)
			return EX_SMTP_PATH_SYNTAX;
		inner_length -= (size_t)(colon + 1 - inner);
		inner = colon + 1;
	}
	return ex_smtp_parse_mailbox(inner, inner_length, true, path);
}

/* Skips "FROM:" or "TO:" (case-insensitive, spaces allowed after the colon). */
static const char *skip_keyword(const char *arguments, const char *keyword)
{
	size_t length = strlen(keyword);
	if (strncasecmp(arguments, keyword, length) != 0)
		return NULL;
	return arguments + length;
}

static ex_smtp_path_status parse_size(const char *value, size_t length, uint64_t *size)
{
	uint64_t result = 0;

	if (length == 0 || length > 20)
		return EX_SMTP_PATH_BAD_PARAMETER;
	for (size_t i = 0; i < length; i++) {
		if (value[i] < '0' || value[i] > '9')
			return EX_SMTP_PATH_BAD_PARAMETER;
		uint64_t digit = (uint64_t)(value[i] - '0');
		if (result > (UINT64_MAX - digit) / 10)
			return EX_SMTP_PATH_BAD_PARAMETER;
		result = result * 10 + digit;
	}
	*size = result;
	return EX_SMTP_PATH_OK;
}

/* Parses one "keyword[=value]" MAIL parameter. */
static ex_smtp_path_status parse_mail_parameter(const char *word, size_t length, ex_smtp_mail_parameters *parameters)
{
	const char *equals = memchr(word, '=', length);
	size_t keyword_length = equals == NULL ? length : (size_t)(equals - word);
	const char *value = equals == NULL ? NULL : equals + 1;
	size_t value_length = equals == NULL ? 0 : length - keyword_length - 1;

	if (keyword_length == 4 && strncasecmp(word, "SIZE", 4) == 0) {
		if (value == NULL)
			return EX_SMTP_PATH_BAD_PARAMETER;
		parameters->has_size = true;
		return parse_size(value, value_length, &parameters->size);
	}
	if (keyword_length == 4 && strncasecmp(word, "BODY", 4) == 0) {
		if (value_length == 4 && strncasecmp(value, "7BIT", 4) == 0)
			parameters->body = EX_SMTP_BODY_7BIT;
		else if (value_length == 8 && strncasecmp(value, "8BITMIME", 8) == 0)
			parameters->body = EX_SMTP_BODY_8BITMIME;
		else if (value_length == 10 && strncasecmp(value, "BINARYMIME", 10) == 0)
			parameters->body = EX_SMTP_BODY_BINARYMIME;
		else
			return EX_SMTP_PATH_BAD_PARAMETER;
		return EX_SMTP_PATH_OK;
	}
	if (keyword_length == 8 && strncasecmp(word, "SMTPUTF8", 8) == 0) {
		if (value != NULL)
			return EX_SMTP_PATH_BAD_PARAMETER;
		parameters->smtputf8 = true;
		return EX_SMTP_PATH_OK;
	}
	if (keyword_length == 3 && strncasecmp(word, "RET", 3) == 0) {
		if (value_length == 4 && strncasecmp(value, "FULL", 4) == 0)
			memcpy(parameters->ret, "FULL", 5);
		else if (value_length == 4 && strncasecmp(value, "HDRS", 4) == 0)
			memcpy(parameters->ret, "HDRS", 5);
		else
			return EX_SMTP_PATH_BAD_PARAMETER;
		return EX_SMTP_PATH_OK;
	}
	if (keyword_length == 5 && strncasecmp(word, "ENVID", 5) == 0) {
		if (value == NULL || value_length == 0 || value_length > EX_SMTP_DSN_MAX_ENVID ||
		    !ex_smtp_xtext_is_valid(value, value_length))
			return EX_SMTP_PATH_BAD_PARAMETER;
		memcpy(parameters->envid, value, value_length);
		parameters->envid[value_length] = '\0';
		return EX_SMTP_PATH_OK;
	}
	/* RFC 4954 5: AUTH=<mailbox> may be ignored by a server that does not relay it. */
	if (keyword_length == 4 && strncasecmp(word, "AUTH", 4) == 0)
		return value == NULL ? EX_SMTP_PATH_BAD_PARAMETER : EX_SMTP_PATH_OK;
	return EX_SMTP_PATH_UNKNOWN_PARAMETER;
}

ex_smtp_path_status ex_smtp_parse_mail_from(const char *arguments, ex_smtp_path *path,
					    ex_smtp_mail_parameters *parameters)
{
	const char *end = NULL;

	*parameters = (ex_smtp_mail_parameters){ 0 };
	const char *rest = skip_keyword(arguments, "FROM:");
	if (rest == NULL) {
		*path = (ex_smtp_path){ 0 };
		return EX_SMTP_PATH_SYNTAX;
	}
	ex_smtp_path_status status = parse_bracketed(rest, true, path, &end);
	if (status != EX_SMTP_PATH_OK)
		return status;

	while (*end != '\0') {
		if (*end != ' ')
			return EX_SMTP_PATH_SYNTAX;
		while (*end == ' ')
			end++;
		size_t length = strcspn(end, " ");
		if (length == 0)
			break;
		status = parse_mail_parameter(end, length, parameters);
		if (status != EX_SMTP_PATH_OK)
			return status;
		end += length;
	}
	if (path->non_ascii && !parameters->smtputf8)
		return EX_SMTP_PATH_NON_ASCII;
	return EX_SMTP_PATH_OK;
}

/* Parses one "keyword=value" RCPT parameter. */
static ex_smtp_path_status parse_rcpt_parameter(const char *word, size_t length, ex_smtp_rcpt_parameters *parameters)
{
	const char *equals = memchr(word, '=', length);
	if (equals == NULL)
		return EX_SMTP_PATH_UNKNOWN_PARAMETER;
	size_t keyword_length = (size_t)(equals - word);
	const char *value = equals + 1;
	size_t value_length = length - keyword_length - 1;

	if (keyword_length == 6 && strncasecmp(word, "NOTIFY", 6) == 0) {
		unsigned notify = ex_smtp_dsn_parse_notify(value, value_length);
		if (notify == 0)
			return EX_SMTP_PATH_BAD_PARAMETER;
		ex_smtp_dsn_format_notify(notify, parameters->notify);
		return EX_SMTP_PATH_OK;
	}
	if (keyword_length == 5 && strncasecmp(word, "ORCPT", 5) == 0) {
		if (ex_smtp_dsn_parse_orcpt(value, value_length, parameters->orcpt, sizeof(parameters->orcpt)) != 0)
			return EX_SMTP_PATH_BAD_PARAMETER;
		return EX_SMTP_PATH_OK;
	}
	return EX_SMTP_PATH_UNKNOWN_PARAMETER;
}

ex_smtp_path_status ex_smtp_parse_rcpt_to_dsn(const char *arguments, bool utf8_allowed, ex_smtp_path *path,
					      ex_smtp_rcpt_parameters *parameters)
{
	const char *end = NULL;

	*parameters = (ex_smtp_rcpt_parameters){ 0 };
	const char *rest = skip_keyword(arguments, "TO:");
	if (rest == NULL) {
		*path = (ex_smtp_path){ 0 };
		return EX_SMTP_PATH_SYNTAX;
	}
	ex_smtp_path_status status = parse_bracketed(rest, false, path, &end);
	if (status != EX_SMTP_PATH_OK)
		return status;
	while (*end != '\0') {
		if (*end != ' ')
			return EX_SMTP_PATH_SYNTAX;
		while (*end == ' ')
			end++;
		size_t length = strcspn(end, " ");
		if (length == 0)
			break;
		status = parse_rcpt_parameter(end, length, parameters);
		if (status != EX_SMTP_PATH_OK)
			return status;
		end += length;
	}
	if (path->non_ascii && !utf8_allowed)
		return EX_SMTP_PATH_NON_ASCII;
	return EX_SMTP_PATH_OK;
}

ex_smtp_path_status ex_smtp_parse_rcpt_to(const char *arguments, bool utf8_allowed, ex_smtp_path *path)
{
	const char *end = NULL;

	const char *rest = skip_keyword(arguments, "TO:");
	if (rest == NULL) {
		*path = (ex_smtp_path){ 0 };
		return EX_SMTP_PATH_SYNTAX;
	}
	ex_smtp_path_status status = parse_bracketed(rest, false, path, &end);
	if (status != EX_SMTP_PATH_OK)
		return status;
	while (*end == ' ')
		end++;
	if (*end != '\0')
		return EX_SMTP_PATH_UNKNOWN_PARAMETER;
	if (path->non_ascii && !utf8_allowed)
		return EX_SMTP_PATH_NON_ASCII;
	return EX_SMTP_PATH_OK;
}

const char *ex_smtp_path_domain(const ex_smtp_path *path)
{
	if (path->mailbox[0] == '\0')
		return "";
	return path->mailbox + path->local_length + 1;
}
