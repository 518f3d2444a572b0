/*
 * JSON-lines logger. Each line is built in memory and written with a
 * single write(2) under a mutex, so lines from worker threads never
 * interleave.
 */
#include "expresso/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum { LOG_CONTEXT_MAX = 128 };

static char log_daemon[64] = "expresso";
static ex_log_level log_min_level = EX_LOG_INFO;
static int log_fd = STDERR_FILENO;
static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;

static _Thread_local char context_request_id[LOG_CONTEXT_MAX];
static _Thread_local char context_tenant_id[LOG_CONTEXT_MAX];

static const char *const level_names[] = { "debug", "info", "warn", "error" };

/* Substrings that mark a field as secret, compared case-insensitively. */
static const char *const secret_markers[] = {
	"password", "token", "authorization", "cookie", "secret", "body",
};

void ex_log_init(const char *daemon, ex_log_level min_level)
{
	snprintf(log_daemon, sizeof(log_daemon), "%s", daemon);
	log_min_level = min_level;
}

int ex_log_level_parse(const char *text)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(text, level_names[i]) == 0)
			return (int)i;
	}
	return -1;
}

void ex_log_set_fd(int fd)
{
	pthread_mutex_lock(&log_mutex);
	log_fd = fd < 0 ? STDERR_FILENO : fd;
	pthread_mutex_unlock(&log_mutex);
}

void ex_log_context_set(const char *request_id, const char *tenant_id)
{
	snprintf(context_request_id, sizeof(context_request_id), "%s", request_id ? request_id : "");
	snprintf(context_tenant_id, sizeof(context_tenant_id), "%s", tenant_id ? tenant_id : "");
}

int ex_log_key_is_secret(const char *key)
{
	for (size_t i = 0; i < sizeof(secret_markers) / sizeof(secret_markers[0]); i++) {
		if (strcasestr(key, secret_markers[i]) != NULL)
			return 1;
	}
	return 0;
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

static void redact_secrets(json_t *object)
{
	const char *key;
	json_t *value;

	json_object_foreach(object, key, value) {
		if (ex_log_key_is_secret(key))
			json_object_set_new(object, key, json_string("[redacted]"));
		else if (json_is_object(value))
			redact_secrets(value);
	}
}

static void write_line(const char *line)
{
	size_t length = strlen(line);

	pthread_mutex_lock(&log_mutex);
	while (length > 0) {
		ssize_t written = write(log_fd, line, length);
		if (written <= 0)
			break;
		line += written;
		length -= (size_t)written;
	}
	pthread_mutex_unlock(&log_mutex);
}

void ex_log_v(ex_log_level level, const char *event, const char *fields_format, va_list args)
{
	if (level < log_min_level)
		return;

	char time_text[40];
	format_time(time_text, sizeof(time_text));

	json_t *line = json_object();
	json_object_set_new(line, "time", json_string(time_text));
	json_object_set_new(line, "level", json_string(level_names[level]));
	json_object_set_new(line, "daemon", json_string(log_daemon));
	if (context_request_id[0])
		json_object_set_new(line, "request_id", json_string(context_request_id));
	if (context_tenant_id[0])
		json_object_set_new(line, "tenant", json_string(context_tenant_id));
	json_object_set_new(line, "event", json_string(event));

	if (fields_format != NULL) {
		json_error_t error;
		json_t *fields = json_vpack_ex(&error, 0, fields_format, args);
		if (fields == NULL) {
			json_object_set_new(line, "log_format_error", json_string(error.text));
		} else {
			redact_secrets(fields);
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
	write_line(with_newline);
	free(with_newline);
}

void ex_log(ex_log_level level, const char *event, const char *fields_format, ...)
{
	va_list args;

	va_start(args, fields_format);
	ex_log_v(level, event, fields_format, args);
	va_end(args);
}
