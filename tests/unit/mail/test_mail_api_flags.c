/*
 * Tests of flag requests: parsing of the body, keyword syntax, and the
 * merge into stored flags with its "changed" result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "mail_api_flags.h"

static void parse_valid_bodies(void **state)
{
	ex_mail_flag_change change;
	char err[256];
	(void)state;
	json_t *body = json_loads("{\"seen\": true, \"flagged\": false, \"keywords\": {\"add\": [\"$Label1\"], "
				  "\"remove\": [\"todo\"]}}",
				  0, NULL);
	assert_int_equal(ex_mail_flag_change_parse(body, &change, err, sizeof(err)), 0);
	assert_int_equal(change.add_count, 2);
	assert_int_equal(change.remove_count, 2);
	assert_string_equal(change.add[0], "\\Seen");
	assert_string_equal(change.remove[0], "\\Flagged");
	assert_string_equal(change.add[1], "$Label1");
	assert_string_equal(change.remove[1], "todo");
	json_decref(body);
}

static void parse_invalid_bodies(void **state)
{
	static const char *const bodies[] = {
		"{}",
		"[]",
		"{\"seen\": 1}",
		"{\"unread\": true}",
		"{\"keywords\": []}",
		"{\"keywords\": {\"set\": [\"a\"]}}",
		"{\"keywords\": {\"add\": \"a\"}}",
		"{\"keywords\": {\"add\": [\"\\\\Seen\"]}}",
		"{\"keywords\": {\"add\": [\"two words\"]}}",
		"{\"keywords\": {\"add\": [\"a(b\"]}}",
		"{\"keywords\": {\"add\": [\"\"]}}",
		"{\"keywords\": {\"add\": [7]}}",
	};
	ex_mail_flag_change change;
	char err[256];
	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		json_t *body = json_loads(bodies[i], 0, NULL);
		print_message("body %s\n", bodies[i]);
		assert_non_null(body);
		err[0] = '\0';
		assert_int_equal(ex_mail_flag_change_parse(body, &change, err, sizeof(err)), -1);
		assert_true(strlen(err) > 0);
		json_decref(body);
	}
}

static void parse_change_limit(void **state)
{
	ex_mail_flag_change change;
	char err[256];
	(void)state;
	json_t *keywords = json_array();
	for (int i = 0; i < EX_MAIL_FLAGS_MAX_CHANGES; i++)
		json_array_append_new(keywords, json_sprintf("k%d", i));
	json_t *body = json_pack("{s:{s:O}}", "keywords", "add", keywords);
	assert_int_equal(ex_mail_flag_change_parse(body, &change, err, sizeof(err)), 0);
	json_array_append_new(keywords, json_string("one-more"));
	json_decref(body);
	body = json_pack("{s:{s:O}}", "keywords", "add", keywords);
	assert_int_equal(ex_mail_flag_change_parse(body, &change, err, sizeof(err)), -1);
	json_decref(body);
	json_decref(keywords);
}

static void keyword_syntax(void **state)
{
	char longest[EX_MAIL_KEYWORD_MAX + 2];
	(void)state;
	assert_true(ex_mail_keyword_is_valid("$Forwarded"));
	assert_true(ex_mail_keyword_is_valid("NonJunk"));
	assert_false(ex_mail_keyword_is_valid("\\Seen"));
	assert_false(ex_mail_keyword_is_valid("a]b"));
	assert_false(ex_mail_keyword_is_valid("caf\xc3\xa9"));
	memset(longest, 'k', EX_MAIL_KEYWORD_MAX);
	longest[EX_MAIL_KEYWORD_MAX] = '\0';
	assert_true(ex_mail_keyword_is_valid(longest));
	longest[EX_MAIL_KEYWORD_MAX] = 'k';
	longest[EX_MAIL_KEYWORD_MAX + 1] = '\0';
	assert_false(ex_mail_keyword_is_valid(longest));
}

static void apply_merges(void **state)
{
	ex_mail_flag_change change = { .add = { "\\Seen", "todo" }, .add_count = 2, .remove = { "\\flagged" },
				       .remove_count = 1 };
	bool changed;
	(void)state;
	json_t *current = json_loads("[\"\\\\Flagged\", \"$Label1\"]", 0, NULL);
	json_t *result = ex_mail_flags_apply(current, &change, &changed);
	assert_true(changed);
	char *text = json_dumps(result, JSON_COMPACT);
	assert_string_equal(text, "[\"$Label1\",\"\\\\Seen\",\"todo\"]");
	free(text);

	/* Applying the same change again changes nothing. */
	json_t *again = ex_mail_flags_apply(result, &change, &changed);
	assert_false(changed);
	assert_true(json_equal(again, result));
	json_decref(again);
	json_decref(result);
	json_decref(current);
}

static void apply_limit(void **state)
{
	ex_mail_flag_change change = { .add = { "one-more" }, .add_count = 1 };
	bool changed;
	(void)state;
	json_t *current = json_array();
	for (int i = 0; i < EX_MAIL_FLAGS_MAX_STORED - 1; i++)
		json_array_append_new(current, json_sprintf("k%d", i));
	json_t *result = ex_mail_flags_apply(current, &change, &changed);
	assert_non_null(result);
	assert_int_equal(json_array_size(result), EX_MAIL_FLAGS_MAX_STORED);
	json_decref(result);
	json_array_append_new(current, json_string("fills-the-last-slot"));
	assert_null(ex_mail_flags_apply(current, &change, &changed));
	json_decref(current);
}

static void flags_object(void **state)
{
	(void)state;
	json_t *flags = json_loads("[\"\\\\Seen\", \"\\\\Draft\", \"$Label1\"]", 0, NULL);
	json_t *object = ex_mail_flags_json(flags);
	assert_true(json_is_true(json_object_get(object, "seen")));
	assert_true(json_is_true(json_object_get(object, "draft")));
	assert_true(json_is_false(json_object_get(object, "flagged")));
	assert_int_equal(json_array_size(json_object_get(object, "keywords")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(object, "keywords"), 0)), "$Label1");
	json_decref(object);
	json_decref(flags);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_valid_bodies), cmocka_unit_test(parse_invalid_bodies),
		cmocka_unit_test(parse_change_limit), cmocka_unit_test(keyword_syntax),
		cmocka_unit_test(apply_merges),       cmocka_unit_test(apply_limit),
		cmocka_unit_test(flags_object),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
