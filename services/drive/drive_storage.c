/*
 * Opens the object store that EXPRESSO_STORAGE_BACKEND names: "local"
 * (files under EXPRESSO_STORAGE_DIR) or "s3" (an S3-compatible server
 * such as MinIO). The S3 keys come from the environment only, as every
 * secret does.
 */
#include <string.h>

#include "drive_service.h"
#include "expresso/log.h"

enum { MIN_S3_PART_SIZE = 5 * 1024 * 1024, MAX_S3_ATTEMPTS = 20 };

ex_storage *ex_drive_open_storage(const ex_config *config)
{
	const char *backend = ex_config_string(config, "storage_backend");
	char err[EX_STORAGE_ERROR_MAX];
	ex_storage *storage = NULL;

	if (backend == NULL || strcmp(backend, "local") == 0) {
		storage = ex_storage_open_local(ex_config_string(config, "storage_dir"), err, sizeof(err));
	} else if (strcmp(backend, "s3") == 0) {
		int64_t attempts = ex_config_int(config, "s3_max_attempts");
		if (attempts < 1 || attempts > MAX_S3_ATTEMPTS) {
			ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting", "EXPRESSO_S3_MAX_ATTEMPTS",
			       "error", "expected 1 to 20");
			return NULL;
		}
		ex_storage_s3_config s3 = {
			.endpoint = ex_config_string(config, "s3_endpoint"),
			.bucket = ex_config_string(config, "s3_bucket"),
			.region = ex_config_string(config, "s3_region"),
			.access_key = ex_config_string(config, "s3_access_key"),
			.secret_key = ex_config_string(config, "s3_secret_key"),
			.ca_file = ex_config_string(config, "s3_ca_file"),
			.part_size = ex_config_size(config, "s3_part_size"),
			.max_attempts = (unsigned)attempts,
			.retry_delay_ms = (unsigned)ex_config_duration_ms(config, "s3_retry_delay"),
			.timeout_ms = (unsigned)ex_config_duration_ms(config, "s3_timeout"),
		};
		storage = ex_storage_open_s3(&s3, err, sizeof(err));
	} else {
		ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting", "EXPRESSO_STORAGE_BACKEND", "error",
		       "expected local or s3");
		return NULL;
	}
	if (storage == NULL)
		ex_log(EX_LOG_ERROR, "storage_open_failed", "{s:s, s:s}", "backend", backend ? backend : "local", "error",
		       err);
	else
		ex_log(EX_LOG_INFO, "storage_opened", "{s:s}", "backend", backend ? backend : "local");
	return storage;
}
