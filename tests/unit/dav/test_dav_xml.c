/*
 * Bounded DAV XML parsing and the readers of PROPFIND, PROPPATCH and
 * sync-collection bodies, plus the multistatus writer: table-driven over
 * well-formed, hostile and malformed bodies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/dav_multistatus.h"
#include "expresso/dav_request.h"
#include "expresso/dav_xml.h"

typedef struct {
	const char *name;
	const char *body;
	ex_dav_xml_status expected;
} xml_case;

static const xml_case xml_cases[] = {
	{ "propfind", "<d:propfind xmlns:d=\"DAV:\"><d:prop><d:getetag/></d:prop></d:propfind>", EX_DAV_XML_OK },
	{ "xml declaration", "<?xml version=\"1.0\" encoding=\"utf-8\"?><a/>", EX_DAV_XML_OK },
	{ "empty", "", EX_DAV_XML_EMPTY },
	{ "unclosed", "<d:propfind xmlns:d=\"DAV:\"><d:prop>", EX_DAV_XML_MALFORMED },
	{ "text only", "hello", EX_DAV_XML_MALFORMED },
	{ "undeclared prefix", "<d:propfind/>", EX_DAV_XML_MALFORMED },
	{ "doctype", "<!DOCTYPE a><a/>", EX_DAV_XML_DOCTYPE },
	{ "entity bomb",
	  "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]><l>&b;</l>",
	  EX_DAV_XML_DOCTYPE },
	{ "external entity", "<!DOCTYPE a [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><a>&e;</a>", EX_DAV_XML_DOCTYPE },
	{ "undeclared entity", "<a>&e;</a>", EX_DAV_XML_MALFORMED },
	{ "predefined entity", "<a>&amp;&lt;</a>", EX_DAV_XML_OK },
};

static void test_xml_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(xml_cases) / sizeof(xml_cases[0]); i++) {
		xmlDoc *document = NULL;
		char err[256] = "";
		ex_dav_xml_status status =
			ex_dav_xml_parse(xml_cases[i].body, strlen(xml_cases[i].body), NULL, &document, err, sizeof(err));
		if (status != xml_cases[i].expected)
			fail_msg("case %s: status %d, expected %d (%s)", xml_cases[i].name, status, xml_cases[i].expected, err);
		assert_true((document != NULL) == (status == EX_DAV_XML_OK));
		if (status != EX_DAV_XML_OK)
			assert_true(err[0] != '\0');
		xmlFreeDoc(document);
	}
}

/* Builds LEVELS nested elements. */
static char *nested(unsigned levels)
{
	char *body = malloc(levels * 7 + 1);
	size_t used = 0;
	for (unsigned i = 0; i < levels; i++)
		used += (size_t)sprintf(body + used, "<a>");
	for (unsigned i = 0; i < levels; i++)
		used += (size_t)sprintf(body + used, "</a>");
	body[used] = '\0';
	return body;
}

static void test_depth_limit(void **state)
{
	(void)state;
	ex_dav_xml_limits limits = { .max_depth = 8 };
	char err[256];
	xmlDoc *document = NULL;

	char *at_limit = nested(8);
	assert_int_equal(ex_dav_xml_parse(at_limit, strlen(at_limit), &limits, &document, err, sizeof(err)), EX_DAV_XML_OK);
	xmlFreeDoc(document);
	char *past_limit = nested(9);
	assert_int_equal(ex_dav_xml_parse(past_limit, strlen(past_limit), &limits, &document, err, sizeof(err)),
			 EX_DAV_XML_TOO_DEEP);
	assert_null(document);
	free(at_limit);
	free(past_limit);

	char *default_limit = nested(EX_DAV_XML_DEFAULT_MAX_DEPTH + 1);
	assert_int_equal(ex_dav_xml_parse(default_limit, strlen(default_limit), NULL, &document, err, sizeof(err)),
			 EX_DAV_XML_TOO_DEEP);
	free(default_limit);
}

static void test_size_limit(void **state)
{
	(void)state;
	ex_dav_xml_limits limits = { .max_bytes = 16 };
	xmlDoc *document = NULL;
	char err[256];

	assert_int_equal(ex_dav_xml_parse("<abcdefghijklm/>", 16, &limits, &document, err, sizeof(err)), EX_DAV_XML_OK);
	xmlFreeDoc(document);
	assert_int_equal(ex_dav_xml_parse("<abcdefghijklmn/>", 17, &limits, &document, err, sizeof(err)),
			 EX_DAV_XML_TOO_LARGE);
	assert_int_equal(ex_dav_xml_http_status(EX_DAV_XML_TOO_LARGE), 413);
	assert_int_equal(ex_dav_xml_http_status(EX_DAV_XML_TOO_DEEP), 400);
	assert_int_equal(ex_dav_xml_http_status(EX_DAV_XML_DOCTYPE), 400);
}

static xmlDoc *parse(const char *body)
{
	xmlDoc *document = NULL;
	char err[256];
	assert_int_equal(ex_dav_xml_parse(body, strlen(body), NULL, &document, err, sizeof(err)), EX_DAV_XML_OK);
	return document;
}

static void test_propfind(void **state)
{
	(void)state;
	ex_dav_propfind request;
	char err[256];

	assert_int_equal(ex_dav_parse_propfind(NULL, &request, err, sizeof(err)), 0);
	assert_int_equal(request.kind, EX_DAV_PROPFIND_ALLPROP);

	xmlDoc *document = parse("<propfind xmlns=\"DAV:\"><prop><getetag/><x:color xmlns:x=\"urn:x\"/>"
				 "<nons xmlns=\"\"/></prop></propfind>");
	assert_int_equal(ex_dav_parse_propfind(document, &request, err, sizeof(err)), 0);
	assert_int_equal(request.kind, EX_DAV_PROPFIND_PROP);
	assert_int_equal(request.count, 3);
	assert_true(ex_dav_xml_is(request.properties[0], EX_DAV_NS, "getetag"));
	assert_true(ex_dav_xml_is(request.properties[1], "urn:x", "color"));
	assert_true(ex_dav_xml_is(request.properties[2], "", "nons"));
	xmlFreeDoc(document);

	document = parse("<d:propfind xmlns:d=\"DAV:\"><d:propname/></d:propfind>");
	assert_int_equal(ex_dav_parse_propfind(document, &request, err, sizeof(err)), 0);
	assert_int_equal(request.kind, EX_DAV_PROPFIND_PROPNAME);
	xmlFreeDoc(document);

	document = parse("<d:propfind xmlns:d=\"urn:not-dav\"><d:prop/></d:propfind>");
	assert_int_equal(ex_dav_parse_propfind(document, &request, err, sizeof(err)), -1);
	xmlFreeDoc(document);
	document = parse("<d:propfind xmlns:d=\"DAV:\"/>");
	assert_int_equal(ex_dav_parse_propfind(document, &request, err, sizeof(err)), -1);
	xmlFreeDoc(document);
}

static void test_proppatch(void **state)
{
	(void)state;
	ex_dav_proppatch patch;
	char err[256];
	xmlDoc *document = parse("<d:propertyupdate xmlns:d=\"DAV:\"><d:set><d:prop><d:displayname>A</d:displayname>"
				 "</d:prop></d:set><d:remove><d:prop><x:y xmlns:x=\"urn:x\"/></d:prop></d:remove>"
				 "</d:propertyupdate>");
	assert_int_equal(ex_dav_parse_proppatch(document, &patch, err, sizeof(err)), 0);
	assert_int_equal(patch.count, 2);
	assert_int_equal(patch.ops[0].remove, 0);
	assert_int_equal(patch.ops[1].remove, 1);
	assert_true(ex_dav_xml_is(patch.ops[1].property, "urn:x", "y"));

	char *serialized = ex_dav_xml_serialize_element(patch.ops[1].property);
	assert_non_null(serialized);
	assert_string_equal(serialized, "<x:y xmlns:x=\"urn:x\"/>");
	free(serialized);
	xmlFreeDoc(document);

	document = parse("<d:propertyupdate xmlns:d=\"DAV:\"/>");
	assert_int_equal(ex_dav_parse_proppatch(document, &patch, err, sizeof(err)), -1);
	xmlFreeDoc(document);
}

static void test_sync_collection(void **state)
{
	(void)state;
	ex_dav_sync_collection sync;
	char err[256];
	xmlDoc *document = parse("<d:sync-collection xmlns:d=\"DAV:\"><d:sync-token/><d:sync-level>1</d:sync-level>"
				 "<d:prop><d:getetag/></d:prop></d:sync-collection>");
	assert_int_equal(ex_dav_parse_sync_collection(document, &sync, err, sizeof(err)), 0);
	assert_string_equal(sync.sync_token, "");
	assert_int_equal(sync.properties.count, 1);
	xmlFreeDoc(document);

	document = parse("<d:sync-collection xmlns:d=\"DAV:\"><d:sync-token>\n  urn:t:1 \n</d:sync-token>"
			 "<d:sync-level>infinite</d:sync-level><d:limit><d:nresults>5</d:nresults></d:limit>"
			 "</d:sync-collection>");
	assert_int_equal(ex_dav_parse_sync_collection(document, &sync, err, sizeof(err)), 0);
	assert_string_equal(sync.sync_token, "urn:t:1");
	assert_int_equal(sync.sync_level_infinite, 1);
	assert_int_equal(sync.limit, 5);
	xmlFreeDoc(document);

	document = parse("<d:sync-collection xmlns:d=\"DAV:\"><d:sync-level>1</d:sync-level></d:sync-collection>");
	assert_int_equal(ex_dav_parse_sync_collection(document, &sync, err, sizeof(err)), -1);
	xmlFreeDoc(document);
	document = parse("<d:sync-collection xmlns:d=\"DAV:\"><d:sync-token/><d:sync-level>2</d:sync-level></d:sync-collection>");
	assert_int_equal(ex_dav_parse_sync_collection(document, &sync, err, sizeof(err)), -1);
	xmlFreeDoc(document);
}

static bool resolve_etag_only(void *context, ex_dav_multistatus *ms, const char *ns, const char *name)
{
	(void)context;
	if (strcmp(ns, EX_DAV_NS) != 0 || strcmp(name, "getetag") != 0)
		return false;
	if (ms != NULL)
		ex_dav_ms_text_property(ms, ns, name, "\"e1\"");
	return true;
}

static void test_multistatus(void **state)
{
	(void)state;
	ex_dav_propfind request;
	char err[256];
	size_t length;
	xmlDoc *document = parse("<propfind xmlns=\"DAV:\"><prop><getetag/><c:color xmlns:c=\"urn:c\"/></prop></propfind>");
	assert_int_equal(ex_dav_parse_propfind(document, &request, err, sizeof(err)), 0);

	ex_dav_multistatus *ms = ex_dav_multistatus_new();
	ex_dav_ms_begin_response(ms, "/dav/a%20b/");
	ex_dav_ms_write_properties(ms, &request, NULL, resolve_etag_only, NULL);
	ex_dav_ms_end_response(ms);
	ex_dav_ms_sync_token(ms, "urn:t:2");
	const char *body = ex_dav_ms_finish(ms, &length);
	assert_non_null(body);
	assert_non_null(strstr(body, "<d:href>/dav/a%20b/</d:href>"));
	assert_non_null(strstr(body, "<d:prop><d:getetag>&quot;e1&quot;</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status>"));
	assert_non_null(strstr(body, "<d:prop><color xmlns=\"urn:c\"/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status>"));
	assert_non_null(strstr(body, "<d:sync-token>urn:t:2</d:sync-token></d:multistatus>"));
	ex_dav_multistatus_free(ms);
	xmlFreeDoc(document);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xml_cases),   cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_size_limit),  cmocka_unit_test(test_propfind),
		cmocka_unit_test(test_proppatch),   cmocka_unit_test(test_sync_collection),
		cmocka_unit_test(test_multistatus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
