/*
 * vCard parser: a table of bodies with the property each must yield
 * (unfolding, parameters, groups, quoted-printable, base64), a table of
 * bodies it must reject, and every file of tests/data/vcf.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vcard.h"

typedef struct {
	const char *name;
	const char *body;
	const char *property; /* name of the property checked */
	const char *group;    /* expected group or NULL */
	const char *value;    /* expected value (decoded for quoted-printable) */
	const char *parameter;       /* a parameter name to check, or NULL */
	const char *parameter_value; /* its expected value */
} property_case;

#define CARD(lines) "BEGIN:VCARD\r\nVERSION:3.0\r\n" lines "END:VCARD\r\n"

static const property_case property_cases[] = {
	{ "simple", CARD("FN:Maria Souza\r\n"), "FN", NULL, "Maria Souza", NULL, NULL },
	{ "lowercase name", CARD("fn:maria\r\n"), "FN", NULL, "maria", NULL, NULL },
	{ "folded with space", CARD("NOTE:first\r\n  second\r\n"), "NOTE", NULL, "first second", NULL, NULL },
	{ "folded with tab", CARD("NOTE:ab\r\n\tcd\r\n"), "NOTE", NULL, "abcd", NULL, NULL },
	{ "bare LF lines", "BEGIN:VCARD\nVERSION:3.0\nFN:x\n y\nEND:VCARD\n", "FN", NULL, "xy", NULL, NULL },
	{ "group", CARD("item1.EMAIL;type=INTERNET:a@example.org\r\n"), "EMAIL", "item1", "a@example.org", "TYPE", "INTERNET" },
	{ "quoted parameter with colon and semicolon", CARD("X-A;X-P=\"a:b;c\":value\r\n"), "X-A", NULL, "value", "X-P", "a:b;c" },
	{ "parameter list", CARD("TEL;TYPE=work,voice:+55\r\n"), "TEL", NULL, "+55", "TYPE", "work,voice" },
	{ "bare 2.1 parameter", "BEGIN:VCARD\r\nVERSION:2.1\r\nTEL;WORK;VOICE:123\r\nEND:VCARD\r\n", "TEL", NULL, "123", "TYPE", "WORK" },
	{ "quoted-printable", "BEGIN:VCARD\r\nVERSION:2.1\r\nFN;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Jo=C3=A3o\r\nEND:VCARD\r\n",
	  "FN", NULL, "Jo\xC3\xA3o", "CHARSET", "UTF-8" },
	{ "quoted-printable soft break", "BEGIN:VCARD\r\nVERSION:2.1\r\nNOTE;QUOTED-PRINTABLE:one=0D=\r\n=0Atwo=\r\nthree\r\nEND:VCARD\r\n",
	  "NOTE", NULL, "one\r\ntwothree", "ENCODING", "QUOTED-PRINTABLE" },
	{ "quoted-printable bad escape kept", "BEGIN:VCARD\r\nVERSION:2.1\r\nNOTE;ENCODING=QUOTED-PRINTABLE:a=ZZb=\r\nEND:VCARD\r\n",
	  "NOTE", NULL, "a=ZZb=", NULL, NULL },
	{ "empty value", CARD("TITLE:\r\n"), "TITLE", NULL, "", NULL, NULL },
	{ "value with colons", CARD("URL:http\\://example.org:8080/\r\n"), "URL", NULL, "http\\://example.org:8080/", NULL, NULL },
	{ "blank line between properties", CARD("\r\nFN:a\r\n"), "FN", NULL, "a", NULL, NULL },
	{ "byte order mark", "\xEF\xBB\xBF" CARD("FN:bom\r\n"), "FN", NULL, "bom", NULL, NULL },
};

static const ex_vcard_property *find(const ex_vcard *card, const char *name)
{
	for (size_t i = 0; i < card->property_count; i++) {
		if (strcmp(card->properties[i].name, name) == 0)
			return &card->properties[i];
	}
	return NULL;
}

static void test_property_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(property_cases) / sizeof(property_cases[0]); i++) {
		const property_case *c = &property_cases[i];
		char err[256] = "";
		ex_vcard_list *list = ex_vcard_parse(c->body, strlen(c->body), err, sizeof(err));
		if (list == NULL)
			fail_msg("case %s: rejected: %s", c->name, err);
		assert_int_equal(ex_vcard_count(list), 1);
		const ex_vcard_property *property = find(ex_vcard_at(list, 0), c->property);
		if (property == NULL) {
			fail_msg("case %s: no %s property", c->name, c->property);
			return;
		}
		if (c->group == NULL)
			assert_null(property->group);
		else
			assert_string_equal(property->group, c->group);
		if (strlen(c->value) != property->value_length || memcmp(c->value, property->value, property->value_length) != 0)
			fail_msg("case %s: value \"%.*s\", expected \"%s\"", c->name, (int)property->value_length, property->value,
				 c->value);
		if (c->parameter != NULL) {
			const char *value = ex_vcard_parameter_value(property, c->parameter);
			if (value == NULL || strcmp(value, c->parameter_value) != 0)
				fail_msg("case %s: parameter %s is %s, expected %s", c->name, c->parameter, value ? value : "(none)",
					 c->parameter_value);
		}
		ex_vcard_list_free(list);
	}
}

static void test_base64(void **state)
{
	(void)state;
	const char *body = CARD("PHOTO;ENCODING=b;TYPE=JPEG:/9j/\r\n  4AAQ\r\n") ;
	char err[256];
	ex_vcard_list *list = ex_vcard_parse(body, strlen(body), err, sizeof(err));
	assert_non_null(list);
	const ex_vcard_property *photo = find(ex_vcard_at(list, 0), "PHOTO");
	assert_non_null(photo);
	static const unsigned char expected[] = { 0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10 };
	assert_int_equal(photo->binary_length, sizeof(expected));
	assert_memory_equal(photo->binary, expected, sizeof(expected));
	ex_vcard_list_free(list);

	const char *bad = CARD("PHOTO;BASE64:ab*c\r\n");
	assert_null(ex_vcard_parse(bad, strlen(bad), err, sizeof(err)));
	assert_non_null(strstr(err, "base64"));
}

static void test_version_and_uid(void **state)
{
	(void)state;
	const char *body = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:1\r\nFN:a\r\nEND:VCARD\r\n"
			   "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:b\r\nEND:VCARD\r\n";
	char err[256];
	ex_vcard_list *list = ex_vcard_parse(body, strlen(body), err, sizeof(err));
	assert_non_null(list);
	assert_int_equal(ex_vcard_count(list), 2);
	assert_string_equal(ex_vcard_at(list, 0)->version, "4.0");
	assert_string_equal(ex_vcard_at(list, 0)->uid, "urn:uuid:1");
	assert_int_equal(ex_vcard_at(list, 0)->property_count, 3);
	assert_null(ex_vcard_at(list, 1)->uid);
	assert_null(ex_vcard_at(list, 2));
	ex_vcard_list_free(list);
}

typedef struct {
	const char *name;
	const char *body;
	const char *error; /* a word the error must contain */
} reject_case;

static const reject_case reject_cases[] = {
	{ "empty", "", "no vCard" },
	{ "no end", "BEGIN:VCARD\r\nFN:a\r\n", "no END" },
	{ "end without begin", "END:VCARD\r\n", "without BEGIN" },
	{ "outside card", "FN:a\r\nBEGIN:VCARD\r\nEND:VCARD\r\n", "outside" },
	{ "nested", "BEGIN:VCARD\r\nBEGIN:VCARD\r\nEND:VCARD\r\nEND:VCARD\r\n", "nested" },
	{ "no colon", CARD("ORGANIZER;CN=x\r\n"), "no ':'" },
	{ "space in name", CARD("F N:a\r\n"), "no ':'" },
	{ "bad name", CARD(";X:a\r\n"), "invalid name" },
	{ "unclosed quote", CARD("X;P=\"a:b\r\n"), "double quote" },
	{ "empty parameter name", CARD("X;=a:b\r\n"), "invalid name" },
	{ "nul byte", "BEGIN:VCARD\r\nFN:a\0b\r\nEND:VCARD\r\n", "NUL" },
};

static void test_empty_vcard(void **state)
{
	static const char text[] = "BEGIN:VCARD\r\nEND:VCARD\r\n";
	char err[256];
	(void)state;

	/* A vCard without properties parses, so the PUT check can name the missing VERSION. */
	ex_vcard_list *list = ex_vcard_parse(text, strlen(text), err, sizeof(err));
	assert_non_null(list);
	assert_int_equal(ex_vcard_count(list), 1);
	assert_int_equal(ex_vcard_at(list, 0)->property_count, 0);
	assert_null(ex_vcard_at(list, 0)->version);
	ex_vcard_list_free(list);
}

static void test_reject_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(reject_cases) / sizeof(reject_cases[0]); i++) {
		const reject_case *c = &reject_cases[i];
		size_t length = strcmp(c->name, "nul byte") == 0 ? 31 : strlen(c->body);
		char err[256] = "";
		ex_vcard_list *list = ex_vcard_parse(c->body, length, err, sizeof(err));
		if (list != NULL)
			fail_msg("case %s: accepted", c->name);
		if (strstr(err, c->error) == NULL)
			fail_msg("case %s: error \"%s\" does not mention \"%s\"", c->name, err, c->error);
	}
}

static void test_parameter_limit(void **state)
{
	(void)state;
	char body[4096];
	size_t used = (size_t)snprintf(body, sizeof(body), "BEGIN:VCARD\r\nX");
	for (int i = 0; i <= EX_VCARD_MAX_PARAMETERS; i++)
		used += (size_t)snprintf(body + used, sizeof(body) - used, ";P%d=v", i);
	snprintf(body + used, sizeof(body) - used, ":x\r\nEND:VCARD\r\n");
	char err[256];
	assert_null(ex_vcard_parse(body, strlen(body), err, sizeof(err)));
	assert_non_null(strstr(err, "parameters"));
}

/* Reads FILE into a new buffer. */
static char *read_file(const char *path, size_t *length)
{
	FILE *file = fopen(path, "rb");
	if (file == NULL)
		return NULL;
	fseek(file, 0, SEEK_END);
	long size = ftell(file);
	fseek(file, 0, SEEK_SET);
	char *data = malloc((size_t)size + 1);
	*length = fread(data, 1, (size_t)size, file);
	fclose(file);
	return data;
}

static void test_corpus(void **state)
{
	(void)state;
	const char *root = getenv("EXPRESSO_TEST_DATA");
	char directory[1024];
	snprintf(directory, sizeof(directory), "%s/vcf", root ? root : "tests/data");
	DIR *dir = opendir(directory);
	assert_non_null(dir);

	int files = 0;
	struct dirent *entry;
	while ((entry = readdir(dir)) != NULL) {
		size_t name_length = strlen(entry->d_name);
		if (name_length < 5 || strcmp(entry->d_name + name_length - 4, ".vcf") != 0)
			continue;
		char path[2048];
		size_t length = 0;
		char err[256] = "";
		snprintf(path, sizeof(path), "%s/%s", directory, entry->d_name);
		char *data = read_file(path, &length);
		assert_non_null(data);
		ex_vcard_list *list = ex_vcard_parse(data, length, err, sizeof(err));
		if (list == NULL)
			fail_msg("%s: %s", entry->d_name, err);
		for (size_t i = 0; i < ex_vcard_count(list); i++) {
			const ex_vcard *card = ex_vcard_at(list, i);
			assert_non_null(card->version);
			const ex_vcard_property *photo = find(card, "PHOTO");
			if (photo != NULL && photo->binary != NULL)
				assert_true(photo->binary_length > 0);
		}
		ex_vcard_list_free(list);
		free(data);
		files++;
	}
	closedir(dir);
	assert_true(files >= 15);
}

static void test_corpus_details(void **state)
{
	(void)state;
	const char *root = getenv("EXPRESSO_TEST_DATA");
	char path[1024];
	size_t length = 0;
	char err[256];

	snprintf(path, sizeof(path), "%s/vcf/android-stock-contacts-v21-qp-utf8-broken-softbreak-multi.vcf", root ? root : "tests/data");
	char *data = read_file(path, &length);
	assert_non_null(data);
	ex_vcard_list *list = ex_vcard_parse(data, length, err, sizeof(err));
	assert_non_null(list);
	assert_int_equal(ex_vcard_count(list), 6);
	const ex_vcard_property *fn = find(ex_vcard_at(list, 3), "FN");
	assert_non_null(fn);
	/* The soft break in the middle of the value is joined before decoding: eleven "Ñ" separated by spaces. */
	assert_int_equal(fn->value_length, 11 * 2 + 10);
	assert_memory_equal(fn->value, "\xC3\x91 \xC3\x91", 5);
	ex_vcard_list_free(list);
	free(data);

	snprintf(path, sizeof(path), "%s/vcf/apple-addressbook-v30-photo-base64-param-spaces-inside-base64-156kb.vcf", root ? root : "tests/data");
	data = read_file(path, &length);
	list = ex_vcard_parse(data, length, err, sizeof(err));
	assert_non_null(list);
	const ex_vcard_property *photo = find(ex_vcard_at(list, 0), "PHOTO");
	assert_non_null(photo);
	assert_non_null(photo->binary);
	assert_true(photo->binary_length > 100000);
	ex_vcard_list_free(list);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_property_cases), cmocka_unit_test(test_base64),
		cmocka_unit_test(test_version_and_uid), cmocka_unit_test(test_reject_cases),
		cmocka_unit_test(test_parameter_limit), cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_corpus_details), cmocka_unit_test(test_empty_vcard),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
