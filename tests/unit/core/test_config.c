/* Configuration: precedence, types, secrets and --help. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expresso/config.h"

static const ex_setting test_settings[] = {
	{ "http_port", "TEST_HTTP_PORT", EX_SETTING_INT, "8100", "port", "Port.", false },
	{ "greeting", "TEST_GREETING", EX_SETTING_STRING, "olá", NULL, "Greeting.", false },
	{ "enabled", "TEST_ENABLED", EX_SETTING_BOOL, "false", NULL, "Switch.", false },
	{ "max_body", "TEST_MAX_BODY", EX_SETTING_SIZE, "1M", "bytes", "Body limit.", false },
	{ "timeout", "TEST_TIMEOUT", EX_SETTING_DURATION, "30s", "duration", "Timeout.", false },
	{ "database_url", "TEST_DATABASE_URL", EX_SETTING_STRING, NULL, NULL, "Secret URL.", true },
	{ 0 },
};
static const ex_setting *const tables[] = { test_settings, NULL };

static char yaml_path[64];

static void write_yaml(const char *text)
{
	snprintf(yaml_path, sizeof(yaml_path), "/tmp/expresso-config-XXXXXX");
	int fd = mkstemp(yaml_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int reset_environment(void **state)
{
	(void)state;
	for (const ex_setting *s = test_settings; s->key; s++)
		unsetenv(s->env);
	unsetenv("EXPRESSO_CONFIG");
	return 0;
}

static ex_config *load(int argc, char **argv, ex_config_status expected, char *err, size_t errlen)
{
	ex_config *config = NULL;
	ex_config_status status = ex_config_load(tables, "test", argc, argv, &config, err, errlen);
	assert_int_equal(status, expected);
	return config;
}

static void defaults_apply_without_environment(void **state)
{
	char err[256];
	char *argv[] = { "test" };
	(void)state;

	ex_config *config = load(1, argv, EX_CONFIG_OK, err, sizeof(err));
	assert_int_equal(ex_config_int(config, "http_port"), 8100);
	assert_string_equal(ex_config_string(config, "greeting"), "olá");
	assert_false(ex_config_bool(config, "enabled"));
	assert_int_equal(ex_config_size(config, "max_body"), 1024 * 1024);
	assert_int_equal(ex_config_duration_ms(config, "timeout"), 30000);
	assert_null(ex_config_string(config, "database_url"));
	ex_config_free(config);
}

static void environment_wins_over_yaml(void **state)
{
	char err[256];
	(void)state;

	write_yaml("http_port: 9000\ngreeting: from-yaml\nenabled: yes\n");
	setenv("TEST_HTTP_PORT", "9100", 1);
	char *argv[] = { "test", "--config", yaml_path };
	ex_config *config = load(3, argv, EX_CONFIG_OK, err, sizeof(err));
	assert_int_equal(ex_config_int(config, "http_port"), 9100);
	assert_string_equal(ex_config_string(config, "greeting"), "from-yaml");
	assert_true(ex_config_bool(config, "enabled"));
	ex_config_free(config);
	unlink(yaml_path);
}

static void secret_in_yaml_is_rejected(void **state)
{
	char err[256];
	(void)state;

	write_yaml("database_url: postgresql://u:p@h/d\n");
	setenv("EXPRESSO_CONFIG", yaml_path, 1);
	char *argv[] = { "test" };
	load(1, argv, EX_CONFIG_ERROR, err, sizeof(err));
	assert_non_null(strstr(err, "TEST_DATABASE_URL"));
	assert_null(strstr(err, "u:p@h"));
	unlink(yaml_path);
}

static void secret_from_environment_is_read(void **state)
{
	char err[256];
	char *argv[] = { "test" };
	(void)state;

	setenv("TEST_DATABASE_URL", "postgresql://app@127.0.0.1/expresso", 1);
	ex_config *config = load(1, argv, EX_CONFIG_OK, err, sizeof(err));
	assert_string_equal(ex_config_string(config, "database_url"), "postgresql://app@127.0.0.1/expresso");
	ex_config_free(config);
}

static void unknown_yaml_key_is_rejected(void **state)
{
	char err[256];
	(void)state;

	write_yaml("http_prot: 9000\n");
	char *argv[] = { "test", "--config", yaml_path };
	load(3, argv, EX_CONFIG_ERROR, err, sizeof(err));
	assert_non_null(strstr(err, yaml_path));
	unlink(yaml_path);
}

static void invalid_values_name_the_variable(void **state)
{
	static const struct {
		const char *env;
		const char *value;
	} cases[] = {
		{ "TEST_HTTP_PORT", "80a" },
		{ "TEST_ENABLED", "maybe" },
		{ "TEST_MAX_BODY", "12Q" },
		{ "TEST_MAX_BODY", "-1" },
		{ "TEST_TIMEOUT", "soon" },
	};
	char *argv[] = { "test" };
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		reset_environment(NULL);
		setenv(cases[i].env, cases[i].value, 1);
		load(1, argv, EX_CONFIG_ERROR, err, sizeof(err));
		assert_non_null(strstr(err, cases[i].env));
	}
}

static void unknown_argument_is_rejected(void **state)
{
	char err[256];
	char *argv[] = { "test", "--prot" };
	(void)state;

	load(2, argv, EX_CONFIG_ERROR, err, sizeof(err));
	assert_non_null(strstr(err, "--prot"));
}

static void help_lists_every_setting(void **state)
{
	char *text = NULL;
	size_t length = 0;
	(void)state;

	FILE *stream = open_memstream(&text, &length);
	ex_config_print_help(tables, "test", stream);
	fclose(stream);
	for (const ex_setting *s = test_settings; s->key; s++)
		assert_non_null(strstr(text, s->env));
	assert_non_null(strstr(text, "default: 8100"));
	assert_non_null(strstr(text, "unit: bytes"));
	assert_non_null(strstr(text, "environment only"));
	free(text);
}

static void size_and_duration_parsers(void **state)
{
	uint64_t value = 0;
	(void)state;

	assert_int_equal(ex_parse_size("16M", &value), 0);
	assert_int_equal(value, 16 * 1024 * 1024);
	assert_int_equal(ex_parse_size("512KiB", &value), 0);
	assert_int_equal(value, 512 * 1024);
	assert_int_equal(ex_parse_size("50G", &value), 0);
	assert_int_equal(value, 50ULL * 1024 * 1024 * 1024);
	assert_int_equal(ex_parse_size("99999999999999999999G", &value), -1);
	assert_int_equal(ex_parse_duration_ms("500ms", &value), 0);
	assert_int_equal(value, 500);
	assert_int_equal(ex_parse_duration_ms("5m", &value), 0);
	assert_int_equal(value, 300000);
	assert_int_equal(ex_parse_duration_ms("", &value), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(defaults_apply_without_environment, reset_environment),
		cmocka_unit_test_setup(environment_wins_over_yaml, reset_environment),
		cmocka_unit_test_setup(secret_in_yaml_is_rejected, reset_environment),
		cmocka_unit_test_setup(secret_from_environment_is_read, reset_environment),
		cmocka_unit_test_setup(unknown_yaml_key_is_rejected, reset_environment),
		cmocka_unit_test_setup(invalid_values_name_the_variable, reset_environment),
		cmocka_unit_test_setup(unknown_argument_is_rejected, reset_environment),
		cmocka_unit_test(help_lists_every_setting),
		cmocka_unit_test(size_and_duration_parsers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
