/*
 * Event log of expresso-migrate: one JSON object per line on stderr with
 * time, level, daemon ("expresso-migrate") and event, plus the fields given
 * in jansson's json_pack() format. The runner does not link libs/core, so
 * this is a small logger of the same line format.
 */
#ifndef EXPRESSO_MIGRATE_LOG_H
#define EXPRESSO_MIGRATE_LOG_H

typedef enum {
	EX_MIGRATE_LOG_DEBUG = 0,
	EX_MIGRATE_LOG_INFO,
	EX_MIGRATE_LOG_WARN,
	EX_MIGRATE_LOG_ERROR,
} ex_migrate_log_level;

/* Sets the minimum level written; lines below it are dropped. */
void ex_migrate_log_set_level(ex_migrate_log_level level);

/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int ex_migrate_log_level_parse(const char *text);

/*
 * Writes one event line. fields_format is a json_pack() object format such
 * as "{s:s, s:i}" followed by its arguments, or NULL for no fields.
 */
void ex_migrate_log(ex_migrate_log_level level, const char *event, const char *fields_format, ...);

#endif
