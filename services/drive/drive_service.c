/*
 * expresso-drive's settings and resources: reads and checks the settings,
 * opens object storage and the upload directory, builds the token
 * verifier, and offers the small helpers every route file needs
 * (authentication, UUIDs, HTTP dates, single-statement queries).
 */
#include "drive_service.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "expresso/log.h"
#include "expresso/oidc_settings.h"

const ex_setting ex_drive_settings[] = {
	EX_OIDC_SETTINGS,
	{ "storage_dir", "EXPRESSO_STORAGE_DIR", EX_SETTING_STRING, NULL, NULL,
	  "Directory of the local-disk object store; unfinished uploads are kept in its .uploads subdirectory.",
	  false },
	{ "storage_backend", "EXPRESSO_STORAGE_BACKEND", EX_SETTING_STRING, "local", NULL,
	  "Object store of file contents: local (files under EXPRESSO_STORAGE_DIR) or s3.", false },
	{ "s3_endpoint", "EXPRESSO_S3_ENDPOINT", EX_SETTING_STRING, NULL, NULL,
	  "URL of the S3 server (MinIO), e.g. http://127.0.0.1:9000; objects use path-style URLs.", false },
	{ "s3_bucket", "EXPRESSO_S3_BUCKET", EX_SETTING_STRING, "expresso", NULL,
	  "Existing bucket that holds the objects, under one <tenant id>/ prefix per tenant.", false },
	{ "s3_region", "EXPRESSO_S3_REGION", EX_SETTING_STRING, "us-east-1", NULL,
	  "Region used in AWS Signature Version 4.", false },
	{ "s3_access_key", "EXPRESSO_S3_ACCESS_KEY", EX_SETTING_STRING, NULL, NULL, "S3 access key id.", true },
	{ "s3_secret_key", "EXPRESSO_S3_SECRET_KEY", EX_SETTING_STRING, NULL, NULL, "S3 secret access key.", true },
	{ "s3_ca_file", "EXPRESSO_S3_CA_FILE", EX_SETTING_STRING, NULL, NULL,
	  "PEM file of CA certificates for an https endpoint; unset: the system's CA certificates.", false },
	{ "s3_part_size", "EXPRESSO_S3_PART_SIZE", EX_SETTING_SIZE, "16M", "bytes",
	  "Size of each multipart upload part (at least 5M); larger objects are uploaded in parts.", false },
	{ "s3_max_attempts", "EXPRESSO_S3_MAX_ATTEMPTS", EX_SETTING_INT, "4", NULL,
	  "Tries of one S3 request on connection errors and HTTP 500, 502, 503, 504 (1 to 20).", false },
	{ "s3_retry_delay", "EXPRESSO_S3_RETRY_DELAY", EX_SETTING_DURATION, "100ms", "duration",
	  "Delay before the first retry of an S3 request, doubled for each next one up to 5s.", false },
	{ "s3_timeout", "EXPRESSO_S3_TIMEOUT", EX_SETTING_DURATION, "30s", "duration",
	  "Connect timeout of S3 requests, and the time a transfer may stall before it fails.", false },
	{ "drive_max_upload_size", "EXPRESSO_DRIVE_MAX_UPLOAD_SIZE", EX_SETTING_SIZE, "53687091200", "bytes",
	  "Largest Upload-Length accepted (Tus-Max-Size).", false },
	{ "drive_max_chunk_size", "EXPRESSO_DRIVE_MAX_CHUNK_SIZE", EX_SETTING_SIZE, "16M", "bytes",
	  "Largest body of one PATCH (or POST with creation-with-upload); held in memory while it arrives.",
	  false },
	{ "drive_upload_expiry", "EXPRESSO_DRIVE_UPLOAD_EXPIRY", EX_SETTING_DURATION, "24h", "duration",
	  "Time an unfinished upload is kept after its creation or its last chunk.", false },
	{ "drive_s3_multipart_max_age", "EXPRESSO_DRIVE_S3_MULTIPART_MAX_AGE", EX_SETTING_DURATION, "23h", "duration",
	  "On the S3 backend, the longest an upload may last after its first part was sent; keep it below the time "
	  "the object store keeps unfinished multipart uploads (24h in MinIO).",
	  false },
	{ "drive_quota", "EXPRESSO_DRIVE_QUOTA", EX_SETTING_SIZE, "0", "bytes",
	  "Drive quota of users whose users.quota_bytes is NULL; 0 means no quota.", false },
	{ "drive_max_versions", "EXPRESSO_DRIVE_MAX_VERSIONS", EX_SETTING_INT, "10", NULL,
	  "Versions kept per file, the current one included (1 to 1000); older ones are deleted.", false },
	{ "drive_trash_retention", "EXPRESSO_DRIVE_TRASH_RETENTION", EX_SETTING_DURATION, "720h", "duration",
	  "Time a file or folder stays in the trash before the purge deletes it.", false },
	{ "drive_purge_interval", "EXPRESSO_DRIVE_PURGE_INTERVAL", EX_SETTING_DURATION, "10m", "duration",
	  "Time between two purges of expired uploads.", false },
	{ 0 },
};

enum {
	MIN_CHUNK_SIZE = 64 * 1024,
	MAX_CHUNK_SIZE = 256 * 1024 * 1024,
	MIN_PURGE_INTERVAL_MS = 1000,
	STORAGE_SWEEP_MIN_AGE_S = 3600, /* temporary files of interrupted storage writes */
};

static int invalid_setting(const char *variable, const char *problem)
{
	ex_log(EX_LOG_ERROR, "setting_invalid", "{s:s, s:s}", "setting", variable, "error", problem);
	return -1;
}

static int read_settings(ex_drive_service *service, const ex_config *config)
{
	const char *storage_dir = ex_config_string(config, "storage_dir");

	if (storage_dir == NULL || storage_dir[0] != '/')
		return invalid_setting("EXPRESSO_STORAGE_DIR", "set it to an absolute directory path");
	service->max_upload_size = ex_config_size(config, "drive_max_upload_size");
	service->max_chunk_size = ex_config_size(config, "drive_max_chunk_size");
	service->upload_expiry_s = ex_config_duration_ms(config, "drive_upload_expiry") / 1000;
	service->multipart_max_age_s = ex_config_duration_ms(config, "drive_s3_multipart_max_age") / 1000;
	service->default_quota = ex_config_size(config, "drive_quota");
	int64_t max_versions = ex_config_int(config, "drive_max_versions");
	if (max_versions < 1 || max_versions > 1000)
		return invalid_setting("EXPRESSO_DRIVE_MAX_VERSIONS", "expected 1 to 1000");
	service->max_versions = (unsigned)max_versions;
	service->trash_retention_s = ex_config_duration_ms(config, "drive_trash_retention") / 1000;
	service->purge_interval_ms = ex_config_duration_ms(config, "drive_purge_interval");
	if (service->max_upload_size == 0 || service->max_upload_size > (uint64_t)INT64_MAX)
		return invalid_setting("EXPRESSO_DRIVE_MAX_UPLOAD_SIZE", "expected 1 byte to 8 EiB");
	if (service->max_chunk_size < MIN_CHUNK_SIZE || service->max_chunk_size > MAX_CHUNK_SIZE)
		return invalid_setting("EXPRESSO_DRIVE_MAX_CHUNK_SIZE", "expected 64K to 256M");
	if (service->upload_expiry_s < 1)
		return invalid_setting("EXPRESSO_DRIVE_UPLOAD_EXPIRY", "expected at least 1s");
	if (service->multipart_max_age_s < 1)
		return invalid_setting("EXPRESSO_DRIVE_S3_MULTIPART_MAX_AGE", "expected at least 1s");
	if (service->purge_interval_ms < MIN_PURGE_INTERVAL_MS)
		return invalid_setting("EXPRESSO_DRIVE_PURGE_INTERVAL", "expected at least 1s");

	size_t length = strlen(storage_dir) + sizeof("/.uploads");
	service->upload_dir = malloc(length);
	if (service->upload_dir == NULL)
		return invalid_setting("EXPRESSO_STORAGE_DIR", "out of memory copying the settings");
	snprintf(service->upload_dir, length, "%s/.uploads", storage_dir);
	if (strlen(service->upload_dir) + 2 * EX_DRIVE_UUID_TEXT + 16 > EX_DRIVE_PATH_MAX)
		return invalid_setting("EXPRESSO_STORAGE_DIR", "the path is too long; use one under 900 bytes");
	return 0;
}

static int check_upload_dir(void *context, char *err, size_t errlen)
{
	ex_drive_service *service = context;
	struct stat info;

	if (stat(service->upload_dir, &info) != 0 || !S_ISDIR(info.st_mode)) {
		snprintf(err, errlen, "upload directory %s is missing", service->upload_dir);
		return -1;
	}
	return 0;
}

static void register_metrics(ex_drive_service *service, ex_metrics *metrics)
{
	service->uploads_created = ex_metrics_counter(metrics, "drive_uploads_created_total", "tus uploads created.");
	service->uploads_completed =
		ex_metrics_counter(metrics, "drive_uploads_completed_total", "tus uploads that became a file or version.");
	service->uploads_terminated =
		ex_metrics_counter(metrics, "drive_uploads_terminated_total", "tus uploads terminated by DELETE.");
	service->uploads_purged = ex_metrics_counter(metrics, "drive_uploads_purged_total",
						     "Expired uploads and orphaned upload files removed.");
	service->upload_bytes = ex_metrics_counter(metrics, "drive_upload_bytes_total",
						   "Chunk bytes stored durably in upload files.");
	service->checksum_mismatches = ex_metrics_counter(metrics, "drive_checksum_mismatches_total",
							  "Chunks discarded because they did not match Upload-Checksum.");
}

int ex_drive_service_open(ex_drive_service *service, ex_daemon *daemon)
{
	const ex_config *config = ex_daemon_config(daemon);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_mutex_init(&service->locks.mutex, NULL);
	pthread_mutex_init(&service->buffers.mutex, NULL);
	pthread_mutex_init(&service->purge_mutex, NULL);
	pthread_cond_init(&service->purge_wake, NULL);
	if (read_settings(service, config) != 0)
		return -1;
	service->database = ex_daemon_database(daemon);
	service->bus = ex_daemon_bus(daemon);

	service->storage = ex_drive_open_storage(config);
	if (service->storage == NULL)
		return -1;
	/* Other daemons may be writing to the same store, so only old temporary files go. */
	int swept = ex_storage_sweep_temporary(service->storage, STORAGE_SWEEP_MIN_AGE_S);
	if (swept != 0)
		ex_log(swept < 0 ? EX_LOG_WARN : EX_LOG_INFO, "storage_temporary_swept", "{s:i}", "count", swept);
	if (mkdir(service->upload_dir, 0700) != 0 && errno != EEXIST) {
		ex_log(EX_LOG_ERROR, "upload_dir_failed", "{s:s, s:s}", "path", service->upload_dir, "error",
		       strerror(errno));
		return -1;
	}
	if (ex_oidc_verifier_open(config, EX_OIDC_ISSUER_REQUIRED, EX_DRIVE_SESSION_COOKIE, &service->verifier) != 0)
		return -1;
	service->issuer = strdup(ex_config_string(config, "oidc_issuer"));
	if (service->issuer == NULL)
		return -1;
	ex_oidc_verifier_prefetch(service->verifier);
	ex_daemon_add_ready_check(daemon, "upload_dir", check_upload_dir, service);
	register_metrics(service, ex_daemon_metrics(daemon));
	ex_log(EX_LOG_INFO, "drive_configured", "{s:s, s:s, s:I, s:I, s:I}", "issuer", service->issuer,
	       "upload_dir", service->upload_dir, "max_upload_size", (json_int_t)service->max_upload_size,
	       "max_chunk_size", (json_int_t)service->max_chunk_size, "default_quota",
	       (json_int_t)service->default_quota);
	return 0;
}

void ex_drive_service_close(ex_drive_service *service)
{
	ex_auth_verifier_free(service->verifier);
	ex_storage_free(service->storage);
	free(service->issuer);
	free(service->upload_dir);
	pthread_mutex_destroy(&service->locks.mutex);
	ex_upload_buffers_free(&service->buffers);
	pthread_mutex_destroy(&service->buffers.mutex);
	pthread_mutex_destroy(&service->purge_mutex);
	pthread_cond_destroy(&service->purge_wake);
	memset(service, 0, sizeof(*service));
	curl_global_cleanup();
}

bool ex_drive_authenticate(ex_drive_service *service, ex_http_request *request, ex_drive_caller *caller)
{
	char challenge[512];

	memset(caller, 0, sizeof(*caller));
	ex_auth_status status =
		ex_auth_authenticate_connection(service->verifier, ex_http_connection(request), &caller->claims);
	if (status == EX_AUTH_OK) {
		caller->tenant_id = caller->claims.tenant_id;
		caller->user_id = caller->claims.subject;
		ex_http_set_log_tenant(request, caller->tenant_id);
		return true;
	}

	const char *description = caller->claims.error_description ? caller->claims.error_description
								    : ex_auth_status_message(status);
	if (status == EX_AUTH_ERR_KEYS_UNAVAILABLE) {
		ex_http_respond_error(request, 503, "auth_unavailable",
				      "the identity provider's signing keys cannot be fetched; try again shortly");
	} else if (status == EX_AUTH_ERR_INTERNAL) {
		ex_http_respond_error(request, 500, "internal_error", "the token could not be checked");
	} else {
		ex_log(EX_LOG_INFO, "authentication_failed", "{s:s}", "reason", ex_auth_status_code(status));
		if (status == EX_AUTH_ERR_NO_TOKEN)
			ex_http_respond_error(request, 401, "missing_token",
					      "send an access token as \"Authorization: Bearer <token>\"");
		else
			ex_http_respond_error(request, 401, "invalid_token", "%s", description);
		if (ex_auth_format_www_authenticate(challenge, sizeof(challenge), status, description) > 0)
			ex_http_add_header(request, MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge);
	}
	ex_auth_claims_clear(&caller->claims);
	return false;
}

void ex_drive_caller_clear(ex_drive_caller *caller)
{
	ex_auth_claims_clear(&caller->claims);
	caller->tenant_id = NULL;
	caller->user_id = NULL;
}

void ex_drive_respond_database_error(ex_http_request *request, const char *operation, const ex_db_error *error)
{
	ex_log(EX_LOG_ERROR, "database_failed", "{s:s, s:s, s:s}", "operation", operation, "sqlstate",
	       error->sqlstate, "error", error->message);
	ex_http_respond_error(request, 500, "database_error", "the database failed to %s; try again", operation);
}

bool ex_drive_is_uuid(const char *text)
{
	static const char layout[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (text == NULL || strlen(text) != sizeof(layout) - 1)
		return false;
	for (size_t i = 0; i < sizeof(layout) - 1; i++) {
		char c = text[i];
		bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		if (layout[i] == '-' ? c != '-' : !hex)
			return false;
	}
	return true;
}

int ex_drive_new_uuid(char out[EX_DRIVE_UUID_TEXT + 1])
{
	unsigned char bytes[16];

	if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
		return -1;
	bytes[6] = (unsigned char)((bytes[6] & 0x0f) | 0x40);
	bytes[8] = (unsigned char)((bytes[8] & 0x3f) | 0x80);
	snprintf(out, EX_DRIVE_UUID_TEXT + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0], bytes[1],
		 bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11],
		 bytes[12], bytes[13], bytes[14], bytes[15]);
	return 0;
}

void ex_drive_http_date(char *out, size_t size, int64_t seconds)
{
	time_t when = (time_t)seconds;
	struct tm utc;

	gmtime_r(&when, &utc);
	strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &utc);
}

PGresult *ex_drive_query(ex_drive_service *service, const char *tenant_id, const char *sql, int param_count,
			 const char *const *params, ex_db_error *error)
{
	return ex_db_tenant_statement(service->database, tenant_id, sql, param_count, params, error);
}
