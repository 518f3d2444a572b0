/*
 * addressbook-query filters: collations, match types, negation,
 * is-not-defined, param-filter and the anyof/allof tests, table-driven
 * over one set of vCards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libxml/parser.h>
#include <string.h>

#include "card_filter.h"

static const char cards[] = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:1\r\nFN:Maria da Conceição\r\n"
			    "EMAIL;TYPE=work:maria@example.org\r\nNOTE:a\\, b\r\nEND:VCARD\r\n"
			    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:2\r\nFN:JOÃO SOUZA\r\nTEL;TYPE=cell:+55 61\r\nEND:VCARD\r\n"
			    "BEGIN:VCARD\r\nVERSION:2.1\r\nUID:3\r\nFN;ENCODING=QUOTED-PRINTABLE:Zo=C3=AB\r\nEND:VCARD\r\n";

typedef struct {
	const char *name;
	const char *filter; /* children of CARDDAV:filter */
	const char *attributes; /* attributes of CARDDAV:filter */
	const char *expected;   /* UIDs that match, in order */
} filter_case;

#define TEXT(type, text) "<C:prop-filter name=\"FN\"><C:text-match match-type=\"" type "\">" text "</C:text-match></C:prop-filter>"

static const filter_case filter_cases[] = {
	{ "no filter", "", "", "123" },
	{ "contains accented lower case", TEXT("contains", "conceição"), "", "1" },
	{ "contains accented upper case", TEXT("contains", "CONCEIÇÃO"), "", "1" },
	{ "casemap folds the value", TEXT("contains", "joão"), "", "2" },
	{ "accents are not removed", TEXT("contains", "joao"), "", "" },
	{ "equals", TEXT("equals", "joão souza"), "", "2" },
	{ "equals whole value only", TEXT("equals", "joão"), "", "" },
	{ "starts-with", TEXT("starts-with", "MARIA"), "", "1" },
	{ "ends-with", TEXT("ends-with", "souza"), "", "2" },
	{ "quoted-printable decoded", TEXT("equals", "zoë"), "", "3" },
	{ "octet is case-sensitive", "<C:prop-filter name=\"FN\"><C:text-match collation=\"i;octet\">maria</C:text-match></C:prop-filter>", "", "" },
	{ "ascii-casemap keeps non-ASCII case", "<C:prop-filter name=\"FN\"><C:text-match collation=\"i;ascii-casemap\">joão</C:text-match></C:prop-filter>", "", "" },
	{ "ascii-casemap folds ASCII", "<C:prop-filter name=\"FN\"><C:text-match collation=\"i;ascii-casemap\">souza</C:text-match></C:prop-filter>", "", "2" },
	{ "negate", "<C:prop-filter name=\"FN\"><C:text-match negate-condition=\"yes\">maria</C:text-match></C:prop-filter>", "", "23" },
	{ "is-not-defined", "<C:prop-filter name=\"TEL\"><C:is-not-defined/></C:prop-filter>", "", "13" },
	{ "defined", "<C:prop-filter name=\"email\"/>", "", "1" },
	{ "escaped comma unescaped", "<C:prop-filter name=\"NOTE\"><C:text-match match-type=\"equals\">a, b</C:text-match></C:prop-filter>", "", "1" },
	{ "param-filter", "<C:prop-filter name=\"TEL\"><C:param-filter name=\"type\"><C:text-match match-type=\"equals\">CELL</C:text-match></C:param-filter></C:prop-filter>", "", "2" },
	{ "param-filter not defined", "<C:prop-filter name=\"EMAIL\"><C:param-filter name=\"PREF\"><C:is-not-defined/></C:param-filter></C:prop-filter>", "", "1" },
	{ "anyof", TEXT("contains", "maria") TEXT("contains", "souza"), "", "12" },
	{ "allof", TEXT("contains", "maria") TEXT("contains", "souza"), " test=\"allof\"", "" },
	{ "allof inside prop-filter", "<C:prop-filter name=\"FN\" test=\"allof\"><C:text-match>maria</C:text-match><C:text-match>conc</C:text-match></C:prop-filter>", "", "1" },
};

static void parse_filter(const char *children, const char *attributes, ex_card_filter *filter)
{
	char xml[2048];
	char err[256];
	snprintf(xml, sizeof(xml), "<C:filter xmlns:C=\"urn:ietf:params:xml:ns:carddav\"%s>%s</C:filter>", attributes,
		 children);
	xmlDoc *document = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
	assert_non_null(document);
	assert_int_equal(ex_card_filter_parse(xmlDocGetRootElement(document), filter, err, sizeof(err)), EX_CARD_FILTER_OK);
	xmlFreeDoc(document);
}

static void test_filter_cases(void **state)
{
	(void)state;
	char err[256];
	ex_vcard_list *list = ex_vcard_parse(cards, strlen(cards), err, sizeof(err));
	assert_non_null(list);

	for (size_t i = 0; i < sizeof(filter_cases) / sizeof(filter_cases[0]); i++) {
		static ex_card_filter filter;
		char matched[8] = "";
		parse_filter(filter_cases[i].filter, filter_cases[i].attributes, &filter);
		for (size_t k = 0; k < ex_vcard_count(list); k++) {
			if (ex_card_filter_matches(&filter, ex_vcard_at(list, k)))
				strncat(matched, ex_vcard_at(list, k)->uid, sizeof(matched) - strlen(matched) - 1);
		}
		if (strcmp(matched, filter_cases[i].expected) != 0)
			fail_msg("case %s: matched \"%s\", expected \"%s\"", filter_cases[i].name, matched, filter_cases[i].expected);
	}
	ex_vcard_list_free(list);
}

static void test_unsupported_collation(void **state)
{
	(void)state;
	static ex_card_filter filter;
	char err[256];
	const char *xml = "<C:filter xmlns:C=\"urn:ietf:params:xml:ns:carddav\"><C:prop-filter name=\"FN\">"
			  "<C:text-match collation=\"x;klingon\">a</C:text-match></C:prop-filter></C:filter>";
	xmlDoc *document = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
	assert_int_equal(ex_card_filter_parse(xmlDocGetRootElement(document), &filter, err, sizeof(err)),
			 EX_CARD_FILTER_UNSUPPORTED_COLLATION);
	assert_non_null(strstr(err, "x;klingon"));
	xmlFreeDoc(document);

	xml = "<C:filter xmlns:C=\"urn:ietf:params:xml:ns:carddav\"><C:prop-filter/></C:filter>";
	document = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
	assert_int_equal(ex_card_filter_parse(xmlDocGetRootElement(document), &filter, err, sizeof(err)),
			 EX_CARD_FILTER_INVALID);
	xmlFreeDoc(document);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_cases),
		cmocka_unit_test(test_unsupported_collation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
