/*
 * Accept-Language choice between Brazilian Portuguese (the default) and
 * English, table-driven over real browser headers and q-value edge cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "accept_language.h"

typedef struct {
	const char *header;
	ex_rp_language expected;
} language_case;

static const language_case cases[] = {
	{ "", EX_RP_LANGUAGE_PT_BR },
	{ "pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7", EX_RP_LANGUAGE_PT_BR },
	{ "en-US,en;q=0.9", EX_RP_LANGUAGE_EN },
	{ "en", EX_RP_LANGUAGE_EN },
	{ "EN-gb", EX_RP_LANGUAGE_EN },
	{ "en-US,en;q=0.9,pt-BR;q=0.8", EX_RP_LANGUAGE_EN },
	{ "pt-BR;q=0.5, en;q=0.8", EX_RP_LANGUAGE_EN },
	{ "en;q=0.5, pt-BR;q=0.8", EX_RP_LANGUAGE_PT_BR },
	{ "pt-PT", EX_RP_LANGUAGE_PT_BR },
	/* equal q-values: the first one listed wins */
	{ "en;q=0.8, pt;q=0.8", EX_RP_LANGUAGE_EN },
	{ "pt;q=0.8, en;q=0.8", EX_RP_LANGUAGE_PT_BR },
	/* q=0 means "not acceptable" */
	{ "en;q=0", EX_RP_LANGUAGE_PT_BR },
	{ "pt;q=0, en;q=0.1", EX_RP_LANGUAGE_EN },
	{ "en;q=0.000, pt;q=0", EX_RP_LANGUAGE_PT_BR },
	/* languages we do not have, and the wildcard */
	{ "fr-FR,fr;q=0.9", EX_RP_LANGUAGE_PT_BR },
	{ "fr, en;q=0.5", EX_RP_LANGUAGE_EN },
	{ "*", EX_RP_LANGUAGE_PT_BR },
	{ "pt;q=0.3, *;q=0.5", EX_RP_LANGUAGE_EN },
	{ "en;q=0.3, *;q=0.5", EX_RP_LANGUAGE_PT_BR },
	/* the best of several ranges of one language counts */
	{ "en-US;q=0.2, pt;q=0.5, en;q=0.9", EX_RP_LANGUAGE_EN },
	/* whitespace and parameter spelling */
	{ "  en ;  q=0.9 , pt ; q=0.8", EX_RP_LANGUAGE_EN },
	{ "en;Q=0.9,pt;q=0.8", EX_RP_LANGUAGE_EN },
	{ "en\t;\tq=1.000", EX_RP_LANGUAGE_EN },
	/* malformed q-values skip the entry */
	{ "en;q=2, pt;q=0.1", EX_RP_LANGUAGE_PT_BR },
	{ "en;q=1.5", EX_RP_LANGUAGE_PT_BR },
	{ "en;q=0.12345", EX_RP_LANGUAGE_PT_BR },
	{ "en;q=abc", EX_RP_LANGUAGE_PT_BR },
	{ "en;q=", EX_RP_LANGUAGE_PT_BR },
	{ "en;q=-1", EX_RP_LANGUAGE_PT_BR },
	/* prefixes are not matches */
	{ "eng", EX_RP_LANGUAGE_PT_BR },
	{ "english", EX_RP_LANGUAGE_PT_BR },
	{ "ptx, en;q=0.5", EX_RP_LANGUAGE_EN },
	/* empty entries */
	{ ",,,en", EX_RP_LANGUAGE_EN },
	{ ";q=0.9", EX_RP_LANGUAGE_PT_BR },
};

static void language_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ex_rp_language chosen = ex_rp_language_choose(cases[i].header);
		if (chosen != cases[i].expected)
			fail_msg("Accept-Language \"%s\": chose %s, expected %s", cases[i].header,
				 ex_rp_language_tag(chosen), ex_rp_language_tag(cases[i].expected));
	}
}

static void language_absent_header(void **state)
{
	(void)state;
	assert_int_equal(ex_rp_language_choose(NULL), EX_RP_LANGUAGE_PT_BR);
}

static void language_entry_limit(void **state)
{
	char header[1024] = "";
	(void)state;

	/* English as the entry after the limit is not read. */
	for (int i = 0; i < EX_RP_ACCEPT_LANGUAGE_MAX_ENTRIES; i++)
		strcat(header, "fr,");
	strcat(header, "en");
	assert_int_equal(ex_rp_language_choose(header), EX_RP_LANGUAGE_PT_BR);
}

static void language_long_range_skipped(void **state)
{
	char header[256];
	(void)state;

	memset(header, 'x', EX_RP_LANGUAGE_RANGE_MAX + 1);
	strcpy(header + EX_RP_LANGUAGE_RANGE_MAX + 1, ", en");
	assert_int_equal(ex_rp_language_choose(header), EX_RP_LANGUAGE_EN);
}

static void language_tags(void **state)
{
	(void)state;
	assert_string_equal(ex_rp_language_tag(EX_RP_LANGUAGE_PT_BR), "pt-BR");
	assert_string_equal(ex_rp_language_tag(EX_RP_LANGUAGE_EN), "en");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(language_table),
		cmocka_unit_test(language_absent_header),
		cmocka_unit_test(language_entry_limit),
		cmocka_unit_test(language_long_range_skipped),
		cmocka_unit_test(language_tags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
