/*
 * Tests of the mailbox name codec: modified UTF-7 round trips of real
 * folder names (Portuguese, French, Japanese, emoji), the strict rejection
 * of non-canonical spellings, UTF-8 passthrough and INBOX handling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "expresso/imap_mailbox.h"

typedef struct {
	const char *utf8;
	const char *mutf7;
} round_trip_case;

static const round_trip_case round_trips[] = {
	{ "INBOX", "INBOX" },
	{ "Caixa de entrada", "Caixa de entrada" },
	{ "Enviados", "Enviados" },
	{ "Itens Exclu\xc3\xad" "dos", "Itens Exclu&AO0-dos" },
	{ "\xc3\x89l\xc3\xa9ments envoy\xc3\xa9s", "&AMk-l&AOk-ments envoy&AOk-s" },
	{ "Rascunhos/Reuni\xc3\xa3o & Notas", "Rascunhos/Reuni&AOM-o &- Notas" },
	{ "\xe5\x8f\x97\xe4\xbf\xa1\xe3\x83\x88\xe3\x83\xac\xe3\x82\xa4", "&U9dP4TDIMOwwpA-" },
	{ "\xe9\x80\x81\xe4\xbf\xa1\xe6\xb8\x88\xe3\x81\xbf", "&kAFP4W4IMH8-" },
	{ "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	  "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },
	{ "&", "&-" },
	{ "&&", "&-&-" },
	{ "Caf\xc3\xa9&", "Caf&AOk-&-" },
	{ "\xf0\x9f\x93\xa7 Mail", "&2D3c5w- Mail" },
	{ "tab\there", "tab&AAk-here" },
	{ "", "" },
};

static void test_mutf7_round_trips(void **state)
{
	(void)state;
	char encoded[256];
	char decoded[256];
	size_t length;

	for (size_t i = 0; i < sizeof(round_trips) / sizeof(round_trips[0]); i++) {
		const round_trip_case *c = &round_trips[i];
		assert_null(ex_imap_mutf7_encode(c->utf8, strlen(c->utf8), encoded, sizeof(encoded), &length));
		assert_string_equal(encoded, c->mutf7);
		assert_int_equal(length, strlen(c->mutf7));

		assert_null(ex_imap_mutf7_decode(c->mutf7, strlen(c->mutf7), decoded, sizeof(decoded), &length));
		assert_string_equal(decoded, c->utf8);
		assert_int_equal(length, strlen(c->utf8));
	}
}

typedef struct {
	const char *mutf7;
	const char *reason;   /* substring of the error */
} invalid_case;

static const invalid_case invalid_names[] = {
	{ "a&b", "encoded run not terminated" },
	{ "&", "bare '&'" },
	{ "x&", "bare '&'" },
	{ "&AGE-", "printable ASCII" },           /* 'a' encoded */
	{ "&AOk-&AOk-", "adjacent encoded runs" },
	{ "&AOl-", "padding bits" },               /* non-zero padding */
	{ "&AOkA-", "padding bits" },              /* one base64 character too many */
	{ "&AO-", "truncated" },                   /* 12 bits: not a whole UTF-16 unit */
	{ "&2D0-", "unpaired" },                   /* high surrogate alone */
	{ "&3eM-", "unpaired" },                   /* low surrogate alone */
	{ "&2D0AQQ-", "unpaired" },                /* high surrogate then 'A' */
	{ "&AOk/-", "not allowed in an encoded run" }, /* '/' is ',' in modified base64 */
	{ "Caf\xc3\xa9", "only printable ASCII" },
	{ "a\tb", "only printable ASCII" },
	{ "&AAA-", "NUL" },
};

static void test_mutf7_rejects_invalid(void **state)
{
	(void)state;
	char decoded[64];
	for (size_t i = 0; i < sizeof(invalid_names) / sizeof(invalid_names[0]); i++) {
		const invalid_case *c = &invalid_names[i];
		const char *error = ex_imap_mutf7_decode(c->mutf7, strlen(c->mutf7), decoded, sizeof(decoded), NULL);
		if (error == NULL) {
			fail_msg("%s was accepted", c->mutf7);
			return;
		}
		if (strstr(error, c->reason) == NULL)
			fail_msg("%s: error \"%s\" lacks \"%s\"", c->mutf7, error, c->reason);
	}
}

static void test_mutf7_encode_rejects_bad_utf8(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"\xc3",             /* truncated */
		"\xc0\xaf",         /* overlong '/' */
		"\xed\xa0\x80",     /* UTF-16 surrogate written as UTF-8 */
		"\xf4\x90\x80\x80", /* above U+10FFFF */
		"\xff",
	};
	char out[64];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_non_null(ex_imap_mutf7_encode(bad[i], strlen(bad[i]), out, sizeof(out), NULL));
}

static void test_mutf7_output_too_small(void **state)
{
	(void)state;
	char out[6];
	/* "Enviados" needs 9 octets with its NUL */
	assert_non_null(ex_imap_mutf7_encode("Enviados", 8, out, sizeof(out), NULL));
	assert_non_null(ex_imap_mutf7_decode("Enviados", 8, out, sizeof(out), NULL));
	char fits[9];
	assert_null(ex_imap_mutf7_decode("Enviados", 8, fits, sizeof(fits), NULL));
	assert_string_equal(fits, "Enviados");
}

static void test_mailbox_wire_forms(void **state)
{
	(void)state;
	char out[128];

	assert_null(ex_imap_mailbox_from_wire("inbox/Reuni&AOM-o", 17, false, out, sizeof(out)));
	assert_string_equal(out, "INBOX/Reuni\xc3\xa3o");

	/* After ENABLE UTF8=ACCEPT '&' is an ordinary character. */
	assert_null(ex_imap_mailbox_from_wire("P&D", 3, true, out, sizeof(out)));
	assert_string_equal(out, "P&D");
	assert_null(ex_imap_mailbox_from_wire("Reuni\xc3\xa3o", 8, true, out, sizeof(out)));
	assert_string_equal(out, "Reuni\xc3\xa3o");
	assert_non_null(ex_imap_mailbox_from_wire("\xc3", 1, true, out, sizeof(out)));
	assert_non_null(ex_imap_mailbox_from_wire("a&b", 3, false, out, sizeof(out)));

	assert_null(ex_imap_mailbox_to_wire("Reuni\xc3\xa3o & Notas", false, out, sizeof(out)));
	assert_string_equal(out, "Reuni&AOM-o &- Notas");
	assert_null(ex_imap_mailbox_to_wire("Reuni\xc3\xa3o & Notas", true, out, sizeof(out)));
	assert_string_equal(out, "Reuni\xc3\xa3o & Notas");
}

static void test_mailbox_inbox(void **state)
{
	(void)state;
	assert_true(ex_imap_mailbox_is_inbox("INBOX"));
	assert_true(ex_imap_mailbox_is_inbox("inbox"));
	assert_true(ex_imap_mailbox_is_inbox("InBoX"));
	assert_false(ex_imap_mailbox_is_inbox("INBOXES"));
	assert_false(ex_imap_mailbox_is_inbox("INBOX/x"));

	char name[32];
	strcpy(name, "Inbox/Work");
	ex_imap_mailbox_normalize_inbox(name);
	assert_string_equal(name, "INBOX/Work");
	strcpy(name, "inboxes");
	ex_imap_mailbox_normalize_inbox(name);
	assert_string_equal(name, "inboxes");
	strcpy(name, "Archive/inbox");
	ex_imap_mailbox_normalize_inbox(name);
	assert_string_equal(name, "Archive/inbox");
}

static void test_mailbox_name_check(void **state)
{
	(void)state;
	assert_null(ex_imap_mailbox_name_check("Enviados"));
	assert_null(ex_imap_mailbox_name_check("Projetos/2026/Relat\xc3\xb3rios"));
	assert_non_null(ex_imap_mailbox_name_check(""));
	assert_non_null(ex_imap_mailbox_name_check("/Enviados"));
	assert_non_null(ex_imap_mailbox_name_check("a//b"));
	assert_non_null(ex_imap_mailbox_name_check("a/"));
	assert_non_null(ex_imap_mailbox_name_check("a%b"));
	assert_non_null(ex_imap_mailbox_name_check("a*"));
	assert_non_null(ex_imap_mailbox_name_check("a\x01" "b"));

	char name[EX_IMAP_MAX_MAILBOX_NAME + 2];
	memset(name, 'a', EX_IMAP_MAX_MAILBOX_COMPONENT);
	name[EX_IMAP_MAX_MAILBOX_COMPONENT] = '\0';
	assert_null(ex_imap_mailbox_name_check(name));
	name[EX_IMAP_MAX_MAILBOX_COMPONENT] = 'a';
	name[EX_IMAP_MAX_MAILBOX_COMPONENT + 1] = '\0';
	assert_non_null(ex_imap_mailbox_name_check(name));

	/* whole-name limit: levels of 200 octets separated by '/' */
	for (size_t i = 0; i < EX_IMAP_MAX_MAILBOX_NAME + 1; i++)
		name[i] = i % 201 == 200 ? '/' : 'b';
	name[EX_IMAP_MAX_MAILBOX_NAME] = '\0';
	assert_null(ex_imap_mailbox_name_check(name));
	name[EX_IMAP_MAX_MAILBOX_NAME] = 'b';
	name[EX_IMAP_MAX_MAILBOX_NAME + 1] = '\0';
	assert_non_null(ex_imap_mailbox_name_check(name));
}

static void test_utf8_validation(void **state)
{
	(void)state;
	assert_true(ex_imap_utf8_valid("jo\xc3\xa3o", 5));
	assert_true(ex_imap_utf8_valid("\xf0\x9f\x93\xa7", 4));
	assert_false(ex_imap_utf8_valid("\xc3\x28", 2));
	assert_false(ex_imap_utf8_valid("\xe0\x80\xaf", 3));
	assert_false(ex_imap_utf8_valid("\xf8\x88\x80\x80\x80", 5));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutf7_round_trips),
		cmocka_unit_test(test_mutf7_rejects_invalid),
		cmocka_unit_test(test_mutf7_encode_rejects_bad_utf8),
		cmocka_unit_test(test_mutf7_output_too_small),
		cmocka_unit_test(test_mailbox_wire_forms),
		cmocka_unit_test(test_mailbox_inbox),
		cmocka_unit_test(test_mailbox_name_check),
		cmocka_unit_test(test_utf8_validation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
