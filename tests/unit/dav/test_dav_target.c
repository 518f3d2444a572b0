/*
 * The shared DAV URL layout: request paths parsed into targets, hrefs
 * written for them and the keys of their dead properties. Table-driven.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "expresso/dav_http.h"
#include "expresso/dav_target.h"

#define USER "u-1"

typedef struct {
	const char *path;
	ex_dav_target_kind kind;
	const char *collection;
	const char *resource;
} target_case;

static const target_case target_cases[] = {
	{ "", EX_DAV_TARGET_DAV_ROOT, "", "" },
	{ "principals", EX_DAV_TARGET_PRINCIPALS, "", "" },
	{ "principals/", EX_DAV_TARGET_PRINCIPALS, "", "" },
	{ "principals/" USER "/", EX_DAV_TARGET_PRINCIPAL, "", "" },
	{ "principals/" USER, EX_DAV_TARGET_PRINCIPAL, "", "" },
	{ "principals/" USER "/x", EX_DAV_TARGET_NOT_FOUND, "", "" },
	{ "principals/u-2/", EX_DAV_TARGET_NOT_FOUND, "", "" },
	{ "calendars/" USER "/", EX_DAV_TARGET_HOME, "", "" },
	{ "calendars/u-2/", EX_DAV_TARGET_NOT_FOUND, "", "" },
	{ "calendars/", EX_DAV_TARGET_NOT_FOUND, "", "" },
	{ "calendars//", EX_DAV_TARGET_NOT_FOUND, "", "" },
	{ "addressbooks/" USER "/", EX_DAV_TARGET_NOT_FOUND, "", "" },
	{ "calendars/" USER "/work/", EX_DAV_TARGET_COLLECTION, "work", "" },
	{ "calendars/" USER "/work", EX_DAV_TARGET_COLLECTION, "work", "" },
	{ "calendars/" USER "/w.o_r-k/", EX_DAV_TARGET_COLLECTION, "w.o_r-k", "" },
	{ "calendars/" USER "/-work/", EX_DAV_TARGET_NOT_FOUND, "", "" },
	{ "calendars/" USER "/wo rk/", EX_DAV_TARGET_NOT_FOUND, "", "" },
	{ "calendars/" USER "/work/a b.ics", EX_DAV_TARGET_RESOURCE, "work", "a b.ics" },
	{ "calendars/" USER "/work/a.ics/", EX_DAV_TARGET_RESOURCE, "work", "a.ics" },
	{ "calendars/" USER "/work/a/b", EX_DAV_TARGET_NOT_FOUND, "", "" },
	{ "calendars/" USER "/work/..", EX_DAV_TARGET_NOT_FOUND, "", "" },
	{ "calendars/" USER "/work/.", EX_DAV_TARGET_NOT_FOUND, "", "" },
	{ "calendars/" USER "/work/a\tb", EX_DAV_TARGET_NOT_FOUND, "", "" },
	{ "calendars/" USER "/work/a\x7f", EX_DAV_TARGET_NOT_FOUND, "", "" },
	{ "averyveryverylongsegmentname-more-than-32-bytes/" USER "/", EX_DAV_TARGET_NOT_FOUND, "", "" },
};

static void test_parse_target(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(target_cases) / sizeof(target_cases[0]); i++) {
		ex_dav_target target;
		ex_dav_parse_target(target_cases[i].path, "calendars", USER, &target);
		if (target.kind != target_cases[i].kind)
			fail_msg("path \"%s\": kind %d, expected %d", target_cases[i].path, target.kind, target_cases[i].kind);
		assert_string_equal(target.collection, target_cases[i].collection);
		assert_string_equal(target.resource, target_cases[i].resource);
	}
}

static void test_name_limits(void **state)
{
	(void)state;
	char name[EX_DAV_MAX_RESOURCE_NAME + 2];

	memset(name, 'a', sizeof(name));
	name[EX_DAV_MAX_COLLECTION_NAME] = '\0';
	assert_true(ex_dav_collection_name_is_valid(name));
	name[EX_DAV_MAX_COLLECTION_NAME] = 'a';
	name[EX_DAV_MAX_COLLECTION_NAME + 1] = '\0';
	assert_false(ex_dav_collection_name_is_valid(name));
	assert_false(ex_dav_collection_name_is_valid(""));

	memset(name, 'a', sizeof(name));
	name[EX_DAV_MAX_RESOURCE_NAME] = '\0';
	assert_true(ex_dav_resource_name_is_valid(name));
	name[EX_DAV_MAX_RESOURCE_NAME] = 'a';
	name[EX_DAV_MAX_RESOURCE_NAME + 1] = '\0';
	assert_false(ex_dav_resource_name_is_valid(name));
	assert_false(ex_dav_resource_name_is_valid(""));
}

static void test_long_resource_path(void **state)
{
	(void)state;
	char path[400];
	char expected[EX_DAV_MAX_RESOURCE_NAME + 1];
	ex_dav_target target;

	memset(expected, 'r', EX_DAV_MAX_RESOURCE_NAME);
	expected[EX_DAV_MAX_RESOURCE_NAME] = '\0';
	snprintf(path, sizeof(path), "calendars/" USER "/work/%s", expected);
	ex_dav_parse_target(path, "calendars", USER, &target);
	assert_int_equal(target.kind, EX_DAV_TARGET_RESOURCE);
	assert_string_equal(target.resource, expected);

	snprintf(path, sizeof(path), "calendars/" USER "/work/%sr", expected);
	ex_dav_parse_target(path, "calendars", USER, &target);
	assert_int_equal(target.kind, EX_DAV_TARGET_NOT_FOUND);
}

static void test_format_href(void **state)
{
	(void)state;
	char href[EX_DAV_MAX_HREF];

	assert_int_equal(ex_dav_format_href(href, EX_DAV_PRINCIPALS, USER, NULL, NULL), 0);
	assert_string_equal(href, "/dav/principals/" USER "/");
	assert_int_equal(ex_dav_format_href(href, "addressbooks", USER, NULL, NULL), 0);
	assert_string_equal(href, "/dav/addressbooks/" USER "/");
	assert_int_equal(ex_dav_format_href(href, "addressbooks", USER, "default", NULL), 0);
	assert_string_equal(href, "/dav/addressbooks/" USER "/default/");
	assert_int_equal(ex_dav_format_href(href, "addressbooks", USER, "default", "a b/c%.vcf"), 0);
	assert_string_equal(href, "/dav/addressbooks/" USER "/default/a%20b%2Fc%25.vcf");

	/* A 255-byte name of spaces encodes to 765 bytes and still fits. */
	char resource[EX_DAV_MAX_RESOURCE_NAME + 1];
	memset(resource, ' ', EX_DAV_MAX_RESOURCE_NAME);
	resource[EX_DAV_MAX_RESOURCE_NAME] = '\0';
	assert_int_equal(ex_dav_format_href(href, "addressbooks", USER, "default", resource), 0);
	assert_int_equal(strlen(href), strlen("/dav/addressbooks/" USER "/default/") + 3 * EX_DAV_MAX_RESOURCE_NAME);

	/* A collection and a resource that together encode to more than 1023 bytes do not fit. */
	char collection[120];
	memset(collection, ' ', sizeof(collection) - 1);
	collection[sizeof(collection) - 1] = '\0';
	assert_int_equal(ex_dav_format_href(href, "addressbooks", USER, collection, resource), -1);
}

static void test_property_path(void **state)
{
	(void)state;
	char path[EX_DAV_MAX_HREF];
	ex_dav_target target = { .kind = EX_DAV_TARGET_RESOURCE, .collection = "work", .resource = "a.ics" };

	assert_int_equal(ex_dav_property_path(path, sizeof(path), "calendars", USER, &target), 0);
	assert_string_equal(path, "calendars/" USER "/work/a.ics");
	target.kind = EX_DAV_TARGET_COLLECTION;
	assert_int_equal(ex_dav_property_path(path, sizeof(path), "calendars", USER, &target), 0);
	assert_string_equal(path, "calendars/" USER "/work/");
	target.kind = EX_DAV_TARGET_HOME;
	assert_int_equal(ex_dav_property_path(path, sizeof(path), "calendars", USER, &target), 0);
	assert_string_equal(path, "calendars/" USER "/");
	target.kind = EX_DAV_TARGET_PRINCIPAL;
	assert_int_equal(ex_dav_property_path(path, sizeof(path), "calendars", USER, &target), 0);
	assert_string_equal(path, "principals/" USER "/");
	target.kind = EX_DAV_TARGET_DAV_ROOT;
	assert_int_equal(ex_dav_property_path(path, sizeof(path), "calendars", USER, &target), -1);
	target.kind = EX_DAV_TARGET_COLLECTION;
	assert_int_equal(ex_dav_property_path(path, 10, "calendars", USER, &target), -1);
}

typedef struct {
	const char *href;
	const char *expected; /* NULL when the href names no resource of the collection */
} href_case;

static const href_case href_cases[] = {
	{ "/dav/calendars/" USER "/work/a.ics", "a.ics" },
	{ "/dav/calendars/" USER "/work/a%20b.ics", "a b.ics" },
	/* The href is decoded before it is split, so an encoded slash separates segments. */
	{ "/dav/calendars/" USER "/work/a%2Fc.ics", NULL },
	{ "https://dav.example.com/dav/calendars/" USER "/work/a.ics", "a.ics" },
	{ "https://dav.example.com", NULL },
	{ "/dav/calendars/" USER "/home/a.ics", NULL },
	{ "/dav/calendars/u-2/work/a.ics", NULL },
	{ "/dav/calendars/" USER "/work/", NULL },
	{ "/dav/addressbooks/" USER "/work/a.vcf", NULL },
	{ "/other/calendars/" USER "/work/a.ics", NULL },
	{ "/dav/calendars/" USER "/work/a%zz", NULL },
	{ "/dav/calendars/" USER "/work/%2e%2e", NULL },
};

static void test_resource_name_of_href(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(href_cases) / sizeof(href_cases[0]); i++) {
		char name[EX_DAV_MAX_RESOURCE_NAME + 1];
		const char *found =
			ex_dav_resource_name_of_href(href_cases[i].href, "calendars", USER, "work", name, sizeof(name));
		if (href_cases[i].expected == NULL && found != NULL)
			fail_msg("href \"%s\": found \"%s\", expected none", href_cases[i].href, found);
		if (href_cases[i].expected != NULL && (found == NULL || strcmp(found, href_cases[i].expected) != 0))
			fail_msg("href \"%s\": found \"%s\", expected \"%s\"", href_cases[i].href, found ? found : "(none)",
				 href_cases[i].expected);
	}
}

static void test_compute_etag(void **state)
{
	(void)state;
	char etag[EX_DAV_ETAG_SIZE];

	ex_dav_compute_etag("abc", 3, etag);
	assert_string_equal(etag, "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"");
	assert_int_equal(strlen(etag), EX_DAV_ETAG_SIZE - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_target),
		cmocka_unit_test(test_name_limits),
		cmocka_unit_test(test_long_resource_path),
		cmocka_unit_test(test_format_href),
		cmocka_unit_test(test_property_path),
		cmocka_unit_test(test_resource_name_of_href),
		cmocka_unit_test(test_compute_etag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
