/*
 * Accept-Language parsing, just enough to pick between the two languages
 * of the error pages. Each entry is "range [; q=value]"; the qvalue
 * grammar is RFC 9110's: "0" to "1" with at most three decimals.
 */
#include "accept_language.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* q-values are kept in thousandths, so 1.000 is 1000. */
enum { Q_MAX = 1000, Q_UNSET = -1 };

typedef struct {
	int q;          /* Q_UNSET when no range named the language */
	int position;   /* entry index of the range that set q */
} language_score;

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Parses a qvalue of LENGTH bytes; returns thousandths or -1 when invalid. */
static int parse_qvalue(const char *text, size_t length)
{
	if (length == 0 || (text[0] != '0' && text[0] != '1'))
		return -1;
	int whole = text[0] - '0';
	if (length == 1)
		return whole * Q_MAX;
	if (text[1] != '.' || length > 5)
		return -1;

	int fraction = 0;
	int scale = 100;
	for (size_t i = 2; i < length; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		fraction += (text[i] - '0') * scale;
		scale /= 10;
	}
	if (whole == 1 && fraction != 0)
		return -1;
	return whole * Q_MAX + fraction;
}

/* Reads the q parameter from the parameters part of one entry; 1000 when absent. */
static int entry_quality(const char *params, size_t length)
{
	size_t i = 0;

	while (i < length) {
		while (i < length && (is_space(params[i]) || params[i] == ';'))
			i++;
		size_t start = i;
		while (i < length && params[i] != ';')
			i++;
		size_t end = i;
		while (end > start && is_space(params[end - 1]))
			end--;
		if (end - start >= 2 && (params[start] == 'q' || params[start] == 'Q') && params[start + 1] == '=')
			return parse_qvalue(params + start + 2, end - start - 2);
	}
	return Q_MAX;
}

/* Returns true when RANGE (LENGTH bytes) is PRIMARY or PRIMARY-subtag. */
static bool range_matches(const char *range, size_t length, const char *primary)
{
	size_t primary_length = strlen(primary);
	if (length < primary_length || strncasecmp(range, primary, primary_length) != 0)
		return false;
	return length == primary_length || range[primary_length] == '-';
}

static void raise_score(language_score *score, int q, int position)
{
	if (q > score->q) {
		score->q = q;
		score->position = position;
	}
}

ex_rp_language ex_rp_language_choose(const char *accept_language)
{
	language_score english = { Q_UNSET, 0 };
	language_score portuguese = { Q_UNSET, 0 };
	language_score wildcard = { Q_UNSET, 0 };

	if (accept_language == NULL)
		return EX_RP_LANGUAGE_PT_BR;

	const char *cursor = accept_language;
	for (int position = 0; *cursor != '\0' && position < EX_RP_ACCEPT_LANGUAGE_MAX_ENTRIES; position++) {
		const char *comma = strchr(cursor, ',');
		size_t entry_length = comma ? (size_t)(comma - cursor) : strlen(cursor);
		const char *entry = cursor;
		cursor = comma ? comma + 1 : cursor + entry_length;

		while (entry_length > 0 && is_space(*entry)) {
			entry++;
			entry_length--;
		}
		const char *semicolon = memchr(entry, ';', entry_length);
		size_t range_length = semicolon ? (size_t)(semicolon - entry) : entry_length;
		while (range_length > 0 && is_space(entry[range_length - 1]))
			range_length--;
		if (range_length == 0 || range_length > EX_RP_LANGUAGE_RANGE_MAX)
			continue;

		int q = semicolon ? entry_quality(semicolon, entry_length - (size_t)(semicolon - entry)) : Q_MAX;
		if (q < 0)
			continue;
		if (range_matches(entry, range_length, "en"))
			raise_score(&english, q, position);
		else if (range_matches(entry, range_length, "pt"))
			raise_score(&portuguese, q, position);
		else if (range_length == 1 && entry[0] == '*')
			raise_score(&wildcard, q, position);
	}

	if (english.q == Q_UNSET)
		english = wildcard;
	if (portuguese.q == Q_UNSET)
		portuguese = wildcard;
	if (english.q > portuguese.q && english.q > 0)
		return EX_RP_LANGUAGE_EN;
	if (english.q == portuguese.q && english.q > 0 && english.position < portuguese.position)
		return EX_RP_LANGUAGE_EN;
	return EX_RP_LANGUAGE_PT_BR;
}

const char *ex_rp_language_tag(ex_rp_language language)
{
	return language == EX_RP_LANGUAGE_EN ? "en" : "pt-BR";
}
