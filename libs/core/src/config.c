/*
 * Settings from environment variables and an optional YAML file.
 *
 * The YAML schema is built at run time from the setting tables: one
 * optional string field per setting, so libcyaml checks the file's shape
 * and rejects unknown keys, and values are then validated by type here.
 */
#include "expresso/config.h"

#include <cyaml/cyaml.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ex_config {
	size_t count;
	const ex_setting *settings[EX_CONFIG_MAX_SETTINGS];
	char *values[EX_CONFIG_MAX_SETTINGS];
};

/* The YAML file is a flat mapping; libcyaml fills one pointer per setting. */
typedef struct {
	char *values[EX_CONFIG_MAX_SETTINGS];
} yaml_document;

int ex_parse_int(const char *text, int64_t *out)
{
	char *end;

	errno = 0;
	long long value = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0')
		return -1;
	*out = value;
	return 0;
}

int ex_parse_bool(const char *text, bool *out)
{
	static const char *const truthy[] = { "true", "yes", "on", "1" };
	static const char *const falsy[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(text, truthy[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(text, falsy[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* Parses digits followed by an optional suffix from a table of multipliers. */
static int parse_scaled(const char *text, const char *const *suffixes,
			const uint64_t *multipliers, size_t n, uint64_t *out)
{
	char *end;

	if (text[0] == '-' || text[0] == '\0')
		return -1;
	errno = 0;
	unsigned long long value = strtoull(text, &end, 10);
	if (errno != 0 || end == text)
		return -1;

	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(end, suffixes[i]) != 0)
			continue;
		if (multipliers[i] != 0 && value > UINT64_MAX / multipliers[i])
			return -1;
		*out = value * multipliers[i];
		return 0;
	}
	return -1;
}

int ex_parse_size(const char *text, uint64_t *out)
{
	static const char *const suffixes[] = { "", "K", "KiB", "M", "MiB", "G", "GiB" };
	static const uint64_t multipliers[] = {
		1, 1024, 1024, 1024 * 1024, 1024 * 1024, 1024ULL * 1024 * 1024, 1024ULL * 1024 * 1024,
	};
	return parse_scaled(text, suffixes, multipliers, 7, out);
}

int ex_parse_duration_ms(const char *text, uint64_t *out)
{
	static const char *const suffixes[] = { "", "ms", "s", "m", "h" };
	static const uint64_t multipliers[] = { 1, 1, 1000, 60 * 1000, 3600 * 1000 };
	return parse_scaled(text, suffixes, multipliers, 5, out);
}

static int validate_value(const ex_setting *setting, const char *value, char *err, size_t errlen)
{
	int64_t int_value;
	bool bool_value;
	uint64_t unsigned_value;
	int rc = 0;
	const char *expected = NULL;

	switch (setting->type) {
	case EX_SETTING_STRING:
		return 0;
	case EX_SETTING_INT:
		rc = ex_parse_int(value, &int_value);
		expected = "an integer";
		break;
	case EX_SETTING_BOOL:
		rc = ex_parse_bool(value, &bool_value);
		expected = "true or false";
		break;
	case EX_SETTING_SIZE:
		rc = ex_parse_size(value, &unsigned_value);
		expected = "a size in bytes such as 1048576, 512K or 16M";
		break;
	case EX_SETTING_DURATION:
		rc = ex_parse_duration_ms(value, &unsigned_value);
		expected = "a duration such as 500ms, 30s or 5m";
		break;
	}
	if (rc != 0) {
		snprintf(err, errlen, "invalid value for %s (%s): expected %s",
			 setting->env, setting->secret ? "[secret]" : value, expected);
		return -1;
	}
	return 0;
}

static const char *type_name(ex_setting_type type)
{
	switch (type) {
	case EX_SETTING_INT: return "integer";
	case EX_SETTING_BOOL: return "boolean";
	case EX_SETTING_SIZE: return "size";
	case EX_SETTING_DURATION: return "duration";
	case EX_SETTING_STRING: break;
	}
	return "string";
}

void ex_config_print_help(const ex_setting *const *tables, const char *program, FILE *stream)
{
	fprintf(stream,
		"Usage: %s [--config FILE] [--help]\n\n"
		"Settings come from environment variables, then from the YAML file given by\n"
		"--config or EXPRESSO_CONFIG (keys as shown), then from the defaults.\n"
		"Secrets are read from the environment only.\n\n", program);

	for (size_t t = 0; tables[t] != NULL; t++) {
		for (const ex_setting *s = tables[t]; s->key != NULL; s++) {
			fprintf(stream, "  %s (yaml: %s)\n", s->env, s->secret ? "-, environment only" : s->key);
			fprintf(stream, "      %s\n", s->help);
			fprintf(stream, "      type: %s", type_name(s->type));
			if (s->unit)
				fprintf(stream, ", unit: %s", s->unit);
			fprintf(stream, ", default: %s\n", s->default_value ? s->default_value : "(unset)");
		}
	}
}

static cyaml_schema_field_t *build_yaml_fields(const ex_config *config)
{
	cyaml_schema_field_t *fields = calloc(config->count + 1, sizeof(*fields));
	if (fields == NULL)
		return NULL;

	for (size_t i = 0; i < config->count; i++) {
		fields[i].key = config->settings[i]->key;
		fields[i].data_offset = (uint32_t)(i * sizeof(char *));
		fields[i].value.type = CYAML_STRING;
		fields[i].value.flags = CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL;
		fields[i].value.data_size = sizeof(char);
		fields[i].value.string.min = 0;
		fields[i].value.string.max = CYAML_UNLIMITED;
	}
	return fields;
}

/* Reads FILE into config->values for every setting the environment left unset. */
static int load_yaml(ex_config *config, const char *path, char *err, size_t errlen)
{
	cyaml_schema_field_t *fields = build_yaml_fields(config);
	if (fields == NULL) {
		snprintf(err, errlen, "out of memory reading %s", path);
		return -1;
	}

	cyaml_schema_value_t top = {
		.type = CYAML_MAPPING,
		.flags = CYAML_FLAG_POINTER,
		.data_size = sizeof(yaml_document),
		.mapping = { .fields = fields },
	};
	cyaml_config_t cyaml = {
		.log_fn = NULL,
		.mem_fn = cyaml_mem,
		.log_level = CYAML_LOG_ERROR,
		.flags = CYAML_CFG_DEFAULT,
	};
	yaml_document *document = NULL;
	cyaml_err_t rc = cyaml_load_file(path, &cyaml, &top, (cyaml_data_t **)&document, NULL);
	if (rc != CYAML_OK) {
		snprintf(err, errlen, "cannot read configuration file %s: %s "
			 "(expected a flat mapping of the keys --help lists)", path, cyaml_strerror(rc));
		free(fields);
		return -1;
	}

	int result = 0;
	for (size_t i = 0; i < config->count && result == 0; i++) {
		const ex_setting *setting = config->settings[i];
		const char *value = document->values[i];
		if (value == NULL)
			continue;
		if (setting->secret) {
			snprintf(err, errlen, "%s in %s is a secret: set it in the environment "
				 "variable %s instead", setting->key, path, setting->env);
			result = -1;
		} else if (config->values[i] == NULL) {
			config->values[i] = strdup(value);
		}
	}

	cyaml_free(&cyaml, &top, document, 0);
	free(fields);
	return result;
}

static int collect_settings(ex_config *config, const ex_setting *const *tables, char *err, size_t errlen)
{
	for (size_t t = 0; tables[t] != NULL; t++) {
		for (const ex_setting *s = tables[t]; s->key != NULL; s++) {
			if (config->count == EX_CONFIG_MAX_SETTINGS) {
				snprintf(err, errlen, "more than %d settings", EX_CONFIG_MAX_SETTINGS);
				return -1;
			}
			config->settings[config->count++] = s;
		}
	}
	return 0;
}

ex_config_status ex_config_load(const ex_setting *const *tables, const char *program,
				int argc, char **argv, ex_config **out, char *err, size_t errlen)
{
	const char *config_path = getenv("EXPRESSO_CONFIG");

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			ex_config_print_help(tables, program, stdout);
			return EX_CONFIG_HELP_SHOWN;
		}
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config_path = argv[++i];
		} else {
			snprintf(err, errlen, "unknown argument %s; see %s --help", argv[i], program);
			return EX_CONFIG_ERROR;
		}
	}

	ex_config *config = calloc(1, sizeof(*config));
	if (config == NULL) {
		snprintf(err, errlen, "out of memory");
		return EX_CONFIG_ERROR;
	}
	if (collect_settings(config, tables, err, errlen) != 0)
		goto fail;

	for (size_t i = 0; i < config->count; i++) {
		const char *value = getenv(config->settings[i]->env);
		if (value != NULL)
			config->values[i] = strdup(value);
	}
	if (config_path != NULL && config_path[0] != '\0' &&
	    load_yaml(config, config_path, err, errlen) != 0)
		goto fail;

	for (size_t i = 0; i < config->count; i++) {
		const ex_setting *setting = config->settings[i];
		if (config->values[i] == NULL && setting->default_value != NULL)
			config->values[i] = strdup(setting->default_value);
		if (config->values[i] != NULL &&
		    validate_value(setting, config->values[i], err, errlen) != 0)
			goto fail;
	}

	*out = config;
	return EX_CONFIG_OK;

fail:
	ex_config_free(config);
	return EX_CONFIG_ERROR;
}

void ex_config_free(ex_config *config)
{
	if (config == NULL)
		return;
	for (size_t i = 0; i < config->count; i++)
		free(config->values[i]);
	free(config);
}

static size_t find_setting(const ex_config *config, const char *key, ex_setting_type type)
{
	for (size_t i = 0; i < config->count; i++) {
		if (strcmp(config->settings[i]->key, key) == 0 && config->settings[i]->type == type)
			return i;
	}
	fprintf(stderr, "expresso: no setting %s of type %s is registered\n", key, type_name(type));
	abort();
}

const char *ex_config_string(const ex_config *config, const char *key)
{
	return config->values[find_setting(config, key, EX_SETTING_STRING)];
}

int64_t ex_config_int(const ex_config *config, const char *key)
{
	int64_t value = 0;
	const char *text = config->values[find_setting(config, key, EX_SETTING_INT)];
	if (text != NULL)
		ex_parse_int(text, &value);
	return value;
}

bool ex_config_bool(const ex_config *config, const char *key)
{
	bool value = false;
	const char *text = config->values[find_setting(config, key, EX_SETTING_BOOL)];
	if (text != NULL)
		ex_parse_bool(text, &value);
	return value;
}

uint64_t ex_config_size(const ex_config *config, const char *key)
{
	uint64_t value = 0;
	const char *text = config->values[find_setting(config, key, EX_SETTING_SIZE)];
	if (text != NULL)
		ex_parse_size(text, &value);
	return value;
}

uint64_t ex_config_duration_ms(const ex_config *config, const char *key)
{
	uint64_t value = 0;
	const char *text = config->values[find_setting(config, key, EX_SETTING_DURATION)];
	if (text != NULL)
		ex_parse_duration_ms(text, &value);
	return value;
}
