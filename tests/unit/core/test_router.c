/* Router: literal and parameter segments, 405 with Allow, bad paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "expresso/router.h"

static int folders, folder, message, files, root;

static ex_router *make_router(void)
{
	ex_router *router = ex_router_new();
	assert_int_equal(ex_router_add(router, "GET", "/", &root, NULL), 0);
	assert_int_equal(ex_router_add(router, "GET", "/api/v1/mail/folders", &folders, NULL), 0);
	assert_int_equal(ex_router_add(router, "POST", "/api/v1/mail/folders", &folders, NULL), 0);
	assert_int_equal(ex_router_add(router, "DELETE", "/api/v1/mail/folders/{id}", &folder, NULL), 0);
	assert_int_equal(ex_router_add(router, "GET", "/api/v1/mail/folders/{id}/messages/{uid}", &message, NULL), 0);
	assert_int_equal(ex_router_add(router, "GET", "/files/{path...}", &files, NULL), 0);
	return router;
}

static void routes_match_table(void **state)
{
	static const struct {
		const char *method;
		const char *path;
		ex_route_status status;
		void *handler;
		const char *first_param;
	} cases[] = {
		{ "GET", "/", EX_ROUTE_FOUND, &root, NULL },
		{ "GET", "/api/v1/mail/folders", EX_ROUTE_FOUND, &folders, NULL },
		{ "HEAD", "/api/v1/mail/folders", EX_ROUTE_FOUND, &folders, NULL },
		{ "POST", "/api/v1/mail/folders", EX_ROUTE_FOUND, &folders, NULL },
		{ "DELETE", "/api/v1/mail/folders/42", EX_ROUTE_FOUND, &folder, "42" },
		{ "DELETE", "/api/v1/mail/folders/Caixa%20de%20entrada", EX_ROUTE_FOUND, &folder, "Caixa de entrada" },
		{ "DELETE", "/api/v1/mail/folders/a%2Fb", EX_ROUTE_FOUND, &folder, "a/b" },
		{ "GET", "/api/v1/mail/folders/7/messages/99", EX_ROUTE_FOUND, &message, "7" },
		{ "GET", "/files/docs/2026/relatório.pdf", EX_ROUTE_FOUND, &files, "docs/2026/relatório.pdf" },
		{ "GET", "/api/v1/mail/folders/", EX_ROUTE_NOT_FOUND, NULL, NULL },
		{ "GET", "/api/v1/mail", EX_ROUTE_NOT_FOUND, NULL, NULL },
		{ "GET", "/api/v1/mail/folders/7/messages", EX_ROUTE_NOT_FOUND, NULL, NULL },
		{ "PUT", "/api/v1/mail/folders", EX_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL },
		{ "GET", "/api/v1/mail/folders/a%zz", EX_ROUTE_BAD_PATH, NULL, NULL },
		{ "GET", "/api/v1/mail/folders/a%00b/messages/1", EX_ROUTE_BAD_PATH, NULL, NULL },
		{ "GET", "/api/v1/mail/folders/a%4", EX_ROUTE_BAD_PATH, NULL, NULL },
		{ "GET", "relative", EX_ROUTE_BAD_PATH, NULL, NULL },
	};
	ex_router *router = make_router();
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ex_route_match match;
		ex_router_match(router, cases[i].method, cases[i].path, &match);
		if (match.status != cases[i].status)
			fail_msg("%s %s: status %d, expected %d", cases[i].method, cases[i].path,
				 match.status, cases[i].status);
		if (cases[i].handler != NULL)
			assert_ptr_equal(match.handler, cases[i].handler);
		if (cases[i].first_param != NULL) {
			assert_true(match.param_count >= 1);
			assert_string_equal(match.params[0].value, cases[i].first_param);
		}
	}
	ex_router_free(router);
}

static void second_parameter_is_captured(void **state)
{
	ex_router *router = make_router();
	ex_route_match match;
	(void)state;

	ex_router_match(router, "GET", "/api/v1/mail/folders/7/messages/99", &match);
	assert_int_equal(match.param_count, 2);
	assert_string_equal(match.params[0].name, "id");
	assert_string_equal(match.params[1].name, "uid");
	assert_string_equal(match.params[1].value, "99");
	assert_string_equal(match.pattern, "/api/v1/mail/folders/{id}/messages/{uid}");
	ex_router_free(router);
}

static void method_not_allowed_lists_methods(void **state)
{
	ex_router *router = make_router();
	ex_route_match match;
	(void)state;

	ex_router_match(router, "PATCH", "/api/v1/mail/folders", &match);
	assert_int_equal(match.status, EX_ROUTE_METHOD_NOT_ALLOWED);
	assert_string_equal(match.allow, "GET, HEAD, POST");
	ex_router_free(router);
}

static void invalid_patterns_are_rejected(void **state)
{
	ex_router *router = ex_router_new();
	(void)state;

	assert_int_equal(ex_router_add(router, "GET", "no-slash", &root, NULL), -1);
	assert_int_equal(ex_router_add(router, "GET", "/a/{}", &root, NULL), -1);
	assert_int_equal(ex_router_add(router, "GET", "/a/{rest...}/b", &root, NULL), -1);
	ex_router_free(router);
}

static void overlong_path_is_bad(void **state)
{
	ex_router *router = make_router();
	ex_route_match match;
	char *path = malloc(EX_ROUTER_MAX_PATH + 2);
	(void)state;

	path[0] = '/';
	memset(path + 1, 'a', EX_ROUTER_MAX_PATH);
	path[EX_ROUTER_MAX_PATH + 1] = '\0';
	ex_router_match(router, "GET", path, &match);
	assert_int_equal(match.status, EX_ROUTE_BAD_PATH);
	free(path);
	ex_router_free(router);
}

static void percent_decode_plus_handling(void **state)
{
	char out[32];
	(void)state;

	assert_int_equal(ex_percent_decode("a+b%2B", 6, out, sizeof(out), 1), 0);
	assert_string_equal(out, "a b+");
	assert_int_equal(ex_percent_decode("a+b", 3, out, sizeof(out), 0), 0);
	assert_string_equal(out, "a+b");
	assert_int_equal(ex_percent_decode("abcdef", 6, out, 4, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(routes_match_table),
		cmocka_unit_test(second_parameter_is_captured),
		cmocka_unit_test(method_not_allowed_lists_methods),
		cmocka_unit_test(invalid_patterns_are_rejected),
		cmocka_unit_test(overlong_path_is_bad),
		cmocka_unit_test(percent_decode_plus_handling),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
