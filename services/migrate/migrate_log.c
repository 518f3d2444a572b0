/*
 * JSON-lines event log on stderr. Each line is formatted in memory and
 * written with one write(2), so lines stay whole even when the output is a
 * pipe shared with other processes.
 */
#include "migrate_log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = { "debug", "info", "warn", "error" };
static ex_migrate_log_level min_level = EX_MIGRATE_LOG_INFO;

void ex_migrate_log_set_level(ex_migrate_log_level level)
{
	min_level = level;
}

int ex_migrate_log_level_parse(const char *text)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(text, level_names[i]) == 0)
			return (int)i;
	}
	return -1;
}

static void format_time(char *out, size_t size)
{
	struct timespec now;
	struct tm utc;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &utc);
	size_t used = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &utc);
	snprintf(out + used, size - used, ".%03ldZ", now.tv_nsec / 1000000L);
}

static void write_all(const char *text, size_t length)
{
	while (length > 0) {
		ssize_t written = write(STDERR_FILENO, text, length);
		if (written <= 0)
			return;
		text += written;
		length -= (size_t)written;
	}
}

void ex_migrate_log(ex_migrate_log_level level, const char *event, const char *fields_format, ...)
{
	if (level < min_level)
		return;

	char time_text[40];
	format_time(time_text, sizeof(time_text));

	json_t *line = json_object();
	if (line == NULL)
		return;
	json_object_set_new(line, "time", json_string(time_text));
	json_object_set_new(line, "level", json_string(level_names[level]));
	json_object_set_new(line, "daemon", json_string("expresso-migrate"));
	json_object_set_new(line, "event", json_string(event));

	if (fields_format != NULL) {
		va_list args;
		json_error_t error;

		va_start(args, fields_format);
		json_t *fields = json_vpack_ex(&error, 0, fields_format, args);
		va_end(args);
		if (fields == NULL) {
			json_object_set_new(line, "log_format_error", json_string(error.text));
		} else {
			json_object_update_missing(line, fields);
			json_decref(fields);
		}
	}

	char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	json_decref(line);
	if (text == NULL)
		return;

	size_t length = strlen(text);
	char *with_newline = realloc(text, length + 2);
	if (with_newline == NULL) {
		free(text);
		return;
	}
	with_newline[length] = '\n';
	with_newline[length + 1] = '\0';
	write_all(with_newline, length + 1);
	free(with_newline);
}
