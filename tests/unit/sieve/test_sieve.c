/*
 * Sieve wrapper: the project's pt-BR rule corpus (tests/data/sieve),
 * executed against small messages, plus limits, error reports, the keep
 * fallback and concurrent use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expresso/sieve.h"

/* A message for the tests: header fields as name/value pairs. */
typedef struct {
	const char *fields[8][2];
	const char *values[8][2]; /* NULL-terminated one-value lists built on demand */
} test_headers;

static const char *const *lookup_header(void *context, const char *name)
{
	test_headers *headers = context;
	for (size_t i = 0; i < 8 && headers->fields[i][0] != NULL; i++) {
		if (strcasecmp(headers->fields[i][0], name) == 0) {
			headers->values[i][0] = headers->fields[i][1];
			headers->values[i][1] = NULL;
			return headers->values[i];
		}
	}
	return NULL;
}

static char *read_script(const char *name, size_t *length)
{
	char path[512];
	const char *data = getenv("EXPRESSO_TEST_DATA");
	snprintf(path, sizeof(path), "%s/sieve/%s", data ? data : "tests/data", name);
	FILE *file = fopen(path, "rb");
	if (file == NULL)
		fail_msg("cannot open %s", path);
	char *text = malloc(EX_SIEVE_DEFAULT_MAX_SCRIPT + 1);
	*length = fread(text, 1, EX_SIEVE_DEFAULT_MAX_SCRIPT, file);
	fclose(file);
	text[*length] = '\0';
	return text;
}

static ex_sieve_status run_file(const char *name, test_headers *headers, const char *envelope_to,
				size_t size, ex_sieve_result *result)
{
	size_t length;
	char *script = read_script(name, &length);
	ex_sieve_message message = {
		.envelope_from = "remetente@example.org",
		.envelope_to = envelope_to ? envelope_to : "alice@demo.expresso.test",
		.size = size,
		.get_header = lookup_header,
		.context = headers,
	};
	ex_sieve_status status = ex_sieve_execute(script, length, 0, &message, result);
	free(script);
	return status;
}

static int has_flag(const ex_sieve_action *action, const char *flag)
{
	if (action->flags == NULL)
		return 0;
	for (char **f = action->flags; *f != NULL; f++) {
		if (strcmp(*f, flag) == 0)
			return 1;
	}
	return 0;
}

static void valid_corpus_scripts_validate(void **state)
{
	static const char *const names[] = {
		"discard-notificacoes-sistema.sieve", "regras-aninhadas-anyof-allof-not.sieve",
		"rejeitar-anexos-grandes.sieve", "spam-flags-imap4flags.sieve", "subaddress-detail.sieve",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t length;
		ex_sieve_errors errors;
		char *script = read_script(names[i], &length);
		ex_sieve_status status = ex_sieve_validate(script, length, 0, &errors);
		free(script);
		if (status != EX_SIEVE_OK)
			fail_msg("%s: status %d, first error line %d: %s", names[i], status,
				 errors.items[0].line, errors.items[0].message);
	}
}

static void broken_scripts_report_line(void **state)
{
	static const struct {
		const char *name;
		int line;
		const char *reason_part;
	} cases[] = {
		{ "erro-sintaxe-ponto-e-virgula-faltando.sieve", 2, "syntax error" },
		{ "erro-extensao-nao-declarada.sieve", 3, "fileinto" },
		{ "erro-string-nao-terminada.sieve", 3, "syntax error" },
		{ "ereject-remetente-bloqueado.sieve", 1, "ereject" },
		{ "ferias-vacation-com-datas.sieve", 1, "date" },
		{ "filtros-basicos-fileinto-pastas.sieve", 1, "mailbox" },
		{ "redirect-copia-para-assistente.sieve", 1, "copy" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t length;
		ex_sieve_errors errors;
		char *script = read_script(cases[i].name, &length);
		ex_sieve_status status = ex_sieve_validate(script, length, 0, &errors);
		free(script);
		if (status != EX_SIEVE_INVALID || errors.count == 0)
			fail_msg("%s: status %d with %zu errors, expected invalid", cases[i].name, status, errors.count);
		if (errors.items[0].line != cases[i].line)
			fail_msg("%s: error on line %d, expected %d", cases[i].name, errors.items[0].line, cases[i].line);
		if (strstr(errors.items[0].message, cases[i].reason_part) == NULL)
			fail_msg("%s: \"%s\" lacks \"%s\"", cases[i].name, errors.items[0].message, cases[i].reason_part);
	}
}

static void invalid_script_executes_as_keep(void **state)
{
	ex_sieve_result result;
	test_headers headers = { .fields = { { "Subject", "teste" } } };
	(void)state;

	assert_int_equal(run_file("erro-sintaxe-ponto-e-virgula-faltando.sieve", &headers, NULL, 100, &result), EX_SIEVE_INVALID);
	assert_int_equal(result.count, 1);
	assert_int_equal(result.actions[0].type, EX_SIEVE_ACTION_KEEP);
	assert_true(result.actions[0].implicit);
	assert_int_equal(result.errors.items[0].line, 2);
	ex_sieve_result_clear(&result);
}

static void spam_goes_to_junk_with_flag(void **state)
{
	ex_sieve_result result;
	test_headers headers = { .fields = { { "X-Spam-Flag", "YES" }, { "Subject", "oferta" } } };
	(void)state;

	assert_int_equal(run_file("spam-flags-imap4flags.sieve", &headers, NULL, 2048, &result), EX_SIEVE_OK);
	assert_int_equal(result.count, 1);
	assert_int_equal(result.actions[0].type, EX_SIEVE_ACTION_FILEINTO);
	assert_string_equal(result.actions[0].mailbox, "Junk");
	assert_true(has_flag(&result.actions[0], "$Junk"));
	ex_sieve_result_clear(&result);
}

static void urgent_subject_is_flagged_and_kept(void **state)
{
	ex_sieve_result result;
	test_headers headers = { .fields = { { "Subject", "Relatório URGENTE do gabinete" } } };
	(void)state;

	assert_int_equal(run_file("spam-flags-imap4flags.sieve", &headers, NULL, 2048, &result), EX_SIEVE_OK);
	assert_int_equal(result.count, 1);
	assert_int_equal(result.actions[0].type, EX_SIEVE_ACTION_KEEP);
	assert_false(result.actions[0].implicit);
	assert_true(has_flag(&result.actions[0], "\\Flagged"));
	ex_sieve_result_clear(&result);
}

static void nested_rules_choose_folder(void **state)
{
	static const struct {
		const char *subject;
		const char *from;
		const char *precedence;
		size_t size;
		ex_sieve_action_type type;
		const char *mailbox;
	} cases[] = {
		{ "[SEI] Processo 123", "chefe@orgao.gov.example", NULL, 10 * 1024, EX_SIEVE_ACTION_FILEINTO, "Processos" },
		{ "[Protocolo] anexo", "chefe@orgao.gov.example", NULL, 300 * 1024, EX_SIEVE_ACTION_FILEINTO, "Processos/Grandes" },
		{ "aviso", "noreply@sistema.gov.example", NULL, 1024, EX_SIEVE_ACTION_FILEINTO, "Processos" },
		{ "boletim semanal", "lista@orgao.gov.example", "bulk", 1024, EX_SIEVE_ACTION_FILEINTO, "Boletins" },
		{ "almoço?", "bob@demo.expresso.test", NULL, 1024, EX_SIEVE_ACTION_KEEP, NULL },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ex_sieve_result result;
		test_headers headers = { .fields = { { "Subject", cases[i].subject }, { "From", cases[i].from } } };
		if (cases[i].precedence != NULL) {
			headers.fields[2][0] = "Precedence";
			headers.fields[2][1] = cases[i].precedence;
		}
		assert_int_equal(run_file("regras-aninhadas-anyof-allof-not.sieve", &headers, NULL, cases[i].size, &result), EX_SIEVE_OK);
		if (result.count != 1 || result.actions[0].type != cases[i].type)
			fail_msg("case %zu (%s): %zu actions, first type %d", i, cases[i].subject, result.count,
				 result.count ? (int)result.actions[0].type : -1);
		if (cases[i].mailbox != NULL)
			assert_string_equal(result.actions[0].mailbox, cases[i].mailbox);
		ex_sieve_result_clear(&result);
	}
}

static void system_notice_is_discarded(void **state)
{
	ex_sieve_result result;
	test_headers headers = { .fields = { { "From", "Monitoramento <monitoramento@infra.gov.example>" },
					     { "Subject", "[RESOLVIDO] disco cheio" } } };
	(void)state;

	assert_int_equal(run_file("discard-notificacoes-sistema.sieve", &headers, NULL, 512, &result), EX_SIEVE_OK);
	assert_int_equal(result.count, 1);
	assert_int_equal(result.actions[0].type, EX_SIEVE_ACTION_DISCARD);
	ex_sieve_result_clear(&result);
}

static void large_message_is_rejected(void **state)
{
	ex_sieve_result result;
	test_headers headers = { .fields = { { "Subject", "planilhas" } } };
	(void)state;

	assert_int_equal(run_file("rejeitar-anexos-grandes.sieve", &headers, NULL, 30u * 1024 * 1024, &result), EX_SIEVE_OK);
	assert_int_equal(result.count, 1);
	assert_int_equal(result.actions[0].type, EX_SIEVE_ACTION_REJECT);
	assert_non_null(strstr(result.actions[0].message, "excede 25 MB"));
	ex_sieve_result_clear(&result);

	assert_int_equal(run_file("rejeitar-anexos-grandes.sieve", &headers, NULL, 1024, &result), EX_SIEVE_OK);
	assert_int_equal(result.count, 1);
	assert_int_equal(result.actions[0].type, EX_SIEVE_ACTION_KEEP);
	assert_true(result.actions[0].implicit);
	ex_sieve_result_clear(&result);
}

static void subaddress_detail_files_message(void **state)
{
	ex_sieve_result result;
	test_headers headers = { .fields = { { "Subject", "pedido" } } };
	(void)state;

	assert_int_equal(run_file("subaddress-detail.sieve", &headers, "alice+compras@demo.expresso.test", 100, &result), EX_SIEVE_OK);
	assert_int_equal(result.count, 1);
	assert_int_equal(result.actions[0].type, EX_SIEVE_ACTION_FILEINTO);
	assert_string_equal(result.actions[0].mailbox, "Compras");
	ex_sieve_result_clear(&result);

	assert_int_equal(run_file("subaddress-detail.sieve", &headers, "alice@demo.expresso.test", 100, &result), EX_SIEVE_OK);
	assert_int_equal(result.count, 1);
	assert_true(result.actions[0].implicit);
	ex_sieve_result_clear(&result);
}

static ex_sieve_status run_text(const char *script, ex_sieve_result *result)
{
	test_headers headers = { .fields = { { "Subject", "olá" }, { "From", "carol@acme.expresso.test" },
					     { "To", "Alice <alice@demo.expresso.test>" } } };
	ex_sieve_message message = {
		.envelope_from = "carol@acme.expresso.test", .envelope_to = "alice@demo.expresso.test",
		.size = 100, .get_header = lookup_header, .context = &headers,
	};
	return ex_sieve_execute(script, strlen(script), 0, &message, result);
}

static void vacation_and_redirect_actions(void **state)
{
	ex_sieve_result result;
	(void)state;

	assert_int_equal(run_text("require \"vacation\";\n"
				  "vacation :days 7 :subject \"Ausente\" \"Volto em janeiro.\";\n", &result), EX_SIEVE_OK);
	assert_int_equal(result.count, 2);
	assert_int_equal(result.actions[0].type, EX_SIEVE_ACTION_VACATION);
	assert_int_equal(result.actions[0].days, 7);
	assert_string_equal(result.actions[0].subject, "Ausente");
	assert_string_equal(result.actions[0].message, "Volto em janeiro.");
	assert_int_equal(result.actions[1].type, EX_SIEVE_ACTION_KEEP);
	assert_true(result.actions[1].implicit);
	ex_sieve_result_clear(&result);

	assert_int_equal(run_text("redirect \"bob@demo.expresso.test\";\n", &result), EX_SIEVE_OK);
	assert_int_equal(result.count, 1);
	assert_int_equal(result.actions[0].type, EX_SIEVE_ACTION_REDIRECT);
	assert_string_equal(result.actions[0].address, "bob@demo.expresso.test");
	ex_sieve_result_clear(&result);
}

/* libsieve drops a reject that follows a fileinto: the message is filed, never lost. */
static void reject_after_fileinto_keeps_message(void **state)
{
	ex_sieve_result result;
	(void)state;

	assert_int_equal(run_text("require [\"fileinto\", \"reject\"];\n"
				  "fileinto \"Arquivo\";\nreject \"não\";\n", &result), EX_SIEVE_OK);
	assert_int_equal(result.count, 1);
	assert_int_equal(result.actions[0].type, EX_SIEVE_ACTION_FILEINTO);
	assert_string_equal(result.actions[0].mailbox, "Arquivo");
	ex_sieve_result_clear(&result);
}

/* Vacation answers only mail addressed to the user (To, Cc or Bcc). */
static void vacation_skips_mail_not_addressed_to_user(void **state)
{
	ex_sieve_result result;
	test_headers headers = { .fields = { { "From", "lista@orgao.gov.example" }, { "To", "todos@orgao.gov.example" } } };
	ex_sieve_message message = {
		.envelope_from = "lista@orgao.gov.example", .envelope_to = "alice@demo.expresso.test",
		.size = 100, .get_header = lookup_header, .context = &headers,
	};
	const char *script = "require \"vacation\";\nvacation \"Ausente.\";\n";
	(void)state;

	assert_int_equal(ex_sieve_execute(script, strlen(script), 0, &message, &result), EX_SIEVE_OK);
	assert_int_equal(result.count, 1);
	assert_int_equal(result.actions[0].type, EX_SIEVE_ACTION_KEEP);
	ex_sieve_result_clear(&result);
}

/* A valid script padded with a comment to exactly SIZE bytes. */
static char *script_of_size(size_t size)
{
	const char *body = "keep;\n#";
	char *script = malloc(size + 1);
	memcpy(script, body, strlen(body));
	memset(script + strlen(body), 'x', size - strlen(body) - 1);
	script[size - 1] = '\n';
	script[size] = '\0';
	return script;
}

static void size_cap_at_and_past_limit(void **state)
{
	ex_sieve_errors errors;
	ex_sieve_result result;
	(void)state;

	char *at_limit = script_of_size(EX_SIEVE_DEFAULT_MAX_SCRIPT);
	assert_int_equal(ex_sieve_validate(at_limit, EX_SIEVE_DEFAULT_MAX_SCRIPT, 0, &errors), EX_SIEVE_OK);
	free(at_limit);

	char *past_limit = script_of_size(EX_SIEVE_DEFAULT_MAX_SCRIPT + 1);
	assert_int_equal(ex_sieve_validate(past_limit, EX_SIEVE_DEFAULT_MAX_SCRIPT + 1, 0, &errors), EX_SIEVE_TOO_LARGE);
	assert_non_null(strstr(errors.items[0].message, "65537"));
	assert_int_equal(run_text(past_limit, &result), EX_SIEVE_TOO_LARGE);
	assert_int_equal(result.count, 1);
	assert_true(result.actions[0].implicit);
	ex_sieve_result_clear(&result);
	free(past_limit);

	assert_int_equal(ex_sieve_validate("keep;", 5, 4, &errors), EX_SIEVE_TOO_LARGE);
}

static void nul_byte_is_invalid(void **state)
{
	ex_sieve_errors errors;
	(void)state;

	assert_int_equal(ex_sieve_validate("keep;\0discard;", 14, 0, &errors), EX_SIEVE_INVALID);
	assert_non_null(strstr(errors.items[0].message, "NUL"));
}

static void quoted_string_escapes_are_undone(void **state)
{
	ex_sieve_result result;
	(void)state;

	assert_int_equal(run_text("require \"fileinto\";\nfileinto \"A\\\\B \\\"q\\\"\";\n", &result), EX_SIEVE_OK);
	assert_int_equal(result.count, 1);
	assert_string_equal(result.actions[0].mailbox, "A\\B \"q\"");
	ex_sieve_result_clear(&result);
}

static void extensions_listed(void **state)
{
	(void)state;
	const char *list = ex_sieve_extensions();
	assert_non_null(strstr(list, "fileinto"));
	assert_non_null(strstr(list, "vacation"));
	assert_non_null(strstr(list, "imap4flags"));
	assert_non_null(strstr(list, "subaddress"));
	assert_null(strstr(list, "variables"));
}

static void *execute_many(void *argument)
{
	long *failures = argument;
	for (int i = 0; i < 200; i++) {
		ex_sieve_result result;
		ex_sieve_status status = run_text("if header :contains \"Subject\" \"olá\" { discard; }\n", &result);
		if (status != EX_SIEVE_OK || result.count != 1 || result.actions[0].type != EX_SIEVE_ACTION_DISCARD)
			(*failures)++;
		ex_sieve_result_clear(&result);
	}
	return NULL;
}

static void concurrent_executions_are_safe(void **state)
{
	pthread_t threads[4];
	long failures[4] = { 0 };
	(void)state;

	for (int i = 0; i < 4; i++)
		pthread_create(&threads[i], NULL, execute_many, &failures[i]);
	for (int i = 0; i < 4; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(failures[i], 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_corpus_scripts_validate),
		cmocka_unit_test(broken_scripts_report_line),
		cmocka_unit_test(invalid_script_executes_as_keep),
		cmocka_unit_test(spam_goes_to_junk_with_flag),
		cmocka_unit_test(urgent_subject_is_flagged_and_kept),
		cmocka_unit_test(nested_rules_choose_folder),
		cmocka_unit_test(system_notice_is_discarded),
		cmocka_unit_test(large_message_is_rejected),
		cmocka_unit_test(subaddress_detail_files_message),
		cmocka_unit_test(vacation_and_redirect_actions),
		cmocka_unit_test(reject_after_fileinto_keeps_message),
		cmocka_unit_test(vacation_skips_mail_not_addressed_to_user),
		cmocka_unit_test(size_cap_at_and_past_limit),
		cmocka_unit_test(nul_byte_is_invalid),
		cmocka_unit_test(quoted_string_escapes_are_undone),
		cmocka_unit_test(extensions_listed),
		cmocka_unit_test(concurrent_executions_are_safe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
