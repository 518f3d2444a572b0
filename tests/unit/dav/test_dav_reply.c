/* The DAV reply of libexpresso-dav: errors, multistatus bodies, conditions, PROPFIND depth, PROPPATCH, XML body limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "expresso/dav_reply.h"

static void test_error_replaces_body(void **state)
{
	(void)state;
	ex_dav_reply reply = { 0 };

	reply.body = strdup("<partial/>");
	reply.status = 207;
	reply.changed = true;
	ex_dav_reply_error(&reply, 403, EX_DAV_NS, "need-privileges", "the %s is read-only", "address book");

	assert_int_equal(reply.status, 403);
	assert_null(reply.body);
	assert_false(reply.changed);
	assert_string_equal(reply.condition_ns, EX_DAV_NS);
	assert_string_equal(reply.condition, "need-privileges");
	assert_string_equal(reply.message, "the address book is read-only");
	ex_dav_reply_reset(&reply);
}

static void test_error_truncates_message(void **state)
{
	(void)state;
	ex_dav_reply reply = { 0 };
	char long_name[1024];

	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	ex_dav_reply_error(&reply, 400, NULL, NULL, "invalid name %s", long_name);

	assert_int_equal(strlen(reply.message), sizeof(reply.message) - 1);
	assert_null(reply.condition_ns);
	assert_null(reply.condition);
}

static void test_multistatus_becomes_body(void **state)
{
	(void)state;
	ex_dav_reply reply = { 0 };
	ex_dav_multistatus *ms = ex_dav_multistatus_new();

	assert_non_null(ms);
	ex_dav_ms_begin_response(ms, "/dav/calendars/u/default/");
	ex_dav_ms_status(ms, 404);
	ex_dav_ms_end_response(ms);
	ex_dav_reply_multistatus(&reply, ms);

	assert_int_equal(reply.status, 207);
	assert_string_equal(reply.content_type, "application/xml; charset=utf-8");
	assert_non_null(reply.body);
	assert_int_equal(strlen(reply.body), reply.length);
	assert_non_null(strstr(reply.body, "/dav/calendars/u/default/"));
	assert_non_null(strstr(reply.body, "404"));
	ex_dav_reply_reset(&reply);
}

static void test_multistatus_missing_is_500(void **state)
{
	(void)state;
	ex_dav_reply reply = { 0 };

	ex_dav_reply_multistatus(&reply, NULL);

	assert_int_equal(reply.status, 500);
	assert_null(reply.body);
	assert_string_equal(reply.message, "the multistatus response could not be written");
}

static void test_parse_xml_limits(void **state)
{
	(void)state;
	static const char body[] = "<?xml version=\"1.0\"?><d:propfind xmlns:d=\"DAV:\"><d:allprop/></d:propfind>";
	const size_t length = sizeof(body) - 1;
	ex_dav_xml_limits limits = { .max_bytes = length, .max_depth = 0 };
	ex_dav_reply reply = { 0 };
	xmlDoc *document = NULL;

	/* An empty body is no document and no error. */
	assert_true(ex_dav_reply_parse_xml(&reply, "", 0, &limits, &document));
	assert_null(document);
	assert_int_equal(reply.status, 0);

	/* A body at the limit parses. */
	assert_true(ex_dav_reply_parse_xml(&reply, body, length, &limits, &document));
	assert_non_null(document);
	assert_int_equal(reply.status, 0);
	xmlFreeDoc(document);
	document = NULL;

	/* One byte past the limit is a 413. */
	limits.max_bytes = length - 1;
	assert_false(ex_dav_reply_parse_xml(&reply, body, length, &limits, &document));
	assert_null(document);
	assert_int_equal(reply.status, 413);

	/* A body that is not well-formed is a 400. */
	ex_dav_reply_reset(&reply);
	limits.max_bytes = 0;
	assert_false(ex_dav_reply_parse_xml(&reply, "<d:propfind", 11, &limits, &document));
	assert_null(document);
	assert_int_equal(reply.status, 400);
	assert_true(reply.message[0] != '\0');
}

static void test_take_multistatus_keeps_error(void **state)
{
	(void)state;
	ex_dav_reply reply = { 0 };

	ex_dav_reply_error(&reply, 404, NULL, NULL, "the calendar work does not exist");
	ex_dav_reply_take_multistatus(&reply, ex_dav_multistatus_new());
	assert_int_equal(reply.status, 404);
	assert_null(reply.body);

	ex_dav_reply_reset(&reply);
	ex_dav_reply_take_multistatus(&reply, ex_dav_multistatus_new());
	assert_int_equal(reply.status, 207);
	assert_non_null(reply.body);
	ex_dav_reply_reset(&reply);
}

static void test_conditions_set_reply(void **state)
{
	(void)state;
	static const char etag[] = "\"0123\"";
	ex_dav_reply reply = { 0 };

	/* A matching If-Match and no condition at all let the request go on. */
	assert_true(ex_dav_reply_check_conditions(&reply, etag, NULL, etag, false, "vCard"));
	assert_true(ex_dav_reply_check_conditions(&reply, NULL, NULL, NULL, false, "vCard"));
	assert_int_equal(reply.status, 0);

	/* If-None-Match on a GET of the current ETag is a 304 with that ETag. */
	assert_false(ex_dav_reply_check_conditions(&reply, NULL, etag, etag, true, "vCard"));
	assert_int_equal(reply.status, 304);
	assert_string_equal(reply.etag, etag);

	/* A stale If-Match is a 412 whose message names the resource. */
	ex_dav_reply_reset(&reply);
	assert_false(ex_dav_reply_check_conditions(&reply, "\"stale\"", NULL, etag, false, "vCard"));
	assert_int_equal(reply.status, 412);
	assert_non_null(strstr(reply.message, "vCard"));
	assert_string_equal(reply.etag, "");
}

static void test_propfind_depth_checked(void **state)
{
	(void)state;
	ex_dav_reply reply = { 0 };
	ex_dav_propfind request;

	assert_true(ex_dav_reply_parse_propfind(&reply, EX_DAV_DEPTH_1, NULL, &request));
	assert_int_equal(request.kind, EX_DAV_PROPFIND_ALLPROP);
	assert_int_equal(reply.status, 0);

	assert_false(ex_dav_reply_parse_propfind(&reply, EX_DAV_DEPTH_INFINITY, NULL, &request));
	assert_int_equal(reply.status, 403);
	assert_string_equal(reply.condition, "propfind-finite-depth");

	ex_dav_reply_reset(&reply);
	assert_false(ex_dav_reply_parse_propfind(&reply, EX_DAV_DEPTH_INVALID, NULL, &request));
	assert_int_equal(reply.status, 400);
	assert_null(reply.condition);
}

static void test_proppatch_reply_lists_properties(void **state)
{
	(void)state;
	static const char body[] = "<?xml version=\"1.0\"?><d:propertyupdate xmlns:d=\"DAV:\"><d:set><d:prop>"
				   "<d:displayname>Work</d:displayname></d:prop></d:set></d:propertyupdate>";
	ex_dav_xml_limits limits = { 0 };
	ex_dav_reply reply = { 0 };
	ex_dav_proppatch patch;
	xmlDoc *document = NULL;
	char err[256];
	unsigned statuses[EX_DAV_MAX_PROPERTIES] = { 200 };

	assert_true(ex_dav_reply_parse_xml(&reply, body, sizeof(body) - 1, &limits, &document));
	assert_int_equal(ex_dav_parse_proppatch(document, &patch, err, sizeof(err)), 0);
	assert_int_equal(patch.count, 1);
	ex_dav_reply_proppatch(&reply, &patch, statuses, "/dav/addressbooks/u/work/");

	assert_int_equal(reply.status, 207);
	assert_non_null(reply.body);
	assert_non_null(strstr(reply.body, "/dav/addressbooks/u/work/"));
	assert_non_null(strstr(reply.body, "displayname"));
	assert_non_null(strstr(reply.body, "HTTP/1.1 200 OK"));
	ex_dav_reply_reset(&reply);
	xmlFreeDoc(document);
}

static void test_reset_clears_reply(void **state)
{
	(void)state;
	ex_dav_reply reply = { 0 };

	strcpy(reply.etag, "\"abc\"");
	strcpy(reply.schedule_tag, "\"def\"");
	strcpy(reply.changed_collection, "default");
	reply.status = 200;
	reply.body = strdup("BEGIN:VCARD");
	ex_dav_reply_reset(&reply);

	assert_null(reply.body);
	assert_int_equal(reply.status, 0);
	assert_string_equal(reply.etag, "");
	assert_string_equal(reply.schedule_tag, "");
	assert_string_equal(reply.changed_collection, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_replaces_body),
		cmocka_unit_test(test_error_truncates_message),
		cmocka_unit_test(test_multistatus_becomes_body),
		cmocka_unit_test(test_multistatus_missing_is_500),
		cmocka_unit_test(test_parse_xml_limits),
		cmocka_unit_test(test_take_multistatus_keeps_error),
		cmocka_unit_test(test_conditions_set_reply),
		cmocka_unit_test(test_propfind_depth_checked),
		cmocka_unit_test(test_proppatch_reply_lists_properties),
		cmocka_unit_test(test_reset_clears_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
