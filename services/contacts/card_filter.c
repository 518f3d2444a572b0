/*
 * addressbook-query filters. Values are compared after vCard text
 * unescaping (\\, \, \; \n). i;unicode-casemap folds each code point
 * with towlower_l() in the C.UTF-8 locale, which gives simple case
 * folding (no decomposition: "é" and "e" stay different).
 */
#include "card_filter.h"

#include <locale.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wctype.h>

#include "expresso/dav_xml.h"

static locale_t utf8_locale;
static pthread_once_t utf8_locale_once = PTHREAD_ONCE_INIT;

static void open_utf8_locale(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* Decodes UTF-8 IN into code points in OUT; an invalid byte becomes U+DC00 + byte so it still compares. */
static size_t decode_utf8(const unsigned char *in, size_t length, uint32_t *out)
{
	size_t count = 0;
	for (size_t i = 0; i < length;) {
		unsigned char c = in[i];
		size_t extra = 0;
		uint32_t code = c;
		if (c >= 0xC2 && c < 0xE0) {
			extra = 1;
			code = c & 0x1F;
		} else if (c >= 0xE0 && c < 0xF0) {
			extra = 2;
			code = c & 0x0F;
		} else if (c >= 0xF0 && c < 0xF8) {
			extra = 3;
			code = c & 0x07;
		}
		int valid = c < 0x80 || extra > 0;
		for (size_t k = 1; valid && k <= extra; k++) {
			if (i + k >= length || (in[i + k] & 0xC0) != 0x80)
				valid = 0;
			else
				code = (code << 6) | (in[i + k] & 0x3F);
		}
		if (!valid) {
			out[count++] = 0xDC00 + c;
			i++;
			continue;
		}
		out[count++] = code;
		i += extra + 1;
	}
	return count;
}

static uint32_t fold(uint32_t code, ex_collation collation)
{
	if (collation == EX_COLLATION_OCTET)
		return code;
	if (collation == EX_COLLATION_ASCII_CASEMAP || utf8_locale == (locale_t)0)
		return code >= 'A' && code <= 'Z' ? code + 32 : code;
	return (uint32_t)towlower_l((wint_t)code, utf8_locale);
}

static bool compare_folded(const uint32_t *value, size_t value_count, const uint32_t *text, size_t text_count,
			   ex_match_type type)
{
	if (text_count > value_count)
		return false;
	switch (type) {
	case EX_MATCH_EQUALS:
		return value_count == text_count && memcmp(value, text, text_count * sizeof(*text)) == 0;
	case EX_MATCH_STARTS_WITH:
		return memcmp(value, text, text_count * sizeof(*text)) == 0;
	case EX_MATCH_ENDS_WITH:
		return memcmp(value + value_count - text_count, text, text_count * sizeof(*text)) == 0;
	case EX_MATCH_CONTAINS:
		for (size_t i = 0; i + text_count <= value_count; i++) {
			if (memcmp(value + i, text, text_count * sizeof(*text)) == 0)
				return true;
		}
		return false;
	}
	return false;
}

bool ex_card_text_matches(const ex_card_text_match *match, const char *value, size_t length)
{
	pthread_once(&utf8_locale_once, open_utf8_locale);

	size_t text_length = strlen(match->text);
	uint32_t *value_codes = malloc((length + 1) * sizeof(uint32_t));
	uint32_t *text_codes = malloc((text_length + 1) * sizeof(uint32_t));
	bool result = false;
	if (value_codes != NULL && text_codes != NULL) {
		size_t value_count = decode_utf8((const unsigned char *)value, length, value_codes);
		size_t text_count = decode_utf8((const unsigned char *)match->text, text_length, text_codes);
		for (size_t i = 0; i < value_count; i++)
			value_codes[i] = fold(value_codes[i], match->collation);
		for (size_t i = 0; i < text_count; i++)
			text_codes[i] = fold(text_codes[i], match->collation);
		result = compare_folded(value_codes, value_count, text_codes, text_count, match->match_type);
	}
	free(value_codes);
	free(text_codes);
	return result;
}

/* Copies VALUE into OUT (LENGTH + 1 bytes) without vCard text escapes. */
static size_t unescape_text(const char *value, size_t length, char *out)
{
	size_t used = 0;
	for (size_t i = 0; i < length; i++) {
		if (value[i] == '\\' && i + 1 < length) {
			char next = value[++i];
			out[used++] = next == 'n' || next == 'N' ? '\n' : next;
		} else {
			out[used++] = value[i];
		}
	}
	out[used] = '\0';
	return used;
}

static bool text_match_result(const ex_card_text_match *match, const char *value, size_t length)
{
	char *plain = malloc(length + 1);
	if (plain == NULL)
		return false;
	size_t plain_length = unescape_text(value, length, plain);
	bool matched = ex_card_text_matches(match, plain, plain_length);
	free(plain);
	return matched != match->negate;
}

static bool test_matches(const ex_card_filter_test *test, const ex_vcard_property *property)
{
	if (!test->is_param)
		return text_match_result(&test->match, property->value, property->value_length);

	const char *value = ex_vcard_parameter_value(property, test->parameter);
	if (test->is_not_defined)
		return value == NULL;
	if (value == NULL)
		return false;
	if (!test->has_text_match)
		return true;
	return text_match_result(&test->match, value, strlen(value));
}

static bool property_matches(const ex_card_prop_filter *filter, const ex_vcard_property *property)
{
	if (filter->test_count == 0)
		return true;
	for (size_t i = 0; i < filter->test_count; i++) {
		bool matched = test_matches(&filter->tests[i], property);
		if (filter->allof && !matched)
			return false;
		if (!filter->allof && matched)
			return true;
	}
	return filter->allof;
}

static bool prop_filter_matches(const ex_card_prop_filter *filter, const ex_vcard *card)
{
	bool defined = false;
	for (size_t i = 0; i < card->property_count; i++) {
		const ex_vcard_property *property = &card->properties[i];
		if (strcmp(property->name, filter->name) != 0)
			continue;
		defined = true;
		if (!filter->is_not_defined && property_matches(filter, property))
			return true;
	}
	return filter->is_not_defined && !defined;
}

bool ex_card_filter_matches(const ex_card_filter *filter, const ex_vcard *card)
{
	if (filter->count == 0)
		return true;
	for (size_t i = 0; i < filter->count; i++) {
		bool matched = prop_filter_matches(&filter->filters[i], card);
		if (filter->allof && !matched)
			return false;
		if (!filter->allof && matched)
			return true;
	}
	return filter->allof;
}

/* Returns true for test="allof"; anyof is the default. */
static bool read_allof(const xmlNode *element)
{
	xmlChar *test = xmlGetProp(element, BAD_CAST "test");
	bool allof = test != NULL && strcmp((const char *)test, "allof") == 0;
	xmlFree(test);
	return allof;
}

static ex_card_filter_status read_text_match(const xmlNode *element, ex_card_text_match *match, char *err,
					     size_t errlen)
{
	xmlChar *collation = xmlGetProp(element, BAD_CAST "collation");
	xmlChar *match_type = xmlGetProp(element, BAD_CAST "match-type");
	xmlChar *negate = xmlGetProp(element, BAD_CAST "negate-condition");
	xmlChar *content = xmlNodeGetContent(element);
	ex_card_filter_status status = EX_CARD_FILTER_OK;

	match->collation = EX_COLLATION_UNICODE_CASEMAP;
	if (collation != NULL && strcmp((const char *)collation, "i;ascii-casemap") == 0)
		match->collation = EX_COLLATION_ASCII_CASEMAP;
	else if (collation != NULL && strcmp((const char *)collation, "i;octet") == 0)
		match->collation = EX_COLLATION_OCTET;
	else if (collation != NULL && strcmp((const char *)collation, "i;unicode-casemap") != 0)
		status = EX_CARD_FILTER_UNSUPPORTED_COLLATION;

	match->match_type = EX_MATCH_CONTAINS;
	if (match_type != NULL && strcmp((const char *)match_type, "equals") == 0)
		match->match_type = EX_MATCH_EQUALS;
	else if (match_type != NULL && strcmp((const char *)match_type, "starts-with") == 0)
		match->match_type = EX_MATCH_STARTS_WITH;
	else if (match_type != NULL && strcmp((const char *)match_type, "ends-with") == 0)
		match->match_type = EX_MATCH_ENDS_WITH;
	else if (match_type != NULL && strcmp((const char *)match_type, "contains") != 0)
		status = EX_CARD_FILTER_INVALID;

	match->negate = negate != NULL && strcmp((const char *)negate, "yes") == 0;
	const char *text = content ? (const char *)content : "";
	if (strlen(text) >= sizeof(match->text))
		status = EX_CARD_FILTER_INVALID;
	else
		snprintf(match->text, sizeof(match->text), "%s", text);

	if (status == EX_CARD_FILTER_UNSUPPORTED_COLLATION)
		snprintf(err, errlen, "the collation %s is not supported; use i;unicode-casemap, i;ascii-casemap or i;octet",
			 (const char *)collation);
	else if (status == EX_CARD_FILTER_INVALID)
		snprintf(err, errlen, "a text-match has an unknown match-type or more than %d bytes",
			 EX_CARD_FILTER_MAX_TEXT - 1);
	xmlFree(collation);
	xmlFree(match_type);
	xmlFree(negate);
	xmlFree(content);
	return status;
}

/* Copies the name attribute of ELEMENT into OUT in upper case. */
static int read_name(const xmlNode *element, char *out, size_t size)
{
	xmlChar *name = xmlGetProp(element, BAD_CAST "name");
	int status = name != NULL && name[0] != '\0' && strlen((const char *)name) < size ? 0 : -1;
	for (size_t i = 0; status == 0 && name[i] != '\0'; i++)
		out[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
	if (status == 0)
		out[strlen((const char *)name)] = '\0';
	xmlFree(name);
	return status;
}

static ex_card_filter_status read_test(const xmlNode *child, ex_card_filter_test *test, char *err, size_t errlen)
{
	memset(test, 0, sizeof(*test));
	if (ex_dav_xml_is(child, EX_CARDDAV_NS, "text-match"))
		return read_text_match(child, &test->match, err, errlen);

	test->is_param = true;
	if (read_name(child, test->parameter, sizeof(test->parameter)) != 0) {
		snprintf(err, errlen, "a param-filter needs a name attribute");
		return EX_CARD_FILTER_INVALID;
	}
	test->is_not_defined = ex_dav_xml_child(child, EX_CARDDAV_NS, "is-not-defined") != NULL;
	const xmlNode *text_match = ex_dav_xml_child(child, EX_CARDDAV_NS, "text-match");
	if (text_match == NULL)
		return EX_CARD_FILTER_OK;
	test->has_text_match = true;
	return read_text_match(text_match, &test->match, err, errlen);
}

static ex_card_filter_status read_prop_filter(const xmlNode *element, ex_card_prop_filter *filter, char *err,
					      size_t errlen)
{
	memset(filter, 0, sizeof(*filter));
	if (read_name(element, filter->name, sizeof(filter->name)) != 0) {
		snprintf(err, errlen, "a prop-filter needs a name attribute");
		return EX_CARD_FILTER_INVALID;
	}
	filter->allof = read_allof(element);
	filter->is_not_defined = ex_dav_xml_child(element, EX_CARDDAV_NS, "is-not-defined") != NULL;

	for (xmlNode *child = element->children; child != NULL; child = child->next) {
		if (!ex_dav_xml_is(child, EX_CARDDAV_NS, "text-match") && !ex_dav_xml_is(child, EX_CARDDAV_NS, "param-filter"))
			continue;
		if (filter->test_count == EX_CARD_FILTER_MAX_TESTS) {
			snprintf(err, errlen, "a prop-filter has more than %d tests", EX_CARD_FILTER_MAX_TESTS);
			return EX_CARD_FILTER_INVALID;
		}
		ex_card_filter_status status = read_test(child, &filter->tests[filter->test_count], err, errlen);
		if (status != EX_CARD_FILTER_OK)
			return status;
		filter->test_count++;
	}
	return EX_CARD_FILTER_OK;
}

ex_card_filter_status ex_card_filter_parse(const xmlNode *element, ex_card_filter *out, char *err, size_t errlen)
{
	out->count = 0;
	out->allof = false;
	if (element == NULL)
		return EX_CARD_FILTER_OK;
	out->allof = read_allof(element);
	for (xmlNode *child = element->children; child != NULL; child = child->next) {
		if (!ex_dav_xml_is(child, EX_CARDDAV_NS, "prop-filter"))
			continue;
		if (out->count == EX_CARD_FILTER_MAX_PROP_FILTERS) {
			snprintf(err, errlen, "the filter has more than %d prop-filters", EX_CARD_FILTER_MAX_PROP_FILTERS);
			return EX_CARD_FILTER_INVALID;
		}
		ex_card_filter_status status = read_prop_filter(child, &out->filters[out->count], err, errlen);
		if (status != EX_CARD_FILTER_OK)
			return status;
		out->count++;
	}
	return EX_CARD_FILTER_OK;
}
