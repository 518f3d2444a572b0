/*
 * expresso-migrate: applies the SQL migrations of Expresso, reports their
 * state, and seeds accounts. Command-line parsing and settings live here;
 * the commands are in migrate_apply.c and migrate_seed.c.
 *
 * The database URL comes only from the environment because it contains the
 * owner role's password, and a command line is visible to every local user.
 */
#include "migrate_apply.h"
#include "migrate_log.h"
#include "migrate_options.h"
#include "migrate_seed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef EX_MIGRATE_VERSION
#define EX_MIGRATE_VERSION "unknown"
#endif

#define DEFAULT_DIR "migrations"

enum {
	DEFAULT_CONNECT_TIMEOUT_S = 10,
	CONNECT_TIMEOUT_MAX_S = 3600,
	DEFAULT_LOCK_TIMEOUT_S = 60,
	LOCK_TIMEOUT_MAX_S = 86400,
};

static void print_help(FILE *out)
{
	fprintf(out,
		"Usage: expresso-migrate [--dir DIR] COMMAND\n"
		"\n"
		"Commands:\n"
		"  apply        apply pending migrations in file name order, each in its own\n"
		"               transaction; applies nothing if an applied file was edited or\n"
		"               removed, or a pending file is named before an applied one\n"
		"  status       list applied and pending migrations on standard output\n"
		"  seed FILE    create or update the tenants, domains, users, app passwords\n"
		"               and default mailboxes of an accounts file (JSON)\n"
		"\n"
		"Options:\n"
		"  --dir DIR    directory of YYYYMMDDHHMMSS_description.sql files\n"
		"               (default: $EXPRESSO_MIGRATIONS_DIR, else ./" DEFAULT_DIR ")\n"
		"  --help       show this text\n"
		"  --version    show the version\n"
		"\n"
		"Settings (environment variables):\n"
		"  EXPRESSO_DATABASE_OWNER_URL        libpq URL of the owner role, e.g.\n"
		"                                     postgresql://expresso_owner:PASSWORD@127.0.0.1:5432/expresso\n"
		"                                     (required; read only from the environment)\n"
		"  EXPRESSO_MIGRATIONS_DIR            migrations directory (default: ./" DEFAULT_DIR ")\n"
		"  EXPRESSO_DATABASE_CONNECT_TIMEOUT  seconds to wait for the server to accept the\n"
		"                                     connection, 1-%d (default: %d); a connect_timeout\n"
		"                                     in the URL takes precedence\n"
		"  EXPRESSO_MIGRATE_LOCK_TIMEOUT      seconds to wait for another expresso-migrate to\n"
		"                                     finish, 1-%d (default: %d)\n"
		"  EXPRESSO_LOG_LEVEL                 debug, info, warn or error (default: info)\n"
		"\n"
		"Logs are JSON lines on standard error. Exit status: 0 success, 1 failure\n"
		"(for status: a migration is modified, missing or out of order), 2 invalid\n"
		"command line or settings.\n",
		CONNECT_TIMEOUT_MAX_S, DEFAULT_CONNECT_TIMEOUT_S, LOCK_TIMEOUT_MAX_S, DEFAULT_LOCK_TIMEOUT_S);
}

static int usage_error(const char *message, const char *value)
{
	fprintf(stderr, "expresso-migrate: %s%s%s\nRun 'expresso-migrate --help' for usage.\n", message,
		value ? ": " : "", value ? value : "");
	return EX_MIGRATE_EXIT_USAGE;
}

/* Reads an integer setting in [1, max]; returns 0 or -1 after printing why. */
static int integer_setting(const char *name, int fallback, int max, int *out)
{
	const char *text = getenv(name);

	*out = fallback;
	if (text == NULL || text[0] == '\0')
		return 0;

	char *end = NULL;
	errno = 0;
	long value = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < 1 || value > max) {
		fprintf(stderr, "expresso-migrate: %s=%s is invalid; expected a whole number of seconds from 1 to %d\n",
			name, text, max);
		return -1;
	}
	*out = (int)value;
	return 0;
}

static int read_settings(ex_migrate_options *options)
{
	const char *level_text = getenv("EXPRESSO_LOG_LEVEL");
	if (level_text != NULL && level_text[0] != '\0') {
		int level = ex_migrate_log_level_parse(level_text);
		if (level < 0) {
			fprintf(stderr, "expresso-migrate: EXPRESSO_LOG_LEVEL=%s is invalid; expected debug, info, "
				"warn or error\n", level_text);
			return -1;
		}
		ex_migrate_log_set_level((ex_migrate_log_level)level);
	}

	if (integer_setting("EXPRESSO_DATABASE_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT_S, CONNECT_TIMEOUT_MAX_S,
			    &options->db.connect_timeout_s) != 0
	    || integer_setting("EXPRESSO_MIGRATE_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT_S, LOCK_TIMEOUT_MAX_S,
			       &options->db.lock_timeout_s) != 0)
		return -1;

	options->db.url = getenv("EXPRESSO_DATABASE_OWNER_URL");
	if (options->db.url == NULL || options->db.url[0] == '\0') {
		fprintf(stderr, "expresso-migrate: EXPRESSO_DATABASE_OWNER_URL is not set; set it to the owner "
			"role's URL, e.g. postgresql://expresso_owner:PASSWORD@127.0.0.1:5432/expresso\n");
		return -1;
	}

	if (options->dir == NULL) {
		const char *dir = getenv("EXPRESSO_MIGRATIONS_DIR");
		options->dir = dir != NULL && dir[0] != '\0' ? dir : DEFAULT_DIR;
	}
	return 0;
}

int main(int argc, char **argv)
{
	ex_migrate_options options = { 0 };
	const char *command = NULL;
	const char *seed_file = NULL;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			print_help(stdout);
			return EX_MIGRATE_EXIT_OK;
		} else if (strcmp(arg, "--version") == 0) {
			printf("expresso-migrate %s\n", EX_MIGRATE_VERSION);
			return EX_MIGRATE_EXIT_OK;
		} else if (strcmp(arg, "--dir") == 0) {
			if (i + 1 >= argc)
				return usage_error("--dir needs a directory", NULL);
			options.dir = argv[++i];
		} else if (strncmp(arg, "--dir=", 6) == 0) {
			options.dir = arg + 6;
		} else if (arg[0] == '-') {
			return usage_error("unknown option", arg);
		} else if (command == NULL) {
			command = arg;
		} else if (strcmp(command, "seed") == 0 && seed_file == NULL) {
			seed_file = arg;
		} else {
			return usage_error("unexpected argument", arg);
		}
	}

	if (command == NULL)
		return usage_error("missing command (apply, status or seed FILE)", NULL);
	if (strcmp(command, "apply") != 0 && strcmp(command, "status") != 0 && strcmp(command, "seed") != 0)
		return usage_error("unknown command", command);
	if (strcmp(command, "seed") == 0 && seed_file == NULL)
		return usage_error("seed needs the path of an accounts file", NULL);
	if (options.dir != NULL && options.dir[0] == '\0')
		return usage_error("--dir must not be empty", NULL);
	if (read_settings(&options) != 0)
		return EX_MIGRATE_EXIT_USAGE;

	if (strcmp(command, "apply") == 0)
		return ex_migrate_apply(&options);
	if (strcmp(command, "status") == 0)
		return ex_migrate_status(&options, stdout);
	return ex_migrate_seed(&options, seed_file);
}
