/*
 * Daemon configuration: a table of settings, each read from an environment
 * variable and, except secrets, from an optional YAML file. The environment
 * wins over the file, the file over the default. Secrets (passwords, URLs
 * with credentials, tokens) are read from the environment only; a secret
 * found in the YAML file is an error, so it never ends up in a file that is
 * copied around.
 */
#ifndef EXPRESSO_CONFIG_H
#define EXPRESSO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
	EX_SETTING_STRING,
	EX_SETTING_INT,      /* signed decimal integer */
	EX_SETTING_BOOL,     /* true/false, yes/no, on/off, 1/0 */
	EX_SETTING_SIZE,     /* bytes, with optional K, M, G suffix (powers of 1024) */
	EX_SETTING_DURATION, /* milliseconds, with optional ms, s, m, h suffix */
} ex_setting_type;

typedef struct {
	const char *key;           /* YAML key, e.g. "http_port" */
	const char *env;           /* environment variable, e.g. "EXPRESSO_HTTP_PORT" */
	ex_setting_type type;
	const char *default_value; /* NULL means unset */
	const char *unit;          /* shown by --help, e.g. "bytes"; NULL for none */
	const char *help;
	bool secret;
} ex_setting;

typedef struct ex_config ex_config;

enum { EX_CONFIG_MAX_SETTINGS = 128 };

/* Outcome of ex_config_load(). */
typedef enum {
	EX_CONFIG_OK = 0,
	EX_CONFIG_HELP_SHOWN, /* --help was given and printed; exit 0 */
	EX_CONFIG_ERROR,      /* message in err; exit 2 */
} ex_config_status;

/*
 * Builds a configuration from one or more setting tables (a NULL-terminated
 * array of tables, each ended by an entry with key == NULL). Command line:
 * --help, --config FILE (also EXPRESSO_CONFIG). Values are validated against
 * their type. On EX_CONFIG_OK *out owns the result.
 */
ex_config_status ex_config_load(const ex_setting *const *tables, const char *program,
				int argc, char **argv, ex_config **out, char *err, size_t errlen);

/* Prints every setting with its variable, default and unit. */
void ex_config_print_help(const ex_setting *const *tables, const char *program, FILE *stream);

void ex_config_free(ex_config *config);

/* Getters abort the process on an unknown key: that is a programming error. */
const char *ex_config_string(const ex_config *config, const char *key); /* NULL if unset */
int64_t ex_config_int(const ex_config *config, const char *key);
bool ex_config_bool(const ex_config *config, const char *key);
uint64_t ex_config_size(const ex_config *config, const char *key);
uint64_t ex_config_duration_ms(const ex_config *config, const char *key);

/* Parsers shared with tests; return 0 on success, -1 on invalid text. */
int ex_parse_int(const char *text, int64_t *out);
int ex_parse_bool(const char *text, bool *out);
int ex_parse_size(const char *text, uint64_t *out);
int ex_parse_duration_ms(const char *text, uint64_t *out);

#endif
