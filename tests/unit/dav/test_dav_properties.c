/* The live property writers of libexpresso-dav: supported-report-set and the getcontent properties of a resource. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "expresso/dav_multistatus.h"
#include "expresso/dav_properties.h"
#include "expresso/dav_xml.h"

/* Writes one response for /r/ with the properties WRITE adds and returns the finished XML (static storage). */
static const char *write_response(void (*write)(ex_dav_multistatus *ms))
{
	static char xml[4096];
	size_t length = 0;
	ex_dav_multistatus *ms = ex_dav_multistatus_new();

	assert_non_null(ms);
	ex_dav_ms_begin_response(ms, "/r/");
	write(ms);
	ex_dav_ms_end_response(ms);
	const char *body = ex_dav_ms_finish(ms, &length);
	assert_non_null(body);
	assert_true(length < sizeof(xml));
	memcpy(xml, body, length);
	xml[length] = '\0';
	ex_dav_multistatus_free(ms);
	return xml;
}

static void write_reports(ex_dav_multistatus *ms)
{
	static const ex_dav_property_name reports[] = {
		{ EX_DAV_NS, "sync-collection" },
		{ EX_CARDDAV_NS, "addressbook-query" },
	};
	ex_dav_write_supported_reports(ms, reports, 2);
}

static void test_supported_reports_listed(void **state)
{
	(void)state;
	const char *xml = write_response(write_reports);

	assert_non_null(strstr(xml, "supported-report-set>"));
	assert_non_null(strstr(xml, "sync-collection/>"));
	assert_non_null(strstr(xml, "addressbook-query"));
	assert_non_null(strstr(xml, EX_CARDDAV_NS));
}

static void write_etag(ex_dav_multistatus *ms)
{
	assert_true(ex_dav_write_content_property(ms, "getetag", "\"e1\"", "text/vcard", "12", "Sat, 05 Dec 2026"));
}

static void test_content_property_values(void **state)
{
	(void)state;
	const char *xml = write_response(write_etag);

	assert_non_null(strstr(xml, "getetag>&quot;e1&quot;</"));

	/* MS NULL only checks the name; a property outside the set is not resolved. */
	assert_true(ex_dav_write_content_property(NULL, "getcontentlength", "\"e1\"", "text/vcard", "12", "x"));
	assert_true(ex_dav_write_content_property(NULL, "getlastmodified", "\"e1\"", "text/vcard", "12", "x"));
	assert_true(ex_dav_write_content_property(NULL, "getcontenttype", "\"e1\"", "text/vcard", "12", "x"));
	assert_false(ex_dav_write_content_property(NULL, "displayname", "\"e1\"", "text/vcard", "12", "x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_supported_reports_listed),
		cmocka_unit_test(test_content_property_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
