/*
 * Structured logging: one JSON object per line on stderr.
 *
 * Every line carries time, level, daemon and event, plus the request id and
 * tenant of the calling thread when the HTTP layer has set them. Fields are
 * given in jansson's json_pack() format. Values of keys that name secrets
 * (password, token, authorization, cookie, secret, body) are replaced by
 * "[redacted]" before the line is written, so a careless caller cannot leak
 * them.
 */
#ifndef EXPRESSO_LOG_H
#define EXPRESSO_LOG_H

#include <stdarg.h>

typedef enum {
	EX_LOG_DEBUG = 0,
	EX_LOG_INFO,
	EX_LOG_WARN,
	EX_LOG_ERROR,
} ex_log_level;

/* Sets the daemon name and the minimum level; safe to call once at start. */
void ex_log_init(const char *daemon, ex_log_level min_level);

/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int ex_log_level_parse(const char *text);

/*
 * Writes one event. fields_format is a json_pack() object format such as
 * "{s:s, s:i}" followed by its arguments, or NULL for no fields.
 */
void ex_log(ex_log_level level, const char *event, const char *fields_format, ...);
void ex_log_v(ex_log_level level, const char *event, const char *fields_format, va_list args);

/* Per-thread context added to every line this thread writes; NULL clears. */
void ex_log_context_set(const char *request_id, const char *tenant_id);

/* Returns 1 when a field of this name is never written in clear. */
int ex_log_key_is_secret(const char *key);

/*
 * Redirects output to a file descriptor (tests); -1 restores stderr.
 */
void ex_log_set_fd(int fd);

#endif
